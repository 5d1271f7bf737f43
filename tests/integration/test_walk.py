"""A SEARCH walks only the messages the index left (plugin/fts-sift-walk.c).

When the lookup of the search's top level answers one of its arguments,
the plugin moves Dovecot's per-message walk straight to the next message
that can still match.  That must never change a result, whatever else
the search holds: flags and keywords (Dovecot's index arguments),
sequence and UID sets (which narrow Dovecot's own range), dates, sizes,
NOT, OR, sub-lists, the order of the arguments, expunged messages (UID
gaps), messages not yet indexed (the tail above the index's last UID),
and the other commands built on a search (ESEARCH's MIN/MAX/COUNT, SORT,
SEARCHRES).  Generated queries of all those shapes are compared with
Dovecot's own search; the log must show that the walk was narrowed."""

import random
import re

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import simple, ts  # noqa: E402

USER = "walker"
N_MESSAGES = 240
# word -> how many messages have it: rare, medium and common words
VOCAB = {"zanzibar": 2, "quokka": 5, "marmot": 12, "lantern": 30,
         "harbor": 60, "common": 150, "everywhere": N_MESSAGES}
NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]
DATES = ["01-Jan-2020", "15-Mar-2020", "01-Jul-2020", "20-Nov-2020"]


def _messages():
    rng = random.Random(20261205)
    holders = {w: set(rng.sample(range(N_MESSAGES), n)) for w, n in VOCAB.items()}
    out = []
    for i in range(N_MESSAGES):
        words = [w for w in VOCAB if i in holders[w]]
        rng.shuffle(words)
        body = " ".join(words + ["filler%d" % (i % 17)] * rng.randint(1, 40))
        subject = "note %d %s" % (i, rng.choice(sorted(VOCAB)))
        sender = "%s <p%d@example.org>" % (rng.choice(NAMES), i % 5)
        date = ts(2020, 1 + i * 12 // N_MESSAGES, 1 + i % 27, 12, 0)
        flags = []
        if rng.random() < 0.5:
            flags.append("\\Seen")
        if rng.random() < 0.2:
            flags.append("\\Flagged")
        if rng.random() < 0.15:
            flags.append("$Label1")
        out.append((subject, sender, body, date, " ".join(flags)))
    return out


@pytest.fixture(scope="module")
def inst(request):
    with instance_pair("walk", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        msgs = _messages()
        uids = []
        for subject, sender, body, date, flags in msgs[:200]:
            raw = simple(sender, "walker@example.test", subject, date,
                         body.encode(), charset="utf-8", cte="8bit")
            uids.append(fts.append(USER, "INBOX", raw, date=date,
                                   flags="(%s)" % flags if flags else None))
        fts.doveadm("index", "-u", USER, "INBOX")
        # UID gaps: expunge some indexed messages
        rng = random.Random(7)
        fts.expunge(USER, "INBOX", rng.sample(uids, 25))
        # a tail appended after the index was built
        for subject, sender, body, date, flags in msgs[200:]:
            raw = simple(sender, "walker@example.test", subject, date,
                         body.encode(), charset="utf-8", cte="8bit")
            fts.append(USER, "INBOX", raw, date=date,
                       flags="(%s)" % flags if flags else None)
        yield fts, oracle


def _leaf(rng, text_only=False):
    kinds = ["body", "body", "body", "subject", "text", "from", "notbody"]
    if not text_only:
        kinds += ["seen", "unseen", "flagged", "keyword", "uid", "seq",
                  "since", "before", "larger", "or", "sub"]
    kind = rng.choice(kinds)
    word = rng.choice(sorted(VOCAB))
    if kind == "body":
        return ["BODY", word]
    if kind == "subject":
        return ["SUBJECT", word]
    if kind == "text":
        return ["TEXT", word[1:-1]]
    if kind == "from":
        return ["FROM", rng.choice(NAMES).split()[rng.randint(0, 1)]]
    if kind == "notbody":
        return ["NOT", "BODY", word]
    if kind == "seen":
        return ["SEEN"]
    if kind == "unseen":
        return ["UNSEEN"]
    if kind == "flagged":
        return ["FLAGGED"]
    if kind == "keyword":
        return ["KEYWORD", "$Label1"]
    if kind == "uid":
        a = rng.randint(1, 230)
        return ["UID", "%d:%d" % (a, a + rng.randint(0, 120))]
    if kind == "seq":
        a = rng.randint(1, 200)
        return ["%d:%d" % (a, a + rng.randint(0, 80))]
    if kind == "since":
        return ["SINCE", rng.choice(DATES)]
    if kind == "before":
        return ["SENTBEFORE", rng.choice(DATES)]
    if kind == "larger":
        return ["LARGER", str(rng.randint(200, 700))]
    if kind == "or":
        return ["OR"] + _leaf(rng, True) + _leaf(rng)
    return ["("] + _leaf(rng, True) + _leaf(rng) + [")"]


def _queries(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [_leaf(rng, True)] + [_leaf(rng) for _ in range(rng.randint(0, 3))]
        rng.shuffle(parts)
        out.append([tok for p in parts for tok in p])
    return out


def _walked_past(fts, since):
    text = fts.log_text().encode()[since:].decode("utf-8", "replace")
    return [int(n) for n in re.findall(r"the search walked past (\d+) messages", text)]


def test_generated_searches_equal_oracle(inst):
    fts, oracle = inst
    since = fts.log_size()
    checked = nonempty = 0
    for crit in _queries(400, 11):
        expected = oracle.search(USER, "INBOX", *crit)
        assert fts.search(USER, "INBOX", *crit) == expected, crit
        checked += 1
        nonempty += bool(expected)
    assert checked == 400 and nonempty >= 100
    walked = _walked_past(fts, since)
    # most searches were narrowed, and by many messages in all
    assert len([w for w in walked if w > 0]) >= 150, walked[:40]
    assert sum(walked) >= 20000, sum(walked)


def _raw(conn, cmd, *args):
    typ, data = conn.uid(cmd, *args)
    assert typ == "OK", (cmd, args, data)
    return [d for d in data if d]


def test_esearch_sort_searchres_equal_oracle(inst):
    fts, oracle = inst
    conns = {}
    for name, d in (("fts", fts), ("oracle", oracle)):
        conn = d.imap(USER)
        d.select(conn, "INBOX", readonly=True)
        conns[name] = conn
    try:
        for crit in _queries(80, 23):
            q = " ".join('"%s"' % c if c in VOCAB or " " in c or c.isalpha()
                         and c not in ("NOT", "OR", "BODY", "SUBJECT", "TEXT",
                                       "FROM", "SEEN", "UNSEEN", "FLAGGED",
                                       "KEYWORD", "UID", "SINCE",
                                       "SENTBEFORE", "LARGER")
                         else c for c in crit)
            res = {}
            for name, conn in conns.items():
                es = _raw(conn, "SEARCH", "RETURN (MIN MAX COUNT ALL) " + q)
                srt = _raw(conn, "SORT", "(REVERSE ARRIVAL)", "UTF-8", q)
                # SEARCHRES: save the result, then search within it
                saved = _raw(conn, "SEARCH", "RETURN (SAVE) " + q)
                within = _raw(conn, "SEARCH", "$ NOT BODY common")
                res[name] = ([re.sub(rb"TAG \"[^\"]*\"", b"", e) for e in es],
                             srt, saved, within)
            assert res["fts"] == res["oracle"], q
    finally:
        for conn in conns.values():
            conn.logout()
