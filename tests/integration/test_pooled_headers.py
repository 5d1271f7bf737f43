"""HEADER <name> <value> for the pooled headers (every header but Subject
and the address headers), compared with Dovecot's own search.

The index keeps the words of all pooled headers together, so a message
with the value's words in any of them is a candidate; a lookup keeps
only those that also have the searched header (its name is a term of its
own).  The class of inputs that could go wrong there, generated: the
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

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020  # noqa: E402

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
    with instance_pair("pooledhdr", ("erin",),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for raw in messages():
            fts.append("erin", "INBOX", raw, date=T2020)
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
    bad, nonempty, narrowed = [], 0, 0
    for crit in queries:
        want = oracle.search("erin", "INBOX", *crit)
        got = fts.search("erin", "INBOX", *crit)
        if want:
            nonempty += 1
        if got != want:
            bad.append("%s: sift %s, oracle %s (missing %s, extra %s)" % (
                crit, got[:10], want[:10], sorted(set(want) - set(got))[:10],
                sorted(set(got) - set(want))[:10]))
        # a word some message has in another header but none in this one
        if crit[0] == "HEADER" and crit[2] in WORDS and not want:
            narrowed += 1
    assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(queries), "\n".join(bad[:20]))
    assert nonempty > len(queries) // 4, "test problem: only %d non-empty results" % nonempty
    assert narrowed > 0, "test problem: no word found only outside the searched header"
