"""Clustered storage: two Dovecot instances (own base_dir, port, master,
indexer) serving the same users from the same homes, maildirs and index
directories, as two servers behind a proxy or director on shared storage
do (see README "Reliability" for what such a site must set).

On each instance a client appends and expunges and another searches, on
one mailbox, at once, for SIFT_CLUSTER_SECS seconds (default 40); each
instance's indexer indexes every delivery (fts_autoindex) with a commit
every 10 messages, so writers of the two instances meet on one index all
the time.  Then, on both instances:

  - no error, no lock timeout, no "not recorded" in either log;
  - every search equals Dovecot's own (the oracle, a third instance
    without the plugin, with its own Dovecot indexes);
  - the index answers from itself (`doveadm fts lookup`) exactly what the
    oracle finds: no lost expunge, no lost message.
"""

import os
import random
import threading
import time

import pytest

from dovetest import Dovecot, churn_round, new_test_root, remove_test_root, run_threads  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "gwen"
BOX = "Shared"
SECS = float(os.environ.get("SIFT_CLUSTER_SECS", "40"))
MAX_SEARCH_SECS = 5.0
WORDS = "agate basalt chert dolomite flint gneiss jasper marble onyx slate".split()
QUERIES = [("BODY", "chert"), ("BODY", "quiet quarry"), ("BODY", "erial-0002"),
           ("NOT", "BODY", "onyx"), ("FROM", "m3@"), ("SUBJECT", "slab 1"),
           ("TEXT", "gneiss"), ("OR", "BODY", "flint", "SUBJECT", "marble")]


def _msg(n):
    rnd = random.Random(n)
    body = " ".join(rnd.choice(WORDS) for _ in range(60))
    if n % 4 == 0:
        body += "\nquiet quarry lights\n"
    body += "\nserial-%06d\n" % n
    return simple("Mason %d <m%d@example.net>" % (n % 7, n % 7), "gwen@example.test",
                  "Slab %d %s" % (n, rnd.choice(WORDS)), T2020, body.encode())


@pytest.fixture(scope="module")
def cluster(request):
    root = new_test_root("cluster")
    shared_index = os.path.join(root, "shared-index")
    settings = {"fts_sift_commit_batch": "10"}
    a = Dovecot(os.path.join(root, "node-a"), None, plugin="sift", users=(USER,),
                plugin_settings=settings)
    # both nodes: the same homes, maildirs and (INDEX=) index directories
    a.index_root = shared_index
    b = Dovecot(os.path.join(root, "node-b"), None, plugin="sift", oracle_of=a,
                plugin_settings=settings)
    b.index_root = shared_index
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=a)
    os.makedirs(shared_index, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(shared_index, a.mail_uid, a.mail_gid)
    try:
        a.start()
        b.start()
        oracle.start()
        a.create_mailbox(USER, BOX)
        for n in range(1, 101):
            (a if n % 2 else b).append(USER, BOX, _msg(n), date=T2020, create=False)
        a.doveadm("index", "-u", USER, BOX)
        a.close_connections()
        b.close_connections()
        yield a, b, oracle
    finally:
        oracle.stop()
        b.stop()
        a.stop()
        remove_test_root(root, request.session.testsfailed)


def test_two_instances_on_one_mailbox(cluster):
    a, b, oracle = cluster
    since = {a: a.log_size(), b: b.log_size()}
    stop = time.time() + SECS
    lock = threading.Lock()
    counter = [100]
    errors, search_times, expunged = [], [], [0]

    def next_n():
        with lock:
            counter[0] += 1
            return counter[0]

    def writer(node, seed):
        rnd = random.Random(seed)
        try:
            conn = node.imap(USER)
            while time.time() < stop:
                gone = churn_round(conn, BOX, rnd, lambda: _msg(next_n()), 80)
                with lock:
                    expunged[0] += gone
                conn.close()
                time.sleep(rnd.uniform(0, 0.3))
            conn.logout()
        except Exception as e:
            errors.append("writer %d: %r" % (seed, e))

    def searcher(node, seed):
        rnd = random.Random(seed)
        try:
            conn = node.imap(USER)
            while time.time() < stop:
                typ, data = conn.select(BOX, readonly=True)
                assert typ == "OK", data
                q = rnd.choice(QUERIES)
                start = time.time()
                node.uid_search(conn, *q)
                search_times.append((time.time() - start, q))
            conn.logout()
        except Exception as e:
            errors.append("searcher %d: %r" % (seed, e))

    threads = [threading.Thread(target=writer, args=(a, 1)),
               threading.Thread(target=writer, args=(b, 2)),
               threading.Thread(target=searcher, args=(a, 3)),
               threading.Thread(target=searcher, args=(b, 4))]
    run_threads(threads, SECS + 300)
    assert not errors, "\n".join(errors)
    slowest = max(search_times)
    print("\n%.0f s on two instances: %d appended, %d expunged, %d searches, "
          "slowest %.2f s (%s)" % (SECS, counter[0] - 100, expunged[0],
                                   len(search_times), slowest[0], slowest[1]))
    assert counter[0] - 100 > 20 and expunged[0] > 5, (counter[0], expunged[0])
    assert slowest[0] < MAX_SEARCH_SECS, "a search took %.2f s: %s" % slowest

    for node in (a, b):
        log = node.log_text().encode()[since[node]:].decode("utf-8", "replace")
        assert "locked by another process" not in log
        assert "not recorded" not in log
        problems = node.log_problems(since[node])
        assert not problems, "\n".join(problems[:20])

    for node in (a, b):
        node.close_connections()
    # let both indexers finish what the traffic gave them
    for node in (a, b):
        node.doveadm("index", "-u", USER, BOX)
    present = set(oracle.search(USER, BOX, "ALL"))
    for node, name in ((a, "node a"), (b, "node b")):
        for q in QUERIES:
            got = node.search(USER, BOX, *q)
            want = oracle.search(USER, BOX, *q)
            assert got == want, "%s: %s: fts %s, oracle %s" % (name, q, got, want)
        definite, maybe = node.fts_lookup(USER, BOX, "body", "chert")
        want = set(oracle.search(USER, BOX, "BODY", "chert"))
        assert definite == want and not maybe, \
            "%s: the index's own answer: extra %s (expunged: %s), missing %s" % (
                name, sorted(definite - want), sorted((definite - want) - present),
                sorted(want - definite))
