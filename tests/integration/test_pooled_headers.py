"""HEADER <name> <value> for the headers other than Subject and the
address headers, compared with Dovecot's own search.

Since format 9 these are keyed by a hash of the name (K<key>:), unless an
instance's value holds an opaque token: then its words are pooled with
all such instances (P), and a message with the value's words in any of
them is a candidate; a lookup keeps only those that also have the
searched header (its name is a term of its own).  The first test below
is the pool's (its values have no opaque tokens, so it now exercises the
keyed path with the same inputs); the hashed tests further down mix
both.  The class of inputs that could go wrong there, generated: the
words in the searched header, only in other pooled headers, only in a
MIME part's header of the same name, in a folded or RFC 2047-encoded
value, in a header whose name is written in another case, in an empty
header, and the header missing altogether; searched with header names in
several cases, for whole words, prefixes, in-word substrings, two-word
strings and strings with punctuation, alone, under NOT and after a date
criterion.  Every search must equal the oracle's.
"""

import base64
import random

import pytest

from dovetest import mailbox_pair  # noqa: E402
from fixtures import T2020, header_lookup_check, oracle_compare  # noqa: E402

NAMES = ["X-Mailer", "X-Project", "List-Id", "X-Tag", "Comments", "Keywords",
         "X-Spam-Status", "Organization", "X-Long-Header-Name-For-Tests"]
WORDS = ["orchid", "basalt", "git-send-email", "quill", "v2.41.0", "lumen",
         "Zephyr", "tangle", "north_east", "ferrous", "caldera", "émigré"]


def case_variant(name, rnd):
    return "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in name)


def encode(value, rnd):
    if rnd.random() < 0.15:
        return "=?UTF-8?B?%s?=" % base64.b64encode(value.encode()).decode()
    if rnd.random() < 0.15 and " " in value:
        first, _, rest = value.partition(" ")
        return "%s\n\t%s" % (first, rest)
    return value


def messages():
    rnd = random.Random(14)
    out = []
    for i in range(160):
        headers = []
        present = rnd.sample(NAMES, rnd.randint(0, 4))
        for name in present:
            words = rnd.sample(WORDS, rnd.randint(0, 3))
            value = " ".join(words)
            headers.append("%s: %s" % (case_variant(name, rnd) if rnd.random() < 0.3 else name,
                                       encode(value, rnd)))
        body_part_hdr = None
        if rnd.random() < 0.2:
            # the same header name in a MIME part only (not a HEADER match)
            body_part_hdr = "%s: %s" % (rnd.choice(NAMES), " ".join(rnd.sample(WORDS, 2)))
        head = ("From: a%d@example.org\nTo: b@example.org\nSubject: pooled %d\n"
                "Date: Mon, 6 Jan 2020 10:00:00 +0000\nMessage-ID: <pool%d@fixtures.test>\n"
                % (i, i, i))
        head += "".join(h + "\n" for h in headers)
        if body_part_hdr is None:
            raw = head + "\nbody %d\n" % i
        else:
            raw = (head + "MIME-Version: 1.0\n"
                   "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n"
                   "--b%d\nContent-Type: text/plain\n%s\n\npart body\n--b%d--\n"
                   % (i, i, body_part_hdr, i))
        out.append(raw.encode("utf-8"))
    return out


@pytest.fixture(scope="module")
def inst(request):
    with mailbox_pair(request, "pooledhdr", "erin", messages(),
                      date=T2020) as (fts, oracle, _since):
        yield fts, oracle


def search_strings(rnd):
    out = []
    for w in WORDS:
        out.append(w)
        if len(w) > 4:
            out.append(w[:4])          # prefix
            out.append(w[1:-1])        # in-word
    for _ in range(12):
        a, b = rnd.sample(WORDS, 2)
        out.append("%s %s" % (a, b))   # across words
    out += ["send-", ".41", "_east", "", " "]
    return out


def test_pooled_header_searches_equal_oracle(inst):
    fts, oracle = inst
    rnd = random.Random(7)
    queries = []
    for name in NAMES + ["X-Absent-Header"]:
        for s in search_strings(rnd):
            hname = case_variant(name, rnd)
            queries.append(("HEADER", hname, s))
    for crit in list(queries[::7]):
        queries.append(("NOT",) + crit)
        queries.append(("SINCE", "1-Jan-2019") + crit)
    wants = []
    bad, nonempty = oracle_compare(fts, oracle, "erin", "INBOX", queries,
                                   wants=wants)
    # a word some message has in another header but none in this one
    narrowed = sum(1 for crit, want in zip(queries, wants)
                   if crit[0] == "HEADER" and crit[2] in WORDS and not want)
    assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(queries), "\n".join(bad[:20]))
    assert nonempty > len(queries) // 4, "test problem: only %d non-empty results" % nonempty
    assert narrowed > 0, "test problem: no word found only outside the searched header"


