"""MIME structure: transfer encodings, HTML, alternatives, attachments,
malformed messages and a 10 MB message."""

import os

import pytest

from fixtures import BIG_RARE_WORD, LONG_ASCII, LONG_CYRILLIC, LONG_PATH, with_dates


def C(cid, *criteria, **kw):
    return (cid, criteria, kw)


BIG = os.environ.get("SIFT_TEST_BIG", "1") != "0"

CASES = [
    # quoted-printable with soft line breaks inside words
    C("qp-softbreak-word", "BODY", "supercalifragilisticexpialidocious", must=["qp"]),
    C("qp-prefix", "BODY", "supercali", must=["qp"]),
    C("qp-inword", "BODY", "fragilistic", must=["qp"]),
    C("qp-word", "BODY", "quickstep", must=["qp"]),
    C("qp-phrase", "BODY", "chimney sweep danced", must=["qp"]),
    # base64 text body
    C("b64-word", "BODY", "zanzibarite", must=["b64"]),
    C("b64-phrase", "BODY", "lattice is cubic", must=["b64"]),
    C("b64-raw-encoded-text", "BODY", "VGhlIHphbnppYmFyaXRl", empty=True),
    # HTML only: text, text split by tags, entities, markup (the oracle
    # decides what counts)
    C("html-word", "BODY", "marmalade", must=["html"]),
    C("html-link-text", "BODY", "quincejam", must=["html"]),
    C("html-subject", "SUBJECT", "marmalade", must=["html"]),
    C("html-style-content", "BODY", "marmot", nonempty=False),
    C("html-attribute", "BODY", "hrefword", nonempty=False),
    C("html-tag-split-word", "BODY", "marzipan", nonempty=False),
    C("html-entity-decoded", "BODY", "café tokens", nonempty=False),
    C("html-entity-raw", "BODY", "caf&eacute;", nonempty=False),
    C("html-tag-name", "BODY", "<b>", nonempty=False),
    # multipart/alternative
    C("alt-both-parts", "BODY", "pelican", must=["alt"]),
    C("alt-html-part-only", "BODY", "flamingo", must=["alt"]),
    C("alt-preamble", "BODY", "multi-part message", nonempty=False),
    C("alt-boundary", "BODY", "alt-bound-42", nonempty=False),
    # attachments
    C("attach-body", "BODY", "census", must=["attach"]),
    C("attach-text-attachment", "BODY", "pangolin", must=["attach"]),
    C("attach-text-attachment-phrase", "BODY", "southern province", must=["attach"]),
    C("attach-binary-content", "BODY", "octetsecret", nonempty=False),
    C("attach-filename-body", "BODY", "notes.txt", nonempty=False),
    C("attach-filename-text", "TEXT", "census-data.bin", nonempty=False),
    C("attach-mime-header", "BODY", "application/octet-stream", nonempty=False),
    C("attach-content-disposition", "HEADER", "Content-Disposition", "", nonempty=False),
    # malformed MIME
    C("nobound-first-part", "BODY", "unterminated", must=["nobound"]),
    C("nobound-last-part", "BODY", "thornbush", must=["nobound"]),
    C("badcharset-word", "BODY", "wombat", must=["badcharset"]),
    C("badcharset-8bit", "BODY", "déjà", nonempty=False),
    C("badb64-word", "BODY", "brokenbase64", nonempty=False),
    C("badb64-other-word", "BODY", "walrus", nonempty=False),
    C("nocolon-body", "BODY", "quokka", must=["nocolon"]),
    C("nocolon-subject", "SUBJECT", "colonless", nonempty=False),
    C("nocolon-bad-line", "TEXT", "nocolonword", nonempty=False),
    C("8bithdr-body", "BODY", "cheese platter", must=["8bithdr"]),
    # tokens longer than Xapian's 245-byte term limit
    C("long-ascii-full", "BODY", LONG_ASCII, must=["longword"]),
    C("long-ascii-prefix-250", "BODY", LONG_ASCII[:250], must=["longword"]),
    C("long-ascii-middle", "BODY", LONG_ASCII[100:300], must=["longword"]),
    C("long-ascii-tail", "BODY", LONG_ASCII[-40:], must=["longword"]),
    C("long-ascii-with-context", "BODY", "Token: " + LONG_ASCII + " end", must=["longword"]),
    C("long-ascii-changed-end", "BODY", LONG_ASCII[:-1] + "Z", empty=True),
    C("long-path", "BODY", LONG_PATH, must=["longword"]),
    C("long-url", "BODY", "https://cdn.example.com/" + LONG_PATH[:60], must=["longword"]),
    C("long-cyrillic-full", "BODY", LONG_CYRILLIC, must=["longword"]),
    C("long-cyrillic-prefix-130", "BODY", LONG_CYRILLIC[:130], must=["longword"]),
    C("long-cyrillic-upper", "BODY", LONG_CYRILLIC.upper(), must=["longword"]),
    C("long-cyrillic-changed-end", "BODY", LONG_CYRILLIC[:-1] + "я", empty=True),
    # message/rfc822 part
    C("forward-inner-body", "BODY", "okapi", must=["forward"]),
    C("forward-inner-subject-body", "BODY", "aardwolf", nonempty=False),
    C("forward-inner-subject-text", "TEXT", "aardwolf", must=["forward"]),
    C("forward-inner-subject-subject", "SUBJECT", "aardwolf", nonempty=False),
    C("forward-inner-from", "FROM", "inner.sender", nonempty=False),
    C("forward-inner-from-text", "TEXT", "inner.sender@origin.example", must=["forward"]),
    C("forward-inner-header", "HEADER", "Subject", "aardwolf", nonempty=False),
]
if BIG:
    CASES += [
        C("big-rare-word", "BODY", BIG_RARE_WORD, must=["big"]),
        C("big-rare-word-text", "TEXT", BIG_RARE_WORD, must=["big"]),
        C("big-rare-prefix", "BODY", BIG_RARE_WORD[:6], must=["big"]),
        C("big-rare-phrase", "BODY", BIG_RARE_WORD + " played a final", must=["big"]),
        C("big-common-word", "BODY", "mutex", must=["big"]),
        C("big-not-rare", "NOT", "BODY", BIG_RARE_WORD, must=["patch"], must_not=["big"]),
        C("big-line-number", "BODY", "0012345", must=["big"]),
    ]


@pytest.mark.parametrize("criteria,kw", with_dates(CASES))
def test_mime_search_equals_oracle(corpus, criteria, kw):
    corpus.check(*criteria, **kw)


@pytest.mark.skipif(not BIG, reason="SIFT_TEST_BIG=0")
def test_big_message_is_big(corpus):
    assert corpus.check("LARGER", 10 * 1000 * 1000, must=["big"]) == [corpus.uid("big")]
