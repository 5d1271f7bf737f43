"""Session fixtures for the fts-sift integration tests.

One FTS instance (plugin "sift" unless SIFT_TEST_BACKEND says "xapian" or
"none") and one oracle instance (no FTS: Dovecot's own scan) serve the same
maildirs.  Every check runs the same UID SEARCH on both; the oracle's answer
is the expected one.

Environment:
  SIFT_PLUGIN_SO      the plugin .so (default plugin/.libs/lib21_fts_sift_plugin.so)
  SIFT_TEST_BACKEND   sift (default) | xapian | none   - the instance under test
  SIFT_TEST_SETTINGS  extra plugin{} keys, "key=value;key=value"
  SIFT_TEST_ROOT      directory for the instances (default: a new /tmp/fts-sift-it.*)
  SIFT_TEST_KEEP=1    keep the instances' directory even when all tests pass
  SIFT_TEST_BIG=0     leave out the 10 MB message (quicker runs)
"""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)

from dovetest import Dovecot, DovecotError  # noqa: E402
import fixtures  # noqa: E402
# the real-corpus sample (test_corpus_oracle.py): one session fixture
from corpus_sample import corpus_runs, corpus_runs_filtered  # noqa: E402,F401

BACKEND = os.environ.get("SIFT_TEST_BACKEND", "sift")
HEALTH_FILE = "test_session_health.py"

# Tests of what exists on Dovecot 2.3 only.  Deselected on 2.4 (a skipped
# test would count as failed), and said so at collection:
#   test_misconfig.py     a bad fts_sift_* value reaching the plugin; on
#                         2.4 the config process rejects it before any
#                         process starts (test_settings.py checks that)
#   test_full_disk.py::test_read_only_file_system
#                         Dovecot 2.4.1's imap process dies (SIGSEGV) at
#                         EXAMINE of a mailbox whose index file system is
#                         read-only, after "Index is read-only, can't
#                         write-lock dovecot.index.log" - also with no FTS
#                         plugin loaded at all (checked with the test's
#                         instance run as plugin "none"), so it is
#                         Dovecot's crash and the test can't pass there
#   test_xz_maildir.py    xz-compressed mail: 2.3's zlib reads xz, 2.4's
#                         mail_compress has no xz at all
ONLY_23 = ("test_misconfig.py", "test_full_disk.py::test_read_only_file_system",
           "test_xz_maildir.py")


def _only_23(item):
    name = item.fspath.basename
    return name in ONLY_23 or "%s::%s" % (name, item.name) in ONLY_23


# Tests of what exists on Dovecot 2.4 only, deselected on 2.3 likewise:
#   test_message_max_size.py  fts_message_max_size (2.3 has no such setting)
#   test_settings_scopes.py   settings in namespace/mailbox filters (2.3's
#                             plugin { } is global)
ONLY_24 = ("test_message_max_size.py", "test_settings_scopes.py")


def _drop_24_only(config, items):
    from dovecot_conf import syntax
    if syntax().version >= 24:
        return
    dropped = [i for i in items if i.fspath.basename in ONLY_24]
    if dropped:
        items[:] = [i for i in items if i.fspath.basename not in ONLY_24]
        config.hook.pytest_deselected(items=dropped)
        sys.stderr.write("\n[fts-sift tests] NOT RUN on Dovecot 2.3: %d tests of %s "
                         "(2.4 only)\n" % (len(dropped), ", ".join(ONLY_24)))


def _drop_23_only(config, items):
    from dovecot_conf import syntax
    if syntax().version < 24:
        return
    dropped = [i for i in items if _only_23(i)]
    if dropped:
        items[:] = [i for i in items if not _only_23(i)]
        config.hook.pytest_deselected(items=dropped)
        sys.stderr.write("\n[fts-sift tests] NOT RUN on Dovecot 2.4: %d tests of %s "
                         "(2.3 only)\n" % (len(dropped), ", ".join(ONLY_23)))


def pytest_collection_modifyitems(config, items):
    _note_upgrade_test()
    _drop_23_only(config, items)
    _drop_24_only(config, items)
    _group_by_module_param(items)
    _deselect_corpus_tests(config, items)


# files whose tests get a module-scoped fixture parametrized per test (by
# pytest_generate_tests, each test its own subset): pytest then no longer
# groups them by its value, and each change of value would start the
# fixture (a pair of Dovecot instances) again
GROUPED_PARAMS = {"test_storage_configs.py": "cfg"}


