"""Named events for stats (plugin/sift-events.h, README "Events"): a
metric {} block per event counts them, with durations and fields, after
indexing, searching, expunging, optimizing and rebuilding an index of an
old format; `doveadm stats dump` shows them."""

import os

import pytest

from dovetest import instance_pair
from fixtures import T2020, simple

pytestmark = pytest.mark.skipif(os.environ.get("SIFT_TEST_BACKEND", "sift") == "none",
                                reason="needs the sift backend")

# event -> the fields a metric of it sums (documented in the README)
EVENTS = {
    "fts_sift_commit_finished": ("messages", "expunges", "text_bytes", "last_uid"),
    "fts_sift_index_finished": ("messages",),
    "fts_sift_lookup_finished": ("definite", "maybe", "unindexed", "left_to_dovecot",
                                 "last_uid"),
    "fts_sift_expunges_recorded": ("expunges", "expunged_total"),
    "fts_sift_compact_finished": ("dropped",),
    "fts_sift_index_moved_aside": (),
}


def _metrics_conf():
    conf = ""
    for name, fields in EVENTS.items():
        conf += "metric %s {\n  filter = event=%s\n" % (name, name)
        if fields:
            conf += "  fields = %s\n" % " ".join(fields)
        conf += "}\n"
    return conf


def _dump(fts):
    """{(metric, field): (count, sum)} from `doveadm stats dump`."""
    out = {}
    lines = fts.doveadm("stats", "dump").stdout.splitlines()
    head = lines[0].split("\t")
    for line in lines[1:]:
        row = dict(zip(head, line.split("\t")))
        out[(row["metric_name"], row["field"])] = (int(row["count"]), int(row["sum"]))
    return out


def test_metrics_count_every_event(request):
    import xapian  # python3-xapian

    with instance_pair("events", ("eve",), failed=lambda: request.session.testsfailed) as (
            fts, oracle):
        # the instances of instance_pair have no metrics: restart this one with them
        fts.stop()
        fts.extra_conf = _metrics_conf()
        fts.start()
        uids = [fts.append("eve", "INBOX", simple("a%d@example.net" % n, "eve@example.test",
                                                   "Note %d" % n, T2020,
                                                   b"kselftest entry %d\n" % n), date=T2020)
                for n in range(6)]

        def check(*crit):
            assert fts.search("eve", "INBOX", *crit) == oracle.search("eve", "INBOX", *crit)

        check("BODY", "selft")
        fts.expunge("eve", "INBOX", uids[:2])
        check("BODY", "entry")
        fts.doveadm("fts", "optimize", "-u", "eve")
        check("BODY", "kselftest")
        # an index of an older format is moved aside and rebuilt
        idx = [d for d, _, _ in os.walk(fts.maildir("eve")) if d.endswith("/fts-sift")]
        assert len(idx) == 1, idx
        db = xapian.WritableDatabase(idx[0], xapian.DB_OPEN | xapian.DB_NO_TERMLIST)
        db.set_metadata("sift.format", "3")
        db.commit()
        db.close()
        fts.doveadm("index", "-u", "eve", "INBOX")
        check("BODY", "selft")

        stats = _dump(fts)
        for name, fields in EVENTS.items():
            count, total = stats.get((name, "duration"), (0, 0))
            assert count > 0, "metric %s counted nothing: %s" % (name, stats)
            assert total > 0, "metric %s has no duration" % name
        # fields carry what the README says
        assert stats[("fts_sift_commit_finished", "messages")][1] >= len(uids)
        assert stats[("fts_sift_commit_finished", "text_bytes")][1] > 0
        assert stats[("fts_sift_index_finished", "messages")][1] >= len(uids)
        assert stats[("fts_sift_lookup_finished", "definite")][1] > 0
        assert stats[("fts_sift_expunges_recorded", "expunges")][1] >= 2
        assert stats[("fts_sift_compact_finished", "dropped")][1] >= 2
