#!/usr/bin/env python3
"""Oracle agreement of generated query sets on the real corpora.

    /usr/bin/python3 tests/bench/oracle_sets.py [--corpora DIR] [--limit N]
        [--queries N] [--sets kselftest,multilingual,...] [--json FILE]
        [--root DIR] [--keep]
    /usr/bin/python3 tests/bench/oracle_sets.py --report FILE.json

Each corpus of ../shared/corpora (or $SIFT_CORPORA, or --corpora) becomes
one mailbox of user "qs": lore-kselftest-30k -> kselftest, multilingual ->
multilingual, and the three sets of diverse.tar.zst -> spamassassin_public,
sisimai_bounces, mime_edge_cases.  The messages are written as maildir
files (bench.write_maildir: the Date: header becomes the internal date),
`doveadm index -u qs '*'` indexes them with fts-sift (fts_enforced = yes),
and a second Dovecot without FTS serves the same maildirs as the oracle.

For every mailbox, querysets.generate() builds --queries searches from the
mailbox's own messages; each one runs as UID SEARCH on fts-sift and on the
oracle.  Per corpus and query class the runner reports:
  n          queries
  agree      queries with the oracle's exact UIDs (or, for the hostile
             class only, a clean NO/BAD from fts-sift within HOSTILE_LIMIT_S);
             when both refuse a query with the same kind of error, that is
             agreement too
  sift p50/p95, oracle p50/p95   wall time of the UID SEARCH, ms
  maybe sum/p95  messages the plugin asks Dovecot to verify: the count M
             of its debug line "Lookup in <box>: D definite, M maybe uids,
             ..." (summed over the lookups of one SEARCH; nested queries
             make several lookups)
  opened sum/p95 messages Dovecot really read: distinct UIDs of its own
             debug lines "Mailbox <box>: UID <n>: Opened mail because:
             search" during the SEARCH (this also counts what Dovecot reads
             for keys the plugin left to it)
  scan       queries with a search key the plugin left to Dovecot: the
             plugin's per-key debug line ("BODY 'x': <plan> plan, ...") says
             "unsupported plan", or there is no such line for the key (the
             plugin does not take it: HEADER on an address header, a header
             name it cannot key, or no lookup at all).  Dovecot then
             evaluates that key itself on every message the other keys
             leave (from its cache or by opening them: "opened" counts the
             latter, "maybe" does not)
and then every mismatching query with its extra and missing UIDs.  The JSON
file (--json, default /tmp/oracle-sets.json) has the table and every query.
Exit status 1 if any query disagrees.

Accent folding: fts-sift has no accent-folding setting and Dovecot without
FTS does not fold accents, so the comparison runs with folding off.

Needs Dovecot's mail_debug (dovetest turns it on): the counts come from
the instance's log, read after each SEARCH (LogWatcher).

The module's functions are also used by tests/integration/corpus_sample.py
(test_corpus_oracle.py) on a small sample of each corpus.
"""

import argparse
import collections
import imaplib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, HERE)
from dovetest import Dovecot, free_port, search_command_bytes  # noqa: E402
from bench import Corpus, read_mbox, write_maildir, pct  # noqa: E402
import querysets  # noqa: E402

USER = "qs"
# the hostile class sends a ~100 KB search string as a literal; Dovecot's
# default limit (64k) would end the connection before the plugin sees it
EXTRA_CONF = "imap_max_line_length = 256k\n"
HOSTILE_LIMIT_S = 60.0
LOOKUP_RE = re.compile(r"Lookup in (.*?): (\d+) definite, (\d+) maybe uids, "
                       r"last_uid=(\d+), (\d+) us")
# one line per search key the plugin looked at (sift-query.c)
LEAF_RE = re.compile(r"Debug: .*?'.*': (unsupported|exists|word|run|candidates) plan, "
                     r"(\d+) definite, (\d+) maybe$", re.M)
