"""TEXT phrases (strings with whitespace) compared with Dovecot's own
search, and narrowed by the bodies' gap filters.

Dovecot's TEXT search reads each MIME part's headers and body as lines and
starts again at every part (message-search.c), so a string without a line
break lies in one header (name, ": ", value) or in one body.  A TEXT
phrase is therefore narrowed like a BODY phrase in the bodies (their gap
filters, plugin/sift-phrase-filter.h) plus the messages holding each of
its words in the headers' terms (top-level, MIME part and embedded
message headers: SIFT_STEP_TEXT_PHRASE); before, every message with the
words anywhere was a candidate Dovecot read whole.  A string with a line
break may run from a part's headers into its body and keeps the old way.

The class generated: multipart messages with text/plain and text/html
parts, MIME part headers (Content-Type names, Content-Description),
embedded message/rfc822 parts with their own headers and body, top-level
headers of every kind the index keeps (Subject, From display names, a
hashed header, one with an opaque token, Received), folded headers; words
from a body vocabulary, a header vocabulary and words shared by both.
Searched with TEXT (and NOT TEXT) for phrases cut from each place at
random positions (inside words too), "Name: value" across a header's
name, strings with CRLF across header lines and from a part's last
header into its body, tabs and doubled spaces, and words of a header
followed by words of the body.  Every search must equal the oracle's,
and a phrase of body words must leave Dovecot few messages to read.
"""

import random

import pytest

from dovetest import mailbox_pair  # noqa: E402
from fixtures import T2020, oracle_compare  # noqa: E402

USER = "tina"
BODY_WORDS = ["harbor", "lantern", "meadow", "copper", "thistle", "quarry", "ember",
              "willow", "granite", "saffron", "pebble", "falcon", "orchard", "cobalt",
              "juniper", "marble", "heron", "sorrel", "tundra", "velvet", "Größe", "été"]
HDR_WORDS = ["patch", "series", "review", "kernel", "update", "driver", "fixes",
             "report", "build", "status", "notice", "weekly", "Zürich", "résumé"]
SHARED = ["alpha", "beta", "gamma", "delta", "omega"]


def words(rnd, vocab, lo, hi):
    return " ".join(rnd.choice(vocab) for _ in range(rnd.randint(lo, hi)))


def body_line(rnd):
    return words(rnd, BODY_WORDS + SHARED[:2], 5, 12)


def hdr_text(rnd):
    return words(rnd, HDR_WORDS + SHARED, 2, 6)


def message(i, rnd):
    """(raw bytes, [(place, text)]): the texts a phrase is cut from."""
    places = []
    subj = hdr_text(rnd)
    name = words(rnd, HDR_WORDS, 1, 3).title()
    note = hdr_text(rnd)
    trace = "%s id=%08x%04d" % (hdr_text(rnd), rnd.getrandbits(32), i)
    recv = "from %s by %s with ESMTP id %010d" % (rnd.choice(HDR_WORDS), rnd.choice(SHARED),
                                                  rnd.getrandbits(30))
    fold = rnd.random() < 0.2
    head = ["From: %s <u%d@example.org>" % (name, i), "To: t@example.org",
            "Subject: %s" % (subj if not fold else subj.replace(" ", "\n\t", 1)),
            "X-Note: %s" % note, "X-Trace: %s" % trace, "Received: %s" % recv,
            "Date: Mon, 6 Jan 2020 10:00:00 +0000", "Message-ID: <tp%d@fixtures.test>" % i,
            "MIME-Version: 1.0"]
    places += [("Subject", subj), ("From", name), ("X-Note", note), ("X-Trace", trace),
               ("Received", recv)]
    parts = []
    plain = "\n".join(body_line(rnd) for _ in range(rnd.randint(1, 6)))
    if rnd.random() < 0.3:
        plain = plain.replace(" ", "  ", 2).replace(" ", "\t", 1)
    desc = hdr_text(rnd)
    fname = "%s %s.txt" % (rnd.choice(HDR_WORDS), rnd.choice(SHARED))
    parts.append("Content-Type: text/plain; charset=utf-8; name=\"%s\"\n"
                 "Content-Description: %s\n\n%s\n" % (fname, desc, plain))
    places += [("body", plain), ("Content-Description", desc), ("name", fname)]
    if rnd.random() < 0.4:
        html_words = body_line(rnd)
        parts.append("Content-Type: text/html; charset=utf-8\n\n<p>%s</p>\n" % html_words)
        places.append(("html", html_words))
    if rnd.random() < 0.4:
        inner_subj, inner_x, inner_body = hdr_text(rnd), hdr_text(rnd), body_line(rnd)
        parts.append("Content-Type: message/rfc822\n\nFrom: inner@example.org\n"
                     "Subject: %s\nX-Inner: %s\n\n%s\n" % (inner_subj, inner_x, inner_body))
        places += [("inner Subject", inner_subj), ("X-Inner", inner_x),
                   ("inner body", inner_body)]
    raw = "\n".join(head)
    raw += "\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n" % i
    for p in parts:
        raw += "--b%d\n%s" % (i, p)
    raw += "--b%d--\n" % i
    return raw.encode("utf-8"), places


