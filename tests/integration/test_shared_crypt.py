"""A shared folder encrypted at rest by mail_crypt (maildir, per-user
uids, group siftshare, ACLs), searched by the users it is shared with.

Two key modes (module parameter):
  user    keys per user and per folder made by Dovecot (mail_crypt_curve),
          with the mail_crypt_acl plugin and
          mail_crypt_acl_require_secure_key_sharing: every user's key
          pair is generated first (doveadm mailbox cryptokey generate
          -U), then the owner's SETACL gives the reader the folder's key
          encrypted with the reader's public key (an attribute of the
          owner's folder), and the reader's processes decrypt the
          owner's mail with it.  The reader's own key pair is encrypted
          with a password the userdb gives
          (mail_crypt_require_encrypted_user_key and
          mail_crypt_private_password as userdb fields), so the reader's
          indexer-worker gets it too.  mail_home names every home: an
          IMAP SETACL makes mail_crypt_acl set up the grantee's user in
          the owner's imap process, where Dovecot 2.3.19 does no userdb
          lookup, so a home only the userdb knows is missing there
          ("Cannot initialize destination user reader: userdb didn't
          return a home directory", the ACL written, the key not shared,
          and the reader's reads failing with "Decryption error: no
          private key available"; measured with no FTS plugin; 2.4.1
          the same, and its imap process then panics)
  global  one key pair for the whole instance (nothing to share)

Users: owner (owns Team), reader ("lr" on Team), looker ("l": sees
Team in LIST, may not open it), stranger (no rights).  The oracle is
Dovecot without FTS over the same homes, keys and ACLs (its own index
files).  Checked: Team's mail files are encrypted (no word of the mail
in them) and the reader can read them with no FTS plugin at all (the
oracle) before anything is compared; test_search_oracle.py's searches
(also ANDed with dates), random substrings of the fixtures (BODY, TEXT,
SUBJECT, FROM, TO, NOT, OR, dates), generated mail (big base64
attachments, attached messages, HTML) and the folder's own words, by
the reader in shared/owner/Team, equal the oracle's; the same after the
owner appended (through the oracle, so that the reader's session
indexes the new mail into the owner's index: asserted from the log)
and expunged; the reader's virtual "all mail" folder over its own and
the owner's shared mail answers as the oracle's (the looker's can't be
opened, on both); looker and stranger get no mailbox and no answer on
both; after the owner's DELETEACL the reader gets nothing either (and,
in user mode, the reader's copy of the folder key is gone); no index in
a reader's home, no error in the log.

Runtime: almost all of it is the oracle, which decrypts every message
for every search (60-400 ms a search here, fts-sift 1-5 ms): the
searches are a sample (user mode: every other case, global mode every
fourth)."""

import os
import re

import pytest

import fixtures
from dovecot_conf import syntax
from dovetest import Dovecot, DovecotError
from fixtures import T2020, T2022, T2024, simple
from sharedenv import GROUP, SharedEnv, ensure_group, new_root, remove_root
from test_search_oracle import CASES
from test_storage_configs import _random_criteria, generated

OWNER, READER, LOOKER, STRANGER = "owner", "reader", "looker", "stranger"
USERS = (OWNER, READER, LOOKER, STRANGER)
USER_IDS = {u: 61301 + i for i, u in enumerate(USERS)}
BOX = "Team"
SHARED = "shared/%s/%s" % (OWNER, BOX)
READER_KEY_PASSWORD = "reader-key-secret"
# every user's virtual/All: the user's own mail and the owner's shared
VIRTUAL = {"All": "*\nshared/%s/*\n  all\n" % OWNER}


def secret_msg(n, date):
    """A message of the folder's own words: 'cryptsecret<n>' is in the
    body only, 'cryptsubj<n>' in the subject; each distinctive enough to
    be looked for in the stored files."""
    return simple("Kim %d <kim%d@vault.example>" % (n, n), "team@example.test",
                  "ledger %d cryptsubj%d" % (n, n), date,
                  ("Quarterly note %d: cryptsecret%d and %s\n" % (
                      n, n, "walrus" if n % 2 else "narwhal")).encode(),
                  msgid="crypt%d@vault.example" % n)


