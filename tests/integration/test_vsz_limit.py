"""Side files bigger than the searching process's address-space limit.

Dovecot limits each service's address space (vsz_limit, 256M by default
for imap).  fts-sift used to mmap() its side files whole, so at 100,000
list messages (opaque ~100 MB, gaps ~90 MB) every search failed with
"mmap(.../opaque) failed: Cannot allocate memory" and the imap process
then died (block_alloc: Out of memory).  They are read through a bounded
window now (plugin/sift-file.h).

Here the imap service runs with vsz_limit = 96M (an imap process with the
plugin loaded takes about 60 MB of address space) and the mailbox's
opaque file is made bigger than that: messages with large pooled headers
full of unique long hex and base64 tokens, which go to the opaque file.
Every search (TEXT and HEADER substrings of those tokens, whole tokens,
body words and phrases, absent tokens) must equal Dovecot's own answer
without the plugin, and the log must have no mmap or out-of-memory error
and no dead process.
"""

import base64
import glob
import hashlib
import os
import re

import pytest

from conftest import BACKEND, show
from dovetest import Dovecot
from fixtures import T2020, simple
from sharedenv import new_root, remove_root

VSZ_LIMIT_MB = 96
# opaque bytes to reach: above the limit by a margin
OPAQUE_TARGET = (VSZ_LIMIT_MB + 24) * 1024 * 1024
TOKENS_PER_MSG = 1200          # about 56 KB of header tokens each
WORDS = ["kestrel", "osprey", "merlin", "harrier", "buzzard", "kite",
         "falcon", "hobby", "goshawk", "sparrowhawk"]


def token(n, k):
    """A unique long token: hex for even k, base64 for odd."""
    h = hashlib.sha256(b"%d/%d" % (n, k)).digest()
    if k % 2 == 0:
        return h.hex()[:40]
    return base64.b64encode(h).decode().rstrip("=")[:40]


def message(n):
    toks = [token(n, k) for k in range(TOKENS_PER_MSG)]
    lines = []
    for i in range(0, len(toks), 20):
        lines.append(" ".join(toks[i:i + 20]))
    # a folded pooled header (X-* headers are pooled: sift-terms.c)
    hdr = "X-Trace-Sig: " + "\n\t".join(lines) + "\n"
    w1, w2 = WORDS[n % len(WORDS)], WORDS[(n * 7 + 3) % len(WORDS)]
    body = ("Message %d talks of the %s and the %s.\n"
            "Sighting number %d near the ridge.\n" % (n, w1, w2, n)).encode()
    return simple("Bird Watcher <watcher%d@example.net>" % (n % 13),
                  "list@example.test", "Sighting %d of a %s" % (n, w1),
                  T2020, body, msgid="vsz%d@example.net" % n,
                  extra=hdr.encode())


@pytest.fixture(scope="module")
def limited(request):
    root = new_root("vszlimit")
    extra = "service imap {\n  vsz_limit = %dM\n}\n" % VSZ_LIMIT_MB
    fts = Dovecot(os.path.join(root, "fts"), None, plugin=BACKEND, extra_conf=extra)
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none",
                     oracle_of=fts, extra_conf=extra)
    fts.start()
    oracle.start()
    n = 0
    try:
        count = OPAQUE_TARGET // (TOKENS_PER_MSG * 41) + 1
        for n in range(1, count + 1):
            raw = message(n)
            fts.append("alice", "INBOX", raw)
            oracle.append("alice", "INBOX", raw)
        fts.doveadm("index", "-u", "alice", "INBOX")
        yield fts, oracle, count
    finally:
        oracle.stop()
        fts.stop()
        remove_root(root, request)


def side_file(fts, name):
    paths = glob.glob(os.path.join(fts.root, "**", "fts-sift", name), recursive=True)
    assert len(paths) == 1, "%s: %s" % (name, paths)
    return paths[0]


def test_side_files_exceed_the_limit(limited):
    fts, oracle, count = limited
    if fts.plugin != "sift":
        pytest.skip("the side files are fts-sift's")
    size = os.path.getsize(side_file(fts, "opaque"))
    assert size > VSZ_LIMIT_MB * 1024 * 1024, \
        "opaque is %d bytes, not above vsz_limit %dM" % (size, VSZ_LIMIT_MB)


def queries(count):
    mids = [1, count // 3, count // 2, count - 1, count]
    qs = []
    for n in mids:
        t_hex, t_b64 = token(n, 10), token(n, 611)
        qs += [("TEXT", t_hex[5:25]), ("TEXT", t_hex),
               ("HEADER", "X-Trace-Sig", t_b64[3:20]),
               ("TEXT", t_b64), ("BODY", "Sighting number %d near" % n)]
    qs += [("TEXT", "deadbeef" * 3 + "0"),          # in no message
           ("BODY", "kestrel"), ("BODY", "the osprey"),
           ("SUBJECT", "sighting 1"), ("FROM", "watcher7"),
           ("OR", "TEXT", token(2, 4)[:16], "TEXT", token(count, 4)[:16]),
           ("NOT", "TEXT", token(3, 8)),
           ("TEXT", token(count // 2, TOKENS_PER_MSG - 1)[-12:])]
    return qs


def test_searches_equal_dovecots_under_the_limit(limited):
    fts, oracle, count = limited
    since = fts.log_size()
    failed = []
    nonempty = 0
    for crit in queries(count):
        want = oracle.search("alice", "INBOX", *crit)
        got = fts.search("alice", "INBOX", *crit)
        nonempty += bool(want)
        if got != want:
            failed.append("%s: expected %s, got %s" % (show(crit), want[:10], got[:10]))
    assert not failed, "\n".join(failed)
    # the queries are not vacuous: most match something
    assert nonempty >= len(queries(count)) - 3
    log = fts.log_text().encode("utf-8", "replace")[since:].decode("utf-8", "replace")
    bad = [line for line in log.splitlines()
           if re.search(r"mmap|Cannot allocate memory|[Oo]ut of memory|"
                        r"Fatal|Panic|killed|Searching the index .* failed",
                        line)]
    assert not bad, "\n".join(bad[:20])
    assert not fts.log_problems(since), "\n".join(fts.log_problems(since)[:20])
