#!/usr/bin/python3
"""The first searches of fresh imap processes on a kept bench instance
(bench.py --keep).  Per session: a new IMAP connection (a new imap
process), SELECT INBOX, a search that doesn't touch the index (UID
SEARCH UID 1: Dovecot's own opening of the mailbox, about a second of
CPU at 300,000 on maildir; --no-warm leaves it out, and the first search
pays it), then each search in turn, --reps times.

The searches: each CRITERIA (a JSON list, e.g. '["BODY","kselftest"]';
searches Dovecot answers from its own index, '["UID","1:25016"]' or
flags, show Dovecot's floor for an answer of N UIDs), then BODY
"<needle>" for each --needle; with neither, BODY "kselftest",
"selftests", "possible".

For each search: the wall ms until the tagged OK ("recv") and of the
client's parse of the answer ("parse"; bench.py's wall time, "wall",
is both), the imap process's CPU ms (/proc/<pid>/schedstat), the
plugin's lookup time (its "Lookup in" debug line: mail_debug on, unless
--no-debug), the bytes the process read (/proc/<pid>/io rchar), its
RssAnon growth (KB) and its VmHWM / RssAnon / RssFile after the search.
A line per session and search (the median of its reps), then the medians
over all sessions and reps.

    python3 tests/bench/first_search.py ROOT [CRITERIA ...]
        [--needle N ...] [--sessions N] [--reps N] [--no-warm]
        [--no-debug] [--json OUT]
    env: SIFT_PLUGIN_SO or REPLAY_SO=<plugin .so> (default: the build
         tree's), PERF=<file> (perf record the imap process meanwhile;
         <file>.<session> from the second session on), PERF_CG=dwarf|fp
         (perf's call graph, default fp), STRACE=<file> (strace -T the
         imap process meanwhile: its opens, reads and maps, with the time
         each took; <file>.<session> likewise)

One session's searches with its first search cold, as the former
firstsearch.py measured them (each search --reps times in the one
process, no warm-up, no debug log):

    python3 tests/bench/first_search.py ROOT --sessions 1 --no-warm \\
        --no-debug --reps 5 '["UID","1:25016"]' ...

ROOT: $SIFT_BENCH_ROOT/sift of a bench.py --keep run (e.g. a copy of
/tmp/k300/sift)."""
import sys, os, re, json, time, statistics, argparse, subprocess, signal
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
import bench, dovetest

