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
import threading
import time

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "erin"
BOX = "Busy"
SECS = float(os.environ.get("SIFT_CONTENTION_SECS", "60"))
MAX_SEARCH_SECS = 2.0
WORDS = "amber birch cedar dune ember fjord grove heath inlet juniper".split()


def _msg(n):
    rnd = random.Random(n)
    body = " ".join(rnd.choice(WORDS) for _ in range(40))
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
                for _ in range(rnd.randint(1, 5)):
                    typ, data = conn.append(BOX, None, None, _msg(next_n()))
                    assert typ == "OK", data
                typ, data = conn.select(BOX)
                assert typ == "OK", data
                typ, data = conn.uid("SEARCH", "ALL")
                uids = [int(u) for u in data[0].split()]
                if len(uids) > 150:
                    gone = rnd.sample(uids, rnd.randint(1, 6))
                    typ, data = conn.uid("STORE", ",".join(map(str, gone)),
                                         "+FLAGS.SILENT", r"(\Deleted)")
                    assert typ == "OK", data
                    typ, data = conn.expunge()
                    assert typ == "OK", data
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
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECS + 300)
    assert not any(t.is_alive() for t in threads), "clients did not finish"
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