def _group_by_module_param(items):
    """Within each file of GROUPED_PARAMS, order the tests by the
    fixture's value (first appearance first), then as the file defines
    them (a later test may build on an earlier one's state, as with one
    parametrized fixture), in the places those tests had."""
    for fname, param in GROUPED_PARAMS.items():
        slots = [n for n, i in enumerate(items) if i.fspath.basename == fname]
        if not slots:
            continue
        mine = [items[n] for n in slots]
        first = {}
        for i in mine:
            first.setdefault(i.callspec.params.get(param), len(first))
        mine.sort(key=lambda i: (first[i.callspec.params.get(param)],
                                 i.function.__code__.co_firstlineno))
        for n, i in zip(slots, mine):
            items[n] = i


def _note_upgrade_test():
    """test_upgrade.py: on 2.4 it needs a home written under 2.3, which
    .ci/run hands over (SIFT_UPGRADE_IMPORT); said when it is missing."""
    from dovecot_conf import syntax
    if syntax().version >= 24 and not os.environ.get("SIFT_UPGRADE_IMPORT"):
        sys.stderr.write("\n[fts-sift tests] NOT RUN: the 2.3 -> 2.4 index upgrade test "
                         "(no SIFT_UPGRADE_IMPORT; .ci/run provides one)\n")


# the tests that read ../shared/corpora (through corpus_sample.py)
CORPUS_TEST_FILES = ("test_corpus_oracle.py", "test_corpus_reads.py")


def _deselect_corpus_tests(config, items):
    """The real-corpus tests need ../shared/corpora, which is not part of
    the project.  Without it they are not run at all - said loudly, and
    neither counted as passed nor as skipped-and-failed by run-all.sh."""
    # the session's health checks (clean logs over everything that ran)
    # must run after every other test, whatever the file names
    last = [i for i in items if i.fspath.basename == HEALTH_FILE]
    items[:] = [i for i in items if i.fspath.basename != HEALTH_FILE] + last

    import oracle_sets  # tests/bench, on sys.path via corpus_sample
    d = oracle_sets.default_corpora_dir()
    if any(os.path.exists(os.path.join(d, f)) for f in oracle_sets.CORPUS_FILES.values()):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.fspath.basename in CORPUS_TEST_FILES else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        sys.stderr.write("\n[fts-sift tests] NOT RUN: %d real-corpus tests (no corpora "
                         "under %s; set SIFT_CORPORA)\n" % (len(drop), d))


def _settings_from_env():
    out = {}
    for item in os.environ.get("SIFT_TEST_SETTINGS", "").split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def show(criteria):
    """A SEARCH as a readable string."""
    out = []
    for c in criteria:
        if isinstance(c, bytes):
            c = c.decode("utf-8", "replace")
        if c == "" or (isinstance(c, str) and (" " in c or not c.isascii())):
            c = '"%s"' % c
        out.append(str(c))
    return " ".join(out).replace("( ", "(").replace(" )", ")")


