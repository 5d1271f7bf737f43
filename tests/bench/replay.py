#!/usr/bin/python3
"""Replay bench.py's query set (same generator and seed) against an
instance bench.py kept (--keep), with a given plugin build: each query
--reps times on one IMAP connection, the median wall time and the imap
process's own CPU time (/proc/<pid>/schedstat) per query, per class
p50/p95, the imap process's peak RSS.  --cold: each rep on a fresh imap
process (new connection) after the mailbox's index files were restored
from a snapshot whose dovecot.index.cache holds no header (taken at the
start), so Dovecot reads the header it searches for from the message
files (as on the first search for a header, on an OS page cache that is
warm after the first rep); the
query runs once cold (ms, cpu_ms) and once more warm (warm_ms,
warm_cpu_ms: the cache then holds what the cold run added); medians
over the reps.  --extra FILE: more queries, one JSON list of criteria a
line (e.g. ["HEADER", "X-Mailer", "2.17"]; every token after a key
that takes a string is sent as a value), class "extra" or the
line's {"class": ..., "criteria": [...]}.  --cached (with --cold): before
each rep's first run, FETCH BODY.PEEK[HEADER.FIELDS (<name>)] of every
message for each HEADER <name> of the query, so that Dovecot's cache
holds the header (as after a client fetched it, or an earlier search
handed every candidate to Dovecot).  --debug: mail_debug on, one pass;
per query the plugin's lookup time, its maybe count and the messages
Dovecot opened (as oracle_sets.py counts them).  --compare: a JSON of an
earlier replay whose UIDs every query must equal.  --floor: after each
query, Dovecot's own floor for an answer of its size (bench.py's
floor_criteria(): a search of Dovecot's index that walks the mailbox and
returns as many UIDs; same reps), and per class the p95 of the query, of
its floor and of the time above it (wall and imap CPU).

    python3 tests/bench/replay.py ROOT MBOX OUT.json [--reps N] [--debug]
        [--compare BASE.json] [--only REGEX] [--cold] [--extra FILE]
    env: REPLAY_SO=<plugin .so> (default: the build tree's),
         REPLAY_VSZ=1G (the imap service's vsz_limit),
         REPLAY_PERF=<file> (perf record -g the imap process meanwhile)

Used for the "Search cost" figures in doc/measurements.md (ROOT =
$SIFT_BENCH_ROOT/sift of a bench.py --keep run on MBOX)."""
import sys, os, json, pickle, time, re, statistics, argparse, shutil, tempfile
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
import bench, dovetest
ap = argparse.ArgumentParser()
ap.add_argument("root"); ap.add_argument("mbox"); ap.add_argument("out")
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--debug", action="store_true")
ap.add_argument("--compare")
ap.add_argument("--engine", default="sift")
ap.add_argument("--limit", type=int, default=None)
ap.add_argument("--only")
ap.add_argument("--floor", action="store_true")
ap.add_argument("--cold", action="store_true")
ap.add_argument("--extra")
ap.add_argument("--cached", action="store_true")
a = ap.parse_args()
qcache = "/tmp/sift-replay-queries-%s-%s.pkl" % (os.path.basename(a.mbox),
                                               a.limit)
if os.path.exists(qcache):
    queries = pickle.load(open(qcache, "rb"))
else:
    corpus = bench.Corpus(bench.read_mbox(a.mbox, a.limit))
    qs = bench.build_queries(corpus, min(3000, len(corpus)))
    queries = [(q.cls, q.label, [str(c) for c in q.criteria], [type(c).__name__ for c in q.criteria]) for q in qs]
    pickle.dump(queries, open(qcache, "wb"))
def crit(q):
    return [bench.V(c) if t == "V" else c for c, t in zip(q[2], q[3])]
if a.extra:
    for line in open(a.extra):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        e = json.loads(line)
        cls, cr = ("extra", e) if isinstance(e, list) else (e["class"], e["criteria"])
        # HEADER <name> <value>: the name is an atom, the value a V
        types = ["str"] * len(cr)
        i = 0
        while i < len(cr):
            if cr[i].upper() == "HEADER":
                types[i + 2] = "V"; i += 3
            elif cr[i].upper() in ("BODY", "TEXT", "SUBJECT", "FROM", "TO", "CC"):
                types[i + 1] = "V"; i += 2
            else:
                i += 1
        queries.append((cls, " ".join(cr), cr, types))
if a.only:
    queries = [q for q in queries if re.search(a.only, q[0] + " " + q[1])]
conf = "mail_debug = yes\n" if a.debug else bench.QUIET_CONF
if os.environ.get("REPLAY_VSZ"):
    conf += "service imap {\n  vsz_limit = %s\n}\n" % os.environ["REPLAY_VSZ"]
os.environ["SIFT_PLUGIN_SO"] = os.environ.get("REPLAY_SO") or os.path.join(REPO, "plugin/.libs/lib21_fts_sift_plugin.so")
# the kept instance's mail format (bench.py --mail-format): its
# directory under the user's home
fmt = next((f for f in ("sdbox", "mdbox", "mbox")
            if os.path.isdir(os.path.join(a.root, "home", bench.USER, f))), None)
