"""Decoded attachments in shared and public folders, searched through a
virtual folder (README, "Attachments" and "Shared and public folders").

The instance under test runs the decoder of test_attachments.py and the
ACL setup of test_shared.py (sharedenv.py: per-user uids, a shared
namespace, a public namespace, virtual/All over the user's own, the
owner's shared and the public mailboxes).  The generated attachment
mail is spread over four mailboxes:

  owner's Team        shared: reader "lr", looker "l", poster "p"
  owner's INBOX       private
  Public/Board        reader "lr", looker "lr", poster "l"
  reader's INBOX      private

A search of virtual/All goes through lookup_multi, one call per
namespace, and each backend mailbox reports the keys it is certain of
(the decoded attachment text, which Dovecot can't see) only when the user
may read it; the walk maps them to virtual UIDs.  So for every user the
expected answer is the oracle's (Dovecot without FTS and without a
decoder) plus, for BODY/TEXT keys, the messages *visible to that user*
whose decoded attachments hold the string (test_attachments.Expect); a
message of a mailbox the user may not read must never appear, whatever
its attachments hold.
"""

import os
import random
import re

import pytest

from dovetest import new_test_root, remove_test_root
from sharedenv import SharedEnv
from test_attachments import (build_mailbox, decoder_conf, gen_queries,
                              left_to_dovecot_queries, virtual_keys_in, Expect)
from test_attachments import pytestmark  # noqa: F401 (needs the decoder's tools)

PLACES = (("owner", "Team"), ("owner", "INBOX"), ("owner", "Public/Board"),
          ("reader", "INBOX"))
# what each user's virtual/All shows: indexes into PLACES
VISIBLE = {"owner": {0, 1, 2}, "reader": {0, 2, 3}, "looker": {2}, "poster": set()}


