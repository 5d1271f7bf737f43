"""kill -9 in the middle of append and expunge traffic, not only of an
indexing run.

Two clients append (in bursts) and expunge on one mailbox, a third
searches, while the instance's imap and indexer-worker processes are
SIGKILLed at random moments (an imap process may be recording expunges,
queueing them, committing, or searching; an indexer-worker indexing the
new mail, with a commit every 5 messages).  The clients reconnect and
carry on.  Afterwards, compared with Dovecot without the plugin (the
oracle) on the same maildir:

  - no lost mail: every message whose APPEND was answered OK is still
    there unless a client had flagged it \\Deleted;
  - every search of a set that reads every part of the index equals the
    oracle's, right after the traffic (before any indexing run), and after
    `doveadm index`, which must succeed;
  - the index is in use again (`doveadm fts lookup` answers from it, all
    definite, equal to the oracle);
  - the log has no problem other than Dovecot's own notes of the kills
    (the master's "killed with signal 9", a client's connection lost).

Bounded for CI: SIFT_KILL_SECS seconds of traffic (default 40); the long
run is SIFT_KILL_SECS=600.
"""

import imaplib
import os
import random
import re
import signal
import threading
import time

import pytest

from dovetest import instance_pair, run_threads, search_command_bytes, _child_pids  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "kurt"
BOX = "Churn"
SECS = float(os.environ.get("SIFT_KILL_SECS", "40"))
WORDS = "amber birch cedar dune ember fjord grove heath inlet juniper".split()
KILLED = tuple(os.environ.get("SIFT_KILL_ONLY", "imap indexer-worker").split())

QUERIES = [("BODY", "cedar"), ("BODY", "quiet harbor"), ("BODY", "erial-0001"),
           ("NOT", "BODY", "fjord"), ("FROM", "w3@"), ("SUBJECT", "churn 1"),
           ("TEXT", "inlet"), ("TEXT", "Zk03"), ("BODY", "r"),
           ("OR", "BODY", "heath", "SUBJECT", "grove")]

# what Dovecot itself logs about a process killed under it, and what
# follows from that in the processes talking to it (never fts-sift's)
_KILL_NOISE = re.compile(
    r"(Fatal|Error): master: service\((imap|indexer-worker)\): child \d+ killed "
    r"with signal 9|master: Error: service\((imap|indexer-worker)\): command "
    r"startup failed, throttling|"
    # Dovecot's own maildir code about its own dovecot-uidlist (a file
    # the plugin never writes), which the kills of processes syncing the
    # maildir can leave with a UID line twice: a process reading it logs
    # this and Dovecot recreates the file.  Dovecot 2.3.19 without the
    # plugin, under the same traffic and imap kills, logged it in 1 of 22
    # rounds of 40 s ("UIDs not ordered (864 >= 864)"); this test in 1
    # of 8 rounds on fts-sift, with nothing else in the log.
    r"(imap|indexer-worker)\(%s\)<[^>]*><[^>]*>: Error: Mailbox %s: Broken "
    r"file \S+/dovecot-uidlist line \d+: " % (USER, BOX))
# A search that waits for the indexer (fts_enforced = yes: the index must
# be up to date) whose indexer-worker is killed fails in Dovecot's fts
# core, without asking the plugin: the imap process logs this and answers
# NO [SERVERBUG].  Allowed, at most one per indexer-worker killed; the
# plugin itself must log nothing.
_INDEXER_FAILED = re.compile(r"imap\(%s\).*: Error: Mailbox %s: indexer failed to "
                             r"index mailbox$" % (USER, BOX))


def _msg(n):
    rnd = random.Random(n)
    body = " ".join(rnd.choice(WORDS) for _ in range(60))
    # distinct terms make indexing slow enough to be killed in the middle
    body += "\n" + " ".join("%s%d" % (rnd.choice(WORDS), rnd.randrange(10 ** 6))
                            for _ in range(150))
    if n % 4 == 0:
        body += "\nquiet harbor lights\n"
    body += "\nserial-%06d\n" % n
    sig = "v=1; a=rsa-sha256; bh=Zk%07dQ=; b=Rt%06d" % (n * 7919, n)
    return simple("Writer %d <w%d@example.net>" % (n % 7, n % 7), "kurt@example.test",
                  "Churn %d %s" % (n, rnd.choice(WORDS)), T2020, body.encode(),
                  extra=("DKIM-Signature: %s\n" % sig).encode())


