"""Shared and public folders with ACLs (issue 4).

Per-user uids, a shared mailbox owner/Team (reader "lr", looker "l",
poster "p", stranger nothing), a public mailbox Public/Board, a virtual
folder virtual/All over the user's own, the owner's shared and the public
mailboxes.  Every permitted search must equal the oracle (the same
configuration without FTS); every forbidden one must find nothing; the
index must be one per mailbox, next to the mailbox, with the mailbox's
permissions, and nothing of it may appear in a reader's home.

The tests run in file order (module-scoped instances): reader-first index
(Team2), owner-first index (Team), public mailbox, forbidden users, virtual
folder, doveadm, delivery by a post-only user, revocation, and last the
log check."""

import os
import re
import stat
import subprocess

import grp
import pytest

from dovetest import parse_uid_set  # noqa: E402
from fixtures import T2020, T2024, simple
from sharedenv import OWNER_RIGHTS, SharedEnv, USER_IDS, GROUP, new_root, running

N_TEAM = 12
N_BOARD = 6

QUERIES = [
    ("BODY", "walrus"),
    ("BODY", "narwhal"),
    ("BODY", "narw"),
    ("TEXT", "orca"),
    ("SUBJECT", "note 3"),
    ("FROM", "ann2@example.net"),
    ("NOT", "BODY", "narwhal"),
    ("OR", "BODY", "narwhal", "BODY", "pelican"),
    ("BODY", "pelican"),
    ("BODY", "heron"),
    ("BODY", "walrus", "SINCE", "1-Jan-2024"),
    ("BODY", "nosuchwordanywhere"),
    # scored (SEARCH=FUZZY) through lookup_multi too
    ("FUZZY", "BODY", "walrus"),
    ("FUZZY", "OR", "BODY", "narwhal", "BODY", "pelican"),
]


def team_msg(n, box="Team"):
    words = ["walrus", "narwhal" if n % 2 else "orca"]
    return simple("Ann %d <ann%d@example.net>" % (n, n), "team@example.test",
                  "%s note %d" % (box, n), T2020 if n % 3 else T2024,
                  ("Team text %d: %s\n" % (n, " ".join(words))).encode(),
                  msgid="%s-%d@shared.test" % (box.lower(), n))


def board_msg(n):
    words = ["pelican", "heron" if n % 2 else "egret"]
    return simple("Bo <bo%d@example.net>" % n, "board@example.test",
                  "Board item %d" % n, T2024,
                  ("Board %d: %s\n" % (n, " ".join(words))).encode(),
                  msgid="board%d@public.test" % n)


def put_in_maildir(d, owner, mailbox, raw, n):
    path = os.path.join(d.maildir(owner), "." + mailbox, "new",
                        "1700000000.M%dP1.fixture" % n)
    with open(path, "wb") as f:
        f.write(raw)
    os.chown(path, USER_IDS[owner], grp.getgrnam(GROUP).gr_gid)
    os.chmod(path, 0o660)


@pytest.fixture(scope="module")
def env(request):
    root = new_root("shared")
    # a metric of the ACL refusal event (test_acl_denied_event)
    e = SharedEnv(root, extra_conf="metric fts_sift_acl_denied {\n"
                  "  filter = event=fts_sift_acl_denied\n}\n")
    with running(e, request):
        f = e.fts
        for n in range(1, N_TEAM + 1):
            f.append("owner", "Team", team_msg(n))
        # Team2's first messages are put into the maildir directly: an
        # APPEND would queue indexing as the owner (fts_autoindex), and
        # this mailbox's index must be built by the reader first
        f.create_mailbox("owner", "Team2")
        for n in range(1, 5):
            put_in_maildir(f, "owner", "Team2", team_msg(n, "Team2"), n)
        # private mail that no one else may ever find
        f.append("owner", "INBOX", simple("O <o@example.net>", "o@example.test", "owner private",
                                          T2020, b"walrus pelican secret of the owner\n",
                                          msgid="ownerprivate@x"))
        f.append("reader", "INBOX", simple("R <r@example.net>", "r@example.test", "reader own",
                                           T2020, b"walrus of the reader\n", msgid="readerown@x"))
        conn = f.imap("owner")
        for box in ("Team", "Team2"):
            for who, rights in (("reader", "lr"), ("looker", "l"), ("poster", "p")):
                typ, data = conn.setacl(box, who, rights)
                assert typ == "OK", data
        conn.logout()
        e.make_public_mailbox("Board", ["user=owner " + OWNER_RIGHTS, "user=reader lr",
                                        "user=looker l", "user=poster p"])
        for n in range(1, N_BOARD + 1):
            f.append("owner", "Public/Board", board_msg(n), create=False)
        f.close_connections()
        yield e


