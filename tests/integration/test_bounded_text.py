"""Bodies past fts_sift_max_doc_terms keep their normalized text (value slot
SIFT_VALUE_BOUNDED_TEXT, flag ZD), and a BODY or TEXT search rules such a
message out when one of its strings is not in that text, instead of
handing the message to Dovecot to read in full.

The class under test is "a string a bounded message may or may not hold":
tokens of many scripts and shapes (accents, ligatures, final sigma,
dotless/dotted i, CJK, Thai, Arabic, emoji, full-width forms, dashes,
dots, addresses, numbers, apostrophes) placed past the bound, in plain,
HTML, base64, quoted-printable Latin-1 and message/rfc822 parts, searched
whole, upper-cased, as substrings, as phrases (within the text past the
bound, across the bound, across parts), one character at a time, negated,
and altered so that they are absent.  Every search is compared with
Dovecot's own search without the plugin; the lookups show that absent
strings really rule the messages out (so the test can't pass with the
feature off), and that a body over SIFT_BOUNDED_TEXT_MAX_BYTES keeps only
the ZR doubt."""

import base64
import random

import pytest

from dovetest import mailbox_pair  # noqa: E402
from fixtures import T2020, T2021, simple  # noqa: E402

USER = "bounded"
BOUND = 300
# sift-doc-builder.h, SIFT_BOUNDED_TEXT_MAX_BYTES
TEXT_MAX = 4 * 1024 * 1024

SPECIAL = [
    "café", "naïve", "Straße", "Ærøskøbing", "résumé", "Ñandú", "İstanbul",
    "ǅemal", "ﬁnance", "Σίσυφος", "ΟΔΥΣΣΕΥΣ", "Привет", "ёлка", "東京都庁",
    "検索エンジン", "한국어", "ภาษาไทย", "العربية", "עברית", "हिन्दी", "🙂",
    "👍🏽", "ＡＢＣ", "foo-bar.baz", "user@example.net", "a/b/c.d",
    "1,234.56", "C++", "#hashtag", "--->", "§12(3)", "x_y_z", "don't",
    "e\u0301clair", "Ǆ", "ﬀ", "Ⅻ", "²³", "ｶﾀｶﾅ",
]


def _filler(rng, n, tag):
    words = set()
    while len(words) < n:
        words.add(tag + "".join(rng.choice("bcdfghjklmnpqrstvwxz")
                                for _ in range(6)))
    return sorted(words)


RNG = random.Random(20261206)
FILL1 = _filler(RNG, 400, "f")
FILL2 = _filler(RNG, 400, "g")
FILL4 = _filler(RNG, 400, "h")


def _lines(words, per=8):
    return "\n".join(" ".join(words[i:i + per])
                     for i in range(0, len(words), per))


def _special_text(rng, tokens):
    """The special tokens in varied surroundings, with filler between."""
    out = []
    for t in tokens:
        shape = rng.randrange(5)
        out.append(["%s" % t, "(%s)" % t, "%s," % t, '"%s"' % t,
                    "%s." % t][shape])
        out.append(rng.choice(FILL1))
    return _lines(out, per=6)


BODY1 = _lines(FILL1) + "\n" + _special_text(RNG, SPECIAL) + "\n"
PART_PLAIN = _lines(FILL2)
HTML_TOKENS = ["Kyōto", "東京", "Ωmega", "pre-release"]
B64_TOKENS = ["Göteborg", "Δelta", "base-sixty-four", "Ельцин"]
QP_TOKENS = ["garçon", "déjà", "señor"]
INNER_TOKENS = ["pterodactyl", "Zürich"]