# Dovecot (mail_debug) when a search opens a message file
OPENED_RE = re.compile(r"Debug: Mailbox (.*?): UID (\d+): Opened mail because: search")
# search keys with text arguments (how many values each takes)
TEXT_KEYS = {"BODY": 1, "TEXT": 1, "SUBJECT": 1, "FROM": 1, "TO": 1, "CC": 1,
             "BCC": 1, "HEADER": 2}
# other keys: how many arguments they take
OTHER_KEYS = {"SINCE": 1, "BEFORE": 1, "ON": 1, "SENTSINCE": 1, "SENTBEFORE": 1,
              "SENTON": 1, "UID": 1, "LARGER": 1, "SMALLER": 1, "KEYWORD": 1,
              "UNKEYWORD": 1, "NOT": 0, "OR": 0, "(": 0, ")": 0}


def count_text_keys(criteria):
    """How many text search keys (BODY, TEXT, HEADER, SUBJECT, FROM...)
    the criteria hold; values are skipped by the keys' arities, so a value
    that reads "BODY" is not a key."""
    n, i = 0, 0
    while i < len(criteria):
        tok = criteria[i]
        key = tok.upper() if isinstance(tok, str) else None
        if key in TEXT_KEYS:
            n += 1
            i += 1 + TEXT_KEYS[key]
        else:
            i += 1 + OTHER_KEYS.get(key, 0)
    return n


def default_corpora_dir():
    """$SIFT_CORPORA, else ../shared/corpora next to the repository, else
    /work/shared/corpora (where the project's machines keep them, also for
    a clone elsewhere)."""
    if os.environ.get("SIFT_CORPORA"):
        return os.environ["SIFT_CORPORA"]
    for d in (os.path.join(os.path.dirname(REPO), "shared", "corpora"),
              "/work/shared/corpora"):
        if any(os.path.exists(os.path.join(d, f)) for f in CORPUS_FILES.values()):
            return d
    return os.path.join(os.path.dirname(REPO), "shared", "corpora")


CORPUS_FILES = {"kselftest": "lore-kselftest-30k.mbox.zst",
                "multilingual": "multilingual.mbox.zst",
                "diverse": "diverse.tar.zst"}


def diverse_sets(tar_path, workdir):
    """The diverse corpus: one message per file, grouped by top set."""
    if not os.path.isdir(os.path.join(workdir, "diverse")):
        subprocess.run(["tar", "-I", "zstd", "-xf", tar_path, "-C", workdir], check=True)
    sets = {}
    root = os.path.join(workdir, "diverse")
    for top in sorted(os.listdir(root)):
        msgs = []
        for dirpath, _dirs, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if name.endswith((".tsv", ".md", ".txt.license")) or name in ("LICENSE", "README"):
                    continue
                with open(os.path.join(dirpath, name), "rb") as f:
                    data = f.read()
                if data.startswith(b"From ") and b"\nFrom " in data:
                    msgs.extend(_split_plain_mbox(data))
                else:
                    msgs.append(data)
        sets[top] = msgs
    return sets


def _split_plain_mbox(data):
    parts = re.split(rb"(?m)^From .*\n", data)
    return [p for p in parts if p.strip()]


def load_corpora(corpora, workdir, limits=None, seed=1, only=None):
    """Mailbox name -> list of raw messages, for the corpora present.

    limits: mailbox name (or "*") -> at most that many messages (0 = all).
    kselftest takes its first N messages (read_mbox stops there); the
    others a seeded sample of N, in corpus order, so a small sample still
    spans the whole set (every script of multilingual, every kind of
    diverse)."""
    limits = limits or {}
    out = collections.OrderedDict()

    def limit_of(name):
        return limits.get(name, limits.get("*", 0))

    def sample(name, msgs):
        n = limit_of(name)
        if not n or n >= len(msgs):
            return msgs
        rnd = random.Random("%s/%s" % (seed, name))
        return [msgs[i] for i in sorted(rnd.sample(range(len(msgs)), n))]

    def wanted(name):
        return only is None or name in only

    path = os.path.join(corpora, CORPUS_FILES["kselftest"])
    if os.path.exists(path) and wanted("kselftest"):
        out["kselftest"] = read_mbox(path, limit=limit_of("kselftest") or None)
    path = os.path.join(corpora, CORPUS_FILES["multilingual"])
    if os.path.exists(path) and wanted("multilingual"):
        out["multilingual"] = sample("multilingual", read_mbox(path))
    path = os.path.join(corpora, CORPUS_FILES["diverse"])
    os.makedirs(workdir, exist_ok=True)
    if os.path.exists(path):
        for top, msgs in diverse_sets(path, workdir).items():
            name = top.replace("-", "_")
            if wanted(name):
                out[name] = sample(name, msgs)
    return out


