"""Compressed mbox files (read-only): with the zlib plugin loaded (2.3;
2.4: mail_compress), Dovecot reads an mbox file compressed with gzip or
bzip2 as a mailbox named by the file ("Archive.gz"), and refuses to
write to it.  Sites keep old mail so (archives compressed by a cron
job).  The plugin indexes what Dovecot reads through the decompressing
stream (each message copied first: fts-sift-msgcopy.c, as on any mbox).

An instance with the plugin and an oracle (Dovecot without FTS), each
with storage of its own (storage_pair.py's way: mbox keeps UIDs in
the file's X-UID headers only when it may write them; here the UIDs
are the messages' order in the file, the same on both), get the same
compressed files; then, in each file: every criteria of
test_search_oracle.py, the generated mail's searches of
test_storage_configs.py (big base64 attachments, attached messages'
headers, HTML) and random substrings (NOT, OR, dates); then the admin
replaces the archive by a longer one (more mail appended) and every
search equals the oracle's again; an APPEND is refused on both; the
log holds no error.  Then it is replaced by one of other mail (other
Message-IDs): equal too.  An archive replaced by messages with the
same headers and other bodies is a known limitation (README), and
removing the archive's index directory its remedy
(test_changed_bodies_index_removed)."""

import bz2
import gzip
import os
import re
import shutil

import pytest

import fixtures
from dovetest import Dovecot, separate_pair
from test_search_oracle import CASES
from test_storage_configs import _random_criteria, generated

USER = "alice"
# file name -> compressor; mailbox name = file name
ARCHIVES = {"Archive.gz": gzip.compress, "Old.bz2": bz2.compress}


def _mbox(messages):
    """mbox text of raw messages (From_ lines, ">From " quoting, LF)."""
    out = []
    for i, raw in enumerate(messages):
        raw = raw.replace(b"\r\n", b"\n")
        out.append(b"From sender%d@example.org Tue Jun  4 10:%02d:00 2024\n" % (i, i % 60))
        for line in raw.split(b"\n"):
            if line.lstrip(b">").startswith(b"From "):
                line = b">" + line
            out.append(line + b"\n")
        if not raw.endswith(b"\n"):
            out.append(b"\n")
        out.append(b"\n")
    return b"".join(out)


def _place(inst, name, data):
    """Write an archive into inst's mbox directory (atomically, as an
    admin's cron job does), owned by the mail user."""
    path = os.path.join(inst.home(USER), "mbox", name)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chown(tmp, inst.mail_uid, inst.mail_gid)
    os.rename(tmp, path)


def _queries(gen, seed):
    qs = [tuple(crit) for _cid, crit, _kw in CASES]
    qs += [q for _k, _raw, gq in gen for q in gq]
    qs += _random_criteria(seed, 60)
    return qs


@pytest.fixture(scope="module")
def pair(request):
    def make(path, plugin):
        return Dovecot(path, None, plugin=plugin, mail_driver="mbox",
                       storage={"compress": "gz"})
    with separate_pair("compressed-mbox", make,
                       failed=lambda: request.session.testsfailed > 0) as p:
        for inst in p:
            # the mbox root exists once INBOX does
            inst.append(USER, "INBOX", b"From: z@example.org\nSubject: s\n\ninboxword\n")
        yield p


def _identities(inst, conn, uids):
    """uid -> the message's Subject, Date and Message-ID (on conn, where
    the UIDs were found)."""
    if not uids:
        return {}
    typ, data = conn.uid("FETCH", ",".join(map(str, uids)),
                         "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT DATE MESSAGE-ID)])")
    assert typ == "OK", data
    out = {}
    for item in data:
        if isinstance(item, tuple):
            m = re.search(rb"UID (\d+)", item[0])
            out[int(m.group(1))] = b" ".join(item[1].split())
    assert set(out) == set(uids), (inst.plugin, uids, sorted(out))
    return out


