"""An index written under Dovecot 2.3 keeps giving exact results after an
upgrade to 2.4 (Debian 12 -> 13).

.ci/run runs the suite twice: on the host's 2.3, test_write_23_index builds
a mailbox and its fts-sift index, checks them against the oracle and (with
SIFT_UPGRADE_EXPORT=<dir>) copies the user's home there; then in the Debian
13 chroot on 2.4, test_open_23_index_under_24 (defined only when
SIFT_UPGRADE_IMPORT names such a copy) serves that very home: the old index
(another ICU and Unicode version) must be rebuilt by the first indexing,
with exactly one warning, never read as it is, and every search must equal
2.4's own search, before and after.  Without SIFT_UPGRADE_IMPORT on 2.4 the
test is not collected, and conftest's report says so.
"""

import os
import shutil
import time

from dovecot_conf import syntax
from dovetest import Dovecot, instance_pair, new_test_root, remove_test_root
from fixtures import T2020, T2024, simple

USER = "uma"
BOX = "INBOX"

# words, substrings, non-ASCII (whose normalization differs between the
# Unicode versions of 2.3 and 2.4), phrases, NOT, headers
QUERIES = [
    ("BODY", "quince"),
    ("BODY", "uinc"),
    ("BODY", "jelly tart"),
    ("NOT", "BODY", "quince"),
    ("BODY", "Ꞔ"),             # U+A794: a titlecase mapping in Unicode 12+
    ("BODY", "ʂ"),              # U+0282: titlecase U+A7C5 since Unicode 12
    ("BODY", "café"),
    ("BODY", "東京"),
    ("SUBJECT", "note"),
    ("FROM", "example.net"),
    ("TEXT", "osprey"),
    ("OR", "BODY", "maple", "BODY", "東"),
]

BODIES = [
    ("quince jelly tart", T2020),
    ("maple syrup osprey", T2020),
    ("quince tart \u0282 \ua794 caf\u00e9", T2024),
    ("\u6771\u4eac\u306b\u884c\u304f jelly", T2024),
    ("plain words only", T2024),
]


def _message(n, words, date):
    return simple("Uma <uma@example.net>", "list@example.test", "note %d" % n, date,
                  (words + "\n").encode("utf-8"), charset="utf-8", cte="8bit",
                  msgid="upgrade%d@x" % n)


def _check_all(fts, oracle):
    for q in QUERIES:
        expected = oracle.search(USER, BOX, *q)
        got = fts.search(USER, BOX, *q)
        assert got == expected, (q, got, expected)


def _wait_for_export(src):
    """.ci/run runs the 2.3 and 2.4 suites at the same time: wait (at most
    SIFT_UPGRADE_WAIT seconds) until the 2.3 suite has exported its home,
    or has ended without (then it left 'ended' beside it)."""
    deadline = time.time() + float(os.environ.get("SIFT_UPGRADE_WAIT", "0"))
    ended = os.path.join(os.path.dirname(src), "ended")
    while not os.path.isdir(src) and not os.path.exists(ended) and \
            time.time() < deadline:
        time.sleep(2)


if syntax().version < 24:
    def test_write_23_index(request):
        with instance_pair("upgrade23", (USER,),
                           failed=lambda: request.session.testsfailed) as (fts, oracle):
            for n, (words, date) in enumerate(BODIES, 1):
                fts.append(USER, BOX, _message(n, words, date), date=date)
            fts.doveadm("index", "-u", USER, BOX)
            _check_all(fts, oracle)
            export = os.environ.get("SIFT_UPGRADE_EXPORT")
            fts.stop()
            index_dirs = [r for r, d, f in os.walk(fts.maildir(USER)) if r.endswith("fts-sift")]
            assert index_dirs, "no fts-sift index was written"
            if export:
                # appears whole (renamed into place): the 2.4 suite may
                # be waiting for it (SIFT_UPGRADE_WAIT)
                shutil.rmtree(export, ignore_errors=True)
                shutil.copytree(fts.home(USER), os.path.join(export, "home.new"),
                                symlinks=True)
                os.rename(os.path.join(export, "home.new"), os.path.join(export, "home"))

elif os.environ.get("SIFT_UPGRADE_IMPORT"):
    def test_open_23_index_under_24(request):
        src = os.path.join(os.environ["SIFT_UPGRADE_IMPORT"], "home")
        _wait_for_export(src)
        assert os.path.isdir(src), "SIFT_UPGRADE_IMPORT has no home: %s" % src
        root = new_test_root("upgrade24")
        fts = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=(USER,))
        oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=fts)
        try:
            # the 2.3 user's home, as it was, in place of a new one
            fts._prepare()
            shutil.rmtree(fts.home(USER))
            shutil.copytree(src, fts.home(USER), symlinks=True)
            fts._chown_tree(fts.home(USER), USER)
            old = [r for r, d, f in os.walk(fts.maildir(USER)) if r.endswith("fts-sift")]
            assert old, "the 2.3 home holds no fts-sift index"
            fts.start()
            oracle.start()
            log_size = os.path.getsize(fts.log_path)
            _check_all(fts, oracle)
            fts.doveadm("index", "-u", USER, BOX)
            _check_all(fts, oracle)
            with open(fts.log_path, errors="replace") as f:
                f.seek(log_size)
                log = f.read()
            warnings = [l for l in log.splitlines()
                        if "Warning" in l and "must be rebuilt" in l]
            assert len(warnings) == 1, log[-4000:]
            # the reason: another text engine (ICU/Unicode of 2.3's build)
            assert "was built with" in warnings[0], warnings[0]
            problems = [l for l in fts.log_problems() if l not in warnings]
            assert not problems, "\n".join(problems)
        finally:
            oracle.stop()
            fts.stop()
            remove_test_root(root, request.session.testsfailed)
