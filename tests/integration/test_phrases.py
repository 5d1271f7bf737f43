"""Phrases and one-character searches against Dovecot's own search.

Phrases are narrowed by the gap filters (plugin/sift-phrase-filter.h): two keys
per gap (3+2 and 2+3 characters), one more around each run of one or two
characters.  A phrase may begin or end inside a word, so the outer runs
only tell how the text's runs end or begin; these tests build texts of
short, common words where that matters ("while do" in "while done",
"is set to 1" next to "set to 10"), compare every result with the oracle,
and check that the filters really leave out messages that hold all the
words but not the phrase.  One-character BODY searches are answered from
the body's character terms: exact, with nothing left to Dovecot.
"""

import random

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "pia"
WORDS = ["while", "do", "done", "doing", "may", "09", "it", "is", "not",
         "nothing", "because", "set", "to", "1", "10", "i", "agree", "of",
         "the", "tests", "test", "one", "none", "if", "you", "can", "a",
         "b", "(x)", "x-y", "ab", "ba"]


def _body(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _messages():
    rng = random.Random(20261123)
    msgs = {}
    for i in range(60):
        msgs["r%02d" % i] = _body(rng, rng.randint(5, 40))
    # near misses: every word of a phrase, never adjacent in that order
    msgs["near1"] = "done while we wait, do it later"
    msgs["near2"] = "the 09 issue, may be fixed"
    msgs["near3"] = "it is odd because not everything is it"
    msgs["near4"] = "set 1 to the value you set"
    msgs["near5"] = "tests one of them; the one"
    msgs["hit1"] = "while done so"
    msgs["hit2"] = "since May 09, 2023"
    msgs["hit3"] = "because it is nothing"
    # every word of the phrase "alpha beta" in a message, the phrase in
    # one; "beta" is in more terms than "alpha", and seed1's gap matches
    # the phrase's gap keys ("pha be", "ha bet") though it lacks "beta"
    msgs["seed1"] = "alpha betz"
    msgs["seed2"] = "betas betamax betatron alphabetas"
    msgs["seed3"] = "the alpha beta test"
    return msgs


NEAR_MISSES = [
    ("while do", "near1"),
    ("may 09", "near2"),
    ("because it is not", "near3"),
    ("set to 1", "near4"),
    ("one of the tests", "near5"),
]


@pytest.fixture(scope="module")
def inst(request):
    msgs = _messages()
    with instance_pair("phrases", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {}
        for key, body in msgs.items():
            raw = simple("Sender <s@example.org>", "pia@example.test",
                         body[:30], T2020, body.encode(), charset="us-ascii",
                         cte="7bit")
            uids[key] = fts.append(USER, "INBOX", raw, date=T2020)
        fts.doveadm("index", "-u", USER, "INBOX")
        yield fts, oracle, uids, msgs


def _phrases(msgs):
    """Substrings with whitespace of the texts themselves, cut anywhere
    (inside words too), and the near misses."""
    rng = random.Random(7)
    out = set(p for p, _ in NEAR_MISSES)
    texts = list(msgs.values())
    while len(out) < 120:
        t = rng.choice(texts)
        if " " not in t:
            continue
        s = rng.randrange(len(t))
        e = s + rng.randint(3, 25)
        p = t[s:e]
        if " " in p.strip():
            out.add(p)
    return sorted(out)


def test_phrases_equal_oracle(inst):
    fts, oracle, uids, msgs = inst
    phrases = _phrases(msgs)
    nonempty = 0
    for p in phrases:
        for key in ("BODY", "SUBJECT"):
            expected = oracle.search(USER, "INBOX", key, p)
            assert fts.search(USER, "INBOX", key, p) == expected, (key, p)
            nonempty += bool(expected)
    # the set is not vacuous: most phrases occur somewhere
    assert nonempty >= len(phrases)


def test_filters_leave_out_near_misses(inst):
    """A message holding every word of the phrase but not the phrase is
    not even a candidate (the filters' false positives are about 2 %, so
    one of five may slip through)."""
    fts, oracle, uids, msgs = inst
    left_out = 0
    for phrase, near in NEAR_MISSES:
        assert uids[near] not in oracle.search(USER, "INBOX", "BODY", phrase)
        definite, maybe = fts.fts_lookup(USER, "INBOX", "body", phrase)
        assert not definite, phrase
        left_out += uids[near] not in maybe
    assert left_out >= 4, left_out
    # and the phrases themselves are found
    for phrase, hit in (("while do", "hit1"), ("may 09", "hit2"),
                        ("because it is not", "hit3")):
        assert uids[hit] in fts.search(USER, "INBOX", "BODY", phrase), phrase


def test_every_specific_word_narrows_before_the_filters(inst):
    """Each word of a phrase that is in few terms narrows the candidates
    before the gap filters (sift_query_phrase_seed()), not only the most
    specific one: seed1 holds "alpha" and a gap with the phrase's keys
    but not "beta", so it is no candidate, even with few candidates left
    (where the words are no longer looked up after the filters)."""
    fts, oracle, uids, msgs = inst
    for phrase, keys in (("alpha beta", ["seed3"]),
                         ("alpha bet", ["seed1", "seed3"]),
                         ("lpha betas", []), ("s betamax b", ["seed2"])):
        expected = oracle.search(USER, "INBOX", "BODY", phrase)
        assert fts.search(USER, "INBOX", "BODY", phrase) == expected
        assert expected == [uids[k] for k in keys], phrase
    definite, maybe = fts.fts_lookup(USER, "INBOX", "body", "alpha beta")
    assert not definite
    assert uids["seed1"] not in maybe
    assert uids["seed3"] in maybe


@pytest.mark.parametrize("char", ["i", "I", "9", "[", "-", ";", "z", "\u00e9"])
def test_one_character_body_search(inst, char):
    """Exact from the index: the oracle's answer, none left to Dovecot."""
    fts, oracle, uids, msgs = inst
    expected = oracle.search(USER, "INBOX", "BODY", char)
    assert fts.search(USER, "INBOX", "BODY", char) == expected
    definite, maybe = fts.fts_lookup(USER, "INBOX", "body", char)
    assert not maybe, char
    assert definite == set(expected), char