def _secret_queries(ns):
    out = []
    for n in ns:
        out += [("BODY", "cryptsecret%d" % n),
                ("TEXT" if n % 2 else "SUBJECT", "cryptsubj%d" % n),
                ("FROM", "kim%d@vault" % n),
                ("OR", "BODY", "cryptsecret%d" % n, "SUBJECT", "ledger %d" % (n + 1))]
    n = max(ns)
    out += [("BODY", "ryptsecre"), ("NOT", "BODY", "cryptsecret%d" % n),
            ("HEADER", "Message-ID", "crypt%d@vault" % n), ("BODY", "walrus"),
            ("BODY", "narwhal", "SINCE", "1-Jan-2023"),
            ("BODY", "walrus", "SENTBEFORE", "1-Jan-2021")]
    return out


def _instance(root, plugin, mode, oracle_of=None):
    syn_24 = syntax().version >= 24
    settings, extra, userdb = {}, "", {}
    storage = {"crypt": True}
    if mode == "user":
        storage = {"crypt": "user", "crypt_acl": True}
        settings["crypt_acl_require_secure_key_sharing" if syn_24 else
                 "mail_crypt_acl_require_secure_key_sharing"] = "yes"
        home_root = oracle_of.home_root if oracle_of else os.path.join(root, "home")
        extra = "mail_home = %s/%s\n" % (home_root, "%{user}" if syn_24 else "%u")
        # the reader's own key pair encrypted with a password the userdb
        # gives (the reader's processes, the indexer-worker's too, get it
        # from there)
        userdb = {READER: ("userdb_crypt_user_key_password=%s "
                           "userdb_crypt_user_key_require_encrypted=yes" if syn_24 else
                           "userdb_mail_crypt_private_password=%s "
                           "userdb_mail_crypt_require_encrypted_user_key=yes")
                  % READER_KEY_PASSWORD}
    if oracle_of is not None:
        d = Dovecot(root, None, plugin="none", oracle_of=oracle_of, storage=storage,
                    plugin_settings=settings, extra_conf=extra)
        if mode == "global":
            # the instance's key pair, not one of its own
            d.storage["crypt_keys"] = oracle_of.storage["crypt_keys"]
        return d
    return Dovecot(root, None, plugin=plugin, users=USERS, acl=True, user_ids=USER_IDS,
                   access_group=GROUP, access_dir_mode=0o2770, storage=storage,
                   plugin_settings=settings, extra_conf=extra, virtual=VIRTUAL,
                   userdb_fields=userdb)


class Env:
    pass


@pytest.fixture(scope="module", params=("user", "global"))
def env(request):
    ensure_group()
    mode = request.param
    root = new_root("shared-crypt-" + mode)
    fts = _instance(os.path.join(root, "fts"), "sift", mode)
    oracle = _instance(os.path.join(root, "oracle"), "none", mode, oracle_of=fts)
    try:
        fts.start()
        oracle.start()
        e = Env()
        e.mode, e.fts, e.oracle = mode, fts, oracle
        e.since = fts.log_size()
        if mode == "user":
            # every user's key pair before any sharing (with secure
            # sharing required, a SETACL for a user without one fails)
            for u in USERS:
                fts.doveadm("mailbox", "cryptokey", "generate", "-u", u, "-U")
        # mail first, then the ACLs (the folder's key exists only once
        # the folder has mail), then more mail after the sharing
        for fx in fixtures.build_messages(big=False):
            fts.append(OWNER, BOX, fx.raw, date=fx.date)
        e.gen = generated(47, 9)
        for _k, raw, _q in e.gen[:6]:
            fts.append(OWNER, BOX, raw, date=T2022)
        for n in range(1, 4):
            fts.append(OWNER, BOX, secret_msg(n, T2020 if n % 2 else T2024), date=T2020)
        fts.append(OWNER, "INBOX", simple("O <o@example.net>", "o@example.test", "private",
                                          T2020, b"cryptsecret1 owner private inbox\n"))
        conn = fts.imap(OWNER)
        try:
            for who, rights in ((READER, "lr"), (LOOKER, "l")):
                typ, data = conn.setacl(BOX, who, rights)
                assert typ == "OK", (who, typ, data)
        finally:
            conn.logout()
        for n in range(4, 6):
            fts.append(OWNER, BOX, secret_msg(n, T2022), date=T2024)
        fts.close_connections()
        yield e
    finally:
        oracle.stop()
        fts.stop()
    remove_root(root, request)


