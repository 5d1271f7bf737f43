"""Index maintenance: expunged messages disappear from results, and mail
delivered after the index was built is found.  Uses bob's own mailboxes so
alice's corpus stays untouched."""

import pytest

from fixtures import T2020, T2024, simple


def note(n, words, date=T2024):
    return simple("Note Taker <notes%d@example.net>" % n, "bob@example.test",
                  "Note %d" % n, date,
                  ("Note number %d. %s\n" % (n, words)).encode())


def deliver(pair, user, mailbox, items):
    """items: list of (key, raw, date); returns key -> uid."""
    uids = {}
    for key, raw, date in items:
        uids[key] = pair.fts.append(user, mailbox, raw, date=date)
    pair.name_uids(user, mailbox, {u: k for k, u in uids.items()})
    return uids


@pytest.fixture(scope="module")
def expunge_box(pair):
    items = []
    for n in range(1, 9):
        words = []
        if n % 2:
            words.append("walnut")
        if n in (2, 4):
            words.append("hazelnut")
        if n in (6, 8):
            words.append("pistachio")
        words.append("common")
        items.append(("e%d" % n, note(n, " ".join(words), T2020 if n < 5 else T2024),
                      T2020 if n < 5 else T2024))
    return deliver(pair, "bob", "Expunge", items)


def test_before_expunge(pair, expunge_box):
    pair.check("bob", "Expunge", ("BODY", "walnut"), must=["e1", "e3", "e5", "e7"])
    pair.check("bob", "Expunge", ("BODY", "hazelnut"), must=["e2", "e4"])


def test_expunge_over_imap(pair, expunge_box):
    gone = [expunge_box["e3"], expunge_box["e5"]]
    pair.fts.expunge("bob", "Expunge", gone)
    for crit, must in ((("BODY", "walnut"), ["e1", "e7"]),
                       (("NOT", "BODY", "walnut"), ["e2", "e4"]),
                       (("OR", "BODY", "walnut", "BODY", "hazelnut"), ["e1", "e2"]),
                       (("BODY", "walnut", "SINCE", "1-Jan-2023"), ["e7"])):
        expected = pair.check("bob", "Expunge", crit, must=must)
        assert not set(gone) & set(expected)
    assert pair.check("bob", "Expunge", ("ALL",), notall=False) == sorted(
        u for k, u in expunge_box.items() if k not in ("e3", "e5"))


def test_expunge_over_doveadm(pair, expunge_box):
    """An expunge done by another process (doveadm) is seen by searches."""
    pair.fts.doveadm("expunge", "-u", "bob", "mailbox", "Expunge", "body", "hazelnut")
    expected = pair.check("bob", "Expunge", ("BODY", "common"), must=["e1", "e6"],
                          notall=False)
    assert expunge_box["e2"] not in expected and expunge_box["e4"] not in expected
    pair.check("bob", "Expunge", ("BODY", "hazelnut"), empty=True)
    pair.check("bob", "Expunge", ("BODY", "pistachio"), must=["e6", "e8"])


def test_expunge_then_rescan(pair, expunge_box):
    if pair.fts.plugin != "none":
        pair.fts.doveadm("fts", "rescan", "-u", "bob")
    pair.check("bob", "Expunge", ("BODY", "walnut"), must=["e1", "e7"])
    pair.check("bob", "Expunge", ("NOT", "BODY", "pistachio"), must=["e1"])


def test_expunge_everything(pair, expunge_box):
    remaining = pair.all_uids("bob", "Expunge")
    pair.fts.expunge("bob", "Expunge", remaining)
    pair.check("bob", "Expunge", ("BODY", "walnut"), empty=True)
    pair.check("bob", "Expunge", ("NOT", "BODY", "walnut"), empty=True)


# ---- mail delivered after the index was built ----------------------------

@pytest.fixture(scope="module")
def late_box(pair):
    return deliver(pair, "bob", "Late", [
        ("l1", note(11, "chestnut season"), T2020),
        ("l2", note(12, "acorn season"), T2020),
        ("l3", note(13, "chestnut roast"), T2024),
    ])


def test_late_append_is_found(pair, late_box):
    pair.check("bob", "Late", ("BODY", "chestnut"), must=["l1", "l3"])      # builds the index
    late_box.update(deliver(pair, "bob", "Late", [("l4", note(14, "chestnut late arrival"), T2024)]))
    expected = pair.check("bob", "Late", ("BODY", "chestnut"), must=["l1", "l3", "l4"])
    assert late_box["l4"] in expected
    pair.check("bob", "Late", ("BODY", "arrival"), must=["l4"])
    pair.check("bob", "Late", ("NOT", "BODY", "chestnut"), must=["l2"])


def test_late_append_same_session(pair, late_box):
    """The searching session stays open while another one delivers."""
    conn = pair.fts.imap("bob")
    try:
        pair.fts.select(conn, "Late")
        before = pair.fts.uid_search(conn, "BODY", "hickory")
        assert before == []
        uid = pair.fts.append("bob", "Late", note(15, "hickory smoke"), date=T2024)
        pair.name_uids("bob", "Late", {uid: "l5"})
        conn.noop()
        got = pair.fts.uid_search(conn, "BODY", "hickory")
        assert got == [uid], "session search after a new delivery: got %s, want [%d]" % (got, uid)
    finally:
        conn.logout()
    pair.check("bob", "Late", ("BODY", "hickory"), must=["l5"])


def test_late_doveadm_save_is_found(pair, late_box):
    """Delivery by `doveadm save` (no IMAP, no autoindex from imap)."""
    raw = note(16, "butternut squash")
    pair.fts.doveadm("save", "-u", "bob", "-m", "Late", input=raw)
    expected = pair.check("bob", "Late", ("BODY", "butternut"), nonempty=True)
    assert len(expected) == 1
    pair.check("bob", "Late", ("OR", "BODY", "butternut", "BODY", "hickory"), must=["l5"])


def test_search_in_new_empty_mailbox(pair):
    pair.fts.create_mailbox("bob", "Empty")
    pair.check("bob", "Empty", ("BODY", "anything"), empty=True)
    pair.check("bob", "Empty", ("NOT", "BODY", "anything"), empty=True)
