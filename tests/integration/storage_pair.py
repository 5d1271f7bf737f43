"""The instance under test and an oracle (Dovecot without FTS) each with
storage of its own in the same configuration: where the oracle can't read
the instance's storage through index files of its own (dbox keeps flags
and UIDs only in Dovecot's index files; compressed mail, attachment
storage, other layouts), every change (APPEND, EXPUNGE, COPY, RENAME) is
made on both, in the same order, so that the UIDs agree (asserted).
Used by test_mail_formats.py and test_storage_configs.py."""

import os

import fixtures
from conftest import Pair
from dovetest import separate_pair

USER = "alice"


class FormatPair(Pair):
    """Pair whose oracle has storage of its own: changes go to both."""

    def both(self, method, *args, **kw):
        a = getattr(self.fts, method)(*args, **kw)
        b = getattr(self.oracle, method)(*args, **kw)
        assert a == b, "%s%r: %r on the instance under test, %r on the oracle" % (
            method, args[:2], a, b)
        return a

    def imap_both(self, user, command, *args, source="INBOX"):
        """One IMAP command (after SELECT of source) on both instances."""
        for inst in (self.fts, self.oracle):
            conn = inst.imap(user)
            try:
                inst.select(conn, source)
                typ, data = conn.uid(command, *args) if command in ("COPY",) else \
                    getattr(conn, command.lower())(*args)
                assert typ == "OK", "%s %s on %s: %s %s" % (
                    command, args, inst.plugin, typ, data)
            finally:
                conn.logout()


def format_pair(request, root_name, instance, big, attrs=None, fill=None):
    """The body of a module-scoped fixture (`yield from` it): a FormatPair
    under a new test root named root_name, its instances made by
    instance(directory, plugin), with attrs (a dict) set on it and the
    fixtures' messages (big: with the 10 MB one, unless SIFT_TEST_BIG=0)
    appended to USER's INBOX on both (pair.uids: key -> UID, named for
    the checks' messages); then fill(pair), if given, and a search that
    indexes INBOX.  Both instances are stopped after the module; the
    root is kept when a test failed."""
    with separate_pair(root_name, instance,
                       failed=lambda: request.session.testsfailed > 0) as (fts, oracle):
        pair = FormatPair(fts, oracle)
        for k, v in (attrs or {}).items():
            setattr(pair, k, v)
        uids = {}
        big = big and os.environ.get("SIFT_TEST_BIG", "1") != "0"
        for fx in fixtures.build_messages(big=big):
            uids[fx.key] = pair.both("append", USER, "INBOX", fx.raw, date=fx.date)
        assert None not in uids.values(), "APPEND returned no APPENDUID"
        pair.uids = uids
        pair.name_uids(USER, "INBOX", {u: k for k, u in uids.items()})
        if fill is not None:
            fill(pair)
        fts.search(USER, "INBOX", "BODY", "warmupword")
        yield pair