# ---- the hashed headers (format 9): keyed by a hash of the name ----------
#
# Every header but Subject and the address headers is indexed under a key
# made from its name (K<key>:<word>, sift-terms.h), unless its value holds
# an opaque token (long with a digit), when that instance is pooled as
# before.  A HEADER search is then answered by the index itself (definite
# matches Dovecot does not check) except in messages that also hold
# another header name with the same key, and for pooled instances.  The
# class generated below: many X- names, two names whose keys collide, the
# same word in two different headers (the case the pool could not tell
# apart), values with and without opaque tokens, encoded words in several
# charsets, repeated headers, folded and empty values, names in any case;
# searched for every substring of some words and across words.  Each
# search must equal the oracle's, and `doveadm fts lookup` must never call
# a message definite that Dovecot would not match (a collision treated as
# definite fails here), while most hits must come definite.

KEY_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def header_key(name):
    """sift_header_key_prefix() of the normalized (upper-cased) name."""
    h = 2166136261
    for c in name.upper().encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return "".join(KEY_CHARS[(h >> (6 * i)) & 63] for i in range(4))


def colliding_names():
    """Two X- names with the same key (24 bits: found among a few
    thousand)."""
    seen = {}
    for i in range(200000):
        name = "X-Coll-%d" % i
        k = header_key(name)
        if k in seen:
            return seen[k], name
        seen[k] = name
    raise AssertionError("no key collision found")


COLL_A, COLL_B = colliding_names()
MOSTLY_POOLED = "X-Trace"
HNAMES = (["X-Gen-%d" % i for i in range(14)] +
          ["X-Mailer", "List-Id", "X-SA-Exim-Scanned", "x-ms-publictraffictype",
           "Keywords", "X-Original-To", COLL_A, COLL_B])
HWORDS = ["orchid", "basalt", "git-send-email", "quill", "lumen", "Zephyr",
          "north_east", "ferrous", "caldera", "émigré", "Straße", "Žluťoučký",
          "привет", "日本語", "v2.41.0"]
# an opaque token makes the instance pooled (doc_hashed_decide())
OPAQUE = ["20231104a1b2c3", "id=1FE3A2B9C7D4", "0.2021.06.10.04.46"]
CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-15", "iso-8859-2", "koi8-r",
            "windows-1252", "shift_jis"]


def encoded_word(text, rnd):
    """text as one RFC 2047 word in a charset that can hold it."""
    for cs in rnd.sample(CHARSETS, len(CHARSETS)):
        try:
            raw = text.encode(cs)
        except UnicodeEncodeError:
            continue
        if rnd.random() < 0.5:
            return "=?%s?B?%s?=" % (cs.upper() if rnd.random() < 0.5 else cs,
                                    base64.b64encode(raw).decode())
        q = "".join(chr(b) if (chr(b).isalnum() and b < 0x80) else
                    "_" if b == 0x20 else "=%02X" % b for b in raw)
        return "=?%s?Q?%s?=" % (cs, q)
    raise AssertionError("no charset for %r" % text)


def hashed_value(rnd):
    words = rnd.sample(HWORDS, rnd.randint(0, 3))
    if rnd.random() < 0.2:
        words.insert(rnd.randint(0, len(words)), rnd.choice(OPAQUE))
    if not words:
        return ""
    parts = []
    for w in words:
        if rnd.random() < 0.25:
            parts.append(encoded_word(w, rnd))
        else:
            parts.append(w)
    out = parts[0]
    for p in parts[1:]:
        # folded over lines, or plain; never two encoded words side by
        # side (the whitespace between them is dropped)
        out += ("\n\t" if rnd.random() < 0.25 else " ") + p
        if p.startswith("=?") and out[:-len(p)].rstrip().endswith("?="):
            out = out[:-len(p)] + "x " + p
    return out


