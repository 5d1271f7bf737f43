"""The acl plugin is a soft dependency: with it loaded but no ACLs
configured (no "acl =" setting, so mailboxes have no acl context, where
the acl plugin's lookups would panic), searches work as without it.
(Without the acl plugin at all: every other test file.)"""

import os

from dovecot_conf import syntax
from dovetest import Dovecot
from fixtures import T2020, simple
from sharedenv import new_root, remove_root


def test_acl_plugin_loaded_without_acls(request):
    root = new_root("aclsoft")
    d = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=("alice",),
                extra_conf=syntax().mail_plugins(["acl"]))
    d.start()
    try:
        assert "acl" in open(d.conf_path).read()
        uids = [d.append("alice", "INBOX", simple("A <a@example.net>", "b@example.test",
                                                  "note %d" % n, T2020,
                                                  ("kestrel %s\n" % ("osprey" if n % 2 else "")).encode(),
                                                  msgid="soft%d@x" % n))
                for n in range(1, 5)]
        assert d.search("alice", "INBOX", "BODY", "kestrel") == uids
        assert d.search("alice", "INBOX", "BODY", "osprey") == [uids[0], uids[2]]
        log = d.log_text()
        # the acl plugin really is loaded (2.4's imap does not log module
        # loading at the debug level the tests use; doveadm -D does)
        loaded = d.doveadm("-D", "mailbox", "status", "-u", "alice", "messages", "INBOX")
        assert "lib01_acl_plugin" in log or "lib01_acl_plugin" in loaded.stderr + loaded.stdout
        # answered from the index, not by reading the messages
        assert "fts-sift: Lookup in INBOX" in log
        problems = d.log_problems()
        assert not problems, "\n".join(problems)
    finally:
        d.stop()
    remove_root(root, request)