def box_for(user, owner_box):
    return owner_box if user == "owner" else "shared/owner/" + owner_box


def compare_box(env, user, mailbox, readonly=True, queries=QUERIES):
    """Search mailbox as user in both instances; returns {query: uids}."""
    got = {}
    fc, ferr = SharedEnv.open_box(env.fts, user, mailbox, readonly)
    oc, oerr = SharedEnv.open_box(env.oracle, user, mailbox, readonly)
    assert fc is not None, "%s can't open %s: %s" % (user, mailbox, ferr)
    assert oc is not None, "oracle: %s can't open %s: %s" % (user, mailbox, oerr)
    try:
        for q in queries:
            a = env.fts.uid_search(fc, *q)
            b = env.oracle.uid_search(oc, *q)
            assert a == b, "%s %s %s: fts %s, oracle %s" % (user, mailbox, q, a, b)
            got[q] = a
    finally:
        fc.logout()
        oc.logout()
    return got


def index_files(path):
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            out.append(os.path.join(dirpath, n))
    return out + [path]


def check_index_permissions(path):
    """Everything in the index has the mailbox's permissions: group
    siftshare, group read/write (directories setgid, group rwx)."""
    gid = grp.getgrnam(GROUP).gr_gid
    assert os.path.isdir(path), path
    files = index_files(path)
    assert len(files) >= 5, files
    for p in files:
        st = os.lstat(p)
        assert st.st_gid == gid, "%s: group %d, not %s" % (p, st.st_gid, GROUP)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            assert mode & 0o2070 == 0o2070, "%s: mode %o" % (p, mode)
        else:
            assert mode & 0o060 == 0o060, "%s: mode %o" % (p, mode)
        assert mode & 0o007 == 0, "%s: world access %o" % (p, mode)
    return {os.lstat(p).st_uid for p in files}


def no_index_under_homes(env, users):
    for u in users:
        found = env.foreign_index_files(u)
        assert not found, "another mailbox's fts-sift files in %s's home: %s" % (u, found)


# ---- the reader builds the index first ----------------------------------------

def test_reader_first_then_owner(env):
    assert not os.path.exists(env.index_dir("owner", "Team2"))
    got = compare_box(env, "reader", "shared/owner/Team2")
    assert len(got[("BODY", "walrus")]) == 4
    # built by the reader's indexer-worker, next to the owner's mailbox
    uids = check_index_permissions(env.index_dir("owner", "Team2"))
    assert uids == {USER_IDS["reader"]}
    no_index_under_homes(env, ["reader"])
    # the owner's processes write to the index the reader created
    for n in range(5, 9):
        env.fts.append("owner", "Team2", team_msg(n, "Team2"), create=False)
    got = compare_box(env, "owner", "Team2")
    assert len(got[("BODY", "walrus")]) == 8
    got = compare_box(env, "reader", "shared/owner/Team2")
    assert len(got[("BODY", "walrus")]) == 8
    check_index_permissions(env.index_dir("owner", "Team2"))


# ---- owner builds the index first ------------------------------------------

def test_owner_first_then_reader(env):
    # the owner's searches build the index (fts_enforced waits for the
    # owner's indexer-worker)
    got = compare_box(env, "owner", "Team", readonly=False)
    assert len(got[("BODY", "walrus")]) == N_TEAM
    assert len(got[("BODY", "narwhal")]) == N_TEAM // 2
    uids = check_index_permissions(env.index_dir("owner", "Team"))
    assert uids == {USER_IDS["owner"]}
    # the reader: EXAMINE and SELECT (read-only: no write right)
    for readonly in (True, False):
        got = compare_box(env, "reader", "shared/owner/Team", readonly=readonly)
        assert len(got[("BODY", "walrus")]) == N_TEAM
    no_index_under_homes(env, ["reader", "looker", "poster", "stranger"])


def test_public_mailbox(env):
    got = compare_box(env, "owner", "Public/Board", readonly=False)
    assert len(got[("BODY", "pelican")]) == N_BOARD
    got = compare_box(env, "reader", "Public/Board")
    assert len(got[("BODY", "heron")]) == N_BOARD // 2
    check_index_permissions(env.public_index_dir("Board"))
    no_index_under_homes(env, ["owner", "reader", "looker", "poster", "stranger"])


