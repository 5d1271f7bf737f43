"""Messages whose side-file data would not fit one record.

The side files are written in checksummed records of at most 16 MB
(SIFT_RECORD_MAX_SIZE).  Two kinds of message used to exceed that and
abort the indexing process on an assertion: one whose pooled headers
carry more than 16 MB of opaque tokens (ids, hashes: one record per
message in the "opaque" file), and one with more than 16 MB of words new
to the index (the "terms" file's record of a message's new terms).  Now
a message's opaque tokens are kept up to SIFT_OPAQUE_MAX_PER_DOC (the
rest of its header and TEXT searches are left to Dovecot) and new terms
are written in several records.  Indexing must succeed, nothing may be
logged as an error, and every search must equal Dovecot's own, on those
messages and on ordinary ones indexed after them."""

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, simple  # noqa: E402

USER = "huge"


def _word(i):
    s = ""
    for _ in range(6):
        s += chr(ord("a") + i % 26)
        i //= 26
    return "q" + s


def _opaque_header(n):
    # 13-character tokens with digits: opaque (long, with a digit), unique
    toks = ["x%07dz%04d" % (i, i % 9973) for i in range(n)]
    lines = []
    for i in range(0, n, 60):
        lines.append(" ".join(toks[i:i + 60]))
    return ("X-Junk: " + "\n ".join(lines) + "\n").encode(), toks


@pytest.fixture(scope="module")
def inst(request):
    with instance_pair("hugefields", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        hdr, toks = _opaque_header(1_500_000)       # about 21 MB of tokens
        a = simple("A <a@example.org>", "huge@example.test", "opaque flood",
                   T2020, b"ordinary body text\n", extra=hdr)
        words = [_word(i) for i in range(2_000_000)]  # about 16 MB of new words
        body = "\n".join(" ".join(words[i:i + 12])
                         for i in range(0, len(words), 12)).encode()
        b = simple("B <b@example.org>", "huge@example.test", "word flood",
                   T2020, body)
        c = simple("C <c@example.org>", "huge@example.test", "ordinary",
                   T2020, b"just a few words and x0000007z0007\n")
        since = fts.log_size()
        for raw in (a, b, c):
            fts.append(USER, "INBOX", raw, date=T2020)
        fts.doveadm("index", "-u", USER, "INBOX", timeout=1200)
        yield fts, oracle, toks, words, since


def test_indexing_logged_no_error(inst):
    fts, oracle, toks, words, since = inst
    problems = fts.log_problems(since)
    assert not problems, "\n".join(problems[:20])
    # the index answers: the messages are in it
    definite, maybe = fts.fts_lookup(USER, "INBOX", "subject", "flood")
    assert definite | maybe == set(oracle.search(USER, "INBOX", "SUBJECT", "flood"))
    assert len(definite | maybe) == 2


@pytest.mark.parametrize("crit", [
    ("HEADER", "X-Junk", "x0000007z0007"),      # kept (early in the header)
    ("HEADER", "X-Junk", "x1499999z"),           # beyond the kept part
    ("TEXT", "x1400000z"),
    ("TEXT", "x0000007z0007"),
    ("BODY", "qaaaaaa"),
    ("BODY", _word(1_999_999)),
    ("BODY", "ordinary"),
    ("SUBJECT", "flood"),
    ("TEXT", "few words"),
])
def test_searches_equal_oracle(inst, crit):
    fts, oracle, toks, words, since = inst
    expected = oracle.search(USER, "INBOX", *crit)
    assert fts.search(USER, "INBOX", *crit) == expected, crit


def test_later_mail_indexed_and_found(inst):
    fts, oracle, toks, words, since = inst
    raw = simple("D <d@example.org>", "huge@example.test", "afterwards",
                 T2020, b"zebracorn appears later\n")
    uid = fts.append(USER, "INBOX", raw, date=T2020)
    fts.doveadm("index", "-u", USER, "INBOX")
    assert fts.search(USER, "INBOX", "BODY", "zebracorn") == [uid]
    assert oracle.search(USER, "INBOX", "BODY", "zebracorn") == [uid]
    problems = fts.log_problems(since)
    assert not problems, "\n".join(problems[:20])