def setup(root, sets, index_timeout=7200, plugin_settings=None):
    """Start fts-sift and its oracle with one mailbox per set (maildir
    files written directly), index everything.  plugin_settings (e.g.
    fts_header_excludes) go to both instances.  Returns (sift, oracle,
    index seconds)."""
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    os.chmod(root, 0o755)
    sift = Dovecot(os.path.join(root, "sift"), free_port(), plugin="sift", users=(USER,),
                   extra_conf=EXTRA_CONF, plugin_settings=plugin_settings)
    sift._prepare()
    for box, msgs in sets.items():
        write_maildir(os.path.join(sift.maildir(USER), "." + box), Corpus(msgs),
                      sift.mail_uid, sift.mail_gid)
    sift._chown_tree(sift.home(USER))
    sift.start()
    oracle = Dovecot(os.path.join(root, "oracle"), free_port(), plugin="none",
                     oracle_of=sift, extra_conf=EXTRA_CONF, plugin_settings=plugin_settings)
    try:
        oracle.start()
        t0 = time.time()
        sift.doveadm("index", "-u", USER, "*", timeout=index_timeout)
        secs = time.time() - t0
    except Exception:
        sift.stop()
        oracle.stop()
        raise
    return sift, oracle, secs


class LogWatcher:
    """The plugin's lookup lines written to a Dovecot log since a mark.

    The imap process writes its debug lines (through Dovecot's log
    process) before it sends the SEARCH's tagged reply, but the log
    process may write them to the file a moment later: read() waits until
    at least one lookup line is there and the file has stopped growing
    for `settle` seconds, or `none_wait` seconds when no line comes (a
    query Dovecot answers without the index)."""

    def __init__(self, path, settle=0.02, none_wait=0.3):
        self.path = path
        self.settle = settle
        self.none_wait = none_wait
        self.pos = self._size()

    def _size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def mark(self):
        self.pos = self._size()

    def read(self):
        """Lookup tuples (mailbox, definite, maybe, last_uid, us) since mark();
        the plan kinds of the per-key lines are left in self.leaves, the
        (mailbox, uid) of the mails Dovecot opened in self.opened."""
        t0 = time.time()
        last_size, last_change = -1, time.time()
        while True:
            size = self._size()
            now = time.time()
            if size != last_size:
                last_size, last_change = size, now
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                text = f.read(size - self.pos).decode("utf-8", "replace")
            found = [(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                      int(m.group(5))) for m in LOOKUP_RE.finditer(text)]
            leaves = [m.group(1) for m in LEAF_RE.finditer(text)]
            opened = set(OPENED_RE.findall(text))
            if found and now - last_change >= self.settle and text.endswith("\n"):
                break
            if not found and now - t0 >= self.none_wait:
                break
            if now - t0 > 10:
                break
            time.sleep(0.002)
        self.pos = size
        self.leaves = leaves
        self.opened = opened
        return found


def _search(conn, criteria):
    """(kind, uids or error text, ms); kind OK, NO, BAD or ABORT."""
    args = search_command_bytes(criteria)
    t0 = time.perf_counter()
    try:
        typ, data = conn.uid("SEARCH", args)
    except imaplib.IMAP4.abort as e:
        return "ABORT", str(e)[:300], (time.perf_counter() - t0) * 1000
    except imaplib.IMAP4.error as e:
        return "BAD", str(e)[:300], (time.perf_counter() - t0) * 1000
    except OSError as e:
        return "ABORT", str(e)[:300], (time.perf_counter() - t0) * 1000
    ms = (time.perf_counter() - t0) * 1000
    if typ != "OK":
        return typ, str(data)[:300], ms
    uids = set()
    for chunk in data:
        if isinstance(chunk, bytes):
            uids.update(int(x) for x in chunk.split() if x.isdigit())
    return "OK", sorted(uids), ms