def cut(rnd, text):
    """A piece of text with whitespace in it: 2-4 words from a random
    character of the first to a random one of the last, or None."""
    toks = [(m.start(), m.end()) for m in __import__("re").finditer(r"\S+", text)]
    if len(toks) < 2:
        return None
    k = rnd.randint(2, min(4, len(toks)))
    i = rnd.randrange(len(toks) - k + 1)
    a0, a1 = toks[i]
    b0, b1 = toks[i + k - 1]
    start = rnd.randint(a0, a1 - 1) if rnd.random() < 0.4 else a0
    end = rnd.randint(b0 + 1, b1) if rnd.random() < 0.4 else b1
    return text[start:end]


@pytest.fixture(scope="module")
def inst(request):
    rnd = random.Random(614)
    msgs = [message(i, rnd) for i in range(260)]
    with mailbox_pair(request, "textphr", USER, [raw for raw, _places in msgs],
                      date=T2020) as (fts, oracle, _since):
        yield fts, oracle, msgs


def test_text_phrases_equal_oracle(inst):
    fts, oracle, msgs = inst
    rnd = random.Random(7)
    strings = set()
    for raw, places in msgs[:200]:
        for place, text in rnd.sample(places, min(3, len(places))):
            s = cut(rnd, text)
            if s:
                strings.add(s)
        place, text = rnd.choice(places)
        if place in ("Subject", "X-Note", "X-Trace", "Received", "Content-Description"):
            # across the name: "Name: value"
            strings.add("%s: %s" % (place, " ".join(text.split()[:2])))
            strings.add("%s %s" % (place[-2:], text.split()[0]))
        # a header's words then the body's: never one line
        strings.add("%s %s" % (places[0][1].split()[-1], places[5][1].split()[0]
                               if len(places) > 5 else "harbor"))
    # line breaks: across two header lines, from a part's last header
    # into its body, and within a body
    for raw, places in msgs[:60]:
        text = raw.decode("utf-8")
        for sep in ("\n", "\n\n"):
            at = [j for j in range(len(text)) if text.startswith(sep, j)]
            j = rnd.choice(at)
            piece = text[max(0, j - rnd.randint(3, 12)):j + len(sep) + rnd.randint(3, 12)]
            if piece.strip() and "--b" not in piece:
                strings.add(piece.replace("\n", "\r\n"))
    strings.update(["alpha beta", "beta gamma", "gamma  delta", "omega\talpha",
                    "harbor lantern", "Subject: alpha", "X-Note: beta"])
    queries = [("TEXT", s.encode()) for s in sorted(strings) if s.strip()]
    queries += [("NOT", "TEXT", s.encode()) for s in sorted(strings)[::6] if s.strip()]
    assert len(queries) > 600, "test problem: only %d queries" % len(queries)
    bad, nonempty = oracle_compare(fts, oracle, USER, "INBOX", queries)
    assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(queries),
                                                       "\n".join(bad[:20]))
    assert nonempty > len(queries) // 2, "test problem: only %d non-empty" % nonempty


def test_text_body_phrases_narrowed(inst):
    """Phrases of body words (common words, each in most messages): the
    candidates are the bodies' gap filters' few, not every message with
    the words (before SIFT_STEP_TEXT_PHRASE: every one of them)."""
    fts, oracle, msgs = inst
    rnd = random.Random(8)
    hits = maybe_total = words_total = 0
    wrong = []
    for raw, places in rnd.sample(msgs, 60):
        body = dict(places)["body"]
        s = cut(rnd, body.split("\n")[0])
        if not s or "\t" in s or "  " in s or \
                not any(w in BODY_WORDS for w in s.split()):
            continue
        want = set(oracle.search(USER, "INBOX", "TEXT", s.encode()))
        definite, maybe = fts.fts_lookup(USER, "INBOX", "text", s)
        if want - definite - maybe:
            wrong.append("%r: %s neither definite nor maybe" % (s, sorted(want - definite - maybe)))
        hits += len(want)
        maybe_total += len(maybe)
        # messages with every whole word of the phrase somewhere
        ws = [w for w in s.split()[1:-1]] or s.split()[:1]
        having = set(oracle.search(USER, "INBOX", *sum([["TEXT", w.encode()] for w in ws], [])))
        words_total += len(having)
    assert not wrong, "\n".join(wrong[:10])
    assert hits >= 60, "test problem: only %d hits" % hits
    assert words_total > 4 * hits, "test problem: the words are not common (%d, %d hits)" % (
        words_total, hits)
    # (measured: 1,115 candidates for 396 hits, 9,933 messages with the
    # inner words; gap filters have false positives, and a cut word at
    # an edge tells nothing about its boundary)
    assert maybe_total <= 4 * hits and maybe_total * 4 <= words_total, \
        "%d candidates for %d hits (messages with the inner words: %d)" % (
            maybe_total, hits, words_total)
