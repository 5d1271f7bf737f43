"""`doveadm fts rescan` while another writer indexes new mail.

A rescan syncs the mailbox, then takes the index's write lock and
compares the documents with its view: a document whose message is not in
the view is recorded as expunged.  Mail delivered after its sync and
indexed by another writer that got the lock first is not in that view,
yet it is not gone: recording it as expunged left it out of every search
for good (a recorded expunge is final).  Each round here: the test holds
the index's lock (as a writer would), starts the rescan, waits until it
waits for the lock, appends 5 messages, starts "doveadm index" (which
then waits too) and lets go of the lock; whichever of the two gets it
first, every search afterwards must equal the oracle's.  The rounds
where the index run went first are the race.  Left to the scheduler,
which one that is varies with the machine (on a loaded host the rescan
won 20 rounds of 20), so every other round stops the waiting rescan
(SIGSTOP) until the index run is done: the index run then takes the lock
first, as a writer that was quicker would."""

import fcntl
import os
import signal
import threading
import time

from dovetest import instance_pair
from fixtures import T2020, simple

USER = "carol"
BOX = "Rescan"
ROUNDS = 8
PER_ROUND = 5


def doveadm_pid(fts, word):
    """The pid of the instance's running doveadm process whose command
    line has word."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.path.basename(os.readlink("/proc/%s/exe" % d)) != "doveadm":
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if word in args and any(fts.root in a for a in args):
            return int(d)
    return None


def message(tag, n):
    return simple("Sender %d <s%d@example.org>" % (n, n), "carol@example.test",
                  "Rescan %s %d" % (tag, n), T2020,
                  ("common %s word%d\n" % (tag, n)).encode())


def test_rescan_waiting_for_the_lock(request):
    with instance_pair("rescan-race", (USER,), {"fts_autoindex": "no"},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for n in range(20):
            fts.append(USER, BOX, message("base", n), date=T2020)
        fts.doveadm("index", "-u", USER, BOX)
        idx = os.path.join(fts.maildir(USER), "." + BOX, "fts-sift")
        lock_path = os.path.join(idx, "flintlock")
        wait_path = os.path.join(idx, "lockwait")
        assert os.path.exists(lock_path)

        wrong, index_first, rounds = [], 0, 0
        for r in range(ROUNDS):
            rounds += 1
            # every other round: the index run takes the lock first
            hold_rescan = r % 2 == 1
            stopped = None
            tag = "round%d" % r
            ends, errors = {}, []

            def run(name, *args):
                try:
                    fts.doveadm(*args, timeout=120)
                except Exception as e:      # reported below
                    errors.append("%s: %r" % (name, e))
                ends[name] = time.monotonic()

            fd = os.open(lock_path, os.O_RDWR)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX)
                if os.path.exists(wait_path):
                    os.unlink(wait_path)
                rescan = threading.Thread(target=run, args=(
                    "rescan", "fts", "rescan", "-u", USER))
                rescan.start()
                # the rescan has synced its view and waits for the lock
                deadline = time.monotonic() + 60
                while not os.path.exists(wait_path):
                    assert time.monotonic() < deadline, "rescan never waited"
                    assert rescan.is_alive(), errors
                    time.sleep(0.01)
                if hold_rescan:
                    stopped = doveadm_pid(fts, "rescan")
                    assert stopped is not None, "no rescan process found"
                    os.kill(stopped, signal.SIGSTOP)
                for n in range(PER_ROUND):
                    fts.append(USER, BOX, message(tag, n), date=T2020)
                index = threading.Thread(target=run, args=(
                    "index", "index", "-u", USER, BOX))
                index.start()
                # (doveadm's start and sync; then it waits too)
                time.sleep(1.0)
            finally:
                os.close(fd)
                if stopped is not None:
                    index.join(120)
                    os.kill(stopped, signal.SIGCONT)
            rescan.join(120)
            index.join(120)
            assert not rescan.is_alive() and not index.is_alive()
            assert not errors, errors
            if ends["index"] < ends["rescan"]:
                index_first += 1
            for q in (("BODY", tag), ("BODY", "common"), ("SUBJECT", tag)):
                a = fts.search(USER, BOX, *q)
                b = oracle.search(USER, BOX, *q)
                if a != b:
                    wrong.append("round %d (%s first), %s: fts %s, oracle %s"
                                 % (r, "index" if ends["index"] < ends["rescan"]
                                    else "rescan", q, a, b))
        print("rescan race: %d rounds, the index run first in %d"
              % (rounds, index_first))
        assert not wrong, "\n".join(wrong)
        assert index_first >= ROUNDS // 2, "the index run got the lock first " \
            "in %d rounds only" % index_first
        problems = fts.log_problems()
        assert not problems, "\n".join(problems[:20])