class Session:
    """One IMAP connection with a mailbox selected; reconnects after an
    aborted connection (a hostile query may end it)."""

    def __init__(self, inst, box, timeout=600):
        self.inst, self.box, self.timeout = inst, box, timeout
        self.conn = None
        self.connect()

    def connect(self):
        self.close()
        self.conn = self.inst.imap(USER, timeout=self.timeout)
        self.inst.select(self.conn, self.box, readonly=True)

    def search(self, criteria):
        kind, res, ms = _search(self.conn, criteria)
        if kind == "ABORT":
            self.connect()
        return kind, res, ms

    def close(self):
        if self.conn is not None:
            try:
                self.conn.logout()
            except Exception:
                pass
            self.conn = None


def judge(cls, s_kind, s_res, s_ms, o_kind, o_res):
    """(agrees, why) for one query: the oracle's UIDs, the same refusal
    as the oracle, or (hostile class) a clean NO/BAD in bounded time."""
    if s_kind == "OK" and o_kind == "OK":
        return s_res == o_res, "" if s_res == o_res else "different UIDs"
    if s_kind == o_kind:
        return True, "both %s" % s_kind
    if cls == "hostile" and s_kind in ("NO", "BAD") and s_ms <= HOSTILE_LIMIT_S * 1000:
        return True, "clean %s from sift (oracle: %s)" % (s_kind, o_kind)
    return False, "sift %s, oracle %s" % (s_kind, o_kind)


def run_set(sift, oracle, box, queries, progress=None):
    """Run the queries on both instances; one result dict per query."""
    ss, so = Session(sift, box), Session(oracle, box)
    watch = LogWatcher(sift.log_path)
    out = []
    try:
        for i, q in enumerate(queries):
            watch.mark()
            s_kind, s_res, s_ms = ss.search(q.criteria)
            lookups = watch.read()
            lookups = [lk for lk in lookups if lk[0] == box]
            answered = sum(1 for kind in watch.leaves if kind != "unsupported")
            left = max(0, count_text_keys(q.criteria) - answered) if s_kind == "OK" else 0
            opened = sorted(int(u) for b, u in watch.opened if b == box)
            o_kind, o_res, o_ms = so.search(q.criteria)
            agrees, why = judge(q.cls, s_kind, s_res, s_ms, o_kind, o_res)
            r = {"class": q.cls, "query": q.label(400), "note": q.note,
                 "sift_ms": s_ms, "oracle_ms": o_ms, "sift": s_kind, "oracle": o_kind,
                 "hits": len(s_res) if s_kind == "OK" else None,
                 "oracle_hits": len(o_res) if o_kind == "OK" else None,
                 "lookups": len(lookups), "left_to_dovecot": left,
                 "opened": len(opened), "opened_uids": opened[:50],
                 "read": sum(lk[2] for lk in lookups),
                 "definite": sum(lk[1] for lk in lookups),
                 "agrees": agrees, "why": why}
            if s_kind == "OK" and o_kind == "OK" and not agrees:
                r["extra"] = sorted(set(s_res) - set(o_res))
                r["missing"] = sorted(set(o_res) - set(s_res))
            if s_kind != "OK":
                r["sift_error"] = s_res
            if o_kind != "OK":
                r["oracle_error"] = o_res
            out.append(r)
            if progress and (i + 1) % 50 == 0:
                progress("%s: %d/%d queries" % (box, i + 1, len(queries)))
    finally:
        ss.close()
        so.close()
    return out


