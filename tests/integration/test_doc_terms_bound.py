"""fts_sift_max_doc_terms: a message's document stops taking terms at the
bound, and searches of the fields whose text was dropped leave the message
to Dovecot where the index has no match (ZR for the body and MIME part
headers: a match in the indexed part stays certain; ZUH/ZUT for top-level
headers), which reads it.

With a small bound (200 distinct terms) set in this instance, messages
with more words than that in their body, in a top-level header and in a
later MIME part must be found by every word they hold, the words indexed
before the bound and those past it, through BODY, TEXT, phrases,
substrings, header searches and NOT, exactly as Dovecot's own search
without the plugin finds them.  The lookups also show that the bound was
reached (a word past it is a candidate left to Dovecot, not a certain
answer), so the test can't pass with the bound silently off."""

import pytest

from dovetest import mailbox_pair  # noqa: E402
from fixtures import T2020, T2021, simple  # noqa: E402

USER = "bound"
BOUND = 200


def _word(i, tag="q"):
    s = ""
    for _ in range(5):
        s += chr(ord("a") + i % 26)
        i //= 26
    return tag + s


def _lines(words, per=10):
    return "\n".join(" ".join(words[i:i + per])
                     for i in range(0, len(words), per))


BODY_WORDS = [_word(i) for i in range(900)]           # 900 distinct words
HDR_WORDS = [_word(i, "h") for i in range(600)]
PART_WORDS = [_word(i, "p") for i in range(400)]
LATE = ["zanzibar", "quokka"]                          # phrase at the end


def _multipart():
    b = b"mixbound"
    body = (b"--" + b + b"\nContent-Type: text/plain\n\n"
            + _lines(PART_WORDS).encode() + b"\n--" + b
            + b"\nContent-Type: text/plain\nContent-Description: "
            b"ocelot narwhal\n\nafter the bound pangolin axolotl\n--"
            + b + b"--\n")
    return simple("M <m@example.org>", "bound@example.test", "many parts",
                  T2020, body, ctype='multipart/mixed; boundary="mixbound"')


@pytest.fixture(scope="module")
def inst(request):
    body = (_lines(BODY_WORDS) + "\n" + " ".join(LATE) + "\n").encode()
    msgs = [
        # 1: a body far past the bound
        simple("A <a@example.org>", "bound@example.test", "word flood",
               T2020, body),
        # 2: a top-level header past the bound; Subject after it
        (b"X-Notes: " + "\n ".join(
            " ".join(HDR_WORDS[i:i + 10])
            for i in range(0, len(HDR_WORDS), 10)).encode() + b"\n"
         + simple("B <b@example.org>", "bound@example.test",
                  "header flood kingfisher", T2021,
                  b"a short body with qaaaaa\n")),
        # 3: a second MIME part past the bound
        _multipart(),
        # 4, 5: ordinary messages sharing some words (certain answers)
        simple("C <c@example.org>", "bound@example.test", "ordinary",
               T2021, ("few words %s %s zanzibar\n" % (
                   BODY_WORDS[0], BODY_WORDS[850])).encode()),
        simple("D <d@example.org>", "bound@example.test", "another",
               T2021, ("%s and %s pangolin\n" % (
                   HDR_WORDS[599], PART_WORDS[399])).encode()),
    ]
    with mailbox_pair(request, "docbound", USER, msgs, date=T2020,
                      plugin_settings={"fts_sift_max_doc_terms": str(BOUND)},
                      index_timeout=600) as pair:
        yield pair


def test_indexed_without_problems(inst):
    fts, oracle, since = inst
    problems = fts.log_problems(since)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("field,word,uid", [
    ("BODY", BODY_WORDS[-1], 1),         # body past the bound
    ("BODY", LATE[1], 1),
    ("TEXT", BODY_WORDS[700], 1),
    ("HEADER X-Notes", HDR_WORDS[-1], 2),  # header past the bound
    ("SUBJECT", "kingfisher", 2),          # a header after the bound
    ("TEXT", HDR_WORDS[500], 2),
    ("BODY", "pangolin", 3),               # a MIME part after the bound
    ("TEXT", "narwhal", 3),
])
def test_bound_reached(inst, field, word, uid):
    """A word past the bound is a candidate Dovecot checks, not missing and
    not certain: the bound was applied and the message flagged."""
    fts, oracle, since = inst
    parts = field.split(" ")
    definite, maybe = fts.fts_lookup(USER, "INBOX", *(
        [p.lower() for p in parts] + [word]))
    assert uid in maybe, (field, word, definite, maybe)
    assert uid not in definite


