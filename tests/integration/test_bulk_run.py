"""Bulk indexing runs write into run databases (plugin/sift-index-run.c).

Once a run has added fts_sift_compact_after messages, its documents go to
small databases of their own (<index>.run-<n>, 100 commit batches each),
merged into the index by the compaction that ends the run.  Here
compact_after = 10 and commit_batch = 1, so indexing the 250 messages puts
10 in the index, then 100, 100 and 40 in three run databases, and the end
merges them: the run and its merge are exercised on a small mailbox.

Checked against Dovecot without the plugin (the oracle), on every part of
the index (words, substrings, phrases, opaque tokens, headers, addresses,
negation):

  - a complete run answers exactly and leaves no run database behind;
  - the same index built with run databases off (compact_after = 0, the
    old path) has the same terms with the same frequencies;
  - doveadm index killed with SIGKILL at random moments (also while run
    databases exist, or while they are merged) leaves an index that
    answers exactly, with nothing logged; the next doveadm index removes
    the killed run's databases and indexes the rest.
"""

import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, T2024, simple  # noqa: E402

USER = "bulk"
N = 250
WORDS = ("harbor lantern meadow quartz saffron timber velvet willow zephyr "
         "canyon ember falcon glacier hollow island juniper").split()

QUERIES = [
    ("BODY", "lantern"), ("BODY", "anter"), ("BODY", "bright lantern"),
    ("BODY", "ticket-0042"), ("BODY", "ticket-0088"), ("BODY", "q"),
    ("TEXT", "Zk0332598"), ("HEADER", "DKIM-Signature", "AbCdEf007"),
    ("FROM", "s17@example"), ("FROM", "s71@example"), ("SUBJECT", "report 3"),
    ("SUBJECT", "report 89"), ("NOT", "BODY", "meadow"),
    ("OR", "BODY", "zephyr", "SUBJECT", "glacier"), ("TEXT", "willow"),
    ("BODY", "unique%d" % 55), ("BODY", "unique%d" % 9), ("BODY", "unique%d" % 230),
    ("BODY", "ticket-0177"), ("FROM", "s199@example"),
]


def _msg(n):
    rnd = random.Random(n)
    words = [rnd.choice(WORDS) for _ in range(30)]
    if n % 3 == 0:
        words[5:7] = ["bright", "lantern"]
    # a word of its own per message: terms held by one run database only
    words.append("unique%d" % n)
    body = " ".join(words) + "\nticket-%04d closed by build v5.%d\n" % (n, n % 7)
    sig = "v=1; a=rsa-sha256; d=example.org; bh=Qx%dZk%07dAbCdEf%03dGh=; b=Rt%06dLm" % (
        n, n * 7919, n % 13, n * 31)
    extra = ("DKIM-Signature: %s\n" % sig).encode()
    return simple("Sender %d <s%d@example.org>" % (n, n), "bulk@example.test",
                  "Report %d %s" % (n, rnd.choice(WORDS)), T2020 if n % 2 else T2024,
                  body.encode(), extra=extra)


def _db_dir(fts):
    return os.path.join(fts.maildir(USER), "fts-sift")


def _run_dirs(fts):
    return sorted(n for n in os.listdir(fts.maildir(USER)) if ".run-" in n)


def _same_as_oracle(fts, oracle, label):
    for q in QUERIES:
        a = fts.search(USER, "INBOX", *q)
        b = oracle.search(USER, "INBOX", *q)
        assert a == b, "%s: %s: fts %s, oracle %s" % (label, q, a, b)


def _term_stats(path):
    """{term: (docs, wdf sum)} of the Xapian database at path."""
    xapian = pytest.importorskip("xapian")
    db = xapian.Database(path)
    return {t.term: (t.termfreq, db.get_collection_freq(t.term))
            for t in db.allterms()}


