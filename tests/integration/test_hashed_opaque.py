"""HEADER searches of hashed headers whose instance has an opaque part
(format 11), compared with Dovecot's own search.

A hashed header's instance whose value holds an opaque token or run (long
with a digit: "git-send-email 2.25.1.377.g2d2118b814c1", "05 Nov 2020
12:34:56.1234 (UTC)") used to be pooled whole, so every search of the
header handed those messages to Dovecot.  Now only its opaque part is
pooled (the opaque record and P terms) and flagged ZK<key>; its other
words and runs stay under the key, so a search is certain about them,
and the ZK<key> messages are left to Dovecot only where the string may
lie in the opaque part (sift_query_hashed_pooled()).  TEXT searches for
a string without whitespace read the pooled part the same way
(sift_query_pool_chunk()).

The class generated here: values mixing words, dashed words, punctuation
at every position of a word, opaque tokens and opaque runs (versions,
times, GUIDs, base64, short words inside them), an opaque token common to
many messages (it becomes a P term) and one repeated in another hashed
header or a trace header of the same message, RFC 2047 words in several
charsets, repeated instances (with and without an opaque part), folded,
very long and empty values; searched for words, every substring of some
values, strings across words, under NOT, and with TEXT.  Every search must
equal the oracle's; definite answers must be real matches, and the hits
outside the opaque parts must come definite with few messages left to
Dovecot.
"""

import base64
import os
import random
import re

import pytest

from dovetest import Dovecot, mailbox_pair, new_test_root, remove_test_root  # noqa: E402
from fixtures import T2020, ew_any, header_lookup_check, oracle_compare  # noqa: E402

NAMES = ["X-Mailer", "X-MS-Exchange-CrossTenant-OriginalArrivalTime",
         "X-Build-Info", "X-Ids"]
MONTHS = ["Jan", "Feb", "Nov", "Dec"]
WORDS = ["git-send-email", "Evolution", "hosted", "north_east", "Straße",
         "привет", "émigré", "quill", "a-b", "-lead", "trail-", "x.y",
         "(paren)", "[brk]", "q:r", "s/t", "u@v", "w+z", "#hash", "50%",
         "abc-1234567890", "zz"]
# opaque tokens and runs: unique per message (made below), or common
COMMON_OPAQUE = "build-20231104a1"
CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-15", "iso-8859-2", "koi8-r",
            "windows-1252"]



def opaque_part(i, rnd):
    kind = rnd.randrange(6)
    if kind == 0:
        return "2.%d.1.%d.g%08x" % (rnd.randint(10, 40), rnd.randint(1, 999),
                                   rnd.getrandbits(32))
    if kind == 1:
        return "%02d %s 2020 %02d:%02d:%02d.%04d (UTC)" % (
            rnd.randint(1, 28), rnd.choice(MONTHS), rnd.randint(0, 23),
            rnd.randint(0, 59), rnd.randint(0, 59), rnd.randint(0, 9999))
    if kind == 2:
        return "%08x-%04x-4e2f-9a1c-%012x" % (rnd.getrandbits(32), i,
                                               rnd.getrandbits(48))
    if kind == 3:
        return base64.b64encode(bytes(rnd.getrandbits(8)
                                      for _ in range(18))).decode()
    if kind == 4:
        return "v1.2:3.4-%d-abc" % i
    return COMMON_OPAQUE


def value(i, rnd, opaque):
    words = rnd.sample(WORDS, rnd.randint(0, 4))
    if opaque:
        words.insert(rnd.randint(0, len(words)), opaque_part(i, rnd))
    if not words:
        return ""
    parts = [ew_any(w, rnd, CHARSETS) if rnd.random() < 0.2 and " " not in w
             else w for w in words]
    out = parts[0]
    for p in parts[1:]:
        out += ("\n\t" if rnd.random() < 0.2 else " ") + p
        if p.startswith("=?") and out[:-len(p)].rstrip().endswith("?="):
            out = out[:-len(p)] + "x " + p
    if rnd.random() < 0.05:
        # very long: words repeated over folded lines
        out += "".join("\n\t%s %d" % (rnd.choice(WORDS), k) for k in range(300))
    return out


