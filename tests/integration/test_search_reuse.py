"""Searches of one imap session: what the plugin keeps between them, and
how much each reads.

An imap session searches the same mailbox again and again, and each
search opened the Xapian database four times (three get_last_uid() calls
and the lookup), read a whole 1 MB window of the terms and of the opaque
file to check their 32-byte headers, and read 1 MB windows where the
gram filters left 16 KB blocks.  Now closed readers are kept and taken
back while the database's version file is unchanged (sift-xapian.cc),
a side file's first read is small, and filter blocks are read alone
(sift-file.h).

Here one IMAP connection searches while other processes change the
mailbox under it (the oracle instance serves the same maildir): APPEND over another connection, `doveadm index`
(another process commits), EXPUNGE, `doveadm fts rescan` + index.  After
each change every search of the session must equal Dovecot's own answer
(an oracle instance without the plugin) - a kept reader of an older
revision would answer for the old mailbox.  And a substring search reads
well under a window's worth of bytes from the index (the imap process's
rchar), on a mailbox whose terms file is several windows long.
"""

import glob
import hashlib
import os
import re

import pytest

from conftest import BACKEND, show
from dovetest import Dovecot, _child_pids, _child_of_instance
from fixtures import T2020, simple
from sharedenv import new_root, remove_root

MESSAGES = 500
TOKENS = 500            # distinct made-up words per message
WINDOW = 1024 * 1024    # SIFT_MAP_WINDOW


def word(n, k):
    """A made-up word of the letters a-m, distinct per (n, k)."""
    h = hashlib.sha256(b"%d/%d" % (n, k)).digest()
    return "".join(chr(ord("a") + b % 13) for b in h[:10])


# in one message only, of letters no other word has: the gram filters
# can tell the blocks that may hold it from the others
RARE = "zyxwvutsrqpon"


def message(n, extra_words=()):
    words = [word(n, k) for k in range(TOKENS)] + list(extra_words)
    lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    body = ("Report %d.\n" % n + "\n".join(lines) + "\n").encode()
    return simple("Reporter <r%d@example.net>" % (n % 7), "list@example.test",
                  "Report %d" % n, T2020, body, msgid="reuse%d@example.net" % n)