@pytest.fixture(scope="module")
def bulk(request):
    with instance_pair("bulkrun", (USER,),
                       {"fts_sift_commit_batch": "1",
                        "fts_sift_compact_after": "10",
                        # no indexer-worker indexing the appends while a
                        # test removes the index
                        "fts_autoindex": "no"},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for n in range(1, N + 1):
            fts.append(USER, "INBOX", _msg(n), date=T2020, create=False)
        yield fts, oracle


def test_complete_run(bulk):
    fts, oracle = bulk
    since = fts.log_size()
    fts.doveadm("index", "-u", USER, "INBOX")
    assert _run_dirs(fts) == []
    _same_as_oracle(fts, oracle, "after a bulk run")
    assert not fts.log_problems(since), fts.log_problems(since)
    fts.close_connections()


def test_same_terms_as_without_runs(bulk):
    """The merged index holds what one database written directly holds."""
    fts, oracle = bulk
    fts.close_connections()
    shutil.rmtree(_db_dir(fts), ignore_errors=True)
    fts.doveadm("index", "-u", USER, "INBOX")
    with_runs = _term_stats(_db_dir(fts))
    shutil.rmtree(_db_dir(fts), ignore_errors=True)
    fts.doveadm("-o", _opt(fts, "fts_sift_compact_after", "0"),
                "index", "-u", USER, "INBOX")
    without = _term_stats(_db_dir(fts))
    assert len(with_runs) > 200
    assert with_runs == without
    _same_as_oracle(fts, oracle, "without runs")


def _opt(fts, key, value):
    """A doveadm -o override of a plugin setting, in the running
    Dovecot's syntax."""
    conf = open(fts.conf_path).read()
    if "plugin {" in conf:
        return "plugin/%s=%s" % (key, value)
    return "%s=%s" % (key, value)


def test_kill_during_bulk_run(bulk):
    fts, oracle = bulk
    rnd = random.Random(11)
    fts.close_connections()
    saw_runs = 0
    for attempt in range(8):
        shutil.rmtree(_db_dir(fts), ignore_errors=True)
        since = fts.log_size()
        cmd = ["doveadm", "-c", fts.conf_path, "index", "-u", USER, "INBOX"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt % 2 == 0:
            # at a random moment
            time.sleep(rnd.uniform(0.05, 1.0))
        else:
            # while run databases exist: as soon as one appears, or
            # when the nth one does, or a little later (a merge)
            want = 1 + attempt // 4
            deadline = time.time() + 30
            while (len(_run_dirs(fts)) < want and p.poll() is None
                   and time.time() < deadline):
                time.sleep(0.002)
            time.sleep(rnd.choice((0, 0, rnd.uniform(0, 0.2))))
        if _run_dirs(fts):
            saw_runs += 1
        p.send_signal(signal.SIGKILL)
        p.wait()
        _same_as_oracle(fts, oracle, "kill #%d" % attempt)
        fts.doveadm("index", "-u", USER, "INBOX")
        assert _run_dirs(fts) == [], "kill #%d: %s left" % (attempt, _run_dirs(fts))
        _same_as_oracle(fts, oracle, "kill #%d, indexed again" % attempt)
        assert not fts.log_problems(since), fts.log_problems(since)
        fts.close_connections()
    # the kills must have hit runs in progress at least once, or this
    # test checked nothing of them
    assert saw_runs > 0


# ---- fts_sift_commit_memory: large messages -------------------------------

BIG_WORDS = 20000


def _big_msg(n):
    """A message with BIG_WORDS distinct words, each twice (once in each
    half of the body): about 1.4 MB of buffered postings by the writer's
    estimate, more than fts_sift_commit_memory = 1M alone, and more
    distinct terms than the builder collects before handing them to
    Xapian (4,096), so each word's two occurrences are handed over in
    different parts."""
    words = ["bg%dw%d" % (n, i) for i in range(BIG_WORDS)]
    body = (" ".join(words) + "\n" + " ".join(words) + "\n").encode()
    return simple("Big %d <big%d@example.org>" % (n, n), "bulk@example.test",
                  "Big report %d" % n, T2020, body)


def test_commit_memory_large_messages(request):
    """Small and large messages mixed, fts_sift_commit_memory = 1M: the
    batch is committed before each large message (in the middle of
    reading it) and after it; the index answers exactly and holds every
    term with its frequency, the same as one built without memory
    commits (16G)."""
    with instance_pair("commitmem", (USER,),
                       {"fts_sift_commit_batch": "250",
                        "fts_sift_commit_memory": "1M",
                        "fts_sift_compact_after": "10",
                        "fts_autoindex": "no"},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        order = []
        for n in range(1, 61):
            order.append(_msg(n))
            if n in (15, 16, 40):
                order.append(_big_msg(n))
        for m in order:
            fts.append(USER, "INBOX", m, date=T2020, create=False)
        since = fts.log_size()
        res = fts.doveadm("-D", "index", "-u", USER, "INBOX")
        out = res.stdout + res.stderr
        # every large message made the batch before it end early
        assert out.count("would pass fts_sift_commit_memory") >= 3, out[-3000:]
        queries = QUERIES[:12] + [
            ("BODY", "bg15w0"), ("BODY", "bg15w19999"), ("BODY", "bg16w777"),
            ("BODY", "bg40w12345"), ("BODY", "g40w1234"), ("SUBJECT", "big report"),
            ("BODY", "bg15w4096 bg15w4097"), ("NOT", "BODY", "bg16w1"),
        ]
        for q in queries:
            a = fts.search(USER, "INBOX", *q)
            b = oracle.search(USER, "INBOX", *q)
            assert a == b, "%s: fts %s, oracle %s" % (q, a, b)
        assert not fts.log_problems(since), fts.log_problems(since)
        fts.close_connections()
        small = _term_stats(_db_dir(fts))
        for n in (15, 16, 40):
            for i in (0, 4095, 4096, 12345, BIG_WORDS - 1):
                t = [k for k in small if k.decode(errors="replace").lower()
                 == "bbg%dw%d" % (n, i)]
                assert len(t) == 1, (n, i)
                # one message, both occurrences counted
                assert small[t[0]] == (1, 2), (t[0], small[t[0]])
        shutil.rmtree(_db_dir(fts), ignore_errors=True)
        fts.doveadm("-o", _opt(fts, "fts_sift_commit_memory", "16G"),
                    "index", "-u", USER, "INBOX")
        assert _term_stats(_db_dir(fts)) == small
