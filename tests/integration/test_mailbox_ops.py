"""Mailbox operations around the index: flags, COPY, MOVE, RENAME, and a
mailbox deleted and re-created under the same name (same UIDs, other
mail: a stale index would answer wrongly).  Uses bob's mailboxes."""

import pytest

from fixtures import T2020, T2024, simple


def note(n, words, date=T2024):
    return simple("Ops Test <ops%d@example.net>" % n, "bob@example.test",
                  "Ops %d" % n, date, ("Ops note %d. %s\n" % (n, words)).encode())


def fill(pair, mailbox, items, prefix):
    uids = {}
    for i, (words, date) in enumerate(items, 1):
        uids["%s%d" % (prefix, i)] = pair.fts.append("bob", mailbox, note(i, words, date), date=date)
    pair.name_uids("bob", mailbox, {u: k for k, u in uids.items()})
    return uids


def imap_cmd(inst, user, mailbox, *cmds):
    conn = inst.imap(user)
    try:
        if mailbox:
            typ, data = conn.select(mailbox)
            assert typ == "OK", data
        out = []
        for name, args in cmds:
            typ, data = getattr(conn, name)(*args)
            assert typ == "OK", (name, args, typ, data)
            out.append(data)
        return out
    finally:
        conn.logout()


@pytest.fixture(scope="module")
def opsbox(pair):
    return fill(pair, "Ops", [("linden tree", T2020), ("maple tree", T2020),
                              ("linden leaf", T2024), ("birch bark", T2024)], "o")


def test_flags_with_words(pair, opsbox):
    pair.check("bob", "Ops", ("BODY", "linden"), must=["o1", "o3"])     # index built
    imap_cmd(pair.fts, "bob", "Ops",
             ("uid", ("STORE", "%d,%d" % (opsbox["o1"], opsbox["o2"]), "+FLAGS", r"(\Flagged \Seen)")))
    pair.check("bob", "Ops", ("FLAGGED", "BODY", "linden"), must=["o1"])
    pair.check("bob", "Ops", ("UNSEEN", "BODY", "linden"), must=["o3"])
    pair.check("bob", "Ops", ("OR", "FLAGGED", "BODY", "birch"), must=["o1", "o2", "o4"])
    pair.check("bob", "Ops", ("NOT", "FLAGGED", "NOT", "BODY", "tree"), must=["o3", "o4"],
               nonempty=False)


def test_copy_into_other_mailbox(pair, opsbox):
    pair.fts.create_mailbox("bob", "OpsCopy")
    imap_cmd(pair.fts, "bob", "Ops",
             ("uid", ("COPY", "%d:%d" % (opsbox["o1"], opsbox["o4"]), "OpsCopy")))
    pair.check("bob", "OpsCopy", ("BODY", "linden"), nonempty=True)
    pair.check("bob", "OpsCopy", ("NOT", "BODY", "tree"), nonempty=True)
    pair.check("bob", "Ops", ("BODY", "linden"), must=["o1", "o3"])


def test_move_into_other_mailbox(pair, opsbox):
    pair.fts.create_mailbox("bob", "OpsMoved")
    pair.check("bob", "OpsMoved", ("BODY", "birch"), empty=True)
    imap_cmd(pair.fts, "bob", "Ops", ("uid", ("MOVE", str(opsbox["o4"]), "OpsMoved")))
    pair.check("bob", "OpsMoved", ("BODY", "birch"), nonempty=True, notall=False)
    pair.check("bob", "Ops", ("BODY", "birch"), empty=True)
    pair.check("bob", "Ops", ("BODY", "linden"), must=["o1", "o3"])


def test_rename_mailbox(pair):
    uids = fill(pair, "Before", [("spruce cone", T2020), ("poplar seed", T2024)], "n")
    pair.check("bob", "Before", ("BODY", "spruce"), must=["n1"])
    imap_cmd(pair.fts, "bob", None, ("rename", ("Before", "After")))
    pair.name_uids("bob", "After", {u: k for k, u in uids.items()})
    pair.check("bob", "After", ("BODY", "spruce"), must=["n1"])
    pair.check("bob", "After", ("NOT", "BODY", "spruce"), must=["n2"])
    uid = pair.fts.append("bob", "After", note(3, "spruce needle"), date=T2024)
    pair.name_uids("bob", "After", {uid: "n3"})
    pair.check("bob", "After", ("BODY", "spruce"), must=["n1", "n3"])


def test_delete_and_recreate_same_name(pair):
    fill(pair, "Phoenix", [("ember glow", T2020), ("ash cloud", T2020), ("ember spark", T2024)], "p")
    pair.check("bob", "Phoenix", ("BODY", "ember"), must=["p1", "p3"])
    # no session may keep the old mailbox open (the oracle's own index of
    # it would be reset under an open view)
    pair.fts.close_connections()
    pair.oracle.close_connections()
    imap_cmd(pair.fts, "bob", None, ("delete", ("Phoenix",)))
    pair.names.pop(("bob", "Phoenix"), None)
    # same name, new UIDVALIDITY, UIDs start at 1 again, other words
    fill(pair, "Phoenix", [("glacier ice", T2024), ("ember reborn", T2024), ("tundra wind", T2020)], "q")
    pair.check("bob", "Phoenix", ("BODY", "ember"), must=["q2"])
    pair.check("bob", "Phoenix", ("BODY", "glacier"), must=["q1"])
    pair.check("bob", "Phoenix", ("BODY", "ash"), empty=True)
    pair.check("bob", "Phoenix", ("NOT", "BODY", "ember"), must=["q1", "q3"])
