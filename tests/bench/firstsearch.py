#!/usr/bin/python3
"""Searches on a fresh IMAP session of a kept bench instance: per
search the imap process's CPU time (/proc/<pid>/schedstat), the wall
time until the tagged OK ("recv") and the client's parse of the answer,
median of --reps.  With --reps 1 it shows what a session's first
searches cost (bench.py runs each query once, on one connection); with
searches Dovecot answers from its own index (UID 1:N, flags) it shows
Dovecot's floor for an answer of N UIDs.

    python3 tests/bench/firstsearch.py ROOT [--reps N] CRITERIA...
        CRITERIA: a JSON list each, e.g. '["BODY","kselftest"]'
    env: REPLAY_SO=<plugin .so> (default: the build tree's),
         PERF=<file> (perf record the imap process meanwhile),
         PERF_CG=dwarf|fp (perf's call graph, default fp),
         STRACE=<file> (strace -T the imap process meanwhile: its opens,
         reads and maps, with the time each took)

ROOT is $SIFT_BENCH_ROOT/sift of a bench.py --keep run."""
import sys, os, time, json, statistics, argparse, subprocess, signal
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
import bench, dovetest
ap = argparse.ArgumentParser()
ap.add_argument("root")
ap.add_argument("--reps", type=int, default=1)
ap.add_argument("criteria", nargs="+")
a = ap.parse_args()
os.environ["SIFT_PLUGIN_SO"] = os.environ.get("REPLAY_SO") or os.path.join(
    REPO, "plugin/.libs/lib21_fts_sift_plugin.so")
dv = dovetest.Dovecot(a.root, None, plugin="sift", users=[bench.USER],
                      extra_conf=bench.QUIET_CONF)
dv.start()
try:
    conn = dv.imap(bench.USER)
    conn.select("INBOX")
    master = dv._master_pid()
    ipid = None
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % p).read()
            cmd = open("/proc/%s/cmdline" % p, "rb").read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == master and \
                cmd.split(b"\0")[0].endswith(b"/imap"):
            ipid = int(p)
    assert ipid is not None
    perfp = None
    if os.environ.get("PERF"):
        perfp = subprocess.Popen(
            ["perf", "record", "--call-graph", os.environ.get("PERF_CG", "fp"),
             "-F", "4000", "-o", os.environ["PERF"], "-p", str(ipid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)

    stracep = None
    if os.environ.get("STRACE"):
        stracep = subprocess.Popen(
            ["strace", "-T", "-tt", "-e", "trace=openat,read,pread64,mmap,"
             "munmap,getdents64,fstat,stat,newfstatat,brk,mremap",
             "-o", os.environ["STRACE"], "-p", str(ipid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)

    def cpu():
        return int(open("/proc/%d/schedstat" % ipid).read().split()[0]) / 1e6
    def mem():
        """VmHWM, RssAnon and RssFile of the imap process, MB"""
        v = {}
        for line in open("/proc/%d/status" % ipid):
            k = line.split(":")[0]
            if k in ("VmHWM", "RssAnon", "RssFile"):
                v[k] = int(line.split()[1]) / 1024.0
        return "hwm %5.1f anon %5.1f file %5.1f MB" % (
            v.get("VmHWM", 0), v.get("RssAnon", 0), v.get("RssFile", 0))
    print("%-32s %s" % ("(after SELECT)", mem()))
    for text in a.criteria:
        crit = json.loads(text)
        ws, cs, ps = [], [], []
        for r in range(a.reps):
            args = dovetest.search_command_bytes(crit, None)
            c0 = cpu()
            t0 = time.perf_counter()
            typ, data = conn.uid("SEARCH", args)
            t1 = time.perf_counter()
            c1 = cpu()
            uids = dovetest.parse_search_response(data)
            t2 = time.perf_counter()
            ws.append((t1 - t0) * 1000)
            cs.append(c1 - c0)
            ps.append((t2 - t1) * 1000)
        print("%-32s n=%7d  imap cpu %7.2f ms  recv %7.2f ms  parse %6.2f ms"
              "  %s" % (" ".join(crit)[:32], len(uids), statistics.median(cs),
                        statistics.median(ws), statistics.median(ps), mem()))
    for p in (perfp, stracep):
        if p is not None:
            p.send_signal(signal.SIGINT)
            p.wait()
    conn.logout()
finally:
    dv.stop()