def summarize(results):
    """Class -> dict(n, agree, sift/oracle p50/p95 ms, read sum/p95/max,
    scan), plus "ALL"."""
    by = collections.OrderedDict((c, []) for c in querysets.CLASSES)
    for r in results:
        by.setdefault(r["class"], []).append(r)
    by["ALL"] = list(results)
    out = collections.OrderedDict()
    for c, rs in by.items():
        if not rs:
            continue
        reads = [r["read"] for r in rs if r["lookups"]]
        opened = [r["opened"] for r in rs]
        out[c] = {"n": len(rs), "agree": sum(r["agrees"] for r in rs),
                  "sift_p50": pct([r["sift_ms"] for r in rs], 50),
                  "sift_p95": pct([r["sift_ms"] for r in rs], 95),
                  "oracle_p50": pct([r["oracle_ms"] for r in rs], 50),
                  "oracle_p95": pct([r["oracle_ms"] for r in rs], 95),
                  "read_sum": sum(reads), "read_p95": pct(reads, 95),
                  "read_max": max(reads) if reads else None,
                  "opened_sum": sum(opened), "opened_p95": pct(opened, 95),
                  "scan": sum(1 for r in rs if r["left_to_dovecot"])}
    return out


def _f(v, nd=1):
    if v is None:
        return "-"
    return ("%.*f" % (nd, v)) if isinstance(v, float) else str(v)


def format_table(box, nmsgs, summary):
    lines = ["%s (%d messages)" % (box, nmsgs),
             "  %-19s %4s %9s %9s %9s %10s %10s %9s %9s %10s %10s %5s" % (
                 "class", "n", "agree", "sift p50", "sift p95", "oracle p50",
                 "oracle p95", "maybe sum", "maybe p95", "opened sum", "opened p95", "scan")]
    for c, s in summary.items():
        lines.append("  %-19s %4d %9s %9s %9s %10s %10s %9s %9s %10s %10s %5s" % (
            c, s["n"], "%d/%d" % (s["agree"], s["n"]), _f(s["sift_p50"]),
            _f(s["sift_p95"]), _f(s["oracle_p50"]), _f(s["oracle_p95"]),
            s["read_sum"], _f(s["read_p95"], 0), s["opened_sum"], _f(s["opened_p95"], 0),
            s["scan"]))
    return "\n".join(lines)


def format_mismatch(box, r):
    s = "  [%s] %s: UID SEARCH %s  (%s)" % (box, r["class"], r["query"], r["why"])
    if "extra" in r:
        s += "\n      oracle %d hits, sift %d; extra %s; missing %s" % (
            r["oracle_hits"], r["hits"], _uids(r["extra"]), _uids(r["missing"]))
    if "sift_error" in r:
        s += "\n      sift: %s" % r["sift_error"][:200]
    if "oracle_error" in r:
        s += "\n      oracle: %s" % r["oracle_error"][:200]
    return s


def index_sizes(sift, boxes):
    """Mailbox -> {"index": bytes of its fts-sift directory, "mail":
    bytes of its message files}, right after indexing."""
    out = {}
    for box in boxes:
        mdir = os.path.join(sift.maildir(USER), "." + box)
        sizes = {"index": 0, "mail": 0}
        for sub, key in (("fts-sift", "index"), ("cur", "mail"), ("new", "mail")):
            for dirpath, _dirs, files in os.walk(os.path.join(mdir, sub)):
                for f in files:
                    try:
                        sizes[key] += os.path.getsize(os.path.join(dirpath, f))
                    except OSError:
                        pass
        out[box] = sizes
    return out


def format_sizes(sizes):
    return "\n".join("  %-20s index %6.2f MB = %5.1f%% of its %6.2f MB of mail" % (
        box, s["index"] / 1e6, 100.0 * s["index"] / max(1, s["mail"]), s["mail"] / 1e6)
        for box, s in sizes.items())


def _uids(u, k=20):
    return "%s%s (%d)" % (u[:k], "..." if len(u) > k else "", len(u))


