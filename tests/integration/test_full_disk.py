"""A full disk (ENOSPC) and a read-only file system under the index.

The mailbox indexes (Dovecot's own and fts-sift's, INDEX=) live on a small
tmpfs mounted for the test (root only; unmounted however the test ends);
the mail stays on the ordinary file system.  The tmpfs is filled up to a
little room, then an indexing run of mail with many distinct words runs
out of space in the middle.  Then:

  - the run fails with a clear error naming the cause ("No space left on
    device") logged by fts-sift, and nothing else of fts-sift's;
  - mail is untouched: appends still succeed (Dovecot keeps its own
    index in memory while its file system is full: its own errors), and
    the oracle sees every message;
  - every search equals the oracle's while the disk is full;
  - once space is freed, `doveadm index` succeeds, searches equal the
    oracle's and the index answers from itself again, with no further
    problem logged.

And with the file system remounted read-only, `doveadm index` reports
the cause at once (not after the lock timeout)."""

import os
import random
import subprocess
import time

import pytest

from dovetest import Dovecot, new_test_root, remove_test_root  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "fran"
TMPFS_MB = 64
ROOM_KB = 1536
WORDS = "copper delta ember fern gale haze iris jade kelp loam".split()
QUERIES = [("BODY", "copper"), ("BODY", "fern gale"), ("BODY", "kelp4"),
           ("NOT", "BODY", "haze"), ("FROM", "f3@"), ("SUBJECT", "load 1"),
           ("TEXT", "iris"), ("BODY", "r")]


def _msg(n, distinct=1200):
    rnd = random.Random(n)
    body = " ".join(rnd.choice(WORDS) for _ in range(50))
    # distinct terms: what makes the index grow
    body += "\n" + " ".join("%s%d" % (rnd.choice(WORDS), rnd.randrange(10 ** 7))
                            for _ in range(distinct))
    return simple("Filler %d <f%d@example.org>" % (n % 5, n % 5), "fran@example.test",
                  "Load %d %s" % (n, rnd.choice(WORDS)), T2020, body.encode())


def _mount_tmpfs(path, mb):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % mb,
                    "tmpfs", path], check=True)


def _umount(path):
    for _ in range(20):
        if subprocess.run(["umount", path], capture_output=True).returncode == 0 \
                or not os.path.ismount(path):
            return
        time.sleep(0.5)
    subprocess.run(["umount", "-l", path])


def _fill(path, leave_kb):
    """Fill the file system of path up to leave_kb KB free; the filler's
    path."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        left = free - leave_kb * 1024
        chunk = b"\0" * (1 << 20)
        while left > 0:
            f.write(chunk[:min(left, len(chunk))])
            left -= len(chunk)
    return filler


def _same_as_oracle(fts, oracle, box, label):
    for q in QUERIES:
        a = fts.search(USER, box, *q)
        b = oracle.search(USER, box, *q)
        assert a == b, "%s: %s: fts %s, oracle %s" % (label, q, a, b)


def _sift_problems(fts, since):
    return [p for p in fts.log_problems(since)
            if "fts-sift" in p or "sift" in p.split(": Error: ")[-1][:40]]


@pytest.fixture
def full_disk(request):
    if os.geteuid() != 0:
        pytest.fail("needs root (mounts a tmpfs for the index)")
    root = new_test_root("fulldisk")
    idx = os.path.join(root, "index-fs")
    _mount_tmpfs(idx, TMPFS_MB)
    fts = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=(USER,),
                  plugin_settings={"fts_autoindex": "no", "fts_sift_commit_batch": "20"})
    fts.index_root = idx
    os.chown(idx, fts.mail_uid, fts.mail_gid)
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=fts)
    try:
        fts.start()
        oracle.start()
        yield fts, oracle, idx
    finally:
        oracle.stop()
        fts.stop()
        _umount(idx)
        remove_test_root(root, request.session.testsfailed)


def test_full_disk_during_indexing(full_disk):
    fts, oracle, idx = full_disk
    box = "INBOX"
    for n in range(1, 61):
        fts.append(USER, box, _msg(n, distinct=20), date=T2020, create=False)
    fts.doveadm("index", "-u", USER, box)
    _same_as_oracle(fts, oracle, box, "before")
    for n in range(61, 401):
        fts.append(USER, box, _msg(n), date=T2020, create=False)
    fts.close_connections()

    filler = _fill(idx, ROOM_KB)
    since = fts.log_size()
    p = fts.doveadm("index", "-u", USER, box, check=False)
    log = fts.log_text().encode()[since:].decode("utf-8", "replace")
    log += p.stdout + p.stderr
    print("\ndoveadm index on a full disk: exit %d\n%s" % (p.returncode, log[-3000:]))
    nospace = [line for line in log.splitlines()
               if "No space left on device" in line and "Error:" in line]
    assert nospace, "no error names the full disk:\n" + log[-3000:]
    sift_errors = [line for line in nospace if "fts-sift" in line or "/fts-sift" in line
                   or "the index" in line]
    assert sift_errors, "fts-sift said nothing of the full disk:\n" + "\n".join(nospace)
    assert "locked by another process" not in log

    # mail untouched: appends go on (the mail is elsewhere), every
    # message is there, and searches are exact while the disk is full
    uid = fts.append(USER, box, _msg(401, distinct=5), date=T2020, create=False)
    assert uid, "APPEND failed on a full index file system"
    assert oracle.search(USER, box, "ALL") == list(range(1, 402))
    _same_as_oracle(fts, oracle, box, "disk full")
    fts.close_connections()

    # space freed: the index recovers
    os.unlink(filler)
    since = fts.log_size()
    fts.doveadm("index", "-u", USER, box)
    _same_as_oracle(fts, oracle, box, "after space was freed")
    definite, maybe = fts.fts_lookup(USER, box, "body", "copper")
    expected = set(oracle.search(USER, box, "BODY", "copper"))
    assert definite == expected and not maybe, \
        "the index is not in use again: %s %s" % (sorted(definite ^ expected)[:20], maybe)
    problems = fts.log_problems(since)
    assert not problems, "\n".join(problems[:20])


def test_read_only_file_system(full_disk):
    fts, oracle, idx = full_disk
    box = "INBOX"
    for n in range(1, 31):
        fts.append(USER, box, _msg(n, distinct=20), date=T2020, create=False)
    fts.doveadm("index", "-u", USER, box)
    fts.append(USER, box, _msg(31, distinct=20), date=T2020, create=False)
    fts.close_connections()
    subprocess.run(["mount", "-o", "remount,ro", idx], check=True)
    try:
        since = fts.log_size()
        start = time.time()
        p = fts.doveadm("index", "-u", USER, box, check=False)
        elapsed = time.time() - start
        log = fts.log_text().encode()[since:].decode("utf-8", "replace")
        log += p.stdout + p.stderr
        assert elapsed < 10, "doveadm index took %.1f s" % elapsed
        assert "locked by another process" not in log, log[-2000:]
        assert "can't be written" in log and "Read-only file system" in log, log[-3000:]
        _same_as_oracle(fts, oracle, box, "read-only")
        fts.close_connections()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", idx], check=True)
    fts.doveadm("index", "-u", USER, box)
    _same_as_oracle(fts, oracle, box, "writable again")
