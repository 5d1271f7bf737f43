"""Expunged messages and the index without term lists.

The index keeps no per-document term lists (half its size), so an expunge
only records the UID (metadata sift.expunged); searches leave those UIDs
out, and the database is rebuilt from its own postings without them once
they are at least fts_sift_compact_after and a quarter of the documents,
or at "doveadm fts optimize".  These tests look inside the index with
python3-xapian to see that the rebuild really happens, and compare every
search with Dovecot's own (the oracle) before and after.
"""

import os

import pytest

import xapian  # python3-xapian (tests/run-all.sh installs it)

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

N = 40


def _msg(n):
    words = ["common", "word%d" % n, "group%d" % (n % 4)]
    if n % 5 == 0:
        words.append("quintet")
    return simple("Sender %d <s%d@example.org>" % (n, n), "carol@example.test",
                  "Churn %d" % n, T2020, (" ".join(words) + "\n").encode())


@pytest.fixture(scope="module")
def churn(request):
    with instance_pair("rebuild", ("carol",), {"fts_sift_compact_after": "5"},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {}
        for n in range(1, N + 1):
            uids[n] = fts.append("carol", "Churn", _msg(n), date=T2020)
        fts.doveadm("index", "-u", "carol", "Churn")
        yield fts, oracle, uids


def _db_path(fts):
    return os.path.join(fts.maildir("carol"), ".Churn", "fts-sift")


def _db(fts):
    return xapian.Database(_db_path(fts))


def _expunged(db):
    return db.get_metadata("sift.expunged").decode()


def _expunge(fts, uids):
    fts.expunge("carol", "Churn", uids)


QUERIES = [("BODY", "common"), ("BODY", "quintet"), ("BODY", "group1"),
           ("NOT", "BODY", "group2"), ("BODY", "word3"), ("SUBJECT", "churn"),
           ("OR", "BODY", "word7", "BODY", "word12"), ("BODY", "ord1"),
           ("BODY", "word99")]


def _same_as_oracle(fts, oracle):
    """Every query equal to the oracle, and the set not vacuous: most
    queries match something, but not every message."""
    everything = oracle.search("carol", "Churn", "ALL")
    telling = 0
    for q in QUERIES:
        a = fts.search("carol", "Churn", *q)
        b = oracle.search("carol", "Churn", *q)
        assert a == b, "%s: fts %s, oracle %s" % (q, a, b)
        telling += bool(b) and b != everything
    assert telling >= len(QUERIES) // 2, "too few telling queries: %d" % telling


def test_index_has_no_term_lists(churn):
    fts, oracle, uids = churn
    files = os.listdir(_db_path(fts))
    assert not [f for f in files if f.startswith("termlist")], files
    assert _db(fts).get_doccount() == N
    _same_as_oracle(fts, oracle)


def test_few_expunges_are_recorded_not_rebuilt(churn):
    fts, oracle, uids = churn
    gone = [uids[3], uids[10]]          # 2 < compact_after (5)
    _expunge(fts, gone)
    _same_as_oracle(fts, oracle)
    db = _db(fts)
    assert db.get_doccount() == N       # postings stay...
    assert _expunged(db) == "%d,%d" % tuple(gone)   # ...and are recorded
    # doveadm fts lookup (straight from the backend) leaves them out too
    definite, maybe = fts.fts_lookup("carol", "Churn", "body", "quintet")
    assert uids[5] in definite and uids[15] in definite, (definite, maybe)
    assert uids[10] not in definite | maybe, (definite, maybe)


def test_many_expunges_rebuild_automatically(churn):
    fts, oracle, uids = churn
    # 10 more: 12 expunged >= compact_after and >= a quarter of 40
    gone = [uids[n] for n in range(20, 30)]
    _expunge(fts, gone)
    db = _db(fts)
    assert db.get_doccount() == N - 12
    assert _expunged(db) == ""
    # the words only expunged messages had are gone from the index
    assert db.get_termfreq(b"BWORD25") == 0
    assert db.get_termfreq(b"BWORD3") == 0
    assert db.get_termfreq(b"BWORD31") == 1
    _same_as_oracle(fts, oracle)
    # the side files were rewritten with the database
    with open(os.path.join(_db_path(fts), "terms"), "rb") as f:
        terms = f.read().split(b"\n")
    assert b"BWORD25" not in terms and b"BWORD31" in terms


def test_optimize_rebuilds_without_expunged(churn):
    fts, oracle, uids = churn
    _expunge(fts, [uids[1]])
    assert _expunged(_db(fts)) == str(uids[1])
    fts.doveadm("fts", "optimize", "-u", "carol")
    db = _db(fts)
    assert db.get_doccount() == N - 13
    assert _expunged(db) == ""
    _same_as_oracle(fts, oracle)


def test_rescan_records_missing_expunges(churn):
    """A message removed behind the plugin's back (file deleted, then
    Dovecot syncs) is recorded by rescan, and results stay right."""
    fts, oracle, uids = churn
    cur = os.path.join(fts.maildir("carol"), ".Churn", "cur")
    victim = sorted(os.listdir(cur))[0]
    os.unlink(os.path.join(cur, victim))
    fts.doveadm("fts", "rescan", "-u", "carol")
    _same_as_oracle(fts, oracle)
    assert _expunged(_db(fts)) != ""
    # new mail after all this is indexed and found
    uid = fts.append("carol", "Churn", _msg(99), date=T2020)
    assert oracle.search("carol", "Churn", "BODY", "word99") == [uid]
    _same_as_oracle(fts, oracle)
    assert not fts.log_problems()
