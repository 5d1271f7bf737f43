"""The index outlives a restart, and a lost index is rebuilt (answers stay
equal to the oracle)."""

import os
import shutil

from dovetest import instance_pair
from fixtures import T2020, T2024, simple


def _note(n, words, date):
    return simple("Restart Test <restart%d@example.net>" % n, "bob@example.test",
                  "Restart %d" % n, date, ("Entry %d. %s\n" % (n, words)).encode())


def _index_dirs(maildir):
    return [d for d, _, _ in os.walk(maildir) if os.path.basename(d) == "fts-sift"]


def test_restart_keeps_answers(pair, corpus):
    before = {}
    queries = [("BODY", "kselftest"), ("BODY", "selft"), ("NOT", "BODY", "minutes"),
               ("FROM", "secretary"), ("SUBJECT", "Отчёт"), ("HEADER", "X-Project", "")]
    for q in queries:
        corpus.check(*q)
        before[q] = pair.fts.search(corpus.user, corpus.mailbox, *q)
    pair.fts.stop()
    pair.fts.start()
    for q in queries:
        # the index answers as before the restart, and still like Dovecot
        assert pair.fts.search(corpus.user, corpus.mailbox, *q) == before[q], q
        corpus.check(*q)


def test_lost_index_is_rebuilt(pair):
    uids = {}
    for n, (words, date) in enumerate([("juniper berry", T2020), ("cedar plank", T2020),
                                       ("juniper gin", T2024)], 1):
        uids["r%d" % n] = pair.fts.append("bob", "Restart", _note(n, words, date), date=date)
    pair.name_uids("bob", "Restart", {u: k for k, u in uids.items()})
    pair.check("bob", "Restart", ("BODY", "juniper"), must=["r1", "r3"])

    pair.fts.stop()
    removed = []
    if pair.fts.plugin == "sift":
        box_dir = os.path.join(pair.fts.maildir("bob"), ".Restart")
        removed = _index_dirs(box_dir)
        for d in removed:
            shutil.rmtree(d)
    pair.fts.start()
    pair.check("bob", "Restart", ("BODY", "juniper"), must=["r1", "r3"])
    pair.check("bob", "Restart", ("NOT", "BODY", "juniper"), must=["r2"])
    pair.check("bob", "Restart", ("BODY", "plank"), must=["r2"])
    if pair.fts.plugin == "sift":
        assert removed, "no fts-sift index directory found for bob's Restart mailbox"


def test_old_format_is_rebuilt(request):
    """An index of an older format (here: sift.format set back to 3) is
    rebuilt by the next indexing; only that writer warns, once, and the
    answers stay equal to the oracle.  Its own instances: the warning would
    count as a log problem on the shared ones."""
    import xapian  # python3-xapian (tests/run-all.sh installs it)

    with instance_pair("format", ("fay",),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = {}
        for n, (words, date) in enumerate([("quince jelly", T2020), ("maple syrup", T2020),
                                           ("quince tart", T2024)], 1):
            uids[n] = fts.append("fay", "INBOX", _note(n, words, date), date=date)

        def check(crit, want):
            expected = oracle.search("fay", "INBOX", *crit)
            assert expected == sorted(uids[n] for n in want), (crit, expected)
            assert fts.search("fay", "INBOX", *crit) == expected, crit

        check(("BODY", "quince"), [1, 3])
        fts.stop()
        dirs = _index_dirs(fts.maildir("fay"))
        assert len(dirs) == 1, dirs
        db = xapian.WritableDatabase(dirs[0], xapian.DB_OPEN | xapian.DB_NO_TERMLIST)
        current = db.get_metadata("sift.format").decode()
        assert current not in ("", "3"), current
        db.set_metadata("sift.format", "3")
        db.commit()
        db.close()
        log_size = os.path.getsize(fts.log_path)
        fts.start()
        check(("BODY", "quince"), [1, 3])
        check(("BODY", "p"), [2])
        check(("NOT", "BODY", "quince"), [2])
        with open(fts.log_path, errors="replace") as f:
            f.seek(log_size)
            log = f.read()
        warnings = [l for l in log.splitlines() if "has format 3" in l and "Warning" in l]
        assert len(warnings) == 1, log[-3000:]
        # an outdated index holds nothing worth inspecting: it is deleted,
        # not kept as a fts-sift.broken-* copy per rebuild
        kept = [d for d, _, _ in os.walk(fts.maildir("fay"))
                if os.path.basename(d).startswith("fts-sift.broken-")]
        assert not kept, kept
        db = xapian.Database(dirs[0])
        assert db.get_metadata("sift.format").decode() == current
        assert db.get_doccount() == 3
