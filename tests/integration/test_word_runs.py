"""One-word searches read only the words, not the runs holding them.

A search string that is one token (SIFT_PLAN_WORD) is answered from the
dictionary's words alone: sift-query.c drops the terms with a character
that is never inside a token (sift_text_ascii_never_in_token()), i.e. the
runs, whose words are terms too.  These tests put words inside runs
joined by every printable ASCII character and by some non-ASCII
punctuation, in bodies and subjects, often with the word nowhere else
(only "alpha-beta", never "alpha" alone), and search every word, every
piece of a word (prefixes, suffixes, in-word substrings) and strings
across the joiners, in BODY, SUBJECT and TEXT: every result must equal
Dovecot's own, and one-word searches must leave nothing to Dovecot.
Hebrew words joined by '"' (a token in UAX #29: WB7b/c) and words joined
by '.', ':', ',', '\\'', '_', '@' (kept inside tokens in some contexts)
are among them.
"""

import random
import string

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "wora"
WORDS = ["alpha", "beta", "gamma", "delta", "kselftest", "net", "x86", "v5",
         "2021", "foo_bar", "omega", "qux", "tj", "mm", "a1b2"]
NON_ASCII_JOINERS = ["\u2014", "\u00b7", "\u2019", "\u00bf", "\u3001"]
HEBREW = ["\u05e6\u05d4\"\u05dc", "\u05d0\"\u05d9", "\u05e9\u05dc'\u05d5\u05dd"]
JOINERS = [c for c in string.punctuation] + NON_ASCII_JOINERS


def _run(rng):
    n = rng.randint(2, 4)
    parts = [rng.choice(WORDS) for _ in range(n)]
    out = parts[0]
    for p in parts[1:]:
        out += rng.choice(JOINERS) + p
    if rng.random() < 0.3:
        out = rng.choice(JOINERS) + out
    if rng.random() < 0.3:
        out += rng.choice(JOINERS)
    return out


def _messages():
    rng = random.Random(20261205)
    msgs = {}
    for i in range(90):
        body = " ".join(_run(rng) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.2:
            body += " " + rng.choice(HEBREW)
        if rng.random() < 0.15:
            # now and then the word alone too
            body += " " + rng.choice(WORDS)
        subject = _run(rng)
        msgs["m%02d" % i] = (subject, body)
    return msgs


@pytest.fixture(scope="module")
def inst(request):
    msgs = _messages()
    with instance_pair("wordruns", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for key, (subject, body) in msgs.items():
            raw = simple("Sender <s@example.org>", "wora@example.test",
                         subject, T2020, body.encode(), charset="utf-8",
                         cte="8bit")
            fts.append(USER, "INBOX", raw, date=T2020)
        fts.doveadm("index", "-u", USER, "INBOX")
        yield fts, oracle, msgs


def _strings():
    rng = random.Random(5)
    out = set(WORDS) | set(HEBREW)
    for w in WORDS:
        for s in range(len(w)):
            for e in range(s + 1, len(w) + 1):
                if e - s >= 2:
                    out.add(w[s:e])
    # across joiners: "a-b", "ta-be", "alpha/"
    for _ in range(60):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        j = rng.choice(JOINERS)
        out.add(a[-rng.randint(1, len(a)):] + j + b[:rng.randint(1, len(b))])
        out.add(a + j)
    return sorted(out)


def test_word_searches_equal_oracle(inst):
    fts, oracle, msgs = inst
    nonempty = 0
    strings = _strings()
    for s in strings:
        for key in ("BODY", "SUBJECT", "TEXT"):
            expected = oracle.search(USER, "INBOX", key, s)
            assert fts.search(USER, "INBOX", key, s) == expected, (key, s)
            nonempty += bool(expected)
    assert nonempty >= len(strings)


def test_words_leave_nothing_to_dovecot(inst):
    """Every word and piece of a word is answered from the index alone:
    dropping the runs loses no message and adds no candidate."""
    fts, oracle, msgs = inst
    checked = 0
    for w in WORDS:
        for s in {w, w[1:], w[:-1], w[1:-1]}:
            if len(s) < 2:
                continue
            expected = set(oracle.search(USER, "INBOX", "BODY", s))
            definite, maybe = fts.fts_lookup(USER, "INBOX", "body", s)
            assert not maybe, s
            assert definite == expected, s
            checked += bool(expected)
    assert checked >= len(WORDS)


def test_one_character_searches(inst):
    """A body keeps no run of one character alone (format 10): BODY and
    TEXT searches of one punctuation character still equal Dovecot's, and
    TEXT takes every message whose body holds the character from the
    body's characters as certain (sift-query.c), not only those with a
    longer run holding it."""
    fts, oracle, msgs = inst
    certain = 0
    for c in JOINERS:
        for key in ("BODY", "TEXT"):
            # (bytes: a literal, "(" alone is not an atom)
            expected = oracle.search(USER, "INBOX", key, c.encode())
            assert fts.search(USER, "INBOX", key, c.encode()) == expected, \
                (key, c)
        if c == ":":
            # (TEXT strings with ':' are candidates: "Name:" spans)
            continue
        in_body = set(oracle.search(USER, "INBOX", "BODY", c.encode()))
        definite, maybe = fts.fts_lookup(USER, "INBOX", "text", c)
        assert in_body <= definite, (c, sorted(in_body - definite))
        certain += len(in_body)
    assert certain > 0
