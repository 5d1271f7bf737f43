"""Phrases by class against Dovecot's own search (the oracle).

A phrase (a search string with whitespace) is narrowed by the index (the
words' postings, then the gap filters: plugin/sift-phrase-filter.h) and
checked by Dovecot.  The narrowing must never leave out a message Dovecot
finds, whatever stands between the words and however the text reaches
Dovecot.  Each class below gets its own messages, and the phrases are cut
from the text as Dovecot reads it (decoded), at random places (inside
words too), plus the cases each class is about:

  - every ASCII punctuation character between, before and after words;
  - line breaks (LF, CRLF), tabs and runs of spaces between words;
  - HTML parts (tags and entities between words);
  - quoted-printable (soft line breaks, encoded letters) and base64 bodies;
  - non-ASCII words (accents, sharp s, Greek final sigma, Han);
  - repeated words ("the the the");
  - phrases across two MIME parts and at a part's first and last words.

Every phrase is compared with BODY and TEXT.
"""

import base64
import random
import string

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, qp_encode, simple  # noqa: E402

USER = "phc"
FROM = "Sender <s@example.org>"
TO = "phc@example.test"

PUNCT_TEXT = " ".join("alpha%sbeta gamma %sdelta%s epsilon" % (p, p, p)
                      for p in string.punctuation)
SPACING_TEXT = ("first line ends here\nsecond  line  has  doubled  spaces\n"
                "third\tline\thas\ttabs\r\nfourth line after crlf \n"
                " leading space line\ntrailing space line \nend")
HTML_TEXT = ("<html><body><p>alpha <b>beta</b> gamma</p><p>delta&nbsp;"
             "epsilon &amp; zeta</p><div>eta<br>theta iota</div>"
             "kappa<!-- lambda mu --> nu</body></html>")
QP_TEXT = ("soft line breaks split this phrase somewhere in the middle of "
           "a long line of words that goes on and on well past the width "
           "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e and na\u00efve d\u00e9j\u00e0 vu")
B64_TEXT = ("Stra\u00dfe und Gr\u00fc\u00dfe \u039f\u0394\u03a5\u03a3\u03a3"
            "\u0395\u03a5\u03a3 \u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03cd"
            "\u03c2 \u6771\u4eac \u90fd\u5e81 \u00c5ngstr\u00f6m unit "
            "\u0130stanbul \u0131\u015f\u0131k")
REPEAT_TEXT = ("the the the cat sat on the the mat and the cat the cat "
               "sat sat on on the mat mat")
PART1_TEXT = "the first part ends with these words"
PART2_TEXT = "second part starts right here and ends"


def _multipart(parts, subtype="mixed"):
    b = "b0undary"
    out = ["From: %s" % FROM, "To: %s" % TO, "Subject: parts",
           "Date: Wed, 1 Jan 2020 12:00:00 +0000",
           "Message-ID: <parts.%d@fixtures.test>" % len(parts),
           "MIME-Version: 1.0",
           "Content-Type: multipart/%s; boundary=%s" % (subtype, b), ""]
    for ctype, cte, body in parts:
        out += ["--" + b, "Content-Type: %s; charset=utf-8" % ctype]
        if cte:
            out.append("Content-Transfer-Encoding: %s" % cte)
        out += ["", body]
    out += ["--%s--" % b, ""]
    return "\n".join(out).encode("utf-8")


def _messages():
    """{key: (raw bytes, [decoded texts as Dovecot reads them])}"""
    m = {}
    m["punct"] = (simple(FROM, TO, "punct", T2020, PUNCT_TEXT.encode()),
                  [PUNCT_TEXT])
    m["spacing"] = (simple(FROM, TO, "spacing", T2020, SPACING_TEXT.encode()),
                    [SPACING_TEXT])
    m["html"] = (simple(FROM, TO, "html", T2020, HTML_TEXT.encode(),
                        charset="utf-8", ctype="text/html"), [HTML_TEXT])
    m["qp"] = (simple(FROM, TO, "qp", T2020,
                      qp_encode(QP_TEXT.encode("utf-8")), charset="utf-8",
                      cte="quoted-printable"), [QP_TEXT])
    m["b64"] = (simple(FROM, TO, "b64", T2020,
                       base64.encodebytes(B64_TEXT.encode("utf-8")),
                       charset="utf-8", cte="base64"), [B64_TEXT])
    m["repeat"] = (simple(FROM, TO, "repeat", T2020, REPEAT_TEXT.encode()),
                   [REPEAT_TEXT])
    m["parts"] = (_multipart([("text/plain", None, PART1_TEXT),
                              ("text/plain", "base64",
                               base64.encodebytes(PART2_TEXT.encode())
                               .decode()),
                              ("text/html", None, "<p>" + PART1_TEXT +
                               "</p>")]),
                  [PART1_TEXT, PART2_TEXT, "<p>" + PART1_TEXT + "</p>"])
    # near misses of the others: the same words, other gaps
    near = ("beta alpha delta gamma zeta epsilon these ends first part "
            "starts second here right cat the mat on sat line second "
            "spaces doubled caf\u00e9 vu d\u00e9j\u00e0 unit Stra\u00dfe")
    m["near"] = (simple(FROM, TO, "near", T2020, near.encode("utf-8"),
                        charset="utf-8"), [near])
    return m