@pytest.fixture(scope="module")
def pair(request):
    root = new_root("reuse")
    # (mail_debug: the lookups' debug lines say which last_uid they read)
    fts = Dovecot(os.path.join(root, "fts"), None, plugin=BACKEND,
                  extra_conf="mail_debug = yes\n")
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none",
                     oracle_of=fts)
    fts.start()
    oracle.start()
    try:
        for n in range(1, MESSAGES + 1):
            raw = message(n, [RARE] if n == MESSAGES // 2 else [])
            fts.append("alice", "INBOX", raw)
        fts.doveadm("index", "-u", "alice", "INBOX")
        yield fts, oracle
    finally:
        oracle.stop()
        fts.stop()
        remove_root(root, request)


def side_file(fts, name):
    paths = glob.glob(os.path.join(fts.root, "**", "fts-sift", name),
                      recursive=True)
    assert len(paths) == 1, "%s: %s" % (name, paths)
    return paths[0]


def session(dv):
    conn = dv.imap("alice")
    dv.select(conn, "INBOX", readonly=True)
    return conn


def imap_pid(fts, before):
    """The imap process started since before (the set of earlier ones)."""
    pids = [p for p in _child_pids(fts._master_pid())
            if p not in before and _child_of_instance(p, fts.instance_name)
            and open("/proc/%d/comm" % p).read().strip() == "imap"]
    assert len(pids) == 1, pids
    return pids[0]


def rchar(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar for %d" % pid)


QUERIES = [("BODY", "zqxwvmarker"), ("BODY", "qxwvmark"),
           ("BODY", word(3, 7)), ("BODY", word(MESSAGES, 1)[2:8]),
           ("TEXT", "report"), ("SUBJECT", "report 1"),
           ("OR", "BODY", "zqxwvmarker", "BODY", word(5, 5))]


def check_all(fts_conn, fts, oracle_conn, oracle, when):
    failed = []
    for crit in QUERIES:
        want = oracle.uid_search(oracle_conn, *crit)
        got = fts.uid_search(fts_conn, *crit)
        if got != want:
            failed.append("%s %s: expected %s, got %s"
                          % (when, show(crit), want[:10], got[:10]))
    return failed


def test_one_session_sees_every_change(pair):
    fts, oracle = pair
    fts_conn, oracle_conn = session(fts), session(oracle)
    failed = check_all(fts_conn, fts, oracle_conn, oracle, "start")
    try:
        # a new message, appended over another connection
        raw = message(MESSAGES + 1, ["zqxwvmarker"])
        uid = fts.append("alice", "INBOX", raw)
        fts_conn.noop()
        oracle_conn.noop()
        failed += check_all(fts_conn, fts, oracle_conn, oracle, "appended")
        # another process indexes it (commits under the session)
        fts.doveadm("index", "-u", "alice", "INBOX")
        failed += check_all(fts_conn, fts, oracle_conn, oracle, "indexed")
        since = fts.log_size()
        assert fts.uid_search(fts_conn, "BODY", "zqxwvmarker") == [uid]
        if fts.plugin == "sift":
            # the session read the new revision, not a reader kept from
            # before the commit (whose last_uid is lower: Dovecot would
            # check the newer messages itself, hiding it in the answers)
            pattern = r"Lookup in INBOX: .* last_uid=(\d+)"
            log = fts.log_since(since, expect=pattern)
            seen = re.findall(pattern, log)
            assert seen and int(seen[-1]) == uid, (uid, seen)
        # expunged by another connection
        fts.expunge("alice", "INBOX", [uid])
        fts_conn.noop()
        oracle_conn.noop()
        failed += check_all(fts_conn, fts, oracle_conn, oracle, "expunged")
        # another message, then the index checked against the mailbox
        raw = message(MESSAGES + 2, ["zqxwvmarker"])
        fts.append("alice", "INBOX", raw)
        fts.doveadm("fts", "rescan", "-u", "alice")
        fts.doveadm("index", "-u", "alice", "INBOX")
        fts_conn.noop()
        oracle_conn.noop()
        failed += check_all(fts_conn, fts, oracle_conn, oracle, "rescanned")
    finally:
        fts_conn.logout()
        oracle_conn.logout()
    assert not failed, "\n".join(failed)


def test_substring_search_reads_little(pair):
    fts, oracle = pair
    if fts.plugin != "sift":
        pytest.skip("the side files are fts-sift's")
    terms = os.path.getsize(side_file(fts, "terms"))
    assert terms > 2 * WINDOW, "terms is only %d bytes" % terms
    before = set(_child_pids(fts._master_pid()))
    conn = session(fts)
    try:
        pid = imap_pid(fts, before)
        needle = RARE[2:9]
        want = oracle.search("alice", "INBOX", "BODY", needle)
        assert want == [MESSAGES // 2], (needle, want)
        # the first searches of a session load and verify what they use,
        # and build the gram filters of terms records the writer saved
        # none for (a quarter of the file per search at most)
        for _ in range(6):
            assert fts.uid_search(conn, "BODY", needle) == want
        r0 = rchar(pid)
        got = fts.uid_search(conn, "BODY", needle)
        read = rchar(pid) - r0
        assert got == want
        # a 1 MB window for each side file's header alone was 2 MB
        assert read < WINDOW // 2, "one search read %d bytes" % read
    finally:
        conn.logout()


def test_first_search_verifies_blocks_not_records(pair):
    """The first substring searches of a session on an index whose terms
    file was rewritten (fts optimize: the saved trigram filters, grams,
    sift-gramfilter.h) load the filters and verify the blocks they read
    against the blocks' own checksums: beyond the grams file, a first
    search reads what the same search reads again (the blocks), not the
    records holding them (main verified each record it first met, read
    through its window); and of the grams file only its header, tables
    and a few slices (SIFTGRM3 was read whole)."""
    fts, oracle = pair
    if fts.plugin != "sift":
        pytest.skip("the side files are fts-sift's")
    fts.doveadm("fts", "optimize", "-u", "alice")
    with open(side_file(fts, "grams"), "rb") as f:
        assert f.read(8) == b"SIFTGRM4"
    grams = os.path.getsize(side_file(fts, "grams"))
    assert os.path.getsize(side_file(fts, "terms")) > 2 * WINDOW
    # a rare string (few blocks) and a fragment of made-up words (blocks
    # in several records)
    needles = [RARE[2:9], word(MESSAGES, 1)[3:7]]
    oconn = session(oracle)
    try:
        wants = [oracle.uid_search(oconn, "BODY", n) for n in needles]
    finally:
        oconn.logout()
    assert all(wants), needles
    fts.close_connections()
    before = set(_child_pids(fts._master_pid()))
    conn = session(fts)
    try:
        pid = imap_pid(fts, before)
        first, again = [], []
        for n, want in zip(needles, wants):
            r0 = rchar(pid)
            assert fts.uid_search(conn, "BODY", n) == want
            first.append(rchar(pid) - r0)
        for n, want in zip(needles, wants):
            r0 = rchar(pid)
            assert fts.uid_search(conn, "BODY", n) == want
            again.append(rchar(pid) - r0)
        extra = sum(first) - grams - sum(again)
        print("first searches read %s, again %s, grams %d: %d more"
              % (first, again, grams, extra))
        # (the database's first open and the side files' headers)
        assert extra < 96 * 1024, \
            "first searches read %s, again %s, grams %d" % (first, again,
                                                            grams)
        # and of the grams file (SIFTGRM4, bit-sliced) only its header,
        # tables and the slices of the strings' trigrams, not all of it
        assert sum(first) - sum(again) < grams // 2 + 96 * 1024, \
            "first searches read %s, again %s, grams %d" % (first, again,
                                                            grams)
    finally:
        conn.logout()


def test_older_grams_file_is_ignored(pair):
    """A grams file of an older layout (SIFTGRM3 and before, which a
    reader loaded whole) is ignored: the searches build the filters in
    the process, and every answer is the oracle's (pieces of every length
    of a rare word and of made-up words, in fresh sessions), with no
    problem logged; the same with the current file put back."""
    fts, oracle = pair
    if fts.plugin != "sift":
        pytest.skip("the side files are fts-sift's")
    fts.doveadm("fts", "optimize", "-u", "alice")
    path = side_file(fts, "grams")
    with open(path, "rb") as f:
        current = f.read()
    assert current[:8] == b"SIFTGRM4"
    needles = [RARE[i:i + n] for n in range(3, len(RARE) + 1)
               for i in (0, len(RARE) - n)]
    for n in (1, MESSAGES // 3, MESSAGES):
        w = word(n, 2)
        needles += [w[i:i + k] for k in range(3, len(w) + 1)
                    for i in (0, len(w) - k)]
    oconn = session(oracle)
    try:
        wants = [oracle.uid_search(oconn, "BODY", n) for n in needles]
    finally:
        oconn.logout()
    assert any(wants) and not all(len(w) == 0 for w in wants)
    for label, data in (("SIFTGRM3", b"SIFTGRM3" + current[8:]),
                        ("current", current)):
        with open(path, "wb") as f:
            f.write(data)
        fts.close_connections()
        since = fts.log_size()
        conn = session(fts)
        try:
            for n, want in zip(needles, wants):
                assert fts.uid_search(conn, "BODY", n) == want, (label, n)
        finally:
            conn.logout()
        assert fts.log_problems(since) == [], label
