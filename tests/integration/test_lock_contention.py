"""Four clients on one mailbox: two append and expunge, two search, for
SIFT_CONTENTION_SECS seconds (default 60; the long run is 600:

    SIFT_CONTENTION_SECS=600 python3 -m pytest -q -p no:cacheprovider \\
        tests/integration/test_lock_contention.py

).  The indexer-worker indexes every delivery (fts_autoindex) while the
imap sessions record expunges, so writers meet all the time.  Nothing may
wait for another writer's whole run: no lock timeout, no "Expunges ... not
recorded", no search slower than 2 s, no error in the log; and at the end
every search equals Dovecot's own (the oracle)."""

import os
import random
import subprocess
import threading
import time

import pytest

from dovetest import churn_round, instance_pair, run_threads  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "erin"
BOX = "Busy"
SECS = float(os.environ.get("SIFT_CONTENTION_SECS", "60"))
MAX_SEARCH_SECS = 2.0
WORDS = "amber birch cedar dune ember fjord grove heath inlet juniper".split()


def _msg(n, filler=0):
    """Message n; filler: that many more words, each with a number (new
    terms), which makes indexing it slower (see the yield test)."""
    rnd = random.Random(n)
    body = " ".join(rnd.choice(WORDS) for _ in range(40))
    if filler:
        body += "\n" + " ".join("%s%d" % (rnd.choice(WORDS), rnd.randrange(10 ** 6))
                                for _ in range(filler))
    if n % 4 == 0:
        body += "\nquiet harbor lights\n"
    body += "\nserial-%06d\n" % n
    return simple("Writer %d <w%d@example.net>" % (n % 7, n % 7), "erin@example.test",
                  "Churn %d %s" % (n, rnd.choice(WORDS)), T2020, body.encode())


QUERIES = [("BODY", "cedar"), ("BODY", "quiet harbor"), ("BODY", "erial-0001"),
           ("NOT", "BODY", "fjord"), ("FROM", "w3@"), ("SUBJECT", "churn 1"),
           ("TEXT", "inlet")]