def _team_mail_files(d):
    box = os.path.join(d.maildir(OWNER), "." + BOX)
    return [os.path.join(box, sub, f) for sub in ("cur", "new")
            for f in os.listdir(os.path.join(box, sub))]


def _attributes(d, user):
    with open(os.path.join(d.home(user), "dovecot-attributes"), "rb") as f:
        return f.read()


def _shared_key_users(d):
    """The users the owner's folders' keys are shared with (mail_crypt_acl:
    shared/<box GUID>/.../crypt/privkeys/<hex of the user name>/<key id>)."""
    names = re.findall(rb"^shared/[0-9a-f]{32}/vendor/vendor\.dovecot/pvt/crypt/"
                       rb"privkeys/([0-9a-f]+)/", _attributes(d, OWNER), re.M)
    return {bytes.fromhex(n.decode()).decode() for n in names}


def _fetch_bodies(d, user, box):
    conn = d.imap(user)
    try:
        d.select(conn, box, readonly=True)
        typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "OK", (typ, data)
        return sorted(item[1] for item in data if isinstance(item, tuple))
    finally:
        conn.logout()


def test_encrypted_and_readable_without_fts(env):
    """Team's mail files are mail_crypt's (each starts with "CRYPTED") and
    hold none of the folder's words; with no FTS plugin (the oracle) the
    reader reads the same messages the owner does, so Dovecot itself
    serves the shared encrypted folder in this key mode."""
    files = _team_mail_files(env.fts)
    assert len(files) >= 38, files
    words = [b"cryptsecret%d" % n for n in range(1, 6)] + \
        [b"cryptsubj%d" % n for n in range(1, 6)] + [b"walrus", b"kselftest"]
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        assert data.startswith(b"CRYPTED"), f
        found = [w for w in words if w in data or w.upper() in data]
        assert not found, (f, found)
    owner_view = _fetch_bodies(env.oracle, OWNER, BOX)
    assert len(owner_view) == len(files)
    assert any(b"cryptsecret3" in m for m in owner_view)
    assert _fetch_bodies(env.oracle, READER, SHARED) == owner_view
    if env.mode == "user":
        # the folder key shared (encrypted) with the reader only
        assert _shared_key_users(env.fts) == {READER}, _shared_key_users(env.fts)
        # the users' own private keys: the reader's encrypted with its
        # password (dcrypt key type 2), the owner's not (type 0)
        for user, kind in ((READER, b"2"), (OWNER, b"0")):
            keys = re.findall(rb"^priv/[0-9a-f]{32}/vendor/vendor\.dovecot/pvt/server/vendor/"
                              rb"vendor\.dovecot/pvt/crypt/privkeys/[0-9a-f]+\n2:[0-9.]+:(\d):",
                              _attributes(env.fts, user), re.M)
            assert keys == [kind], (user, keys)


def _compare(env, queries, user=READER, box=SHARED):
    """Each query on both instances, in one session of user each with box
    selected (the oracle decrypts every message for every search: a
    SELECT per search would double its time); returns how many found
    something."""
    conns = []
    try:
        for inst in (env.fts, env.oracle):
            conns.append(inst.imap(user))
            inst.select(conns[-1], box, readonly=True)
        bad, nonempty = [], 0
        for crit in queries:
            want = env.oracle.uid_search(conns[1], *crit)
            got = env.fts.uid_search(conns[0], *crit)
            nonempty += bool(want)
            if got != want:
                bad.append("%s: sift %s, oracle %s (missing %s, extra %s)" % (
                    crit, got[:10], want[:10], sorted(set(want) - set(got))[:10],
                    sorted(set(got) - set(want))[:10]))
    finally:
        for c in conns:
            c.logout()
    assert not bad, "%s %s (%s keys): %d of %d differ:\n%s" % (
        user, box, env.mode, len(bad), len(queries), "\n".join(bad[:30]))
    return nonempty


