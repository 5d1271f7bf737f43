"""doveadm paths: index, search, fts lookup, fts rescan, fts optimize."""

import os

import pytest

needs_fts = pytest.mark.skipif(os.environ.get("SIFT_TEST_BACKEND", "sift") == "none",
                               reason="doveadm fts commands need an FTS backend")

# doveadm search queries (doveadm's search syntax: IMAP keys, any case)
DOVEADM_QUERIES = [
    (("body", "kselftest"), ["patch"]),
    (("body", "selft"), ["patch", "selftests"]),
    (("body", "exact phrase here"), ["patch"]),
    (("body", "zanzibarite"), ["b64"]),
    (("body", "pangolin"), ["attach"]),
    (("body", "Москва"), ["koi8"]),
    (("body", "東京"), ["jp"]),
    (("text", "Nimbus-7"), ["patch"]),
    (("from", "shuah.khan@linux-foundation.org"), ["patch"]),
    (("subject", "minutes"), ["sent_old", "sent_new"]),
    (("header", "X-Project", "nimbus"), ["patch", "selftests"]),
    (("not", "body", "kselftest"), ["selftests"]),
    (("(", "from", "keescook", "or", "subject", "quarterly", ")"), ["selftests", "plus"]),
    (("body", "minutes", "since", "2024-01-01"), ["sent_old"]),
    (("body", "minutes", "sentbefore", "2019-01-01"), ["sent_old"]),
]


def doveadm_check(pair, query, must, user="alice", mailbox="INBOX"):
    expected = pair.oracle.doveadm_search_uids(user, mailbox, *query)
    got = pair.fts.doveadm_search_uids(user, mailbox, *query)
    want = pair.uids_of(user, mailbox, must)
    assert set(want) <= set(expected), "test fixture problem: oracle %s lacks %s" % (
        " ".join(query), pair.label(user, mailbox, sorted(set(want) - set(expected))))
    assert expected != pair.all_uids(user, mailbox), \
        "test fixture problem: %s matches all" % " ".join(query)
    assert got == expected, (
        "doveadm search -u %s mailbox %s %s\n  expected (no FTS): %s\n  got:               %s"
        % (user, mailbox, " ".join(query), expected, got))


def test_doveadm_index(corpus):
    """doveadm() raises on a non-zero exit; a second run finds nothing
    to do and must not fail either."""
    corpus.pair.fts.doveadm("index", "-u", "alice", "INBOX")
    corpus.pair.fts.doveadm("index", "-u", "alice", "INBOX")


def test_doveadm_index_all_mailboxes(corpus):
    corpus.pair.fts.doveadm("index", "-u", "alice", "*")


@pytest.mark.parametrize("query,must", DOVEADM_QUERIES, ids=lambda q: " ".join(q)
                         if isinstance(q, tuple) else None)
def test_doveadm_search_equals_oracle(corpus, query, must):
    doveadm_check(corpus.pair, query, must)


@needs_fts
@pytest.mark.parametrize("query", [("body", "kselftest"), ("body", "zanzibarite"),
                                   ("from", "secretary"), ("body", "Москва")],
                         ids=lambda q: " ".join(q))
def test_doveadm_fts_lookup(corpus, query):
    """The backend's raw answer: definite UIDs are real matches and
    definite+maybe covers every real match."""
    pair = corpus.pair
    expected = set(pair.oracle.doveadm_search_uids("alice", "INBOX", *query))
    assert expected
    definite, maybe = pair.fts.fts_lookup("alice", "INBOX", *query)
    assert definite <= expected, "fts lookup %s: definite %s has non-matches %s" % (
        " ".join(query), sorted(definite), sorted(definite - expected))
    assert expected <= definite | maybe, "fts lookup %s: misses %s (definite %s, maybe %s)" % (
        " ".join(query), sorted(expected - definite - maybe), sorted(definite), sorted(maybe))


RECHECK = [("BODY", "kselftest"), ("BODY", "selft"), ("NOT", "BODY", "minutes"),
           ("HEADER", "X-Project", "nimbus"), ("SUBJECT", "Отчёт"), ("BODY", "pangolin")]


@needs_fts
def test_doveadm_fts_rescan(corpus):
    corpus.pair.fts.doveadm("fts", "rescan", "-u", "alice")
    for crit in RECHECK:
        corpus.check(*crit)
    doveadm_check(corpus.pair, ("body", "kselftest"), ["patch"])


@needs_fts
def test_doveadm_fts_optimize(corpus):
    corpus.pair.fts.doveadm("fts", "optimize", "-u", "alice")
    for crit in RECHECK:
        corpus.check(*crit)
    doveadm_check(corpus.pair, ("body", "selft"), ["patch", "selftests"])


@needs_fts
def test_doveadm_reindex_after_rescan(corpus):
    """rescan, then an explicit index: still the same answers."""
    fts = corpus.pair.fts
    fts.doveadm("fts", "rescan", "-u", "alice")
    fts.doveadm("index", "-u", "alice", "INBOX")
    for crit in RECHECK:
        corpus.check(*crit)