ap = argparse.ArgumentParser(
    description=__doc__.split("\n\n")[0],
    epilog="env: SIFT_PLUGIN_SO or REPLAY_SO (the plugin), PERF, PERF_CG, "
    "STRACE (see the top of %s)" % os.path.basename(__file__),
    formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("root", help="$SIFT_BENCH_ROOT/sift of a bench.py --keep run")
ap.add_argument("criteria", nargs="*",
                help='a search as a JSON list, e.g. \'["BODY","kselftest"]\'')
ap.add_argument("--needle", action="append",
                help='search BODY "<needle>" (repeatable)')
ap.add_argument("--sessions", type=int, default=5,
                help="fresh imap processes (default 5)")
ap.add_argument("--reps", type=int, default=1,
                help="each search this many times per session (default 1)")
ap.add_argument("--no-warm", action="store_true",
                help="no UID SEARCH UID 1 before the searches: the first "
                "one pays Dovecot's opening of the mailbox")
ap.add_argument("--no-debug", action="store_true",
                help="mail_debug off (no lookup time)")
ap.add_argument("--json", help="every search's numbers to this file")
a = ap.parse_intermixed_args()

searches = []       # (label, criteria)
for text in a.criteria:
    crit = json.loads(text)
    searches.append((" ".join(crit), crit))
for n in a.needle or ([] if a.criteria else
                      ["kselftest", "selftests", "possible"]):
    searches.append((n, ["BODY", bench.V(n)]))

os.environ["SIFT_PLUGIN_SO"] = (
    os.environ.get("REPLAY_SO") or os.environ.get("SIFT_PLUGIN_SO") or
    os.path.join(REPO, "plugin/.libs/lib21_fts_sift_plugin.so"))
# mail_debug: the plugin's "Lookup in ...: ... us" line gives its own part
# of each search (the first search of a process also pays Dovecot's
# opening of the mailbox, unless the warm-up search did)
debug = not a.no_debug
dv = dovetest.Dovecot(a.root, None, plugin="sift", users=[bench.USER],
                      extra_conf=bench.QUIET_CONF +
                      ("mail_debug = yes\n" if debug else ""))
LOOKUP_RE = re.compile(r"Lookup in .*?: \d+ definite, \d+ maybe uids, "
                       r"last_uid=\d+, (\d+) us")


def imap_pids(master):
    """The imap processes of the Dovecot whose master is master."""
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


def cpu_ms(pid):
    return int(open("/proc/%d/schedstat" % pid).read().split()[0]) / 1e6


def sample(pid):
    """CPU ms, bytes read (rchar) and the memory (KB: VmHWM, RssAnon,
    RssFile) of process pid."""
    cpu = cpu_ms(pid)
    rchar = 0
    for line in open("/proc/%d/io" % pid):
        if line.startswith("rchar:"):
            rchar = int(line.split()[1])
    mem = {}
    for line in open("/proc/%d/status" % pid):
        k = line.split(":")[0]
        if k in ("VmHWM", "RssAnon", "RssFile"):
            mem[k] = int(line.split()[1])
    return cpu, rchar, mem


def mem_text(mem):
    return "hwm %5.1f anon %5.1f file %5.1f MB" % (
        mem.get("VmHWM", 0) / 1024.0, mem.get("RssAnon", 0) / 1024.0,
        mem.get("RssFile", 0) / 1024.0)


def attach(pid, session):
    """perf record / strace pid as $PERF / $STRACE ask; the processes."""
    def out(path):
        return path if session == 0 else "%s.%d" % (path, session)
    procs = []
    if os.environ.get("PERF"):
        procs.append(subprocess.Popen(
            ["perf", "record", "--call-graph", os.environ.get("PERF_CG", "fp"),
             "-F", "4000", "-o", out(os.environ["PERF"]), "-p", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if os.environ.get("STRACE"):
        procs.append(subprocess.Popen(
            ["strace", "-T", "-tt", "-e", "trace=openat,read,pread64,mmap,"
             "munmap,getdents64,fstat,stat,newfstatat,brk,mremap",
             "-o", out(os.environ["STRACE"]), "-p", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if procs:
        time.sleep(1)
    return procs


def detach(procs):
    for p in procs:
        p.send_signal(signal.SIGINT)
        p.wait()


def search(conn, pid, label, crit):
    """One search, measured."""
    args = dovetest.search_command_bytes(crit, None)
    since = dv.log_size()
    c0, r0, m0 = sample(pid)
    t0 = time.perf_counter()
    typ, data = conn.uid("SEARCH", args)
    t1 = time.perf_counter()
    c1, r1, m1 = sample(pid)
    t2 = time.perf_counter()
    if typ != "OK":
        raise dovetest.DovecotError("UID SEARCH %s -> %s %s" %
                                    (args[:300], typ, data))
    uids = dovetest.parse_search_response(data)
    t3 = time.perf_counter()
    lookup_ms = None
    if debug:
        time.sleep(0.05)
        text = open(dv.log_path, "rb").read()[since:].decode(
            "utf-8", "replace")
        lookup_ms = sum(int(u) for u in LOOKUP_RE.findall(text)) / 1000
    return {"needle": label, "criteria": crit,
            "ms": (t1 - t0 + t3 - t2) * 1000, "recv_ms": (t1 - t0) * 1000,
            "parse_ms": (t3 - t2) * 1000, "cpu_ms": c1 - c0,
            "lookup_ms": lookup_ms, "read_kb": (r1 - r0) / 1024,
            "anon_kb": m1.get("RssAnon", 0) - m0.get("RssAnon", 0),
            "anon_after_kb": m1.get("RssAnon", 0),
            "hwm_kb": m1.get("VmHWM", 0), "file_kb": m1.get("RssFile", 0),
            "hits": len(uids)}


def med(xs, key):
    vals = [x[key] for x in xs if x[key] is not None]
    return statistics.median(vals) if vals else float("nan")


def line(label, xs):
    """One search's numbers (the medians of xs)."""
    lookup = "%6.1f" % med(xs, "lookup_ms") if debug else "     -"
    return ("%-32s n=%7d  wall %7.1f ms (recv %7.2f parse %6.2f)  cpu %7.1f"
            " ms  lookup %s ms  read %8.0f KB  anon +%6d KB  %s" % (
                label[:32], xs[-1]["hits"], med(xs, "ms"), med(xs, "recv_ms"),
                med(xs, "parse_ms"), med(xs, "cpu_ms"), lookup,
                med(xs, "read_kb"), med(xs, "anon_kb"),
                mem_text({"VmHWM": med(xs, "hwm_kb"),
                          "RssAnon": med(xs, "anon_after_kb"),
                          "RssFile": med(xs, "file_kb")})))


dv.start()
rows = []
try:
    for s in range(a.sessions):
        # the last session's imap process gone first
        master = dv._master_pid()
        t0 = time.time()
        while imap_pids(master) and time.time() - t0 < 10:
            time.sleep(0.01)
        conn = dv.imap(bench.USER)
        conn.select("INBOX")
        pids = imap_pids(dv._master_pid())
        assert len(pids) == 1, pids
        pid = pids[0]
        print("session %d %-24s %s" % (s, "(after SELECT)",
                                       mem_text(sample(pid)[2])), flush=True)
        procs = attach(pid, s)
        try:
            if not a.no_warm:
                conn.uid("SEARCH", "UID", "1")
            row = {"session": s, "searches": []}
            for i, (label, crit) in enumerate(searches):
                xs = []
                for r in range(a.reps):
                    x = search(conn, pid, label, crit)
                    x["search"], x["rep"] = i, r
                    xs.append(x)
                row["searches"].extend(xs)
                print("session %d %s" % (s, line(label, xs)), flush=True)
            rows.append(row)
        finally:
            detach(procs)
        conn.logout()
finally:
    dv.stop()
print("medians over %d sessions x %d reps:" % (len(rows), a.reps))
for i, (label, crit) in enumerate(searches):
    print("  " + line(label, [x for r in rows for x in r["searches"]
                              if x["search"] == i]))
if a.json:
    json.dump(rows, open(a.json, "w"), indent=1)