def place_of(key):
    """(build_mailbox() gives attachments by key % 4: every place gets
    messages of every kind)"""
    return (key + key // 4) % len(PLACES)


@pytest.fixture(scope="module")
def senv(request):
    root = new_test_root("shared-attach")
    e = SharedEnv(root, plugin_settings={"fts_decoder": "decode2text"},
                  extra_conf=decoder_conf(root) + "mail_debug = yes\n")
    e.start()
    try:
        f = e.fts
        f.create_mailbox("owner", "Team")
        conn = f.imap("owner")
        for who, rights in (("reader", "lr"), ("looker", "l"), ("poster", "p")):
            typ, data = conn.setacl("Team", who, rights)
            assert typ == "OK", data
        conn.logout()
        e.make_public_mailbox("Board", ["user=owner lrwstipekxa", "user=reader lr",
                                        "user=looker lr", "user=poster l"])
        mails, T, A, B, dashed = build_mailbox(2212, 48)
        for m in mails:
            user, box = PLACES[place_of(m.key)]
            f.append(user, box, m.raw, create=False)
        for user, box in PLACES:
            f.doveadm("index", "-u", user, box)
        f.close_connections()
        yield e, mails, (T, A, B, dashed)
    finally:
        e.stop()
        remove_test_root(root, request.session.testsfailed)


class ConnExpect(Expect):
    """Expect over an open oracle connection of any user."""

    def __init__(self, oracle, oconn, mails, uids, from_oracle):
        self.oconn = oconn
        super().__init__(oracle, mails, uids, mailbox="virtual/All",
                         from_oracle=from_oracle)

    def oracle_search(self, *q):
        got = self.oracle.uid_search(self.oconn, *q)
        return sorted(self.from_oracle[u] for u in got)


@pytest.mark.parametrize("user", ["owner", "reader", "looker", "poster"])
def test_virtual_over_shared_with_decoder(senv, user):
    """Generated queries (test_attachments' sets: words of text parts
    and attachments, substrings, phrases, NOT/OR/AND, attachment keys
    with keys left to Dovecot) through each user's virtual/All, against
    the oracle plus the attachments of the messages the user may read."""
    e, mails, (T, A, B, dashed) = senv
    f, o = e.fts, e.oracle
    before = f.log_size()
    fc, ferr = SharedEnv.open_box(f, user, "virtual/All")
    oc, oerr = SharedEnv.open_box(o, user, "virtual/All")
    assert (fc is None) == (oc is None), (ferr, oerr)
    if fc is None:
        # both refuse alike: the virtual plugin opens no folder with a
        # backend mailbox the user sees in LIST but may not read
        assert "NOPERM" in ferr and "NOPERM" in oerr, (ferr, oerr)
        return
    try:
        keys = virtual_keys_in(fc)
        okeys = virtual_keys_in(oc)
        want_keys = {m.key for m in mails if place_of(m.key) in VISIBLE[user]}
        assert sorted(keys.values()) == sorted(want_keys), (user, keys)
        assert sorted(okeys.values()) == sorted(want_keys), (user, okeys)
        uids = {k: u for u, k in keys.items()}
        from_oracle = {ou: uids[k] for ou, k in okeys.items()}
        visible = [m for m in mails if m.key in want_keys]
        exp = ConnExpect(o, oc, visible, uids, from_oracle)
        rnd = random.Random(606)
        queries = list(gen_queries(rnd, mails, T, A, B, dashed)) if visible else []
        # every attachment word, also of the mailboxes the user can't read
        queries += [("BODY", w) for m in mails for _, t in m.parts
                    for w in t.split()[:2] if w in A]
        if visible:
            ltd = left_to_dovecot_queries(random.Random(4243), visible, A)
            queries += rnd.sample(ltd, min(500, len(ltd)))
        bad = []
        for q in queries:
            got = f.uid_search(fc, *q)
            want = exp.query(q)
            if got != want:
                bad.append("%s: expected %s, got %s (oracle %s)" % (
                    " ".join(q), want, got, exp.oracle_search(*q)))
            # never a message of a mailbox the user may not read
            assert all(u in keys for u in got), (q, got)
        assert not bad, "%s: %d of %d queries differ:\n%s" % (
            user, len(bad), len(queries), "\n".join(bad[:30]))
        if visible:
            # the class is there: attachment text decided many answers,
            # in more than one namespace
            decided = [q for q in queries if exp.query(q) != exp.oracle_search(*q)]
            assert len(decided) >= 100, (user, len(decided), len(queries))
            places = {place_of(uid_key) for q in decided[:200]
                      for uid_key in (keys[u] for u in exp.query(q))}
            assert len(places) >= 2, (user, places)
            log = f.log_since(before, expect=r"imap\(%s\).*fts-sift: lookup_multi: " % user)
            ns = "" if user == "owner" else "shared/owner/"
            assert re.search(r"imap\(%s\).*fts-sift: lookup_multi: \d+ mailboxes of "
                             r"namespace '%s'" % (user, ns), log), log[-2000:]
    finally:
        fc.logout()
        oc.logout()
    assert not f.log_problems()


def test_revoked_backend_in_open_session(senv):
    """reader's virtual/All stays open while the owner takes away every
    right on Team: from then on the session's searches find no message of
    Team, whatever its attachments hold (the decoded text is certain
    evidence only for a mailbox the user may read), and find exactly
    what a new session finds (Dovecot without FTS: Team is no longer in
    reader's virtual/All), plus the visible attachments."""
    e, mails, (T, A, B, dashed) = senv
    f, o = e.fts, e.oracle
    fc, ferr = SharedEnv.open_box(f, "reader", "virtual/All")
    assert fc is not None, ferr
    owner = f.imap("owner")
    try:
        keys = virtual_keys_in(fc)
        team = {m.key for m in mails if place_of(m.key) == 0}
        assert team <= set(keys.values())
        # in the index, before: Team's attachment words are found
        team_words = sorted({w for m in mails if m.key in team for _, t in m.parts
                             for w in t.split() if w in A})
        assert team_words
        typ, data = owner.deleteacl("Team", "reader")
        assert typ == "OK", data
        oc, oerr = SharedEnv.open_box(o, "reader", "virtual/All")
        assert oc is not None, oerr
        try:
            okeys = virtual_keys_in(oc)
            want_keys = {m.key for m in mails if place_of(m.key) in (2, 3)}
            assert sorted(okeys.values()) == sorted(want_keys), okeys
            # expected sets in the open session's UIDs; Team's messages
            # are in no expected set
            uids = {k: u for u, k in keys.items() if k in want_keys}
            from_oracle = {ou: uids[k] for ou, k in okeys.items()}
            visible = [m for m in mails if m.key in want_keys]
            exp = ConnExpect(o, oc, visible, uids, from_oracle)
            rnd = random.Random(909)
            queries = [("BODY", w) for w in team_words]
            queries += list(gen_queries(rnd, mails, T, A, B, dashed))
            ltd = left_to_dovecot_queries(random.Random(4244), visible, A)
            queries += rnd.sample(ltd, min(300, len(ltd)))
            # (a key with an empty string matches every message before
            # any full-text lookup, as ALL does: Dovecot answers it from
            # the session's open view, which still holds Team; README,
            # "Shared and public folders")
            queries = [q for q in queries if "" not in q]
            bad = []
            for q in queries:
                got = f.uid_search(fc, *q)
                leaked = [keys[u] for u in got if keys.get(u) in team]
                assert not leaked, ("Team messages found after the revocation", q, leaked)
                want = exp.query(q)
                if got != want:
                    bad.append("%s: expected %s, got %s" % (" ".join(q), want, got))
            assert not bad, "%d of %d queries differ:\n%s" % (len(bad), len(queries),
                                                             "\n".join(bad[:30]))
        finally:
            oc.logout()
    finally:
        typ, data = owner.setacl("Team", "reader", "lr")
        owner.logout()
        fc.logout()
        assert typ == "OK", data