def hashed_messages():
    rnd = random.Random(1409)
    out = []
    for i in range(220):
        headers = []
        names = rnd.sample(HNAMES, rnd.randint(1, 6))
        if i % 5 == 0:
            names += [COLL_A, COLL_B]      # both colliding names in one message
        for name in names:
            for _ in range(2 if rnd.random() < 0.15 else 1):   # repeated
                written = case_variant(name, rnd) if rnd.random() < 0.4 else name
                headers.append("%s:%s%s" % (written, " " if rnd.random() < 0.9 else "",
                                            hashed_value(rnd)))
        if rnd.random() < 0.8:
            # pooled in most messages: a search narrows by the pool's
            # terms rather than handing all of them to Dovecot
            v = rnd.sample(HWORDS, 2) + [rnd.choice(OPAQUE)]
            rnd.shuffle(v)
            headers.append("%s: %s" % (case_variant(MOSTLY_POOLED, rnd), " ".join(v)))
        rnd.shuffle(headers)
        head = ("From: h%d@example.org\nTo: b@example.org\nSubject: hashed %d\n"
                "Date: Mon, 6 Jan 2020 10:00:00 +0000\nMessage-ID: <hash%d@fixtures.test>\n"
                "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                % (i, i, i))
        head += "".join(h + "\n" for h in headers)
        out.append((head + "\nbody %d\n" % i).encode("utf-8"))
    return out


def hashed_search_strings(rnd):
    out = set()
    for w in HWORDS:
        out.add(w)
        out.add(w.lower())
        out.add(w.upper())
    # every substring of a few words: every position
    for w in ["git-send-email", "Straße", "привет", "north_east", "v2.41.0"]:
        for i in range(len(w)):
            for j in range(i + 1, len(w) + 1):
                out.add(w[i:j])
    for _ in range(25):
        a, b = rnd.sample(HWORDS, 2)
        out.add("%s %s" % (a, b))       # across words (and folds)
    for o in OPAQUE:
        out.add(o)
        out.add(o[3:9])
        out.add("%s %s" % (rnd.choice(HWORDS), o))
    out.update(["", " ", "-", "send-", ".41", "_east", "x ="])
    return sorted(out)


@pytest.fixture(scope="module")
def hashed(request):
    with mailbox_pair(request, "hashedhdr", "hana", hashed_messages(),
                      date=T2020) as (fts, oracle, _since):
        yield fts, oracle


def test_hashed_header_searches_equal_oracle(hashed):
    fts, oracle = hashed
    rnd = random.Random(23)
    strings = hashed_search_strings(rnd)
    queries = []
    for name in HNAMES + [MOSTLY_POOLED, "X-Absent-Header"]:
        for s in strings:
            if rnd.random() < 0.35 or name in (COLL_A, COLL_B, MOSTLY_POOLED):
                queries.append(("HEADER", case_variant(name, rnd), s))
    for crit in list(queries[::11]):
        queries.append(("NOT",) + crit)
        queries.append(("SINCE", "1-Jan-2019") + crit)
    bad, nonempty = oracle_compare(fts, oracle, "hana", "INBOX", queries)
    assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(queries), "\n".join(bad[:20]))
    assert nonempty > len(queries) // 5, "test problem: only %d non-empty results" % nonempty


def test_hashed_header_definite_is_certain(hashed):
    """What the index calls definite Dovecot does not check: it must be a
    real match, and most real matches must come definite (else the change
    answers nothing).  The colliding names must have given maybe."""
    fts, oracle = hashed
    rnd = random.Random(31)
    # (doveadm would read a leading "-" as an option)
    strings = [s for s in hashed_search_strings(rnd) if s.strip() and s[0] != "-"]
    checks = [(n, s) for n in (COLL_A, COLL_B) for s in HWORDS]
    checks += [(rnd.choice(HNAMES), rnd.choice(strings)) for _ in range(160)]
    wrong, want_total, definite_total, coll_maybe = [], 0, 0, 0
    stats = {}
    for name, s in checks:
        want, definite, maybe = header_lookup_check(
            fts, oracle, "hana", "INBOX", name, s, wrong)
        want_total += len(want)
        definite_total += len(definite & want)
        st = stats.setdefault(name in (COLL_A, COLL_B), [0, 0])
        st[0] += len(want)
        st[1] += len(definite & want)
        if name in (COLL_A, COLL_B):
            coll_maybe += len(maybe - want)
    assert not wrong, "\n".join(wrong[:20])
    assert want_total > 200, "test problem: only %d hits" % want_total
    # (the colliding names' messages that hold both are maybe by design)
    plain_want, plain_definite = stats.get(False, [0, 0])
    assert plain_definite * 10 >= plain_want * 6, \
        "only %d of %d hits definite" % (plain_definite, plain_want)
    assert coll_maybe > 0, \
        "test problem: no message was maybe through the other colliding name"
