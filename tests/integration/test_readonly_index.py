"""An index directory the mail process can't write is reported at once,
with its path and cause, instead of as a lock held by another process
after the whole fts_sift_lock_timeout (issue: 30 s, one search 58 s)."""

import os
import time

import pytest

from dovetest import DovecotError, instance_pair
from fixtures import T2020, simple

pytestmark = pytest.mark.skipif(
    os.environ.get("SIFT_TEST_BACKEND", "sift") == "none" or os.geteuid() != 0,
    reason="needs the sift backend and root (mail processes run as nobody)")


def test_unwritable_index_dir_fails_fast(request):
    with instance_pair("readonly", ("ron",), plugin_settings={"fts_autoindex": "no"},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for n in range(3):
            fts.append("ron", "INBOX", simple("r%d@example.net" % n, "ron@example.test",
                                              "Item %d" % n, T2020, b"quokka %d\n" % n),
                       date=T2020)
        assert fts.search("ron", "INBOX", "BODY", "quokka") == \
            oracle.search("ron", "INBOX", "BODY", "quokka")
        idx = os.path.join(fts.maildir("ron"), "fts-sift")
        assert os.path.isdir(idx)
        # without its lock file Xapian must create one, and fails the way
        # it fails on a lock held by another process
        lock = os.path.join(idx, "flintlock")
        if os.path.exists(lock):
            os.unlink(lock)
        os.chown(idx, 0, 0)
        os.chmod(idx, 0o555)
        try:
            fts.append("ron", "INBOX", simple("r9@example.net", "ron@example.test",
                                              "Item 9", T2020, b"quokka 9\n"), date=T2020)
            since = fts.log_size()
            start = time.time()
            try:
                fts.search("ron", "INBOX", "BODY", "quokka")
            except DovecotError:
                pass            # fts_enforced = yes: the search may fail
            elapsed = time.time() - start
            log = fts.log_text().encode()[since:].decode(errors="replace")
            assert "can't be written: faccessat(%s) failed: Permission denied" % idx in log, \
                log[-3000:]
            assert "locked by another process" not in log, log[-3000:]
            # the default fts_sift_lock_timeout is 30 s
            assert elapsed < 10, elapsed
        finally:
            os.chmod(idx, 0o700)
            fts._chown_tree(idx, "ron")
        # writable again: indexing catches up, answers equal Dovecot's own
        assert fts.search("ron", "INBOX", "BODY", "quokka") == \
            oracle.search("ron", "INBOX", "BODY", "quokka")