@pytest.mark.parametrize("user", ["looker", "poster", "stranger"])
@pytest.mark.parametrize("mailbox", ["shared/owner/Team", "Public/Board"])
@pytest.mark.parametrize("readonly", [True, False], ids=["EXAMINE", "SELECT"])
def test_forbidden_users_cannot_search(env, user, mailbox, readonly):
    fc, ferr = SharedEnv.open_box(env.fts, user, mailbox, readonly)
    oc, oerr = SharedEnv.open_box(env.oracle, user, mailbox, readonly)
    for c in (fc, oc):
        if c is not None:
            c.logout()
    assert fc is None and oc is None, (ferr, oerr)
    # l: the mailbox exists but may not be opened; others: invisible
    want = "NOPERM" if user == "looker" else "doesn't exist"
    assert want in ferr, ferr


# ---- virtual folder: lookup_multi ------------------------------------------

def virtual_ids(d, user, criteria):
    conn, err = SharedEnv.open_box(d, user, "virtual/All")
    if conn is None:
        return None, err
    try:
        return SharedEnv.message_ids(d, conn, *criteria), None
    finally:
        conn.logout()


@pytest.mark.parametrize("user", ["owner", "reader", "looker", "poster", "stranger"])
def test_virtual_all_mail(env, user):
    before = env.fts.log_size()
    found_any = False
    for q in QUERIES:
        a, aerr = virtual_ids(env.fts, user, q)
        b, berr = virtual_ids(env.oracle, user, q)
        assert (a is None) == (b is None), (user, q, aerr, berr)
        if a is None:
            continue
        assert a == b, "%s virtual/All %s: fts %s, oracle %s" % (user, q, sorted(a), sorted(b))
        found_any = found_any or bool(a)
        if user not in ("owner", "reader"):
            assert not any(i.startswith(("team-", "team2-")) for i in a), (user, q, a)
        if user != "owner":
            assert "ownerprivate@x" not in a
    log = env.fts.log_text().encode()[before:].decode("utf-8", "replace")
    if user in ("owner", "reader"):
        assert found_any
        walrus, _ = virtual_ids(env.fts, user, ("BODY", "walrus"))
        assert {"team-%d@shared.test" % n for n in range(1, N_TEAM + 1)} <= walrus
        # answered by lookup_multi, through the indexes, not by reading
        # messages (the owner's own mailboxes are in namespace '')
        ns = "" if user == "owner" else "shared/owner/"
        log = env.fts.log_since(before, expect=r"imap\(%s\).*fts-sift: lookup_multi: "
                                r"\d+ mailboxes of namespace 'Public/'" % user)
        assert re.search(r"imap\(%s\).*fts-sift: lookup_multi: \d+ mailboxes of namespace "
                         r"'%s'" % (user, ns), log), "no lookup_multi for namespace '%s'" % ns
        assert re.search(r"imap\(%s\).*fts-sift: lookup_multi: \d+ mailboxes of namespace "
                         r"'Public/'" % user, log)
        # relevance scores of a virtual folder: one per match (Dovecot
        # maps each mailbox's scores to virtual UIDs)
        conn, err = SharedEnv.open_box(env.fts, user, "virtual/All")
        try:
            conn.untagged_responses.pop("ESEARCH", None)
            typ, data = conn.uid("SEARCH", "RETURN (RELEVANCY ALL) FUZZY BODY walrus")
            assert typ == "OK", data
            text = conn.untagged_responses.pop("ESEARCH")[0].decode()
            m = re.search(r"ALL (\S+) RELEVANCY \(([^)]*)\)", text)
            assert m, text
            assert len(parse_uid_set(m.group(1))) == len(m.group(2).split()), text
        finally:
            conn.logout()


# ---- doveadm (administrator: ACLs ignored, same as Dovecot without FTS) ----

@pytest.mark.parametrize("user", ["owner", "reader", "stranger"])
def test_doveadm_search(env, user):
    for box in ("Public/Board", box_for(user, "Team")):
        if user == "stranger" and box.startswith("shared"):
            box = "shared/owner/Team"
        for q in (("body", "walrus"), ("body", "pelican"), ("text", "orca")):
            a = env.fts.doveadm_search_uids(user, box, *q)
            b = env.oracle.doveadm_search_uids(user, box, *q)
            assert a == b, (user, box, q, a, b)


def test_doveadm_fts_lookup(env):
    res = env.fts.fts_lookup_all("owner", "body", "walrus")
    assert "Team" in res, res
    definite, maybe = res["Team"]
    assert sorted(definite) == env.oracle.doveadm_search_uids("owner", "Team", "body",
                                                              "walrus"), res
    assert not maybe, res


