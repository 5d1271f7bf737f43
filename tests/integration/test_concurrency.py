"""Deliveries, searches and `doveadm index` at the same time on one
mailbox (index writers and readers in several processes).  Afterwards the
answers equal the oracle's and no search failed."""

import threading

from dovetest import run_threads
from fixtures import T2020, T2024, simple

N_MESSAGES = 150


def note(n):
    words = ["sequoia"]
    if n % 3 == 0:
        words.append("redwood")
    if n % 5 == 0:
        words.append("cypress")
    return simple("Busy %d <busy%d@example.net>" % (n, n), "bob@example.test",
                  "Busy %d" % n, T2020 if n % 2 else T2024,
                  ("Busy note %d: %s\n" % (n, " ".join(words))).encode())


def test_parallel_delivery_search_index(pair):
    fts = pair.fts
    fts.create_mailbox("bob", "Busy")
    errors = []
    done = threading.Event()

    def deliver():
        try:
            conn = fts.imap("bob")
            for n in range(1, N_MESSAGES + 1):
                typ, data = conn.append("Busy", None, None, note(n))
                assert typ == "OK", data
            conn.logout()
        except Exception as e:       # reported below
            errors.append("deliver: %r" % e)
        finally:
            done.set()

    def searcher(words):
        try:
            conn = fts.imap("bob")
            fts.select(conn, "Busy", readonly=True)
            while not done.is_set():
                for w in words:
                    fts.uid_search(conn, "BODY", w)
                conn.noop()
            conn.logout()
        except Exception as e:
            errors.append("search: %r" % e)

    def indexer():
        try:
            while not done.is_set():
                fts.doveadm("index", "-u", "bob", "Busy", timeout=300)
        except Exception as e:
            errors.append("doveadm index: %r" % e)

    threads = [threading.Thread(target=deliver),
               threading.Thread(target=searcher, args=(["redwood", "cypress"],)),
               threading.Thread(target=searcher, args=(["sequoia"],)),
               threading.Thread(target=indexer)]
    run_threads(threads, 600, "threads")
    assert not errors, "\n".join(errors)

    assert len(pair.check("bob", "Busy", ("BODY", "sequoia"), notall=False)) == N_MESSAGES
    assert len(pair.check("bob", "Busy", ("BODY", "redwood"))) == N_MESSAGES // 3
    assert len(pair.check("bob", "Busy", ("BODY", "cypress"))) == N_MESSAGES // 5
    pair.check("bob", "Busy", ("NOT", "BODY", "redwood", "BODY", "cypress"))
    pair.check("bob", "Busy", ("BODY", "redwood", "SINCE", "1-Jan-2024"), nonempty=False)
