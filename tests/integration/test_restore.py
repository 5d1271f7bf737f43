"""A mailbox restored from a backup under a newer index.

An admin restores a user's mail from last night's backup (maildir files
with their dovecot-uidlist and Dovecot's index files), but not the
fts-sift index: it lives elsewhere (INDEX=), is excluded from backups as
a cache, or the restore was of the mail only.  The mailbox keeps its
UIDVALIDITY, so nothing says the index is from another mailbox, but its
UIDNEXT went back: new mail gets UIDs the index already holds documents
for, of messages that are gone.  A search must not answer from those.

For every cut (how many messages the backup holds) and every order of
the later changes, the restored mailbox gets new messages whose UIDs the
index had given to others; searches for words only the new messages
hold, only the lost ones held, and both, must equal Dovecot's own
(oracle: its own index files restored from the same backup), before and
after `doveadm index`, and the index must be in use again afterwards.
"""

import datetime
import os
import shutil

import pytest

from dovetest import instance_pair
from fixtures import T2020, simple

USER = "rita"
LOST = "lostword"      # only in messages the restore lost
NEW = "newword"        # only in messages delivered after the restore
BOTH = "commonword"    # in every message


def _msg(n, word):
    body = "message %d %s %s\nfiller text number%d\n" % (n, word, BOTH, n)
    return simple("S%d <s%d@example.org>" % (n, n), "rita@example.test",
                  "subject %d %s" % (n, word), T2020, body.encode())


def _date(n):
    # each message received an hour after the one before (mail that
    # arrives after a restore arrives later than the mail it lost)
    return T2020 + datetime.timedelta(hours=n)


def _dovecot_state(fts, oracle):
    """The paths a restore brings back: the maildir without fts-sift,
    and the oracle's own index files."""
    return fts.maildir(USER), os.path.join(oracle.index_root, USER)


def _backup(paths, dest):
    for i, p in enumerate(paths):
        shutil.copytree(p, os.path.join(dest, str(i)), symlinks=True,
                        ignore=shutil.ignore_patterns("fts-sift*"))


def _restore(paths, src, fts):
    """Bring paths back from src, keeping a fts-sift/ that is there now
    (the index the restore leaves out)."""
    for i, p in enumerate(paths):
        index = os.path.join(p, "fts-sift")
        kept = os.path.join(os.path.dirname(p), "fts-sift.kept")
        if os.path.isdir(index):
            shutil.move(index, kept)
        shutil.rmtree(p)
        shutil.copytree(os.path.join(src, str(i)), p, symlinks=True)
        if os.path.isdir(kept):
            shutil.move(kept, index)
        fts._chown_tree(p)


def _check(fts, oracle, label):
    for q in (("BODY", LOST), ("BODY", NEW), ("BODY", BOTH), ("TEXT", NEW),
              ("SUBJECT", LOST), ("SUBJECT", NEW), ("NOT", "BODY", LOST),
              ("OR", "BODY", NEW, "BODY", LOST), ("BODY", "number12"),
              ("BODY", "umber1")):
        got = fts.search(USER, "INBOX", *q)
        expected = oracle.search(USER, "INBOX", *q)
        assert got == expected, "%s: %s: fts %s, oracle %s" % (label, q, got, expected)


@pytest.mark.parametrize("cut,lost,new,index_lost", [
    (10, 10, 10, True),    # the new mail reuses every lost UID
    (10, 10, 4, True),     # ... some of them
    (10, 10, 15, True),    # ... all and more
    (0, 8, 5, True),       # the backup was of an empty mailbox
    (10, 10, 10, False),   # the lost mail was never indexed (nothing to
                           # catch: the index must stay in use, no error)
])
def test_restore_under_newer_index(request, cut, lost, new, index_lost):
    # (without index_lost nothing may index the lost mail before the
    # restore: no indexing after each APPEND then)
    settings = None if index_lost else {"fts_autoindex": "no"}
    with instance_pair("restore", (USER,), plugin_settings=settings,
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        n = 0
        for _ in range(cut):
            n += 1
            fts.append(USER, "INBOX", _msg(n, "keptword"), date=_date(n), create=False)
        fts.doveadm("index", "-u", USER, "INBOX")
        _check(fts, oracle, "before the backup")
        paths = _dovecot_state(fts, oracle)
        backup = os.path.join(fts.root, "backup")
        fts.close_connections()
        oracle.close_connections()
        _backup(paths, backup)
        for _ in range(lost):
            n += 1
            fts.append(USER, "INBOX", _msg(n, LOST), date=_date(n), create=False)
        if index_lost:
            # (a search indexes them too: without index_lost nothing
            # searches them before the restore)
            fts.doveadm("index", "-u", USER, "INBOX")
            _check(fts, oracle, "before the restore")
        fts.stop()
        oracle.stop()
        _restore(paths, backup, fts)
        fts.start()
        oracle.start()
        since = fts.log_size()
        for i in range(new):
            fts.append(USER, "INBOX", _msg(1000 + i, NEW), date=_date(1000 + i),
                       create=False)
        _check(fts, oracle, "after the restore")
        _check(fts, oracle, "after the restore, again")
        fts.doveadm("index", "-u", USER, "INBOX")
        _check(fts, oracle, "after doveadm index")
        definite, maybe = fts.fts_lookup(USER, "INBOX", "body", NEW)
        assert definite == set(oracle.search(USER, "INBOX", "BODY", NEW)) and not maybe, \
            "the index is not in use again: %s %s" % (definite, maybe)
        problems = fts.log_problems(since)
        assert len(problems) <= 1, problems
        if not index_lost:
            assert not problems, problems
