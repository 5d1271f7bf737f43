#!/usr/bin/python3
"""The first substring searches of fresh imap processes on a kept bench
instance (bench.py --keep): per session, a new IMAP connection (a new
imap process), SELECT INBOX and a search that doesn't touch the index
(UID SEARCH UID 1: Dovecot's own mailbox opening), then each needle as
BODY "<needle>" in turn.  For each search: wall ms, the imap process's
CPU ms (/proc/<pid>/schedstat), the plugin's lookup time (its
"Lookup in" debug line, mail_debug on), the bytes the process read
(/proc/<pid>/io rchar) and its RssAnon growth (KB); medians over the
sessions.

    python3 tests/bench/first_search.py ROOT [--sessions N]
        [--needle N ...] [--json OUT]
    env: SIFT_PLUGIN_SO=<plugin .so> (default: the build tree's)

ROOT: $SIFT_BENCH_ROOT/sift of a bench.py --keep run (e.g. a copy of
/tmp/k300/sift)."""
import sys, os, re, json, time, statistics, argparse
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
import bench, dovetest

ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("--sessions", type=int, default=5)
ap.add_argument("--needle", action="append")
ap.add_argument("--json")
a = ap.parse_args()
needles = a.needle or ["kselftest", "selftests", "possible"]
os.environ.setdefault("SIFT_PLUGIN_SO", os.path.join(
    REPO, "plugin/.libs/lib21_fts_sift_plugin.so"))
# mail_debug: the plugin's "Lookup in ...: ... us" line gives its own part
# of each search (the first search of a process also pays Dovecot's
# opening of the mailbox, about a second of CPU at 300,000 on maildir)
dv = dovetest.Dovecot(a.root, None, plugin="sift", users=[bench.USER],
                      extra_conf=bench.QUIET_CONF + "mail_debug = yes\n")
LOOKUP_RE = re.compile(r"Lookup in .*?: \d+ definite, \d+ maybe uids, "
                       r"last_uid=\d+, (\d+) us")
dv.start()


def imap_pids(master):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % p).read()
            cmd = open("/proc/%s/cmdline" % p, "rb").read()
        except OSError:
            continue
        f = st.rsplit(")", 1)[1].split()
        if int(f[1]) == master and \
           cmd.split(b"\0")[0].split(b" ")[0].endswith(b"/imap"):
            out.append(int(p))
    return out


def sample(pid):
    cpu = int(open("/proc/%d/schedstat" % pid).read().split()[0]) / 1e6
    rchar = 0
    for line in open("/proc/%d/io" % pid):
        if line.startswith("rchar:"):
            rchar = int(line.split()[1])
    anon = 0
    for line in open("/proc/%d/status" % pid):
        if line.startswith("RssAnon:"):
            anon = int(line.split()[1])
    return cpu, rchar, anon


rows = []
try:
    for s in range(a.sessions):
        master = dv._master_pid()
        t0 = time.time()
        while imap_pids(master) and time.time() - t0 < 10:
            time.sleep(0.01)
        conn = dv.imap(bench.USER)
        conn.select("INBOX")
        master = dv._master_pid()
        pids = imap_pids(master)
        assert len(pids) == 1, pids
        pid = pids[0]
        conn.uid("SEARCH", "UID", "1")
        row = {"session": s, "searches": []}
        for n in needles:
            since = dv.log_size()
            c0, r0, m0 = sample(pid)
            w0 = time.perf_counter()
            uids = dv.uid_search(conn, "BODY", bench.V(n))
            ms = (time.perf_counter() - w0) * 1000
            c1, r1, m1 = sample(pid)
            time.sleep(0.05)
            text = open(dv.log_path, "rb").read()[since:].decode("utf-8", "replace")
            lookup_ms = sum(int(u) for u in LOOKUP_RE.findall(text)) / 1000
            row["searches"].append({"needle": n, "ms": ms, "cpu_ms": c1 - c0,
                                    "read_kb": (r1 - r0) / 1024,
                                    "lookup_ms": lookup_ms,
                                    "anon_kb": m1 - m0, "hits": len(uids),
                                    "anon_after_kb": m1})
        rows.append(row)
        print(s, " ".join("%s: %.1f ms cpu %.1f lookup %.1f read %.0f KB anon +%d KB (%d hits)"
                          % (x["needle"], x["ms"], x["cpu_ms"], x["lookup_ms"], x["read_kb"],
                             x["anon_kb"], x["hits"]) for x in row["searches"]),
              flush=True)
        conn.logout()
finally:
    dv.stop()
print("medians over %d sessions:" % len(rows))
for i, n in enumerate(needles):
    xs = [r["searches"][i] for r in rows]
    print("  %-12s wall %7.1f ms  cpu %7.1f ms  lookup %6.1f ms  read %8.0f KB  anon +%6d KB  "
          "(anon after %d KB)" % (
              n, statistics.median(x["ms"] for x in xs),
              statistics.median(x["cpu_ms"] for x in xs),
              statistics.median(x["lookup_ms"] for x in xs),
              statistics.median(x["read_kb"] for x in xs),
              statistics.median(x["anon_kb"] for x in xs),
              statistics.median(x["anon_after_kb"] for x in xs)))
if a.json:
    json.dump(rows, open(a.json, "w"), indent=1)