def _compare(fts, oracle, box, queries):
    """Each search on both, as the messages it finds (Subject, Date,
    Message-ID), not as UIDs: after a compressed mbox was replaced by
    other mail, Dovecot (which can't write X-UID headers there) numbers
    its messages anew at every open, also without FTS, and the plugin's
    indexer-worker opens the mailbox too, so the two instances' UIDs
    differ.  Each instance answers in one session (UIDs stay while the
    mailbox is selected).  Returns how many found something."""
    conns = []
    for inst in (fts, oracle):
        conn = inst.imap(USER)
        inst.select(conn, box, readonly=True)
        conns.append(conn)
    bad, nonempty = [], 0
    try:
        for crit in queries:
            got, want = (sorted(_identities(inst, conn, inst.uid_search(conn, *crit)).values())
                         for inst, conn in zip((fts, oracle), conns))
            nonempty += bool(want)
            if got != want:
                bad.append("%s: sift %d messages, oracle %d (missing %s, extra %s)" % (
                    crit, len(got), len(want), sorted(set(want) - set(got))[:3],
                    sorted(set(got) - set(want))[:3]))
    finally:
        for conn in conns:
            conn.logout()
    assert not bad, "%s: %d of %d differ:\n%s" % (box, len(bad), len(queries),
                                                   "\n".join(bad[:30]))
    return nonempty


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_compressed_mbox_equals_oracle(pair, name):
    fts, oracle = pair
    compress = ARCHIVES[name]
    since = fts.log_size()
    fx = [f.raw for f in fixtures.build_messages(big=False)]
    gen = generated(13, 12)
    first = fx + [raw for _k, raw, _q in gen]
    for inst in pair:
        _place(inst, name, compress(_mbox(first)))
    total = oracle.search(USER, name, "ALL")
    assert len(total) == len(first), (len(total), len(first))
    assert fts.search(USER, name, "ALL") == total
    queries = _queries(gen, 41)
    assert _compare(fts, oracle, name, queries) > len(queries) // 2
    assert os.path.isdir(os.path.join(fts.home(USER), "mbox", ".imap", name, "fts-sift"))

    # more mail appended to the archive (replaced by a longer file)
    more = generated(17, 6)
    for inst in pair:
        _place(inst, name, compress(_mbox(first + [raw for _k, raw, _q in more])))
    assert fts.search(USER, name, "ALL") == oracle.search(USER, name, "ALL")
    assert len(oracle.search(USER, name, "ALL")) == len(first) + len(more)
    _compare(fts, oracle, name, _queries(more, 43)[-80:] +
             [q for _k, _r, gq in more for q in gq])

    # read-only: APPEND refused on both
    for inst in pair:
        conn = inst.imap(USER)
        try:
            typ, _data = conn.append(name, None, None, b"From: a@b\n\nx\n")
            assert typ == "NO", (inst.plugin, typ)
        finally:
            conn.logout()
    assert not fts.log_problems(since), fts.log_problems(since)[:10]


def _renamed(raw, tag):
    """raw with its Message-ID made another message's (tag in it) and
    its Date a year later: a message no one saw before."""
    raw = re.sub(rb"(Message-ID: <[^@>]*)@", rb"\1-" + tag + rb"@", raw, count=1)
    return raw.replace(b" 2024 ", b" 2025 ", 1)


def test_replaced_by_other_mail(pair):
    """The archive replaced by one of other mail (after
    test_compressed_mbox_equals_oracle; other Message-IDs and dates):
    every search must find the messages the oracle finds (compared by
    Subject/Date/Message-ID, not by UID: see _compare)."""
    fts, oracle = pair
    name = "Archive.gz"
    since = fts.log_size()
    other = [(k, _renamed(raw, b"r1"), q) for k, raw, q in generated(19, 6)]
    for inst in pair:
        _place(inst, name, gzip.compress(_mbox([raw for _k, raw, _q in other])))
    qs = [q for _k, _r, gq in other for q in gq]
    assert _compare(fts, oracle, name, qs) > len(qs) // 2
    assert not fts.log_problems(since), fts.log_problems(since)[:10]


def test_changed_bodies_index_removed(pair):
    """The archive replaced by messages with the same headers (Subject,
    Date, Message-ID) as before but other bodies (seed 23 instead of
    19): Dovecot keeps their UIDs (it matches mbox messages by a hash of
    some headers, also without FTS), so the index would keep the old
    bodies' text: a known limitation (README, "Compressed mbox"; 53 of
    188 searches answered from the old text when measured), which the
    suite does not run as a test, since a test that is expected to fail
    proves nothing.  This is the remedy README gives: remove the
    archive's index directory (mbox/.imap/<name>: Dovecot's index and
    cache, and fts-sift/ in it), with no session on it.  Dovecot numbers
    the archive anew (new UIDVALIDITY), the next search indexes it
    again, and every search equals the oracle, with no error in the log.
    (`doveadm fts-sift remove` alone is not enough on 2.4.1: Dovecot's
    own cache keeps the old messages' sizes, reads of the new ones fail
    with "Cached message size smaller than expected" and the search
    with it.)"""
    fts, oracle = pair
    name = "Archive.gz"
    since = fts.log_size()
    before = [(k, _renamed(raw, b"r1"), q) for k, raw, q in generated(19, 6)]
    after = [(k, _renamed(raw, b"r1"), q) for k, raw, q in generated(23, 6)]
    for inst in pair:
        _place(inst, name, gzip.compress(_mbox([raw for _k, raw, _q in after])))
    for inst in pair:
        inst.close_connections()
        shutil.rmtree(os.path.join(inst.home(USER), "mbox", ".imap", name))
    qs = [q for _k, _r, gq in after + before for q in gq]
    assert _compare(fts, oracle, name, qs) > len(qs) // 4
    assert not fts.log_problems(since), fts.log_problems(since)[:10]
