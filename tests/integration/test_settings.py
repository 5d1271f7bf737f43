"""The plugin's own settings, on the Dovecot version under test.

Dovecot 2.4: the settings module (lib21_fts_sift_settings.so in
modules/settings) makes doveconf know every fts_sift_* key with its
default ("doveconf -a"), accept them at top level and inside
"fts sift { }", and reject a bad value, naming the key, before any process
starts.  Dovecot 2.3: plugin { } keys; a bad value is logged naming the
key and turns full-text search off for the user, but login goes on (the
whole behaviour, LMTP and fts_enforced included, is test_misconfig.py).
Both: a value set is the value used (commit_batch,
seen in the debug log's commits).
"""

import os
import re
import subprocess
import time

import pytest

from dovecot_conf import syntax
from dovetest import Dovecot, DovecotError
from fixtures import T2020, simple
from sharedenv import new_root, remove_root

DEFAULTS = {
    "fts_sift_commit_batch": "250",
    "fts_sift_commit_size": "32M",
    "fts_sift_commit_memory": "8M",
    "fts_sift_compact_after": "1000",
    "fts_sift_lock_timeout": "30s",
    "fts_sift_fsync": "yes",
    "fts_sift_fold_accents": "no",
    "fts_sift_max_doc_terms": "131072",
}

BAD = [
    ("fts_sift_commit_batch", "0"),
    ("fts_sift_commit_batch", "many"),
    ("fts_sift_commit_size", "1k"),
    ("fts_sift_commit_memory", "100k"),
    ("fts_sift_lock_timeout", "2h"),
    ("fts_sift_fsync", "maybe"),
    ("fts_sift_max_doc_terms", "8"),
]


def _msg(n):
    return simple("A <a@example.net>", "b@example.test", "note %d" % n, T2020,
                  b"kestrel osprey %d\n" % n, msgid="set%d@x" % n)


@pytest.fixture
def root(request):
    r = new_root("settings")
    yield r
    remove_root(r, request)


def _doveconf(conf_path, *args):
    return subprocess.run(["doveconf", "-c", conf_path] + list(args),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _norm(value):
    # doveconf prints sizes and times its own way ("32 M", "30 secs")
    v = value.replace(" ", "").lower()
    return {"32m": "32m", "30secs": "30s"}.get(v, v)


if syntax().version >= 24:
    # (defined on 2.4 only: 2.3's doveconf never knows plugin { } keys,
    # and a skipped test would count as a failure)
    def test_doveconf_lists_every_key_with_its_default(root):
        d = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=("alice",))
        d._prepare()
        out = _doveconf(d.conf_path, "-a")
        assert out.returncode == 0, out.stderr
        shown = dict(re.findall(r"^(fts_sift_\w+) = (.*)$", out.stdout, re.M))
        assert set(shown) == set(DEFAULTS), shown
        for key, value in DEFAULTS.items():
            assert _norm(shown[key]) == value.lower(), (key, shown[key])


@pytest.mark.parametrize("key,value", BAD)
def test_bad_value_is_rejected_naming_the_key(root, key, value):
    d = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=("alice",),
                plugin_settings={key: value})
    if syntax().version >= 24:
        # rejected before any process starts, top level and in the block
        with pytest.raises(DovecotError) as e:
            d.start()
        assert key in str(e.value)
        short = key[len("fts_sift_"):]
        d2 = Dovecot(os.path.join(root, "fts2"), None, plugin="sift", users=("alice",),
                     extra_conf="fts sift {\n  %s = %s\n}\n" % (short, value))
        d2._prepare()
        out = _doveconf(d2.conf_path, "-n")
        assert out.returncode != 0
        assert short in out.stderr, out.stderr
        return
    d.start()
    try:
        d.append("alice", "INBOX", _msg(0))
        # the login and the mail user are accepted: one typo must not
        # stop the mail (full-text search is off for the user instead)
        conn = d.imap("alice")
        assert d.select(conn, "INBOX") == 1
        conn.logout()
        # the log process writes asynchronously
        want = "Invalid %s" % key
        deadline = time.time() + 10
        while want not in d.log_text() and time.time() < deadline:
            time.sleep(0.1)
        log = d.log_text()
        assert want in log, log[-2000:]
        assert "full-text search is disabled for this user" in log, log[-2000:]
    finally:
        d.stop()


def test_value_set_is_used(root):
    """commit_batch = 2: indexing 5 messages commits 2, 2 and 1."""
    if syntax().version >= 24:
        kw = {"extra_conf": "fts sift {\n  commit_batch = 2\n}\n"}
    else:
        kw = {"plugin_settings": {"fts_sift_commit_batch": "2"}}
    d = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=("alice",),
                **kw)
    d.start()
    try:
        # fts_autoindex would index each APPEND on its own
        for n in range(5):
            d.append("alice", "INBOX", _msg(n))
        d.doveadm("fts", "rescan", "-u", "alice")
        d.doveadm("index", "-u", "alice", "INBOX")
        log = d.log_text()
        counts = [int(x) for x in re.findall(r"Committed (\d+) changes", log)]
        assert counts, log[-3000:]
        assert max(counts) <= 2, counts
        assert d.search("alice", "INBOX", "BODY", "osprey")
        problems = d.log_problems()
        assert not problems, "\n".join(problems)
    finally:
        d.stop()
