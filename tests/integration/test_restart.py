"""The index outlives a restart, and a lost index is rebuilt (answers stay
equal to the oracle)."""

import os
import shutil

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