def print_report(path):
    """Print the tables and mismatches of a JSON file written by a run."""
    with open(path) as f:
        report = json.load(f)
    bad = 0
    if report.get("index_sizes"):
        print(format_sizes(report["index_sizes"]))
    for box, c in report["corpora"].items():
        print(format_table(box, c["messages"], c["summary"]))
        for r in c["queries"]:
            if not r["agrees"]:
                bad += 1
                print(format_mismatch(box, r))
    print("\nmismatches: %d" % bad)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", default=default_corpora_dir())
    ap.add_argument("--limit", type=int, default=0, help="messages per mailbox (0 = all)")
    ap.add_argument("--queries", type=int, default=240, help="queries per mailbox")
    ap.add_argument("--sets", default="", help="comma-separated mailbox names (default all)")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--classes", default="",
                    help="comma-separated query classes to run (default all), e.g. "
                    "'header piece,address piece,header NOT/OR,TEXT header piece'")
    ap.add_argument("--json", default="/tmp/oracle-sets.json")
    ap.add_argument("--root", default="/tmp/fts-sift-oracle-sets")
    ap.add_argument("--keep", action="store_true", help="leave the instances' directory")
    ap.add_argument("--report", metavar="JSON", help="print the tables and mismatches of a run again")
    ap.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                    help="a plugin setting for both instances, e.g. "
                    "'fts_header_excludes=X-Mailer Received DKIM-* List-*' (repeatable)")
    ap.add_argument("--change-setting", action="append", default=[], metavar="KEY=VALUE",
                    help="after indexing, restart fts-sift with this setting changed "
                    "(KEY= removes it) before the queries: an index built under one "
                    "header selection searched under another (repeatable)")
    args = ap.parse_args()
    if args.report:
        return print_report(args.report)

    def log(msg):
        print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)

    work = args.root + ".corpora"
    os.makedirs(work, exist_ok=True)
    only = set(args.sets.split(",")) if args.sets else None
    sets = load_corpora(args.corpora, work, {"*": args.limit}, args.seed, only)
    if not sets:
        print("no corpora under %s" % args.corpora)
        return 2
    log("loaded %s" % ", ".join("%s=%d" % (k, len(v)) for k, v in sets.items()))
    queries = {}
    for box, msgs in sets.items():
        t0 = time.time()
        queries[box] = querysets.generate(msgs, seed="%s/%s" % (args.seed, box), n=args.queries)
        if args.classes:
            keep = set(args.classes.split(","))
            unknown = keep - set(querysets.CLASSES)
            if unknown:
                print("unknown classes: %s" % ", ".join(sorted(unknown)))
                return 2
            queries[box] = [q for q in queries[box] if q.cls in keep]
        log("%s: %d queries generated in %.1f s" % (box, len(queries[box]), time.time() - t0))
    settings = dict(kv.split("=", 1) for kv in args.setting)
    sift, oracle, secs = setup(args.root, sets, plugin_settings=settings)
    log("indexed in %.1f s%s" % (secs, " with %s" % settings if settings else ""))
    sizes = index_sizes(sift, sets)
    print(format_sizes(sizes), flush=True)
    if args.change_setting:
        sift.stop()
        for kv in args.change_setting:
            key, value = kv.split("=", 1)
            if value:
                sift.plugin_settings[key] = value
            else:
                sift.plugin_settings.pop(key, None)
        sift.start()
        log("settings changed to %s; the queries rebuild the index" % sift.plugin_settings)
    report = {"corpora": {}, "index_s": secs, "settings": settings,
              "changed_settings": args.change_setting, "index_sizes": sizes}
    bad = 0
    try:
        for box, msgs in sets.items():
            res = run_set(sift, oracle, box, queries[box], progress=log)
            summ = summarize(res)
            report["corpora"][box] = {"messages": len(msgs), "summary": summ, "queries": res}
            print(format_table(box, len(msgs), summ), flush=True)
            mism = [r for r in res if not r["agrees"]]
            bad += len(mism)
            for r in mism:
                print(format_mismatch(box, r), flush=True)
        problems = sift.log_problems()
        report["log_problems"] = problems
        log("Dovecot log problems: %d" % len(problems))
        for p in problems[:20]:
            print("   ", p)
    finally:
        sift.stop()
        oracle.stop()
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
        log("wrote %s" % args.json)
        if not args.keep:
            shutil.rmtree(args.root, ignore_errors=True)
    print("\nmismatches: %d" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