def _phrases(msgs):
    rng = random.Random(20261206)
    out = set()
    texts = [t for _, ts in msgs.values() for t in ts]
    while len(out) < 160:
        t = rng.choice(texts)
        s = rng.randrange(len(t))
        p = t[s:s + rng.randint(3, 30)]
        # (IMAP strings hold no CR or LF)
        p = p.split("\r")[0].split("\n")[0]
        if " " in p.strip() or "\t" in p.strip():
            out.add(p)
    for p in string.punctuation:
        out.update(["alpha%sbeta gamma" % p, "gamma %sdelta" % p,
                    "delta%s epsilon" % p, "a%sbeta gam" % p,
                    "ta%s ep" % p])
    out.update([
        # across the two parts, and at their edges
        "these words second", "words second part", "ends with these words",
        "the first part", "second part starts", "here and ends",
        # spacing
        "ends here second", "doubled spaces", "doubled  spaces",
        "third line", "line has tabs", "after crlf", "crlf fourth",
        "line ends", " leading space", "space line ", "line  has",
        # HTML source as Dovecot reads it
        "alpha <b>beta</b> gamma", "alpha beta", "delta&nbsp;epsilon",
        "delta epsilon", "&amp; zeta", "& zeta", "theta iota",
        "kappa<!-- lambda", "lambda mu", "mu --> nu", "kappa nu",
        # quoted-printable and base64
        "the middle of a long", "well past the width",
        "caf\u00e9 cr\u00e8me", "CAF\u00c9 CR\u00c8ME", "cafe creme",
        "d\u00e9j\u00e0 vu", "Stra\u00dfe und", "STRASSE UND",
        "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03bf",
        "\u03c5\u03c2 \u6771\u4eac", "\u6771\u4eac \u90fd",
        "\u00c5ngstr\u00f6m unit", "\u0130stanbul \u0131\u015f",
        "istanbul", "unit \u0130st",
        # repeated words
        "the the", "the the the", "the the the the", "the cat the cat",
        "sat sat on on", "on on the", "mat mat", "cat sat on the the",
    ])
    return sorted(out)


@pytest.fixture(scope="module")
def inst(request):
    msgs = _messages()
    with instance_pair("phrase-classes", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {}
        for key, (raw, _) in msgs.items():
            uids[key] = fts.append(USER, "INBOX", raw, date=T2020)
        fts.doveadm("index", "-u", USER, "INBOX")
        yield fts, oracle, uids, msgs


def test_phrase_classes_equal_oracle(inst):
    fts, oracle, uids, msgs = inst
    phrases = _phrases(msgs)
    found = 0
    bad = []
    for p in phrases:
        for key in ("BODY", "TEXT"):
            expected = oracle.search(USER, "INBOX", key, p)
            got = fts.search(USER, "INBOX", key, p)
            if got != expected:
                bad.append((key, p, got, expected))
            found += bool(expected)
    assert not bad, bad[:10]
    # not vacuous: most phrases are found somewhere
    assert found >= len(phrases), found


def test_every_class_is_found(inst):
    """Each message is the answer to some phrase of its own class (so a
    filter that drops a class is seen, not only a mismatch)."""
    fts, oracle, uids, msgs = inst
    for key, phrase in (("punct", "alpha;beta gamma"),
                        ("spacing", "doubled  spaces"),
                        ("html", "alpha <b>beta</b> gamma"),
                        ("qp", "well past the width"),
                        ("b64", "Stra\u00dfe und"),
                        ("repeat", "the the the"),
                        ("parts", "second part starts")):
        got = fts.search(USER, "INBOX", "BODY", phrase)
        assert got == oracle.search(USER, "INBOX", "BODY", phrase), phrase
        assert uids[key] in got, (key, phrase)
