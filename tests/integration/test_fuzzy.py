"""SEARCH=FUZZY (RFC 6203) and relevance scores.

The plugin sets FTS_BACKEND_FLAG_FUZZY_SEARCH, so imap advertises
SEARCH=FUZZY.  A FUZZY key is answered exactly (the oracle, Dovecot
without FTS, parses FUZZY too and answers exactly), and the matches get
BM25 scores from the index, which Dovecot 2.3 returns through SEARCH
RETURN (RELEVANCY) (scaled to 1..100, the best match 100) and uses for
SORT (RELEVANCY).  Searches without FUZZY get no scores: RETURN
(RELEVANCY) then answers exactly what the oracle answers.
"""

import re

import pytest

from dovecot_conf import syntax

from dovetest import instance_pair, parse_uid_set  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

FILLER = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
          "kilo lima mike november oscar papa quebec romeo sierra tango ")


def _m(n, body):
    return simple("Sender <s@example.org>", "erin@example.test",
                  "Note %d" % n, T2020, body.encode())


# The order by relevance to "zorblat" is unambiguous: the same headers,
# and the word 5 times in a short body, 2 times in a middling one, once in
# a long one.
MESSAGES = {
    "five": "zorblat zorblat zorblat zorblat zorblat today\n",
    "plain1": FILLER + "\n",
    "once_long": "zorblat\n" + FILLER * 10 + "\n",
    "twice": "zorblat and zorblat, then " + FILLER + "\n",
    "plain2": "nothing to see here, quuxly foo->bar foo->bar\n",
    "plain3": FILLER * 2 + "quuxly quuxly\n",
    # inside a longer word: a match, and a term of its own (rarer, so
    # BM25 weighs it more; a long body keeps it below the others)
    "inword": "the token xzorblaty only\n" + FILLER * 20 + "\n",
}
ORDER = ["five", "twice", "once_long"]


