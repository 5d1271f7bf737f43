"""fts_sift_fold_accents: "cafe" finds "café" and "café" finds "cafe".

With the setting off (the default, and every other test) searches equal
Dovecot's own, accents and all.  Dovecot compares decomposed text, so its
own search already finds "cafe" in "café" (the accent comes after the
"e"), but not "café" in "cafe" nor "resume" in "résumé"; the first test
pins that down against the oracle.  With the setting on, words and
strings the index answers by itself match with or without accents;
phrases are still checked by Dovecot as written.  Switching the setting
rebuilds the index.
"""

import os

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, simple  # noqa: E402


def _m(subject, body, frm="Sender <s@example.org>"):
    return simple(frm, "dana@example.test", subject, T2020,
                  body.encode("utf-8"), charset="utf-8", cte="8bit")


MESSAGES = {
    "creme": _m("Coffee", "un café crème, merci"),
    "noir": _m("Coffee", "cafe noir"),
    "lait": _m("Réunion", "CAFÉ au lait"),
    # decomposed in the mail itself
    "nfd": _m("Coffee", "un cafe\u0301 de\u0301compose\u0301"),
    "plain": _m("Reunion", "coffee only"),
    "cv": _m("CV", "my résumé is attached"),
    "resume": _m("Work", "resume the work"),
    "jose": _m("Hi", "hello", frm="José Núñez <jose@example.org>"),
}


@pytest.fixture(scope="module")
def inst(request):
    with instance_pair("accents", ("dana",),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {k: fts.append("dana", "INBOX", raw, date=T2020)
                for k, raw in MESSAGES.items()}
        yield fts, oracle, uids


def _keys(uids, found):
    by_uid = {u: k for k, u in uids.items()}
    return sorted(by_uid[u] for u in found)


EXACT_CASES = [
    (("BODY", "cafe"), ["creme", "lait", "nfd", "noir"]),
    (("BODY", "café"), ["creme", "lait", "nfd"]),
    (("BODY", "resume"), ["resume"]),
    (("BODY", "résumé"), ["cv"]),
    (("SUBJECT", "reunion"), ["plain"]),
    (("FROM", "jose"), ["jose"]),
    (("FROM", "nunez"), []),
]


def test_default_keeps_accents_like_dovecot(inst):
    """Setting off: exactly the oracle, which itself behaves as listed."""
    fts, oracle, uids = inst
    for crit, want in EXACT_CASES:
        expected = oracle.search("dana", "INBOX", *crit)
        assert _keys(uids, expected) == want, (crit, "oracle", _keys(uids, expected))
        assert fts.search("dana", "INBOX", *crit) == expected, crit


FOLDED_CASES = [
    (("BODY", "cafe"), ["creme", "lait", "nfd", "noir"]),
    (("BODY", "café"), ["creme", "lait", "nfd", "noir"]),
    (("BODY", "CAFÉ"), ["creme", "lait", "nfd", "noir"]),
    (("BODY", "afe"), ["creme", "lait", "nfd", "noir"]),
    (("BODY", "resume"), ["cv", "resume"]),
    (("BODY", "résumé"), ["cv", "resume"]),
    (("BODY", "decompose"), ["nfd"]),
    (("BODY", "crème"), ["creme"]),
    (("BODY", "creme"), ["creme"]),
    (("SUBJECT", "reunion"), ["lait", "plain"]),
    (("SUBJECT", "réunion"), ["lait", "plain"]),
    (("FROM", "jose"), ["jose"]),
    (("FROM", "nunez"), ["jose"]),
    (("FROM", "Núñez"), ["jose"]),
    (("TEXT", "resume"), ["cv", "resume"]),
    (("NOT", "BODY", "cafe"), ["cv", "jose", "plain", "resume"]),
    # a phrase is checked by Dovecot as written
    (("BODY", "café crème"), ["creme"]),
    (("BODY", "cafe creme"), []),
]


def test_fold_accents(inst):
    fts, oracle, uids = inst
    fts.stop()
    fts.plugin_settings["fts_sift_fold_accents"] = "yes"
    log_size = os.path.getsize(fts.log_path)
    fts.start()
    try:
        for crit, want in FOLDED_CASES:
            got = fts.search("dana", "INBOX", *crit)
            assert _keys(uids, got) == want, (crit, _keys(uids, got))
        with open(fts.log_path, errors="replace") as f:
            f.seek(log_size)
            log = f.read()
        # the index built without folding was rebuilt
        assert "accents folded: it must be rebuilt" in log, log[-2000:]
    finally:
        fts.stop()
        del fts.plugin_settings["fts_sift_fold_accents"]
        fts.start()
    # and back: exact again (rebuilt once more), equal to the oracle
    for crit, _want in EXACT_CASES:
        assert fts.search("dana", "INBOX", *crit) == oracle.search("dana", "INBOX", *crit), crit
    assert not [p for p in fts.log_problems() if "Panic" in p or "Fatal" in p]