def _multipart():
    b = b"bnd42"
    html = ("<html><body><p>" + " <b>".join(HTML_TOKENS)
            + "</b> caf&eacute; &amp; co</p></body></html>\n").encode()
    b64 = base64.encodebytes((" ".join(B64_TOKENS) + "\n").encode())
    qp = "gar=E7on d=E9j=E0 se=F1or\n".encode()
    inner = ("From: Inner <inner@example.org>\nSubject: embedded "
             "ocelot\nContent-Type: text/plain; charset=utf-8\n\n"
             + " ".join(INNER_TOKENS) + "\n").encode()
    parts = [
        b"Content-Type: text/plain; charset=utf-8\n\n" + PART_PLAIN.encode(),
        b"Content-Type: text/html; charset=utf-8\n\n" + html,
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: base64\n\n" + b64,
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: quoted-printable\n"
        b"Content-Description: latin narwhal\n\n" + qp,
        b"Content-Type: message/rfc822\n\n" + inner,
    ]
    body = b"".join(b"--" + b + b"\n" + p + b"\n" for p in parts)
    body += b"--" + b + b"--\n"
    return simple("M <m@example.org>", "bounded@example.test", "parts",
                  T2020, body, ctype='multipart/mixed; boundary="bnd42"')


def _huge():
    """A body past the bound and over SIFT_BOUNDED_TEXT_MAX_BYTES."""
    line = "lorem ipsum dolor sit amet consectetur adipiscing elit\n"
    body = _lines(FILL4) + "\n" + line * (TEXT_MAX // len(line) + 2000)
    return simple("H <h@example.org>", "bounded@example.test", "huge",
                  T2021, body.encode())


@pytest.fixture(scope="module")
def inst(request):
    msgs = [
        # 1: special tokens past the bound, in one plain body
        simple("A <a@example.org>", "bounded@example.test", "tokens",
               T2020, BODY1.encode(), charset="utf-8"),
        # 2: the bound in the first part, the rest in later parts
        _multipart(),
        # 3: a small message sharing a few of them (certain answers)
        simple("C <c@example.org>", "bounded@example.test", "small",
               T2021, ("café %s Σίσυφος 東京 %s\n" % (
                   FILL1[0], FILL2[-1])).encode(), charset="utf-8"),
        # 4: over SIFT_BOUNDED_TEXT_MAX_BYTES
        _huge(),
    ]
    with mailbox_pair(request, "bndtext", USER, msgs, date=T2020,
                      plugin_settings={"fts_sift_max_doc_terms": str(BOUND)},
                      index_timeout=900) as pair:
        yield pair


def test_indexed_without_problems(inst):
    fts, oracle, since = inst
    problems = fts.log_problems(since)
    assert not problems, "\n".join(problems[:20])


def _absent(rng, i):
    """A string in no message: 'zq' starts no filler word or token."""
    return "zq" + "".join(rng.choice("aeiouy") for _ in range(5)) + str(i)


def _criteria():
    rng = random.Random(7)
    c = []
    tokens = SPECIAL + HTML_TOKENS + B64_TOKENS + QP_TOKENS + INNER_TOKENS
    for t in tokens:
        c += [("BODY", t), ("TEXT", t), ("BODY", t.upper()),
              ("NOT", "BODY", t), ("BODY", t + "zq"), ("BODY", "zq" + t)]
        if len(t) >= 4:
            c += [("BODY", t[1:-1]), ("BODY", t[:3]), ("TEXT", t[-3:])]
    for t in SPECIAL:
        for ch in sorted(set(t))[:3]:
            # (ASCII punctuation as a literal: "(" can't be an atom)
            c.append(("BODY", ch if not ch.isascii() or ch.isalnum()
                      else ch.encode()))
    for ch in ("Ѣ", "ꙮ", "☃", "\u00e9", "z", "Ω"):
        c.append(("BODY", ch))
    # phrases: past the bound, across it, across parts, absent
    c += [("BODY", "%s %s" % (FILL1[-2], FILL1[-1])),
          ("BODY", "%s %s" % (FILL1[-1], SPECIAL[0])),
          ("BODY", "%s %s" % (FILL2[-1], HTML_TOKENS[0])),
          ("BODY", " ".join(B64_TOKENS[:2])),
          ("TEXT", " ".join(QP_TOKENS)),
          ("BODY", " ".join(INNER_TOKENS)),
          ("TEXT", "embedded ocelot"), ("TEXT", "latin narwhal"),
          ("BODY", "café & co"), ("BODY", "%s %s" % (SPECIAL[1],
                                                     SPECIAL[0])),
          ("BODY", "lorem ipsum"), ("BODY", "ipsum zqlorem"),
          ("OR", "BODY", _absent(rng, 0), "BODY", SPECIAL[5])]
    for i in range(1, 13):
        c += [("BODY", _absent(rng, i)), ("TEXT", _absent(rng, i + 100))]
    return c


@pytest.mark.parametrize("crit", _criteria(),
                         ids=lambda c: " ".join(map(str, c)))
def test_same_as_dovecot(inst, crit):
    fts, oracle, since = inst
    want = oracle.search(USER, "INBOX", *crit)
    got = fts.search(USER, "INBOX", *crit)
    assert got == want, (crit, got, want)


@pytest.mark.parametrize("field", ["body", "text"])
def test_absent_rules_out(inst, field):
    """A string in no body: the bounded messages whose text is kept are
    ruled out by the index (not even candidates), the one over
    SIFT_BOUNDED_TEXT_MAX_BYTES is still left to Dovecot."""
    fts, oracle, since = inst
    rng = random.Random(11)
    for i in range(8):
        s = _absent(rng, i)
        definite, maybe = fts.fts_lookup(USER, "INBOX", field, s)
        assert not (definite | maybe) & {1, 2}, (s, definite, maybe)
        assert 4 in maybe, (s, definite, maybe)


@pytest.mark.parametrize("word,uid", [
    (SPECIAL[-1], 1), (SPECIAL[9], 1),
    (B64_TOKENS[0], 2), (INNER_TOKENS[0], 2), (QP_TOKENS[0], 2),
])
def test_present_stays_candidate(inst, word, uid):
    """A string past the bound is a candidate (Dovecot confirms it)."""
    fts, oracle, since = inst
    definite, maybe = fts.fts_lookup(USER, "INBOX", "body", word)
    assert uid in definite | maybe, (word, definite, maybe)


def test_not_vacuous(inst):
    """The bound was reached in 1, 2 and 4 (the words past it are
    candidates, not certain), and Dovecot finds the tokens past it."""
    fts, oracle, since = inst
    for uid, word in ((1, SPECIAL[0]), (2, B64_TOKENS[1]), (4, "lorem")):
        definite, maybe = fts.fts_lookup(USER, "INBOX", "body", word)
        assert uid in maybe and uid not in definite, (word, definite, maybe)
    assert oracle.search(USER, "INBOX", "BODY", SPECIAL[10]) == [1]
    assert oracle.search(USER, "INBOX", "BODY", INNER_TOKENS[1]) == [2]


@pytest.fixture(scope="module")
def folded(request):
    body = (_lines(FILL1) + "\nrésumé Ærøskøbing e\u0301clair naïve\n")
    msg = simple("A <a@example.org>", "bounded@example.test", "fold", T2020,
                 body.encode(), charset="utf-8")
    with mailbox_pair(request, "bndfold", USER, [msg], date=T2020,
                      plugin_settings={"fts_sift_max_doc_terms": str(BOUND),
                                       "fts_sift_fold_accents": "yes"},
                      index_timeout=300) as (fts, _oracle, _since):
        yield fts


@pytest.mark.parametrize("word,found", [
    ("résumé", True), ("resume", True), ("RESUME", True), ("eclair", True),
    ("éclair", True), ("naive", True), ("sumé", True), ("aerø", False),
    ("resumez", False), ("naivety", False),
    # phrases are candidates as written (not folded) in the plan
    ("éclair naïve", True), ("résumé ærø", True), ("résumé zqnaïve", False),
])
def test_fold_accents(folded, word, found):
    """With fts_sift_fold_accents the kept text is folded too: the words
    past the bound are found with or without their accents, and a string
    not there rules the message out."""
    definite, maybe = folded.fts_lookup(USER, "INBOX", "body", word)
    assert (1 in definite | maybe) == found, (word, definite, maybe)
    if found and not word.isascii():
        # (as written: Dovecot confirms the candidate with its accents)
        assert folded.search(USER, "INBOX", "BODY", word) == [1]