@pytest.fixture(scope="module")
def inst(request):
    with instance_pair("fuzzy", ("erin",),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {}
        for n, (k, body) in enumerate(MESSAGES.items()):
            uids[k] = fts.append("erin", "INBOX", _m(n, body), date=T2020)
        fts.doveadm("index", "-u", "erin", "INBOX")
        yield fts, oracle, uids


def _conn(dc):
    conn = dc.imap("erin")
    dc.select(conn, "INBOX", readonly=True)
    return conn


def _esearch(conn, args):
    """UID SEARCH RETURN (...) args -> (uids in order, [scores] or None)."""
    conn.untagged_responses.pop("ESEARCH", None)
    typ, data = conn.uid("SEARCH", args)
    assert typ == "OK", (args, typ, data)
    resp = conn.untagged_responses.pop("ESEARCH", [b""])
    text = b" ".join(r for r in resp if isinstance(r, bytes)).decode()
    m = re.search(r"\bALL (\S+)", text)
    uids = sorted(parse_uid_set(m.group(1))) if m else []
    m = re.search(r"\bRELEVANCY \(([^)]*)\)", text)
    scores = [int(x) for x in m.group(1).split()] if m else None
    return uids, scores, text


def _sort(conn, args):
    typ, data = conn.uid("SORT", "(RELEVANCY) UTF-8 " + args)
    assert typ == "OK", (args, typ, data)
    return [int(x) for x in (data[0] or b"").split()]


if syntax().version < 24:
    # Dovecot 2.4.1's imap does not advertise SEARCH=FUZZY for any backend
    # (flatcurve, whose backend has the flag, neither), although FUZZY
    # keys and RELEVANCY work (the tests below); defined on 2.3 only, as a
    # skipped test would count as a failure.
    def test_capability(inst):
        fts, oracle, uids = inst
        conn = fts.imap("erin")
        try:
            typ, data = conn.capability()
            assert typ == "OK"
            assert "SEARCH=FUZZY" in data[0].decode().split(), data
        finally:
            conn.logout()


FUZZY_QUERIES = [
    ("FUZZY", "BODY", "zorblat"),
    ("FUZZY", "BODY", "orbla"),
    ("FUZZY", "BODY", "zorblat zorblat"),
    ("FUZZY", "TEXT", "zorblat"),
    ("FUZZY", "BODY", "o"),
    ("FUZZY", "SUBJECT", "note"),
    ("FUZZY", "OR", "BODY", "zorblat", "BODY", "quuxly"),
    ("FUZZY", "NOT", "BODY", "zorblat"),
    ("FUZZY", "BODY", "zorblat", "FUZZY", "BODY", "today"),
    ("FUZZY", "BODY", "zorblat", "BODY", "filler-none"),
]


def test_fuzzy_matches_equal_dovecot(inst):
    """FUZZY keys answer exactly what Dovecot itself answers."""
    fts, oracle, uids = inst
    for q in FUZZY_QUERIES:
        want = oracle.search("erin", "INBOX", *q)
        assert fts.search("erin", "INBOX", *q) == want, q
    assert oracle.search("erin", "INBOX", "FUZZY", "BODY", "zorblat") == \
        sorted(uids[k] for k in ("five", "once_long", "twice", "inword"))


def test_relevancy_one_score_per_uid(inst):
    fts, oracle, uids = inst
    conn = _conn(fts)
    try:
        for q in ['FUZZY BODY zorblat', 'FUZZY BODY orbla',
                  'FUZZY BODY "zorblat zorblat"', 'FUZZY TEXT zorblat',
                  'FUZZY BODY o', 'FUZZY OR BODY zorblat BODY quuxly',
                  'FUZZY BODY zorblat FUZZY BODY today']:
            got, scores, text = _esearch(conn, "RETURN (RELEVANCY ALL) " + q)
            assert got, (q, text)
            assert scores is not None and len(scores) == len(got), (q, text)
            assert all(1 <= s <= 100 for s in scores), (q, text)
            # the best match is scaled to 100: real scores came back
            assert max(scores) == 100, (q, text)
    finally:
        conn.logout()


def test_relevancy_order(inst):
    fts, oracle, uids = inst
    conn = _conn(fts)
    try:
        for q in ("FUZZY BODY zorblat", "FUZZY BODY orbla",
                  "FUZZY OR BODY zorblat BODY quuxly"):
            got, scores, text = _esearch(conn, "RETURN (RELEVANCY ALL) " + q)
            score = dict(zip(got, scores))
            ranked = [score[uids[k]] for k in ORDER]
            assert ranked == sorted(ranked, reverse=True), (q, text)
            assert len(set(ranked)) == len(ranked), (q, text)
            if "quuxly" not in q:
                assert score[uids["five"]] == 100, (q, text)
            else:
                # the OR's scores come from a level below the top one
                # (Dovecot merges them), and the rarer word counts more
                assert score[uids["plain3"]] == 100, (q, text)
            # SORT (RELEVANCY): best first
            order = _sort(conn, q)
            assert [u for u in order if u in [uids[k] for k in ORDER]] == \
                [uids[k] for k in ORDER], (q, order)
    finally:
        conn.logout()


NON_FUZZY = ["BODY zorblat", "TEXT zorblat", "BODY orbla", 'BODY "zorblat zorblat"',
             "NOT BODY zorblat", "OR BODY zorblat BODY quuxly", "SUBJECT note"]


def test_non_fuzzy_unchanged(inst):
    """Without FUZZY, results and even RETURN (RELEVANCY) equal the oracle's
    (no scores: Dovecot reports 1 for each match)."""
    fts, oracle, uids = inst
    a, b = _conn(fts), _conn(oracle)
    try:
        for q in NON_FUZZY:
            for ret in ("RETURN (ALL)", "RETURN (RELEVANCY ALL)", "RETURN (COUNT MIN MAX)"):
                fa = _esearch(a, "%s %s" % (ret, q))[2].split(")", 1)[1]
                fb = _esearch(b, "%s %s" % (ret, q))[2].split(")", 1)[1]
                assert fa == fb, (ret, q, fa, fb)
            assert _sort(a, q) == _sort(b, q), q
    finally:
        a.logout()
        b.logout()
    assert not fts.log_problems()


def test_index_has_wdf_and_lengths(inst):
    """Words carry their count, runs of several words none; a document's
    length is about its number of words."""
    import os
    import xapian  # python3-xapian (tests/run-all.sh installs it)
    fts, oracle, uids = inst
    db = xapian.Database(os.path.join(fts.maildir("erin"), "fts-sift"))
    wdf = {p.docid: p.wdf for p in db.postlist(b"BZORBLAT")}
    assert wdf[uids["five"]] == 5 and wdf[uids["twice"]] == 2, wdf
    assert wdf[uids["once_long"]] == 1, wdf
    # a run of several words ("foo->bar", twice) is present with wdf 0,
    # its words count
    runs = [t.term for t in db.allterms(b"B") if b"->" in t.term]
    assert len(runs) == 1, runs
    assert [(p.docid, p.wdf) for p in db.postlist(runs[0])] == [(uids["plain2"], 0)]
    assert {p.docid: p.wdf for p in db.postlist(b"BFOO")} == {uids["plain2"]: 2}
    assert db.get_doclength(uids["plain1"]) >= 20
    assert db.get_doclength(uids["once_long"]) > db.get_doclength(uids["five"])


# ---- matches inside longer words -------------------------------------------
#
# A FUZZY search string is weighed with the dictionary terms holding it.
# Here "kunit" is inside many short words (one per message of its own) and,
# in two messages, only inside the longer "kunit_run_test": 11 times in
# one, once in the other.  Those in-word matches must count like any
# other: the message with 11 scores above the minimum and above the one
# with a single occurrence.
INWORD_FILLER = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet ")


def _inword_messages():
    msgs = {}
    for i in range(150):
        # distinct short words holding the string: kunitaa, kunitab, ...
        w = "kunit" + "abcdefghijklmnopqrstuvwxyz"[i // 26] + \
            "abcdefghijklmnopqrstuvwxyz"[i % 26]
        msgs["short%d" % i] = "%s %s\n" % (w, INWORD_FILLER)
    msgs["eleven"] = " ".join(["kunit_run_test"] * 11) + " " + INWORD_FILLER * 2 + "\n"
    msgs["one"] = "kunit_run_test " + INWORD_FILLER * 2 + "and more words here\n"
    return msgs


@pytest.fixture(scope="module")
def inword(request):
    with instance_pair("fuzzy-inword", ("erin",),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {}
        for n, (k, body) in enumerate(_inword_messages().items()):
            uids[k] = fts.append("erin", "INBOX", _m(n, body), date=T2020)
        fts.doveadm("index", "-u", "erin", "INBOX")
        yield fts, oracle, uids


@pytest.mark.parametrize("q", ["FUZZY BODY kunit", "FUZZY TEXT kunit", "FUZZY BODY unit",
                               "FUZZY BODY run_te"])
def test_inword_matches_score(inword, q):
    fts, oracle, uids = inword
    conn = _conn(fts)
    try:
        got, scores, text = _esearch(conn, "RETURN (RELEVANCY ALL) " + q)
    finally:
        conn.logout()
    assert got == oracle.search("erin", "INBOX", *q.split()), q
    score = dict(zip(got, scores))
    eleven, one = score[uids["eleven"]], score[uids["one"]]
    # 1 is what Dovecot reports for a match without a score
    assert eleven > 1 and one > 1, (q, eleven, one)
    assert eleven > one, (q, eleven, one)
    if "run_te" not in q:
        # eleven occurrences in a body as short as the others' outweigh
        # their one
        assert eleven == 100, (q, text)