def _process_name(pid, instance_name):
    """The Dovecot service a pid of this instance runs ("imap", ...), or
    None (not ours, gone)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode("utf-8", "replace")
    except OSError:
        return None
    prefix = "dovecot-%s/" % instance_name
    if not argv0.startswith(prefix):
        return None
    return argv0[len(prefix):].split(" ")[0]


@pytest.fixture(scope="module")
def churn(request):
    settings = {"fts_sift_commit_batch": "5"}
    with instance_pair("killtraffic", (USER,), settings,
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        fts.create_mailbox(USER, BOX)
        for n in range(1, 61):
            fts.append(USER, BOX, _msg(n), date=T2020, create=False)
        fts.doveadm("index", "-u", USER, BOX)
        fts.close_connections()
        yield fts, oracle


def test_kill_during_append_and_expunge_traffic(churn):
    fts, oracle = churn
    since = fts.log_size()
    stop = time.time() + SECS
    lock = threading.Lock()
    counter = [60]
    appended = set(range(1, 61))   # UIDs whose APPEND was answered OK
    flagged = set()                # UIDs a client flagged \Deleted (or tried to)
    errors, kills, reconnects, searches, refused = [], {}, [0], [0], [0]

    hard_stop = time.time() + 3 * SECS

    def running():
        # SECS of traffic; longer (at most 3x) on a machine too loaded to
        # have moved enough mail and killed each kind of process 3 times
        # in it (CI on 2.4, both suites at once: 24 appended in 40 s)
        now = time.time()
        if now < stop:
            return True
        with lock:
            enough = len(appended) - 60 > 30 and bool(flagged) and \
                all(kills.get(k, 0) >= 3 for k in KILLED)
        return not enough and now < hard_stop

    def next_n():
        with lock:
            counter[0] += 1
            return counter[0]

    def session(fn, seed):
        rnd = random.Random(seed)
        while running():
            conn = None
            try:
                conn = fts.imap(USER, timeout=60)
                while running():
                    fn(conn, rnd)
            except (OSError, EOFError, imaplib.IMAP4.abort):
                # our imap process was killed (or the connection with it)
                with lock:
                    reconnects[0] += 1
            except Exception as e:      # an IMAP NO/BAD: reported below
                errors.append("client %d: %r" % (seed, e))
                return
            finally:
                try:
                    if conn is not None:
                        conn.shutdown()
                except Exception:
                    pass

    def writer(conn, rnd):
        for _ in range(rnd.randint(1, 6)):
            typ, data = conn.append(BOX, None, None, _msg(next_n()))
            assert typ == "OK", data
            m = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
            assert m, data
            with lock:
                appended.add(int(m.group(1)))
        typ, data = conn.select(BOX)
        assert typ == "OK", data
        typ, data = conn.uid("SEARCH", "ALL")
        assert typ == "OK", data
        uids = [int(u) for u in data[0].split()]
        if len(uids) > 50:
            gone = rnd.sample(uids, rnd.randint(1, 5))
            with lock:
                flagged.update(gone)
            typ, data = conn.uid("STORE", ",".join(map(str, gone)), "+FLAGS.SILENT",
                                 r"(\Deleted)")
            assert typ == "OK", data
            typ, data = conn.expunge()
            assert typ == "OK", data
        conn.close()
        time.sleep(rnd.uniform(0, 0.2))

    def searcher(conn, rnd):
        typ, data = conn.select(BOX, readonly=True)
        assert typ == "OK", data
        for _ in range(5):
            q = rnd.choice(QUERIES)
            typ, data = conn.uid("SEARCH", search_command_bytes(q))
            if typ == "NO" and b"[SERVERBUG]" in data[0]:
                with lock:
                    refused[0] += 1      # checked against the log below
                continue
            assert typ == "OK", (q, data)
            with lock:
                searches[0] += 1

    def killer(seed):
        rnd = random.Random(seed)
        while running():
            time.sleep(rnd.uniform(0.1, 1.2))
            master = fts._master_pid()
            names = {p: _process_name(p, fts.instance_name)
                     for p in _child_pids(master)}
            victims = [p for p, n in names.items() if n in KILLED]
            if not victims:
                continue
            # the kind killed least so far first: an indexer-worker lives
            # only while it indexes, so on a loaded machine a plain random
            # pick among the many imap processes could miss it
            with lock:
                fewest = min(kills.get(names[p], 0) for p in victims)
                victims = [p for p in victims
                           if kills.get(names[p], 0) == fewest]
            pid = rnd.choice(victims)
            name = names[pid]
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            with lock:
                kills[name] = kills.get(name, 0) + 1

    threads = [threading.Thread(target=session, args=(writer, 1)),
               threading.Thread(target=session, args=(writer, 2)),
               threading.Thread(target=session, args=(searcher, 3)),
               threading.Thread(target=killer, args=(4,))]
    run_threads(threads, SECS + 300)
    print("\n%.0f s: %d appended, %d flagged deleted, %d searches (%d refused: "
          "indexer killed), kills %s, %d reconnects" % (
              SECS, len(appended) - 60, len(flagged), searches[0], refused[0],
              kills, reconnects[0]))
    assert not errors, "\n".join(errors)
    # it must have been a test: both kinds of process killed, mail moved
    assert all(kills.get(k, 0) >= 3 for k in KILLED), kills
    assert len(appended) - 60 > 30 and flagged, (len(appended), len(flagged))

    # let the indexer finish what it was given before the checks
    deadline = time.time() + 120
    while time.time() < deadline and any(
            _process_name(p, fts.instance_name) == "indexer-worker"
            and open("/proc/%d/stat" % p).read().split(") ")[1][0] == "R"
            for p in _child_pids(fts._master_pid())):
        time.sleep(0.5)

    fts.close_connections()
    present = set(oracle.search(USER, BOX, "ALL"))
    lost = appended - flagged - present
    assert not lost, "lost mail: UIDs %s" % sorted(lost)

    for q in QUERIES:
        a = fts.search(USER, BOX, *q)
        b = oracle.search(USER, BOX, *q)
        assert a == b, "right after the traffic: %s: fts %s, oracle %s" % (q, a, b)
    fts.close_connections()
    fts.doveadm("index", "-u", USER, BOX)
    for q in QUERIES:
        a = fts.search(USER, BOX, *q)
        b = oracle.search(USER, BOX, *q)
        assert a == b, "after doveadm index: %s: fts %s, oracle %s" % (q, a, b)
    # the index answers from itself again, exactly: also no document of
    # an expunged message left in its answer (an expunge recorded while
    # that very message was being indexed, or taken over from the queue
    # by a writer killed before its commit, must not be lost)
    definite, maybe = fts.fts_lookup(USER, BOX, "body", "cedar")
    expected = set(oracle.search(USER, BOX, "BODY", "cedar"))
    assert definite == expected and not maybe, \
        "the index is not in use again or lost expunges: extra %s, missing %s, " \
        "maybe %s" % (sorted(definite - expected), sorted(expected - definite), maybe)
    fts.doveadm("fts", "rescan", "-u", USER)
    definite, maybe = fts.fts_lookup(USER, BOX, "body", "cedar")
    assert definite == expected and not maybe, \
        "after doveadm fts rescan: %s, oracle %s" % (definite, expected)

    problems = [p for p in fts.log_problems(since) if not _KILL_NOISE.search(p)]
    indexer_failed = [p for p in problems if _INDEXER_FAILED.search(p)]
    problems = [p for p in problems if not _INDEXER_FAILED.search(p)]
    assert not problems, "\n".join(problems[:20])
    assert refused[0] <= len(indexer_failed) <= kills.get("indexer-worker", 0), \
        (refused[0], indexer_failed, kills)