dv = dovetest.Dovecot(a.root, None, plugin=a.engine, users=[bench.USER], extra_conf=conf,
                      mail_driver=fmt)
dv.start()
import oracle_sets
res = []
snapshot = None
try:
    import glob
    caches = glob.glob(os.path.join(a.root, "home", bench.USER, "**",
                                    "dovecot.index.cache"), recursive=True)
    if a.cold:
        assert caches, "no dovecot.index.cache under " + a.root
    conn = dv.imap(bench.USER)
    typ, sel = conn.select("INBOX")
    total = int(sel[0])
    master = dv._master_pid()
    def imap_pids():
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit(): continue
            try:
                st = open("/proc/%s/stat" % p).read()
                cmd = open("/proc/%s/cmdline" % p, "rb").read()
            except OSError: continue
            f = st.rsplit(")", 1)[1].split()
            if int(f[1]) == master and cmd.split(b"\0")[0].split(b" ")[0].endswith(b"/imap"):
                out.append(int(p))
        return out
    pids = imap_pids()
    assert len(pids) == 1, pids
    ipid = pids[0]

    def reconnect(restore=None):
        """Log out, wait for the imap process to end, restore the index
        files from the snapshot (or remove the cache file), log in again."""
        global conn, ipid
        conn.logout()
        t0 = time.time()
        while imap_pids() and time.time() - t0 < 10:
            time.sleep(0.01)
        assert not imap_pids()
        if restore is None:
            for c in caches:
                if os.path.exists(c):
                    os.unlink(c)
        else:
            for src, dst, st in restore:
                shutil.copyfile(src, dst)
                os.chown(dst, st.st_uid, st.st_gid)
        conn = dv.imap(bench.USER)
        conn.select("INBOX")
        pids = imap_pids()
        assert len(pids) == 1, pids
        ipid = pids[0]

    snapshot = None
    if a.cold:
        # the pristine state: a cache file that holds no header (removing
        # it makes Dovecot reset every record's cache offset on the next
        # search, ~0.4 s at 100,000 messages, which a real first search
        # does not pay); one field of one message is added so that the
        # file exists.  The index and its logs are saved with it (the
        # records point into the cache file) and restored before each rep
        reconnect()
        conn.uid("FETCH", "1", "(BODY.PEEK[HEADER.FIELDS (X-Replay-Cold)])")
        conn.logout()
        t0 = time.time()
        while imap_pids() and time.time() - t0 < 10:
            time.sleep(0.01)
        snapdir = tempfile.mkdtemp(prefix="replay-cold-")
        snapshot = []
        for c in caches:
            d = os.path.dirname(c)
            for f in os.listdir(d):
                if f.startswith("dovecot.index"):
                    src = os.path.join(snapdir, "%d-%s" % (len(snapshot), f))
                    shutil.copyfile(os.path.join(d, f), src)
                    snapshot.append((src, os.path.join(d, f),
                                     os.stat(os.path.join(d, f))))
        print("cold: the index files restored before each rep:",
              ", ".join("%s (%d bytes)" % (os.path.basename(d), st.st_size)
                        for _, d, st in snapshot))
        conn = dv.imap(bench.USER)
        conn.select("INBOX")
        ipid = imap_pids()[0]

    def fresh():
        """A new imap process on the pristine index files."""
        reconnect(snapshot)
        # the warm-up below maps the plugin's files in this process; and
        # one message file is opened (the first costs a read of the
        # maildir's uidlist, ~0.25 s at 100,000 messages, whichever way a
        # search is answered), caching the unrelated prep field for it
        dv.uid_search(conn, "BODY", bench.V("kselftest"))
        conn.fetch("2", "(BODY.PEEK[HEADER.FIELDS (X-Replay-Cold)])")
    tck = os.sysconf("SC_CLK_TCK")
    def cpu_ms():
        return int(open("/proc/%d/schedstat" % ipid).read().split()[0]) / 1e6
    def rss_hwm():
        for l in open("/proc/%d/status" % ipid):
            if l.startswith("VmHWM"): return int(l.split()[1]) // 1024
    watch = oracle_sets.LogWatcher(dv.log_path) if a.debug else None
    if os.environ.get("REPLAY_PERF"):
        import subprocess
        perfp = subprocess.Popen(["perf", "record", "-g", "-F", "2000", "-o", os.environ["REPLAY_PERF"], "-p", str(ipid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
    # warm-up: one search (maps side files, verifies)
    dv.uid_search(conn, "BODY", bench.V("kselftest"))
    for q in queries:
        times = []
        cpus = []
        uids = None
        wtimes, wcpus = [], []
        for r in range(1 if a.debug else a.reps):
            if a.cold:
                fresh()
                if a.cached:
                    cr = crit(q)
                    for i, c in enumerate(cr):
                        if c.upper() == "HEADER":
                            conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (%s)])" % cr[i + 1])
            if watch: watch.mark()
            c0 = cpu_ms()
            t0 = time.perf_counter()
            u = sorted(dv.uid_search(conn, *crit(q)))
            times.append((time.perf_counter() - t0) * 1000)
            cpus.append(cpu_ms() - c0)
            assert uids is None or u == uids, q[1]
            uids = u
            if a.cold and not a.debug:
                c0 = cpu_ms()
                t0 = time.perf_counter()
                u = sorted(dv.uid_search(conn, *crit(q)))
                wtimes.append((time.perf_counter() - t0) * 1000)
                wcpus.append(cpu_ms() - c0)
                assert u == uids, q[1]
        row = {"class": q[0], "query": q[1], "ms": statistics.median(times), "all_ms": times, "cpu_ms": statistics.median(cpus),
               "all_cpu_ms": cpus, "hits": len(uids), "uids": uids}
        if wtimes:
            row.update(warm_ms=statistics.median(wtimes), warm_cpu_ms=statistics.median(wcpus),
                       all_warm_cpu_ms=wcpus)
        if a.floor:
            fts, fcs = [], []
            for r in range(1 if a.debug else a.reps):
                c0 = cpu_ms()
                t0 = time.perf_counter()
                fu = dv.uid_search(conn, *bench.floor_criteria(len(uids), total))
                fts.append((time.perf_counter() - t0) * 1000)
                fcs.append(cpu_ms() - c0)
                assert len(fu) == len(uids), (q[1], len(fu), len(uids))
            row["floor_ms"] = statistics.median(fts)
            row["floor_cpu_ms"] = statistics.median(fcs)
        if watch:
            found = watch.read()
            row["lookups"] = [{"definite": f[1], "maybe": f[2], "us": f[4]} for f in found]
            row["maybe"] = sum(f[2] for f in found)
            row["lookup_us"] = sum(f[4] for f in found)
            row["opened"] = len(watch.opened)
        res.append(row)
    print("imap VmHWM MB:", rss_hwm())
    if os.environ.get("REPLAY_PERF"):
        import signal
        perfp.send_signal(signal.SIGINT); perfp.wait()
    conn.logout()
finally:
    dv.stop()
    if a.cold and snapshot is not None:
        shutil.rmtree(snapdir, ignore_errors=True)
json.dump(res, open(a.out, "w"))
base = None
if a.compare:
    base = {r["query"]: r for r in json.load(open(a.compare))}
bad = 0
classes = {}
for r in res:
    classes.setdefault(r["class"], []).append(r)
    if base is not None and r["query"] in base and base[r["query"]]["uids"] != r["uids"]:
        bad += 1
        print("MISMATCH", r["query"], len(r["uids"]), len(base[r["query"]]["uids"]))
allms = [r["ms"] for r in res]
print("%-18s %3s %8s %8s %8s %8s %8s %8s %8s" % ("class", "n", "p50", "p95", "max", "cpu50", "cpu95", "maybe", "opened"))
for c, rs in list(classes.items()) + [("all", res)]:
    ms = [r["ms"] for r in rs]
    cp = [r["cpu_ms"] for r in rs]
    print("%-18s %3d %8.1f %8.1f %8.1f %8.1f %8.1f %8s %8s" % (c, len(rs), bench.pct(ms, 50), bench.pct(ms, 95), max(ms), bench.pct(cp, 50), bench.pct(cp, 95),
          sum(r.get("maybe", 0) for r in rs) if a.debug else "-", sum(r.get("opened", 0) for r in rs) if a.debug else "-"))
if a.cold and not a.debug:
    print("cold (no header cached) / warm (the query again), imap CPU ms:")
    print("%-18s %3s %8s %8s %8s %8s" % ("class", "n", "cold50", "cold95", "warm50", "warm95"))
    for c, rs in list(classes.items()) + [("all", res)]:
        cc = [r["cpu_ms"] for r in rs]
        wc = [r["warm_cpu_ms"] for r in rs]
        print("%-18s %3d %8.1f %8.1f %8.1f %8.1f" % (c, len(rs), bench.pct(cc, 50), bench.pct(cc, 95), bench.pct(wc, 50), bench.pct(wc, 95)))
    for r in res:
        print("  %8.1f %8.1f %7d  %s" % (r["cpu_ms"], r["warm_cpu_ms"], r["hits"], r["query"][:90]))
if a.debug:
    for r in res:
        print("  maybe %7d lookup %8.1f ms opened %7d hits %7d  %s" % (r["maybe"], r["lookup_us"] / 1000.0, r["opened"], r["hits"], r["query"][:80]))
if a.floor:
    print("Dovecot's floor (%s messages; same answer sizes), p95 ms:" % total)
    print("%-18s %3s %8s %8s %8s %8s %8s %8s" % ("class", "n", "query", "floor", "above", "cpu", "floorcpu", "cpuabove"))
    for c, rs in list(classes.items()) + [("all", res)]:
        st = bench.floor_stats(rs)
        print("%-18s %3d %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f" % (c, len(rs), bench.pct([r["ms"] for r in rs], 95),
              st["floor_p95_ms"], st["above_floor_p95_ms"], st["cpu_p95_ms"], st["floor_cpu_p95_ms"], st["cpu_above_floor_p95_ms"]))
if base is not None:
    print("compare:", len(res) - bad, "/", len(res), "equal")
