"""The owner and two readers (each its own uid) search and deliver to the
same shared mailbox at once for a minute: the index is written by three
users' imap and indexer-worker processes.  Afterwards every user's
searches equal the oracle's, no search or delivery failed, and Dovecot's
log has no error.

SIFT_SHARED_SECONDS sets the duration (default 60)."""

import os
import sys
import threading
import time

import pytest

from dovetest import run_threads
from fixtures import T2020, T2024, simple
from sharedenv import SharedEnv, new_root, running

SECONDS = float(os.environ.get("SIFT_SHARED_SECONDS", "60"))
WORDS = ("sequoia", "redwood", "cypress")
USERS = ("owner", "reader", "reader2")


def note(user, n):
    words = ["sequoia"]
    if n % 3 == 0:
        words.append("redwood")
    if n % 5 == 0:
        words.append("cypress")
    return simple("%s <%s%d@example.net>" % (user, user, n), "busy@example.test",
                  "Busy %s %d" % (user, n), T2020 if n % 2 else T2024,
                  ("Busy note %d from %s: %s\n" % (n, user, " ".join(words))).encode(),
                  msgid="%s-%d@busy.test" % (user, n))


@pytest.fixture(scope="module")
def env(request):
    # Dovecot's own dotlocks (dovecot-uidlist.lock) must be readable by
    # the other users' processes, which inotify-watch them while waiting:
    # they get the directory's group only in setgid directories, which is
    # what a site with per-user uids sets up (README, "Shared folders").
    # The plugin's files don't depend on it (test_shared.py uses 0770).
    root = new_root("shared-busy")
    e = SharedEnv(root, dir_mode=0o2770)
    with running(e, request):
        conn = e.fts.imap("owner")
        typ, data = conn.create("Busy")
        assert typ == "OK", data
        for who in ("reader", "reader2"):
            # insert (i) so the readers can deliver by APPEND too
            typ, data = conn.setacl("Busy", who, "lrwsti")
            assert typ == "OK", data
        conn.logout()
        yield e


def test_three_users_search_and_deliver_for_a_minute(env):
    f = env.fts
    errors = []
    counts = {u: {"deliveries": 0, "searches": 0} for u in USERS}
    stop_at = time.time() + SECONDS

    def worker(user):
        box = "Busy" if user == "owner" else "shared/owner/Busy"
        try:
            sender = f.imap(user)
            searcher, err = SharedEnv.open_box(f, user, box, readonly=False)
            assert searcher is not None, err
            n = 0
            while time.time() < stop_at:
                n += 1
                typ, data = sender.append('"%s"' % box, None, None,
                                          note(user, n).replace(b"\n", b"\r\n"))
                assert typ == "OK", data
                counts[user]["deliveries"] += 1
                for w in WORDS:
                    f.uid_search(searcher, "BODY", w)
                    counts[user]["searches"] += 1
                searcher.noop()
            sender.logout()
            searcher.logout()
        except Exception as e:          # reported below
            errors.append("%s: %r" % (user, e))

    threads = [threading.Thread(target=worker, args=(u,)) for u in USERS]
    run_threads(threads, SECONDS + 600, "workers")
    assert not errors, "\n".join(errors)
    total_d = sum(c["deliveries"] for c in counts.values())
    total_s = sum(c["searches"] for c in counts.values())
    sys.stderr.write("\n[shared concurrency] %.0f s: %d deliveries, %d searches %s\n"
                     % (SECONDS, total_d, total_s, counts))
    with open(os.path.join(env.root, "counts.txt"), "w") as out:
        out.write("%.0f s: %d deliveries, %d searches %r\n" % (SECONDS, total_d, total_s, counts))
    assert all(c["deliveries"] > 0 and c["searches"] > 0 for c in counts.values()), counts

    # every user's searches now equal the oracle's
    for user in USERS:
        box = "Busy" if user == "owner" else "shared/owner/Busy"
        fc, ferr = SharedEnv.open_box(f, user, box)
        oc, oerr = SharedEnv.open_box(env.oracle, user, box)
        assert fc is not None and oc is not None, (ferr, oerr)
        try:
            for q in (("BODY", "sequoia"), ("BODY", "redwood"), ("BODY", "cypress"),
                      ("NOT", "BODY", "redwood"), ("OR", "BODY", "redwood", "BODY", "cypress"),
                      ("FROM", "reader2"), ("BODY", "redwood", "SINCE", "1-Jan-2024")):
                a = f.uid_search(fc, *q)
                b = env.oracle.uid_search(oc, *q)
                assert a == b, (user, q, a, b)
            assert len(f.uid_search(fc, "BODY", "sequoia")) == total_d
        finally:
            fc.logout()
            oc.logout()
    problems = f.log_problems()
    assert not problems, "\n".join(problems[:20])
    # the index was written by more than one user's processes
    log = f.log_text()
    writers = {u for u in USERS
               if any("(%s)" % u in l and "fts-sift: Committed" in l and "Busy" in l
                      for l in log.splitlines())}
    assert len(writers) >= 2, writers
