"""Shared and public folders: an instance with ACLs, per-user uids, a
shared namespace, a public namespace and a virtual "all mail" folder, and
its oracle (the same configuration without FTS, its own Dovecot indexes).

Users (each its own uid, all in the group siftshare through
mail_access_groups, which is what a site with per-user uids sets up):
  owner     owns the shared mailboxes; all rights on the public one
  reader    "lr" (lookup, read)
  reader2   "lrwsti" (can also deliver by APPEND): the concurrency test
  looker    "l" only: sees the mailbox in LIST, may not open it
  poster    "p" only: may deliver to it (LDA), nothing else
  stranger  no rights at all
"""

import contextlib
import grp
import imaplib
import os
import re
import subprocess

from dovetest import Dovecot, new_test_root, remove_test_root

USERS = ("owner", "reader", "reader2", "looker", "poster", "stranger")
USER_IDS = {u: 61001 + i for i, u in enumerate(USERS)}
GROUP = "siftshare"
VIRTUAL = {"All": "*\nshared/owner/*\nPublic/*\n  all\n"}
OWNER_RIGHTS = "lrwstipekxa"


def ensure_group():
    if subprocess.run(["getent", "group", GROUP], capture_output=True).returncode != 0:
        subprocess.run(["groupadd", "-r", GROUP], check=True)


class SharedEnv:
    def __init__(self, root, plugin_settings=None, extra_conf="", dir_mode=0o770):
        ensure_group()
        self.root = root
        self.public_dir = os.path.join(root, "public")
        self.fts = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=USERS,
                           plugin_settings=plugin_settings, extra_conf=extra_conf, acl=True,
                           public_dir=self.public_dir, virtual=VIRTUAL,
                           user_ids=USER_IDS, access_group=GROUP,
                           access_dir_mode=dir_mode)
        self.oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none",
                              oracle_of=self.fts)

    def start(self):
        self.fts.start()
        self.oracle.start()

    def stop(self):
        self.oracle.stop()
        self.fts.stop()

    # ---- setup helpers ---------------------------------------------------
    def make_public_mailbox(self, name, acl_lines):
        """Public/<name>, created on disk (the public namespace has no owner
        who could CREATE it) with its vfile ACL."""
        gid = grp.getgrnam(GROUP).gr_gid
        box = os.path.join(self.public_dir, "." + name)
        for d in (box, os.path.join(box, "cur"), os.path.join(box, "new"),
                  os.path.join(box, "tmp")):
            os.makedirs(d, exist_ok=True)
            os.chown(d, 0, gid)
            os.chmod(d, self.fts.access_dir_mode)
        acl = os.path.join(box, "dovecot-acl")
        with open(acl, "w") as f:
            f.write("".join("%s\n" % line for line in acl_lines))
        os.chown(acl, 0, gid)
        os.chmod(acl, 0o660)

    def append_both_visible(self, user, mailbox, raw):
        """APPEND through the instance under test (the oracle sees the
        same maildir)."""
        return self.fts.append(user, mailbox, raw)

    # ---- searching ---------------------------------------------------------
    @staticmethod
    def open_box(d, user, mailbox, readonly=True):
        """A new session of user with mailbox selected (EXAMINE, or SELECT
        when readonly=False).  Returns (conn, None) or (None, error text)."""
        conn = d.imap(user)
        try:
            typ, data = conn.select(_q(mailbox), readonly=readonly)
        except imaplib.IMAP4.readonly:
            # SELECT of a box without write rights: selected, read-only
            # (imaplib refuses further commands unless told)
            conn.is_readonly = True
            return conn, None
        except imaplib.IMAP4.error as e:
            conn.logout()
            return None, str(e)
        if typ != "OK":
            conn.logout()
            return None, "%s %s" % (typ, data)
        return conn, None

    @staticmethod
    def message_ids(d, conn, *criteria):
        """Message-IDs of the messages a UID SEARCH finds (virtual mailboxes
        number messages differently in each instance)."""
        uids = d.uid_search(conn, *criteria)
        if not uids:
            return set()
        typ, data = conn.uid("FETCH", ",".join(map(str, uids)),
                             "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK", data
        out = set()
        for item in data:
            if isinstance(item, tuple):
                m = re.search(rb"<([^>]+)>", item[1])
                assert m, item
                out.add(m.group(1).decode())
        assert len(out) == len(uids), (uids, out)
        return out

    def foreign_index_files(self, user):
        """fts-sift files under user's home that are not the index of one
        of the user's own mailboxes (Maildir/fts-sift for INBOX,
        Maildir/.<name>/fts-sift for the others): a copy of a shared or
        public mailbox's index would be under Maildir/shared/<owner>/ or
        Maildir/public/ (INDEXPVT), a virtual one under virtual/."""
        home = self.fts.home(user)
        maildir = self.fts.maildir(user)
        found = []
        for dirpath, dirnames, filenames in os.walk(home):
            for n in dirnames + filenames:
                if "sift" not in n.lower():
                    continue
                parent = dirpath
                own = n == "fts-sift" and (
                    parent == maildir or
                    (os.path.dirname(parent) == maildir and
                     os.path.basename(parent).startswith(".")))
                if not own:
                    found.append(os.path.join(dirpath, n))
        return found

    def index_dir(self, owner, mailbox):
        return os.path.join(self.fts.maildir(owner), "." + mailbox, "fts-sift")

    def public_index_dir(self, mailbox):
        return os.path.join(self.public_dir, "." + mailbox, "fts-sift")


def _q(name):
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


def remove_root(root, request):
    remove_test_root(root, request.session.testsfailed)


@contextlib.contextmanager
def running(env, request):
    """env started for the block and stopped after it; then its root
    removed (remove_root()), unless the block failed."""
    env.start()
    try:
        yield env
    finally:
        env.stop()
    remove_root(env.root, request)


new_root = new_test_root
