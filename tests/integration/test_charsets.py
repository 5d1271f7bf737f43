"""Non-ASCII text: UTF-8, ISO-8859-1, ISO-2022-JP and KOI8-R bodies, RFC 2047
encoded subjects and display names, raw 8-bit headers; composed and
decomposed accents, upper and lower case.  Searches go as UTF-8 literals
with CHARSET UTF-8."""

import unicodedata

import pytest

from fixtures import with_dates


def C(cid, *criteria, **kw):
    return (cid, criteria, kw)


NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731

CASES = [
    # UTF-8 (8-bit body, RFC 2047 Q subject / display name)
    C("utf8-body-composed", "BODY", "Café", must=["utf8", "nfd"]),
    C("utf8-body-decomposed-query", "BODY", NFD("Café"), must=["utf8", "nfd"]),
    C("utf8-body-lower", "BODY", "café", must=["utf8"]),
    C("utf8-body-upper", "BODY", "CAFÉ", must=["utf8"]),
    C("utf8-body-eszett", "BODY", "Straße", must=["utf8"]),
    C("utf8-body-upper-word-lower-query", "BODY", "übergrösse", must=["utf8"]),
    C("utf8-body-upper-word", "BODY", "ÜBERGRÖSSE", must=["utf8"]),
    C("utf8-body-diaeresis", "BODY", "naïve", must=["utf8", "nfd"]),
    C("utf8-body-brulee-inword", "BODY", "rûlé", must=["utf8"]),
    C("utf8-body-unaccented", "BODY", "Cafe", must=["utf8", "nfd"], notall=False),
    C("nfd-body-composed-query", "BODY", "München", must=["nfd"]),
    C("nfd-body-decomposed-query", "BODY", NFD("München"), must=["nfd"]),
    C("nfd-body-lower", "BODY", "münchen", must=["nfd"]),
    C("utf8-subject", "SUBJECT", "Résumé", must=["utf8"]),
    C("utf8-subject-lower", "SUBJECT", "résumé", must=["utf8"]),
    C("utf8-subject-decomposed", "SUBJECT", NFD("Résumé"), must=["utf8"]),
    C("utf8-subject-umlaut", "SUBJECT", "für", must=["utf8"]),
    C("utf8-from-display", "FROM", "José", must=["utf8"]),
    C("utf8-from-display-last", "FROM", "Müller", must=["utf8"]),
    C("utf8-from-display-full", "FROM", "José Müller", must=["utf8"]),
    C("utf8-from-address", "FROM", "jose.mueller@example.de", must=["utf8"]),
    C("utf8-text", "TEXT", "Müller", must=["utf8"]),
    # ISO-8859-1 (quoted-printable body, Q-encoded subject and name)
    C("latin1-body", "BODY", "garçon", must=["latin1"]),
    C("latin1-body-upper", "BODY", "GARÇON", must=["latin1"]),
    C("latin1-body-circumflex", "BODY", "pâtisserie", must=["latin1"]),
    C("latin1-body-noel", "BODY", "Noël", must=["latin1"]),
    C("latin1-body-prefix", "BODY", "pâtis", must=["latin1"]),
    C("latin1-subject", "SUBJECT", "garçon", must=["latin1"]),
    C("latin1-from-display", "FROM", "François", must=["latin1"]),
    C("latin1-from-display-last", "FROM", "Dupré", must=["latin1"]),
    # ISO-2022-JP
    C("jp-body-word", "BODY", "日本語", must=["jp"]),
    C("jp-body-inword", "BODY", "東京", must=["jp"]),
    C("jp-body-full", "BODY", "東京都", must=["jp"]),
    C("jp-body-inword2", "BODY", "検索", must=["jp"]),
    C("jp-body-phrase", "BODY", "全文検索テスト", must=["jp"]),
    C("jp-body-1char", "BODY", "都", must=["jp"]),
    C("jp-body-nomatch", "BODY", "大阪", empty=True),
    C("jp-subject", "SUBJECT", "議事録", must=["jp"]),
    C("jp-subject-inword", "SUBJECT", "議事", must=["jp"]),
    C("jp-from-display", "FROM", "山田", must=["jp"]),
    C("jp-from-display-full", "FROM", "山田太郎", must=["jp"]),
    C("jp-text", "TEXT", "会議", must=["jp"]),
    # KOI8-R
    C("koi8-body", "BODY", "Москва", must=["koi8"]),
    C("koi8-body-lower", "BODY", "москва", must=["koi8"]),
    C("koi8-body-upper", "BODY", "МОСКВА", must=["koi8"]),
    C("koi8-body-prefix", "BODY", "провер", must=["koi8"]),
    C("koi8-body-inword", "BODY", "текстов", must=["koi8"]),
    C("koi8-body-upper-word", "BODY", "зима", must=["koi8"]),
    C("koi8-body-yo", "BODY", "ёлка", must=["koi8"]),
    C("koi8-body-ye-for-yo", "BODY", "елка", nonempty=False),
    C("koi8-subject", "SUBJECT", "Отчёт", must=["koi8"]),
    C("koi8-subject-lower", "SUBJECT", "отчёт", must=["koi8"]),
    C("koi8-from-display", "FROM", "Иван", must=["koi8"]),
    C("koi8-from-display-last", "FROM", "Петров", must=["koi8"]),
    C("koi8-text", "TEXT", "Иван", must=["koi8"]),
    # raw 8-bit bytes in headers
    C("8bit-subject", "SUBJECT", "Käseplatte", must=["8bithdr"]),
    C("8bit-subject-eszett", "SUBJECT", "große", must=["8bithdr"]),
    C("8bit-from-address", "FROM", "rene.fais", must=["8bithdr"]),
    C("8bit-from-latin1-name", "FROM", "René", nonempty=False),
    # quoted-printable UTF-8 with a soft break inside the word
    C("qp-accented", "BODY", "réveillon", must=["qp"]),
    # Unicode edge cases (mixed scripts, compatibility forms, special casing)
    C("uni-han-inword", "BODY", "内核", must=["unicode"]),
    C("uni-latin-han", "BODY", "Linux内核", must=["unicode"]),
    C("uni-alnum-prefix", "BODY", "abc123", must=["unicode"]),
    C("uni-alnum-suffix", "BODY", "123def", must=["unicode"]),
    C("uni-unicode-hyphen", "BODY", "e\u2010mail", must=["unicode"]),
    C("uni-ascii-hyphen-for-unicode", "BODY", "e-mail", nonempty=False),
    C("uni-nbsp-phrase", "BODY", "foo\u00a0bar", must=["unicode"]),
    C("uni-space-for-nbsp", "BODY", "foo bar", nonempty=False),
    C("uni-emoji-word", "BODY", "launch", must=["unicode"]),
    C("uni-emoji", "BODY", "\U0001F680", must=["unicode"]),
    C("uni-ligature-query", "BODY", "\ufb01le", must=["unicode"]),
    C("uni-ligature-as-fi", "BODY", "file", nonempty=False),
    C("uni-fullwidth", "BODY", "\uff21\uff22\uff23", must=["unicode"]),
    C("uni-fullwidth-as-ascii", "BODY", "ABC", nonempty=False, notall=False),
    C("uni-roman-numeral", "BODY", "\u216b", must=["unicode"]),
    C("uni-dotted-capital-i", "BODY", "\u0130stanbul", must=["unicode"]),
    C("uni-dotted-i-lower", "BODY", "istanbul", nonempty=False),
    C("uni-turkish-dotless", "BODY", "dışarı", nonempty=False),
    C("uni-eszett-lower", "BODY", "STRASSE", nonempty=False),
    C("uni-greek-final-sigma", "BODY", "σίσυφος", must=["unicode"]),
    C("uni-greek-upper", "BODY", "ΣΊΣΥΦΟΣ", must=["unicode"]),
    C("uni-greek-subject", "SUBJECT", "σίσυφος", must=["unicode"]),
    C("uni-zero-width", "BODY", "zero\u200bwidth", must=["unicode"]),
    C("uni-zero-width-dropped", "BODY", "zerowidth", nonempty=False),
    C("uni-dz-digraph", "BODY", "ǆemal", nonempty=False),
    C("uni-oe-ligature", "BODY", "Œuvre", nonempty=False),
    C("uni-from-encoded", "FROM", "Åàsa", must=["unicode"]),
    # header encoding edge cases
    C("hdr-split-char-subject", "SUBJECT", "東京タワー", nonempty=False),
    C("hdr-split-char-subject-part", "SUBJECT", "タワー", nonempty=False),
    C("hdr-split-char-plain-word", "SUBJECT", "split", must=["hdredge"]),
    C("hdr-encoded-x-header", "HEADER", "X-Weird", "café", nonempty=False),
    C("hdr-encoded-x-header-raw", "HEADER", "X-Weird", "caf=C3=A9", nonempty=False),
    C("hdr-encoded-x-header-plain", "HEADER", "X-Weird", "plain", must=["hdredge"]),
    C("hdr-invalid-utf8-word", "HEADER", "X-Invalid", "badbytes", nonempty=False),
    C("hdr-invalid-utf8-text", "TEXT", "badbytes", nonempty=False),
    C("hdr-from-encoded-name", "FROM", "Zoë", must=["hdredge"]),
    C("hdr-from-comment", "FROM", "Zoe at work", nonempty=False),
    C("hdr-from-comment-word", "FROM", "work", nonempty=False),
    # combinations
    C("or-scripts", "OR", "BODY", "Москва", "BODY", "東京", must=["koi8", "jp"]),
    C("not-cyrillic", "NOT", "BODY", "Москва", must=["jp"], must_not=["koi8"]),
    C("and-mixed", "BODY", "garçon", "FROM", "François", must=["latin1"]),
    C("nested-mixed", "OR", "(", "SUBJECT", "議事録", "NOT", "BODY", "Москва", ")",
      "FROM", "Иван", must=["jp", "koi8"]),
]


@pytest.mark.parametrize("criteria,kw", with_dates(CASES))
def test_charset_search_equals_oracle(corpus, criteria, kw):
    corpus.check(*criteria, **kw)


def test_single_literal_via_imaplib(corpus):
    """The plain imaplib way (conn.literal, synchronizing literal) works too."""
    pair = corpus.pair
    results = []
    for inst in (pair.oracle, pair.fts):
        conn = inst.imap("alice")
        try:
            conn.select("INBOX", readonly=True)
            conn.literal = "Привет".encode("utf-8")
            typ, data = conn.uid("SEARCH", "CHARSET", "UTF-8", "BODY")
            assert typ == "OK", (inst.plugin, typ, data)
            results.append(sorted(int(x) for x in data[0].split()))
        finally:
            conn.logout()
    assert results[0] == [corpus.uid("koi8")]
    assert results[1] == results[0], "expected %s, got %s" % (results[0], results[1])
