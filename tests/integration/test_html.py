"""HTML mail against Dovecot's own search (issue 12, part 3).

Dovecot's search reads a text/html part's source (tags, attributes,
entities as written, after transfer decoding and charset conversion);
fts-sift indexes that source (plugin/sift-html.c), so searches on HTML
mail are answered like on plain text.  html_mail.py generates 84
messages of every structure, encoding, charset and kind of markup it
knows, and search strings from their source and from their converted
text; every search must return exactly the oracle's UIDs, and word,
prefix and in-word substring searches must be answered by the index
alone (doveadm fts lookup: no "maybe" UIDs left for Dovecot to read).
"""

import pytest

import html_mail
from conftest import show
from dovetest import instance_pair

USER = "hana"
SEEDS = (3, 17)
PER_CLASS = 14
# classes the index must answer alone (single strings without
# whitespace or markup punctuation)
NO_READ_CLASSES = ("word", "prefix", "in-word substring")


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: "seed%d" % s)
def inst(request):
    seed = request.param
    msgs = html_mail.build_messages(seed, 84)
    with instance_pair("html", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {}
        for key, raw, _info in msgs:
            uids[key] = fts.append(USER, "INBOX", raw)
        assert None not in uids.values(), "APPEND returned no APPENDUID"
        fts.doveadm("index", "-u", USER, "INBOX")
        yield fts, oracle, msgs, html_mail.queries(msgs, seed, PER_CLASS)


def _class_ids():
    return sorted(html_mail.queries(html_mail.build_messages(3, 84), 3, PER_CLASS))


@pytest.mark.parametrize("cls", _class_ids())
def test_html_queries_equal_oracle(inst, cls):
    fts, oracle, msgs, qs = inst
    crits = qs.get(cls, [])
    assert len(crits) >= 4, "test problem: only %d %s queries" % (len(crits), cls)
    bad, found = [], 0
    for crit in crits:
        expected = oracle.search(USER, "INBOX", *crit)
        got = fts.search(USER, "INBOX", *crit)
        found += bool(expected)
        if got != expected:
            bad.append("  UID SEARCH %s: expected %s, got %s (missing %s, extra %s)" % (
                show(crit), expected, got, sorted(set(expected) - set(got)),
                sorted(set(got) - set(expected))))
    assert not bad, "%d of %d %s searches differ from the oracle:\n%s" % (
        len(bad), len(crits), cls, "\n".join(bad))
    if cls not in ("converted text", "xhtml/attachment"):
        # not vacuous: the strings come from what Dovecot reads
        assert found >= len(crits) // 2, "test problem: %d of %d %s queries match" % (
            found, len(crits), cls)


@pytest.mark.parametrize("cls", NO_READ_CLASSES)
def test_html_words_read_no_message(inst, cls):
    """The index answers these alone: no candidates for Dovecot to read."""
    fts, _oracle, _msgs, qs = inst
    reading = []
    for crit in qs[cls]:
        assert crit[0] == "BODY"
        definite, maybe = fts.fts_lookup(USER, "INBOX", "body", crit[1])
        if maybe:
            reading.append("  BODY %r: %d definite, maybe %s" % (
                crit[1], len(definite), sorted(maybe)[:10]))
    assert not reading, "%d of %d %s searches leave messages to Dovecot:\n%s" % (
        len(reading), len(qs[cls]), cls, "\n".join(reading))


def test_html_styles_cover_every_kind(inst):
    """The generator really produced every structure, charset and
    transfer encoding (guards the tests above against a narrowed set)."""
    _fts, _oracle, msgs, _qs = inst
    styles = {m[2]["style"] for m in msgs}
    for part in ("only/", "alternative/", "mixed/", "related/", "rfc822/", "two/", "xhtml/"):
        assert any(s.startswith(part) for s in styles), part
    for cs in [c or "none" for c, _ in html_mail.CHARSETS]:
        assert any("/%s/" % cs in s for s in styles), cs
    for cte in ("quoted-printable", "base64"):
        assert any(s.endswith("/" + cte) for s in styles), cte