def _case_queries(step=1, dated_step=2, offset=0):
    """test_search_oracle.py's cases, every step-th from offset, and every
    dated_step-th of those also ANDed with a date."""
    out = []
    dates = fixtures.DATE_CRITERIA
    for i, (_cid, crit, _kw) in enumerate(CASES[offset::step]):
        out.append(tuple(crit))
        if i % dated_step == 0:
            out.append(tuple(crit) + dates[(i // dated_step) % len(dates)])
    return out


def test_reader_searches_equal_oracle(env):
    """The reader's searches in shared/owner/Team: test_search_oracle.py's
    cases (every other; in global mode every fourth), some also ANDed with
    a date,
    random substrings (BODY/TEXT/SUBJECT/FROM/TO, NOT, OR, dates), the
    generated mail's searches and the folder's own words, all as the
    oracle answers; most of them find something."""
    user = env.mode == "user"
    queries = _case_queries(2 if user else 4, 4 if user else 3)
    queries += _random_criteria(61 if user else 67, 24 if user else 12)
    queries += [q for _k, _r, gq in env.gen[:6] for q in gq][::3 if user else 5]
    queries += _secret_queries(range(1, 6))
    assert _compare(env, queries) > len(queries) // 3
    # the index is the owner's, beside Team; the reader's session made no
    # index of its own
    assert os.path.exists(os.path.join(env.fts.maildir(OWNER), "." + BOX, "fts-sift",
                                       "iamglass"))
    in_reader = [d for d, dirs, _f in os.walk(env.fts.home(READER)) if "fts-sift" in dirs]
    assert not in_reader, in_reader
    # the owner's view of the same folder too
    assert _compare(env, _secret_queries(range(1, 6)), user=OWNER, box=BOX) > 0


def _no_access(env, user):
    for inst in (env.fts, env.oracle):
        conn = inst.imap(user)
        try:
            typ, data = conn.select('"%s"' % SHARED, readonly=True)
            assert typ == "NO", (inst.plugin, user, typ, data)
            # nor through a search of another mailbox: the user's INBOX
            # has nothing of the owner's
            inst.select(conn, "INBOX", readonly=True)
            assert inst.uid_search(conn, "BODY", "cryptsecret1") == []
            assert inst.uid_search(conn, "TEXT", "cryptsubj2") == []
        finally:
            conn.logout()


def test_no_rights_no_answer(env):
    """looker ("l") and stranger (nothing) can't open the folder, on both
    instances, and find none of its words anywhere; looker sees it in
    LIST, stranger does not."""
    _no_access(env, LOOKER)
    _no_access(env, STRANGER)
    for user, listed in ((LOOKER, True), (STRANGER, False)):
        conn = env.fts.imap(user)
        try:
            typ, data = conn.list('""', "shared/*")
            assert typ == "OK", data
            names = b" ".join(x for x in data if x)
            assert (SHARED.encode() in names) == listed, (user, data)
        finally:
            conn.logout()


def _message_keys(d, conn, q):
    """The headers of the messages a UID SEARCH in a virtual mailbox finds,
    sorted (virtual UIDs differ between the instances; not every fixture
    has a Message-ID)."""
    uids = d.uid_search(conn, *q)
    if not uids:
        return []
    typ, data = conn.uid("FETCH", ",".join(map(str, uids)), "(BODY.PEEK[HEADER])")
    assert typ == "OK", data
    out = sorted(item[1] for item in data if isinstance(item, tuple))
    assert len(out) == len(uids), (uids, len(out))
    return out


VIRTUAL_QUERIES = [("BODY", "cryptsecret3"), ("OR", "BODY", "cryptsecret1", "TEXT", "cryptsubj4"),
                   ("SUBJECT", "ledger"), ("BODY", "walrus", "SINCE", "1-Jan-2023"),
                   ("BODY", "kselftest"), ("FROM", "vault.example"), ("NOT", "BODY", "walrus")]


def test_virtual_all_mail(env):
    """virtual/All (the user's own mail and shared/owner/*, searched
    mailbox by mailbox, each after its read-right check): the reader's
    searches find the same messages as the oracle's, the folder's words
    among them.  The looker ("l" on Team: listed, not readable) can't
    open virtual/All at all, on both ("Permission denied (for backend
    mailbox shared/owner/Team)": Dovecot's virtual plugin)."""
    for q in VIRTUAL_QUERIES:
        got = []
        for inst in (env.fts, env.oracle):
            conn, err = SharedEnv.open_box(inst, READER, "virtual/All")
            assert conn is not None, (inst.plugin, err)
            try:
                got.append(_message_keys(inst, conn, q))
            finally:
                conn.logout()
        assert got[0] == got[1], "reader virtual/All %s: fts %d messages, oracle %d" % (
            q, len(got[0]), len(got[1]))
        if q[:2] == ("BODY", "cryptsecret3"):
            assert len(got[0]) == 1 and b"<crypt3@vault.example>" in got[0][0], got[0]
    for inst in (env.fts, env.oracle):
        conn, err = SharedEnv.open_box(inst, LOOKER, "virtual/All")
        assert conn is None and "Permission denied" in err, (inst.plugin, err)


def test_after_append_and_expunge(env):
    """The owner appends (mail encrypted with the folder key the reader
    holds a copy of) through Dovecot without FTS (the oracle, same
    storage), so that nothing indexes it until the reader's search: the
    reader's session indexes it into the owner's index, decrypting it
    with the reader's copy of the key.  Then the owner expunges; the
    reader's searches equal the oracle's."""
    fts, oracle = env.fts, env.oracle
    for _k, raw, _q in env.gen[6:]:
        oracle.append(OWNER, BOX, raw, date=T2024)
    for n in range(6, 9):
        oracle.append(OWNER, BOX, secret_msg(n, T2024), date=T2022)
    oracle.close_connections()
    since = fts.log_size()
    want = oracle.search(READER, SHARED, "BODY", "cryptsecret7")
    assert len(want) == 1, want
    assert fts.search(READER, SHARED, "BODY", "cryptsecret7") == want
    team_index = os.path.join(fts.maildir(OWNER), "." + BOX, "fts-sift")
    added = re.findall(r"\((\w+)\)(?:<[^>]*>)*: Debug: .*Finished updating %s: "
                       r"(\d+) messages added" % re.escape(team_index),
                       fts.log_since(since, expect="Finished updating"))
    assert added and {u for u, _n in added} == {READER}, added
    assert sum(int(n) for _u, n in added) == len(env.gen[6:]) + 3, added
    uids = oracle.search(OWNER, BOX, "ALL")
    gone = uids[2:len(uids) // 2:4] + [oracle.search(OWNER, BOX, "BODY", "cryptsecret2")[0]]
    fts.expunge(OWNER, BOX, gone)
    assert fts.search(READER, SHARED, "ALL") == oracle.search(READER, SHARED, "ALL")
    assert oracle.search(READER, SHARED, "BODY", "cryptsecret2") == []
    user = env.mode == "user"
    queries = _case_queries(6 if user else 12, 3, offset=1)
    queries += _random_criteria(71 if user else 73, 10 if user else 6)
    queries += [q for _k, _r, gq in env.gen[6:] for q in gq][::2 if user else 4]
    queries += _secret_queries(range(1, 9) if user else range(5, 9))
    assert _compare(env, queries) > len(queries) // 3
    for f in _team_mail_files(fts):
        with open(f, "rb") as fh:
            data = fh.read()
        assert data.startswith(b"CRYPTED") and b"cryptsecret7" not in data, f


def test_revoked_reader_gets_nothing(env):
    """After the owner's DELETEACL the reader has no mailbox and no answer
    (on both); in user mode mail_crypt_acl removed the reader's copy of
    the folder key.  Then the log: no errors, no fts-sift warnings."""
    conn = env.fts.imap(OWNER)
    try:
        typ, data = conn.deleteacl(BOX, READER)
        assert typ == "OK", data
    finally:
        conn.logout()
    env.fts.close_connections()
    env.oracle.close_connections()
    _no_access(env, READER)
    if env.mode == "user":
        assert READER not in _shared_key_users(env.fts), _shared_key_users(env.fts)
    with pytest.raises(DovecotError):
        env.fts.search(READER, SHARED, "BODY", "cryptsecret1")
    problems = env.fts.log_problems(env.since) + env.oracle.log_problems()
    assert not problems, problems[:10]