@pytest.fixture(scope="module")
def busy(request):
    with instance_pair("contention", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        fts.create_mailbox(USER, BOX)
        for n in range(1, 201):
            fts.append(USER, BOX, _msg(n), date=T2020, create=False)
        fts.doveadm("index", "-u", USER, BOX)
        yield fts, oracle


def test_writers_and_searchers_on_one_mailbox(busy):
    fts, oracle = busy
    since = fts.log_size()
    stop = time.time() + SECS
    errors, search_times = [], []
    counter = [200]
    lock = threading.Lock()

    def next_n():
        with lock:
            counter[0] += 1
            return counter[0]

    def writer(seed):
        rnd = random.Random(seed)
        try:
            conn = fts.imap(USER)
            while time.time() < stop:
                churn_round(conn, BOX, rnd, lambda: _msg(next_n()), 150)
                conn.close()
                time.sleep(rnd.uniform(0, 0.3))
            conn.logout()
        except Exception as e:       # reported below
            errors.append("writer %d: %r" % (seed, e))

    def searcher(seed):
        rnd = random.Random(seed)
        try:
            conn = fts.imap(USER)
            typ, data = conn.select(BOX, readonly=True)
            assert typ == "OK", data
            while time.time() < stop:
                q = rnd.choice(QUERIES)
                start = time.time()
                fts.uid_search(conn, *q)
                search_times.append((time.time() - start, q))
                conn.noop()
            conn.logout()
        except Exception as e:
            errors.append("searcher %d: %r" % (seed, e))

    threads = [threading.Thread(target=writer, args=(1,)),
               threading.Thread(target=writer, args=(2,)),
               threading.Thread(target=searcher, args=(3,)),
               threading.Thread(target=searcher, args=(4,))]
    run_threads(threads, SECS + 300)
    assert not errors, "\n".join(errors)

    slowest = max(search_times)
    print("\n%d searches, slowest %.2f s (%s), %d messages appended" % (
        len(search_times), slowest[0], slowest[1], counter[0] - 200))
    assert len(search_times) > 20, "too few searches ran: %d" % len(search_times)
    assert slowest[0] < MAX_SEARCH_SECS, "a search took %.2f s: %s" % slowest

    log = fts.log_text().encode()[since:].decode("utf-8", "replace")
    assert "locked by another process" not in log
    assert "not recorded" not in log
    problems = fts.log_problems(since)
    assert not problems, "\n".join(problems[:20])

    fts.close_connections()
    for q in QUERIES:
        a = fts.search(USER, BOX, *q)
        b = oracle.search(USER, BOX, *q)
        assert a == b, "%s: fts %s, oracle %s" % (q, a, b)


_LAST_LOCK_ERROR = [None]


def _wait_for_write_lock(path, limit):
    """Another writer of the index, as the plugin's writers wait: leave
    lockwait, try the lock every 50 ms.  Seconds until it got it."""
    import xapian
    start = time.time()
    while time.time() - start < limit:
        with open(os.path.join(path, "lockwait"), "a"):
            pass
        try:
            db = xapian.WritableDatabase(path, xapian.DB_OPEN | xapian.DB_NO_TERMLIST)
        except xapian.DatabaseLockError as e:
            _LAST_LOCK_ERROR[0] = str(e)
            time.sleep(0.05)
            continue
        db.close()
        return time.time() - start
    return None


def test_no_writer_waits_for_a_whole_run(request):
    """A long `doveadm index` run and, in the middle of it, an expunge over
    IMAP, `doveadm fts optimize` and another writer of the index: the run
    lets each waiting writer go at its next commit (each waits well under
    1.5 s, measured), and the expunge does not wait at all (it is queued),
    so nothing times out and nothing is left unrecorded.

    The lock timeout (10 s) is not what proves it (the measured waits
    are): optimize compacts the whole index while it holds the lock, and
    the run waits for that compaction at its next commit.  With a 2 s
    timeout the run failed once when a compaction of these 2,000 messages
    took 4.6 s at load 15 (README, "Reliability": a known limit)."""
    settings = {"fts_sift_commit_batch": "25", "fts_sift_lock_timeout": "10s",
                "fts_autoindex": "no"}
    with instance_pair("yield", (USER,), settings,
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        fts.create_mailbox(USER, BOX)
        # heavy messages: the run must outlast the expunge and optimize
        # below even when the machine is fast or they are slow (with 40
        # words a message the run once ended first under load)
        uids = [fts.append(USER, BOX, _msg(n, filler=400), date=T2020, create=False)
                for n in range(1, 2001)]
        fts.close_connections()
        path = os.path.join(fts.maildir(USER), "." + BOX, "fts-sift")
        since = fts.log_size()
        start = time.time()
        # (-D: doveadm logs to its own stderr, debug included; to a file, as
        # a full pipe would stop it)
        run_log = os.path.join(fts.root, "doveadm-index.log")
        with open(run_log, "wb") as f:
            run = subprocess.Popen(["doveadm", "-D", "-c", fts.conf_path, "index",
                                    "-u", USER, BOX], stdout=f, stderr=subprocess.STDOUT)
        while not os.path.exists(os.path.join(path, "iamglass")):
            time.sleep(0.05)
        time.sleep(0.5)
        t0 = time.time()
        fts.expunge(USER, BOX, uids[10:13])
        expunge_secs = time.time() - t0
        t0 = time.time()
        opt = fts.doveadm("fts", "optimize", "-u", USER, check=False)
        optimize_secs = time.time() - t0
        still_running = run.poll() is None
        waits = [_wait_for_write_lock(path, 5.0) for _ in range(3)]
        run.wait(timeout=600)
        run_secs = time.time() - start
        with open(run_log, "rb") as f:
            out = f.read()
        print("\nindexing run of 2,000 messages: %.1f s; meanwhile an expunge took "
              "%.2f s, doveadm fts optimize %.2f s, another writer waited %s s" % (
                  run_secs, expunge_secs, optimize_secs,
                  ", ".join("-" if w is None else "%.2f" % w for w in waits)))
        assert run.returncode == 0, out[-3000:].decode("utf-8", "replace")
        assert expunge_secs < 1.5, "the expunge took %.2f s" % expunge_secs
        assert opt.returncode == 0, opt.stdout[-3000:] + opt.stderr[-3000:]
        # optimize got the lock (within the lock timeout: it succeeded)
        # and finished its own compaction while the run was still going: it
        # waited for one commit, not for the run.  (Its own duration grows
        # with the index and the machine's load, so no fixed bound here.)
        assert still_running, "the run ended before optimize: not a test"
        assert None not in waits and max(waits) < 1.5, (waits, _LAST_LOCK_ERROR)
        assert run_secs > sum(waits) + 2.0, "the run was not long: not a test"
        log = fts.log_text().encode()[since:].decode("utf-8", "replace")
        log += out.decode("utf-8", "replace") + opt.stdout + opt.stderr
        assert "Let another writer" in log, "the writers never met: not a test"
        assert "locked by another process" not in log
        assert "not recorded" not in log
        assert not fts.log_problems(since), fts.log_problems(since)
        for q in QUERIES:
            a = fts.search(USER, BOX, *q)
            b = oracle.search(USER, BOX, *q)
            assert a == b, "%s: fts %s, oracle %s" % (q, a, b)