def messages():
    rnd = random.Random(1411)
    out = []
    for i in range(200):
        headers = []
        for name in rnd.sample(NAMES, rnd.randint(1, 4)):
            for _ in range(2 if rnd.random() < 0.2 else 1):   # repeated
                headers.append("%s: %s" % (name, value(i, rnd, rnd.random() < 0.6)))
        if rnd.random() < 0.3:
            # the same opaque token in a trace header and a hashed one
            tok = "%016x" % rnd.getrandbits(64)
            headers.append("Received: from relay (id %s)" % tok)
            headers.append("X-Ids: ref %s git-send-email" % tok)
        if rnd.random() < 0.15:
            # ... and in two hashed headers, common to many messages
            headers.append("X-Build-Info: %s quill" % COMMON_OPAQUE)
            headers.append("X-Ids: %s hosted" % COMMON_OPAQUE)
        if rnd.random() < 0.05:
            headers.append("X-Mailer:")
        rnd.shuffle(headers)
        head = ("From: o%d@example.org\nTo: b@example.org\nSubject: opaque %d\n"
                "Date: Mon, 6 Jan 2020 10:00:00 +0000\nMessage-ID: <opq%d@fixtures.test>\n"
                "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                % (i, i, i))
        head += "".join(h + "\n" for h in headers)
        out.append((head + "\nbody %d\n" % i).encode("utf-8"))
    return out


@pytest.fixture(scope="module")
def inst(request):
    with mailbox_pair(request, "hashedopq", "olga", messages(),
                      date=T2020) as (fts, oracle, _since):
        yield fts, oracle


# words and strings of two or more tokens without whitespace that lie
# outside every opaque part of the values: the index is certain about
# them, as in a keyed instance (a phrase, or a word with punctuation at
# its edge, "(paren)", is only a candidate there too: sift-plan.h)
OUTSIDE = ["git-send-email", "send-email", "git", "hosted", "Evolution", "quill",
           "north_east", "Straße", "привет", "émigré", "a-b", "x.y", "q:r", "s/t",
           "u@v", "w+z", "Nov", "UTC", "zz"]
# ... of which these have no word of SIFT_OPAQUE_RUN_MIN_TOKEN (4) bytes:
# they may lie inside an opaque run (whose runs are not terms), so the
# messages with a pooled part whose words hold their tokens are left to
# Dovecot (sift_query_pool_chunk()); whether "u@v" or "x.y" is one token
# depends on the ICU version
SHORT_TOKENS = {s for s in OUTSIDE
                if max(len(w.encode()) for w in re.findall(r"\w+", s)) < 4}


def search_strings(rnd):
    out = set(OUTSIDE)
    for w in WORDS + ["2.25.1.377.g2d2118b8", "12 Nov 2020 10:11:12.1234 (UTC)",
                      "v1.2:3.4-17-abc", COMMON_OPAQUE, "abc-1234567890"]:
        for a in range(len(w)):
            for b in range(a + 1, min(len(w), a + 12) + 1):
                if rnd.random() < 0.25:
                    out.add(w[a:b])
    for _ in range(20):
        a, b = rnd.sample(WORDS, 2)
        out.add("%s %s" % (a, b))
    out.update(["", " ", "-", "4e2f-9a1c", "-abc", "3.4-", ":3", "1.2:3",
                "abc-1", "build-2023", "g2d", "2020 1", "Nov 2020"])
    return sorted(out)


def test_hashed_opaque_searches_equal_oracle(inst):
    fts, oracle = inst
    rnd = random.Random(5)
    strings = search_strings(rnd)
    queries = []
    for s in strings:
        for name in NAMES + ["X-Absent-Header"]:
            if rnd.random() < 0.4:
                # (bytes: sent as a literal, whatever the characters)
                queries.append(("HEADER", name, s.encode()))
        if s.strip() and rnd.random() < 0.3:
            queries.append(("TEXT", s.encode()))
    # always: the common opaque token (a P term once met in 3 messages)
    # in each header, and TEXT for a run whose short word is a key's term
    for name in NAMES:
        for s in (COMMON_OPAQUE, "20231104a1", "build"):
            queries.append(("HEADER", name, s.encode()))
    for s in ("abc-1234567890", "abc-12345", "3.4-17-abc", "v1.2:3.4"):
        queries.append(("TEXT", s.encode()))
    for crit in list(queries[::9]):
        queries.append(("NOT",) + crit)
    bad, nonempty = oracle_compare(fts, oracle, "olga", "INBOX", queries)
    assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(queries), "\n".join(bad[:20]))
    assert nonempty > len(queries) // 4, "test problem: only %d non-empty results" % nonempty