class Pair:
    """The instance under test and its oracle over the same mail."""

    show = staticmethod(show)

    def __init__(self, fts, oracle):
        self.fts = fts
        self.oracle = oracle
        self.names = {}       # (user, mailbox) -> {uid: key}

    def name_uids(self, user, mailbox, mapping):
        self.names.setdefault((user, mailbox), {}).update(mapping)

    def label(self, user, mailbox, uids):
        names = self.names.get((user, mailbox), {})
        return ", ".join("%d=%s" % (u, names.get(u, "?")) for u in uids) or "-"

    def all_uids(self, user, mailbox):
        return self.oracle.search(user, mailbox, "ALL")

    def uids_of(self, user, mailbox, keys):
        inv = {k: u for u, k in self.names.get((user, mailbox), {}).items()}
        missing = [k for k in keys if k not in inv]
        assert not missing, "unknown fixture keys %s" % missing
        return sorted(inv[k] for k in keys)

    def search_both(self, user, mailbox, criteria):
        """(expected from the oracle, got from the instance under test)."""
        expected = self.oracle.search(user, mailbox, *criteria)
        try:
            got = self.fts.search(user, mailbox, *criteria)
        except DovecotError as e:
            pytest.fail("%s SEARCH failed on the %s instance (expected %s): %s" % (
                show(criteria), self.fts.plugin, expected, e), pytrace=False)
        return expected, got

    def check(self, user, mailbox, criteria, must=(), must_not=(),
              nonempty=True, notall=True, empty=False):
        """Assert the instance under test answers `criteria` exactly like
        the oracle.  must/must_not: fixture keys the expected result has to
        (not) contain; nonempty/notall/empty: the expected result is not
        trivially satisfied.  Returns the expected UIDs."""
        criteria = tuple(criteria)
        expected, got = self.search_both(user, mailbox, criteria)
        q = show(criteria)
        # sanity of the expectation itself (guards against vacuous tests)
        if must:
            want = self.uids_of(user, mailbox, must)
            lost = sorted(set(want) - set(expected))
            assert not lost, "test fixture problem: oracle result of %s lacks %s" % (
                q, self.label(user, mailbox, lost))
        if must_not:
            unwanted = sorted(set(self.uids_of(user, mailbox, must_not)) & set(expected))
            assert not unwanted, "test fixture problem: oracle result of %s has %s" % (
                q, self.label(user, mailbox, unwanted))
        if empty:
            assert expected == [], "test fixture problem: %s matches %s" % (
                q, self.label(user, mailbox, expected))
        else:
            if nonempty:
                assert expected, "test fixture problem: %s matches nothing" % q
            if notall:
                assert expected != self.all_uids(user, mailbox), \
                    "test fixture problem: %s matches every message" % q
        if got != expected:
            missing = sorted(set(expected) - set(got))
            extra = sorted(set(got) - set(expected))
            pytest.fail(
                "UID SEARCH %s in %s/%s\n"
                "  %s %s\n"
                "  %s %s\n"
                "  missing: %s\n"
                "  extra:   %s" % (
                    q, user, mailbox,
                    "expected (no FTS):".ljust(20), expected,
                    ("got (fts=%s):" % self.fts.plugin).ljust(20), got,
                    self.label(user, mailbox, missing), self.label(user, mailbox, extra)),
                pytrace=False)
        return expected


@pytest.fixture(scope="session")
def pair(request):
    root = os.environ.get("SIFT_TEST_ROOT")
    if root:
        os.makedirs(root, exist_ok=True)
    else:
        root = tempfile.mkdtemp(prefix="fts-sift-it.")
    os.chmod(root, 0o755)
    fts = Dovecot(os.path.join(root, "fts"), None, plugin=BACKEND,
                  plugin_settings=_settings_from_env())
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=fts)
    try:
        fts.start()
        oracle.start()
    except DovecotError as e:
        fts.stop()
        oracle.stop()
        pytest.fail("could not start the test instances (under %s): %s" % (root, e),
                    pytrace=False)
    sys.stderr.write("\n[fts-sift tests] instances under %s (fts=%s on port %d, oracle on %d)\n"
                     % (root, BACKEND, fts.port, oracle.port))
    yield Pair(fts, oracle)
    oracle.stop()
    fts.stop()
    failed = request.session.testsfailed
    if failed or os.environ.get("SIFT_TEST_KEEP") == "1":
        sys.stderr.write("[fts-sift tests] kept %s (logs: fts/log/dovecot.log)\n" % root)
    elif not os.environ.get("SIFT_TEST_ROOT"):
        shutil.rmtree(root, ignore_errors=True)


class Corpus:
    def __init__(self, pair, user, mailbox, uids):
        self.pair = pair
        self.user = user
        self.mailbox = mailbox
        self.uids = uids                    # key -> uid

    def check(self, *criteria, **kw):
        return self.pair.check(self.user, self.mailbox, criteria, **kw)

    def uid(self, key):
        return self.uids[key]


@pytest.fixture(scope="session")
def corpus(pair):
    """The fixture messages in alice's INBOX, indexed by the first search."""
    big = os.environ.get("SIFT_TEST_BIG", "1") != "0"
    uids = {}
    for fx in fixtures.build_messages(big=big):
        uids[fx.key] = pair.fts.append("alice", "INBOX", fx.raw, date=fx.date)
    assert None not in uids.values(), "APPEND returned no APPENDUID"
    pair.name_uids("alice", "INBOX", {u: k for k, u in uids.items()})
    # the first BODY search makes the instance under test index everything
    # (fts_enforced=yes waits for the indexer); done here so no single test
    # pays for it
    pair.fts.search("alice", "INBOX", "BODY", "warmupword")
    return Corpus(pair, "alice", "INBOX", uids)