def test_indexed_part_certain(inst):
    """A body word of the part that was indexed is a certain match (the
    body's flag is ZR: "the index may miss some of it"), so Dovecot reads
    the message only for searches that part does not answer."""
    fts, oracle, since = inst
    definite, maybe = fts.fts_lookup(USER, "INBOX", "body", BODY_WORDS[3])
    assert 1 in definite, (definite, maybe)
    definite, maybe = fts.fts_lookup(USER, "INBOX", "body", PART_WORDS[3])
    assert 3 in definite, (definite, maybe)


def _criteria():
    c = []
    for i in (0, 5, 150, 199, 200, 201, 450, 851, 899):
        w = BODY_WORDS[i]
        c += [("BODY", w), ("TEXT", w), ("BODY", w[1:4]), ("NOT", "BODY", w)]
    c += [("BODY", " ".join(LATE)), ("TEXT", " ".join(LATE)),
          ("BODY", "%s %s" % (BODY_WORDS[898], BODY_WORDS[899])),
          ("BODY", "%s %s" % (BODY_WORDS[5], BODY_WORDS[6])),
          ("BODY", "%s %s" % (BODY_WORDS[899], LATE[0])),
          ("BODY", "bar quok"), ("TEXT", "zibar quo"), ("BODY", "zanzibar"),
          ("NOT", "BODY", "quokka"), ("NOT", "TEXT", "zanzibar"),
          ("OR", "BODY", BODY_WORDS[880], "BODY", "pangolin")]
    for i in (0, 100, 300, 599):
        w = HDR_WORDS[i]
        c += [("HEADER", "X-Notes", w), ("TEXT", w), ("BODY", w),
              ("HEADER", "X-Notes", w[2:5]), ("NOT", "TEXT", w)]
    c += [("SUBJECT", "kingfisher"), ("SUBJECT", "flood"),
          ("HEADER", "X-Notes", ""), ("TEXT", "kingfisher"),
          # headers after the bound: their presence is still indexed
          ("HEADER", "Subject", ""), ("HEADER", "MIME-Version", ""),
          ("NOT", "HEADER", "Message-ID", ""),
          ("FROM", "b@example.org"), ("TEXT", "short body"),
          ("HEADER", "X-Notes", "%s %s" % (HDR_WORDS[598], HDR_WORDS[599]))]
    for i in (0, 199, 399):
        w = PART_WORDS[i]
        c += [("BODY", w), ("TEXT", w), ("NOT", "BODY", w)]
    c += [("BODY", "pangolin axolotl"), ("TEXT", "ocelot narwhal"),
          ("BODY", "narwhal"), ("TEXT", "golin axo"), ("BODY", "after the"),
          ("NOT", "BODY", "axolotl"), ("TEXT", "many parts")]
    return c


@pytest.mark.parametrize("crit", _criteria(), ids=lambda c: " ".join(c))
def test_same_as_dovecot(inst, crit):
    fts, oracle, since = inst
    want = oracle.search(USER, "INBOX", *crit)
    got = fts.search(USER, "INBOX", *crit)
    assert got == want, (crit, got, want)


def test_not_vacuous(inst):
    """The words past the bound are in the messages (Dovecot finds them)."""
    fts, oracle, since = inst
    assert oracle.search(USER, "INBOX", "BODY", BODY_WORDS[-1]) == [1]
    assert oracle.search(USER, "INBOX", "HEADER", "X-Notes",
                         HDR_WORDS[-1]) == [2]
    assert oracle.search(USER, "INBOX", "BODY", "pangolin") == [3, 5]
    assert oracle.search(USER, "INBOX", "BODY", " ".join(LATE)) == [1]