def test_hashed_opaque_outside_is_certain(inst):
    """A string outside the opaque parts: definite answers are real
    matches, (nearly) every match is definite, and few other messages with
    a pooled part are left to Dovecot.  Before format 11 every matching
    instance with an opaque part was only maybe."""
    fts, oracle = inst
    wrong, want_total, definite_total, maybe_total = [], 0, 0, 0
    per = {}
    for name in NAMES:
        for s in OUTSIDE:
            if s.startswith("-"):
                continue        # (doveadm would read an option)
            want, definite, maybe = header_lookup_check(
                fts, oracle, "olga", "INBOX", name, s, wrong, literal=True)
            want_total += len(want)
            definite_total += len(definite & want)
            if s not in SHORT_TOKENS:
                maybe_total += len(maybe)
            st = per.setdefault(s, [0, 0, 0])
            st[0] += len(want)
            st[1] += len(definite & want)
            st[2] += len(maybe)
    assert not wrong, "\n".join(wrong[:20])
    assert want_total > 300, "test problem: only %d hits" % want_total
    assert definite_total * 100 >= want_total * 95, \
        "only %d of %d hits definite (string: hits, definite, maybe): %s" % (
            definite_total, want_total, per)
    assert maybe_total * 10 <= want_total, \
        "%d messages left to Dovecot for %d hits: %s" % (maybe_total, want_total, per)


def test_hashed_handover_follows_dovecot_cache(request):
    """The messages with a pooled part that a HEADER search leaves
    (here 1/24 of the mailbox) are narrowed in the index while Dovecot's
    cache lacks the header (Dovecot would read each message file), and
    handed to Dovecot whole once its cache holds the header
    (sift_query_hashed_narrow(), which probes the cache); the answer is
    the oracle's either way."""
    rnd = random.Random(77)
    n, every = 480, 16
    root = new_test_root("hashedcache")
    fts = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=("olga",),
                  extra_conf="mail_debug = yes\n")
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=fts)
    try:
        fts.start()
        oracle.start()
        for i in range(n):
            extra = ""
            if i % every == 0:
                # an opaque part (pooled, flag ZK<key>); "quill" (a key's
                # term: definite) in every third
                extra = "X-Build-Info: %sbuild 2.%d.1.%d.g%08x\n" % (
                    "quill " if i % (3 * every) == 0 else "",
                    rnd.randint(10, 40), rnd.randint(1, 999), rnd.getrandbits(32))
            raw = ("From: c%d@example.org\nTo: b@example.org\nSubject: cache %d\n"
                   "Date: Mon, 6 Jan 2020 10:00:00 +0000\nMessage-ID: <cache%d@fixtures.test>\n"
                   "%s\nbody %d\n" % (i, i, i, extra, i)).encode()
            fts.append("olga", "INBOX", raw, date=T2020)
        # indexes the mailbox; no header search yet
        assert fts.search("olga", "INBOX", "BODY", b"body")
        pooled = n // every - n // (3 * every)
        want = oracle.search("olga", "INBOX", "HEADER", "X-Build-Info", b"quill")
        assert len(want) == n // (3 * every)

        def search():
            since = fts.log_size()
            got = fts.search("olga", "INBOX", "HEADER", "X-Build-Info", b"quill")
            assert got == want
            log = fts.log_since(since, expect=r"Lookup in INBOX")
            m = re.search(r"X-BUILD-INFO: (\d+) pooled messages, (\d+) of (\d+) "
                          r"probed in Dovecot's cache: (narrowed|handed over)", log)
            assert m, log[-3000:]
            return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)

        # a first search for the header: nothing cached
        assert search() == (pooled, 0, 8, "narrowed")
        # Dovecot's cache: the header of every message
        c = fts.imap("olga")
        try:
            c.select("INBOX")
            typ, _ = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (X-Build-Info)])")
            assert typ == "OK"
        finally:
            c.logout()
        assert search() == (pooled, 8, 8, "handed over")
        # ... and the other strings equal the oracle's
        queries = [("HEADER", "X-Build-Info", s.encode())
                   for s in ("uil", "build", "2.1", ".g", "quill build")]
        bad, nonempty = oracle_compare(fts, oracle, "olga", "INBOX", queries)
        assert not bad, "\n".join(bad)
        assert nonempty == len(queries)
    finally:
        oracle.stop()
        fts.stop()
        remove_test_root(root, request.session.testsfailed)
