"""A user's folder shared with another (ACL) on sdbox and mdbox storage
(test_shared.py: the same on maildir, with per-user uids, public and
virtual folders).

An instance with the plugin and an oracle (Dovecot without FTS), each
with storage of its own in the same configuration (storage_pair.py's
way: dbox keeps UIDs only in Dovecot's index files): alice's folder
Team holds the fixtures' mail and generated mail (big base64
attachments, attached messages, HTML), shared with bob ("lr" by
SETACL); alice's Private is not.  bob's searches in shared/alice/Team
(every criteria of test_search_oracle.py, the generated mail's
searches, random substrings with NOT/OR/dates) equal the oracle's, the
same after alice appended more mail and expunged some (the index kept
beside alice's mailbox, updated from bob's session), and bob finds
nothing in Private on both; the index lies in alice's mailbox
directory, nothing of it in bob's home; the log holds no error, nor
the line for a namespace without index files.""" 

import os

import pytest

import fixtures
from dovetest import Dovecot, separate_pair
from test_search_oracle import CASES
from test_storage_configs import _random_criteria, generated

OWNER, READER = "alice", "bob"
SHARED = "shared/%s/Team" % OWNER


@pytest.fixture(scope="module", params=("sdbox", "mdbox"))
def pair(request):
    driver = request.param

    def make(path, plugin):
        return Dovecot(path, None, plugin=plugin, mail_driver=driver, acl=True,
                       users=(OWNER, READER))
    with separate_pair("shared-" + driver, make,
                       failed=lambda: request.session.testsfailed > 0) as p:
        yield driver, p


def _both(p, method, *args):
    a, b = (getattr(inst, method)(*args) for inst in p)
    assert a == b, (method, args[:2], a, b)
    return a


def _setacl(inst, user, box, who, rights):
    conn = inst.imap(user)
    try:
        typ, data = conn.setacl(box, who, rights)
        assert typ == "OK", (inst.plugin, typ, data)
    finally:
        conn.logout()


def _compare(p, box, queries):
    bad, nonempty = fixtures.oracle_compare(p[0], p[1], READER, box, queries)
    assert not bad, "%s: %d of %d differ:\n%s" % (box, len(bad), len(queries),
                                                   "\n".join(bad[:30]))
    return nonempty