# ---- delivery by a user who may only post ------------------------------------

def test_post_only_delivery(env):
    before = env.fts.log_size()
    msg = simple("P <p@example.net>", "team@example.test", "posted note", T2024,
                 b"flamingo delivered by the poster\n", msgid="posted@x")
    p = subprocess.run(["/usr/lib/dovecot/dovecot-lda", "-c", env.fts.conf_path,
                        "-d", "poster", "-m", "shared/owner/Team"],
                       input=msg.replace(b"\n", b"\r\n"), capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    log = env.fts.log_text().encode()[before:].decode("utf-8", "replace")
    # nothing was indexed or written as the poster
    assert not [l for l in log.splitlines()
                if "(poster)" in l and "fts-sift: Committed" in l], log
    no_index_under_homes(env, ["poster"])
    # not lost: the owner's (and the reader's) next search finds it
    got = compare_box(env, "owner", "Team", queries=[("BODY", "flamingo")])
    assert len(got[("BODY", "flamingo")]) == 1
    got = compare_box(env, "reader", "shared/owner/Team", queries=[("BODY", "flamingo")])
    assert len(got[("BODY", "flamingo")]) == 1


# ---- revocation ------------------------------------------------------------

def test_revocation_in_existing_sessions(env):
    f, o = env.fts, env.oracle
    team, _ = SharedEnv.open_box(f, "reader", "shared/owner/Team")
    board, _ = SharedEnv.open_box(f, "reader", "Public/Board")
    virt, _ = SharedEnv.open_box(f, "reader", "virtual/All")
    assert team and board and virt
    try:
        assert len(f.uid_search(team, "BODY", "walrus")) == N_TEAM
        assert len(f.uid_search(board, "BODY", "pelican")) == N_BOARD
        assert {"team-1@shared.test", "board1@public.test"} <= \
            SharedEnv.message_ids(f, virt, "OR", "BODY", "walrus", "BODY", "pelican")

        owner = f.imap("owner")
        typ, data = owner.deleteacl("Team", "reader")
        assert typ == "OK", data
        typ, data = owner.deleteacl("Public/Board", "reader")
        assert typ == "OK", data

        # the reader's sessions, still selected: nothing any more
        for q in QUERIES:
            # every query has a full-text criterion that is now false
            assert f.uid_search(team, *q) == [], q
            assert f.uid_search(board, *q) == [], q
        assert f.uid_search(team, "BODY", "walrus") == []
        assert f.uid_search(team, "NOT", "BODY", "narwhal") == []
        ids = SharedEnv.message_ids(f, virt, "OR", "BODY", "walrus", "BODY", "pelican")
        assert not any(i.startswith(("team-", "board")) for i in ids), ids
        # what a new session of Dovecot without FTS finds
        want, _ = virtual_ids(o, "reader", ("OR", "BODY", "walrus", "BODY", "pelican"))
        assert ids == want, (ids, want)
        # new sessions can't open them at all
        for d in (f, o):
            for box in ("shared/owner/Team", "Public/Board"):
                c, err = SharedEnv.open_box(d, "reader", box)
                assert c is None, (d.plugin, box)
        no_index_under_homes(env, ["reader"])

        # granted again: found again, equal to the oracle
        typ, data = owner.setacl("Team", "reader", "lr")
        assert typ == "OK", data
        typ, data = owner.setacl("Public/Board", "reader", "lr")
        assert typ == "OK", data
        owner.logout()
        assert len(f.uid_search(team, "BODY", "walrus")) == N_TEAM
        compare_box(env, "reader", "shared/owner/Team")
        compare_box(env, "reader", "Public/Board")
    finally:
        for c in (team, board, virt):
            try:
                c.logout()
            except Exception:
                pass


def test_zz_no_errors_in_log(env):
    problems = env.fts.log_problems()
    assert not problems, "\n".join(problems[:20])


def test_acl_denied_event(env):
    """A search of virtual/All by a user without the read right on the
    shared mailboxes sends fts_sift_acl_denied (README "Events"), which a
    stats metric counts."""
    for user in ("looker", "stranger"):
        virtual_ids(env.fts, user, ("BODY", "walrus"))
    lines = env.fts.doveadm("stats", "dump").stdout.splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, l.split("\t"))) for l in lines[1:]]
    counts = [int(r["count"]) for r in rows
              if r["metric_name"] == "fts_sift_acl_denied" and r["field"] == "duration"]
    assert counts and counts[0] > 0, lines