def test_shared_folder_equals_oracle(pair):
    driver, p = pair
    fts, oracle = p
    since = fts.log_size()
    gen = generated(29, 12)
    for fx in fixtures.build_messages(big=False):
        _both(p, "append", OWNER, "Team", fx.raw, fx.date)
    for _k, raw, _q in gen[:9]:
        _both(p, "append", OWNER, "Team", raw)
    _both(p, "append", OWNER, "Private", b"From: p@example.org\nSubject: private\n\n"
          b"privateword only here\n")
    for inst in p:
        _setacl(inst, OWNER, "Team", READER, "lr")
    queries = [tuple(crit) for _cid, crit, _kw in CASES]
    queries += [q for _k, _r, gq in gen[:9] for q in gq]
    queries += _random_criteria(53, 60)
    assert _compare(p, SHARED, queries) > len(queries) // 2

    # alice adds and expunges; bob's searches update the index
    for _k, raw, _q in gen[9:]:
        _both(p, "append", OWNER, "Team", raw)
    uids = oracle.search(OWNER, "Team", "ALL")
    _both(p, "expunge", OWNER, "Team", uids[1:len(uids) // 2:3])
    assert fts.search(READER, SHARED, "ALL") == oracle.search(READER, SHARED, "ALL")
    assert _compare(p, SHARED, queries[::2] + [q for _k, _r, gq in gen for q in gq]) > 0

    # no rights on Private: nothing there, on both
    for inst in p:
        conn = inst.imap(READER)
        try:
            typ, _data = conn.select('"shared/%s/Private"' % OWNER, readonly=True)
            assert typ == "NO", (inst.plugin, typ)
        finally:
            conn.logout()

    # the index beside alice's mailbox, none in bob's home
    owner_box = os.path.join(fts.home(OWNER), driver, "mailboxes", "Team", "dbox-Mails",
                             "fts-sift")
    assert os.path.exists(os.path.join(owner_box, "iamglass")), owner_box
    in_reader = [d for d, dirs, _f in os.walk(fts.home(READER)) if "fts-sift" in dirs]
    assert not in_reader, in_reader
    assert not fts.log_problems(since), fts.log_problems(since)[:10]
    # the shared namespace's template ("shared/", before an owner is
    # known) has no index path; that is no namespace without an index
    # (the per-owner namespaces have theirs, searched above)
    assert "keeps no index files" not in fts.log_text(), \
        [l for l in fts.log_text().splitlines() if "keeps no index files" in l][:3]



def _list(inst, user):
    conn = inst.imap(user)
    try:
        typ, data = conn.list()
        assert typ == "OK", (typ, data)
        return sorted(x.decode("utf-8", "replace").rsplit(' "/" ', 1)[-1].strip('"')
                      for x in data if x)
    finally:
        conn.logout()


def test_shared_lazy_expunge(request):
    """lazy_expunge with a shared folder (sdbox): bob, with the rights to
    expunge in alice's shared Team, expunges messages (Dovecot 2.3.19
    and 2.4.1 move nothing then: lazy_expunge leaves other users'
    mailboxes alone, with the plugin as without), then alice expunges
    some in Team herself (moved to her Expunged).  Searches in Team as
    alice, in shared/alice/Team as bob and in alice's Expunged answer as
    the oracle does, after each expunge and after a restart."""
    def make(path, plugin):
        return Dovecot(path, None, plugin=plugin, mail_driver="sdbox", acl=True,
                       users=(OWNER, READER), storage={"lazy_expunge": "Expunged"})
    with separate_pair("shared-lazy", make,
                       failed=lambda: request.session.testsfailed > 0) as p:
        fts, oracle = p
        since = fts.log_size()
        gen = generated(31, 9)
        for fx in fixtures.build_messages(big=False):
            _both(p, "append", OWNER, "Team", fx.raw, fx.date)
        for _k, raw, _q in gen:
            _both(p, "append", OWNER, "Team", raw)
        for inst in p:
            _setacl(inst, OWNER, "Team", READER, "lrwstie")
        queries = [tuple(crit) for _cid, crit, _kw in CASES][::2]
        queries += [q for _k, _r, gq in gen for q in gq]
        queries += _random_criteria(59, 24)
        _compare(p, SHARED, queries)

        def compare_all(where):
            n = 0
            for u, b in where:
                bad, k = fixtures.oracle_compare(fts, oracle, u, b, queries)
                assert not bad, "%s %s: %d of %d differ:\n%s" % (
                    u, b, len(bad), len(queries), "\n".join(bad[:30]))
                n += k
            return n

        both_views = [(READER, SHARED), (OWNER, "Team")]
        n_all = len(oracle.search(OWNER, "Team", "ALL"))
        uids = oracle.search(READER, SHARED, "ALL")
        _both(p, "expunge", READER, SHARED, uids[::3])
        assert len(oracle.search(OWNER, "Team", "ALL")) == n_all - len(uids[::3])
        boxes = {u: _list(oracle, u) for u in (OWNER, READER)}
        assert boxes == {u: _list(fts, u) for u in (OWNER, READER)}
        assert not [b for u in boxes for b in boxes[u] if "Expunged" in b], boxes
        assert compare_all(both_views) > 0
        uids = oracle.search(OWNER, "Team", "ALL")
        _both(p, "expunge", OWNER, "Team", uids[1::4])
        assert oracle.search(OWNER, "Expunged", "ALL"), _list(oracle, OWNER)
        where = both_views + [(OWNER, "Expunged")]
        assert compare_all(where) > 0
        for inst in p:
            inst.stop()
            inst.start()
        compare_all(where)
        assert not fts.log_problems(since), fts.log_problems(since)[:10]
