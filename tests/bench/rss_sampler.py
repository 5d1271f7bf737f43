#!/usr/bin/python3
"""Sample a process's memory from /proc/<pid>/smaps and split it by owner.

Why: a process's peak RSS (VmHWM) mixes anonymous memory (heap, stacks,
the plugin's and Xapian's buffers) with file-backed pages (Dovecot's
mmap()ed dovecot.index.cache and index files, the plugin's side files,
shared libraries).  Only the anonymous part is memory the process owns;
file pages are page cache the kernel can drop.  The sampler keeps, over the
process's life, the peak of each class and the mappings at the sample with
the largest RSS.

Classes (from each smaps mapping's Rss, split into Anonymous and file):
  anon           anonymous pages of every mapping ([heap], anonymous mmaps,
                 stacks; Anonymous: of file mappings = their private copies)
  dovecot_files  file pages of Dovecot's own files (dovecot.index*,
                 dovecot.list.index*, dovecot-uidlist, ...)
  sift_files     file pages of the plugin's side files (the fts-sift dir,
                 Xapian's tables in it)
  libs           file pages of shared objects and other files

Use as a module (bench.py: Sampler(pid).start() ... .stop() -> dict) or
from the shell:
  rss_sampler.py --pid PID [--interval 1] [--json out.json]
  rss_sampler.py --comm doveadm --cmdline-has /tmp/sift-bench-x  (waits
      for the first matching process, samples it until it exits)
  rss_sampler.py --interval 0.2 --json out.json -- doveadm -c CONF index \
      -u bench INBOX   (runs the command and samples it)

Steps of a run (--status-interval 0.05 --steps 'INDEX.compact/*'): between
the smaps samples, /proc/PID/status (VmRSS, RssAnon, VmHWM: cheap) every
status-interval seconds, each sample labelled with the files the glob
matches (e.g. the copy a compaction writes: Xapian's merge tables, then
terms.tmp, grams.tmp, opaque.tmp, gaps.tmp), kept as "steps": a row when
RSS moves by 2 MB or the label changes, and per label the largest RssAnon
and VmHWM.  That tells which step of a checkpoint raised the peak.
"""

import argparse
import glob
import json
import os
import re
import sys
import threading
import time

KB = 1024.0
MAP_RE = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def classify(path):
    if not path or path.startswith("["):
        return "anon"
    base = os.path.basename(path)
    if "/usr/" in path or ".so" in base:
        return "libs"
    if "/fts-sift" in path:
        return "sift_files"
    if base.startswith("dovecot") or "/mailboxes/" in path:
        return "dovecot_files"
    return "libs"


def read_smaps(pid):
    """One sample: {"rss_kb", "anon_kb", "classes": {cls: kb},
    "files": {path: rss_kb (file pages)}, "heap_kb"}; None if gone."""
    try:
        with open("/proc/%d/smaps" % pid) as f:
            text = f.read()
    except OSError:
        return None
    classes = {"anon": 0, "dovecot_files": 0, "sift_files": 0, "libs": 0}
    files = {}
    anon_maps = []
    rss = anon = heap = 0
    path = None
    m_rss = 0
    m_size = 0
    for line in text.splitlines():
        if MAP_RE.match(line):
            parts = line.split(None, 5)
            path = parts[5].strip() if len(parts) > 5 else ""
            lo, hi = parts[0].split("-")
            m_size = (int(hi, 16) - int(lo, 16)) // 1024
            m_rss = 0
            continue
        if line.startswith("Rss:"):
            m_rss = int(line.split()[1])
            rss += m_rss
        elif line.startswith("Anonymous:"):
            a = int(line.split()[1])
            anon += a
            classes["anon"] += a
            filepart = m_rss - a
            if path == "[heap]":
                heap += a
            if a >= 512:
                anon_maps.append(("%s (%d KB mapping)"
                                  % (path or "anon", m_size), a))
            if filepart > 0:
                c = classify(path)
                if c == "anon":  # e.g. [vdso]: count as libs
                    c = "libs"
                classes[c] += filepart
                files[path] = files.get(path, 0) + filepart
    return {"rss_kb": rss, "anon_kb": anon, "heap_kb": heap,
            "classes": classes, "files": files, "anon_maps": anon_maps}


def read_status(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
    except OSError:
        return {}
    out = {}
    for k in ("VmHWM", "VmRSS", "VmPeak", "VmSize", "RssAnon", "RssFile",
              "RssShmem"):
        m = re.search(r"^%s:\s+(\d+)" % k, st, re.M)
        if m:
            out[k] = int(m.group(1))
    return out


class Sampler:
    """Samples pid every interval seconds in a thread until stop() or the
    process exits.  result(): peak figures in MB and the breakdown at the
    largest-RSS sample (top files by resident pages)."""

    def __init__(self, pid, interval=1.0, status_interval=None,
                 steps_glob=None):
        self.pid = pid
        self.interval = interval
        self.status_interval = status_interval
        self.steps_glob = steps_glob
        self.steps = []             # (t, label, rss_mb, anon_mb, hwm_mb)
        self.step_peaks = {}        # label: [max anon_mb, max hwm_mb]
        self._last_step = None
        self.samples = 0
        self.cpu_s = None           # the process's CPU s at the last sample
        self.peak = None            # sample with the largest rss
        self.peak_anon = None       # sample with the largest anon
        self.peak_class = {}
        self.status = {}
        self.series = []            # (t, rss_mb, anon_mb, hwm_mb)
        self._stop = threading.Event()
        self._t = None
        self._t0 = time.time()

    def sample_once(self):
        s = read_smaps(self.pid)
        if s is None:
            return False
        st = read_status(self.pid)
        if st:
            self.status = st
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            self.cpu_s = (int(fields[11]) + int(fields[12])) / \
                os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
        self.samples += 1
        self.series.append((round(time.time() - self._t0, 1),
                            round(s["rss_kb"] / KB, 1),
                            round(s["anon_kb"] / KB, 1),
                            round(self.status.get("VmHWM", 0) / KB, 1)))
        if self.peak is None or s["rss_kb"] > self.peak["rss_kb"]:
            self.peak = s
        if self.peak_anon is None or s["anon_kb"] > self.peak_anon["anon_kb"]:
            self.peak_anon = s
        for k, v in s["classes"].items():
            self.peak_class[k] = max(self.peak_class.get(k, 0), v)
        return True

    def step_label(self):
        if not self.steps_glob:
            return ""
        return ",".join(sorted(os.path.basename(x)
                               for x in glob.glob(self.steps_glob)))

    def sample_status(self):
        """One cheap sample (/proc/PID/status) with its step label."""
        st = read_status(self.pid)
        if not st:
            return False
        label = self.step_label()
        rss, anon, hwm = (round(st.get(k, 0) / KB, 1)
                          for k in ("VmRSS", "RssAnon", "VmHWM"))
        pk = self.step_peaks.setdefault(label, [0, 0])
        pk[0] = max(pk[0], anon)
        pk[1] = max(pk[1], hwm)
        last = self._last_step
        if last is None or label != last[1] or abs(rss - last[2]) >= 2:
            self._last_step = (round(time.time() - self._t0, 2), label,
                               rss, anon, hwm)
            self.steps.append(self._last_step)
        return True

    def _run(self):
        while not self._stop.is_set():
            if not self.sample_once():
                break
            if not self.status_interval:
                self._stop.wait(self.interval)
                continue
            end = time.time() + self.interval
            while time.time() < end and not self._stop.is_set():
                if not self.sample_status():
                    return
                self._stop.wait(self.status_interval)

    def start(self):
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        if self._t:
            self._t.join()
        return self.result()

    def result(self, top=12):
        if self.peak is None:
            return {"samples": 0}

        def mb(kb):
            return round(kb / KB, 1)
        files = sorted(self.peak["files"].items(), key=lambda x: -x[1])
        return {
            "samples": self.samples,
            "cpu_s_at_last_sample": self.cpu_s,
            "vm_hwm_mb": mb(self.status.get("VmHWM", 0)),
            "vm_peak_mb": mb(self.status.get("VmPeak", 0)),
            "peak_rss_mb": mb(self.peak["rss_kb"]),
            "peak_anon_mb": mb(self.peak_anon["anon_kb"]),
            "peak_heap_mb": mb(self.peak_anon["heap_kb"]),
            "peak_by_class_mb": {k: mb(v) for k, v in self.peak_class.items()},
            "at_peak_rss_mb": {k: mb(v) for k, v in
                               self.peak["classes"].items()},
            "at_peak_top_files_mb": [(p, mb(v)) for p, v in files[:top]
                                     if v >= 256],
            "at_peak_anon_maps_mb": [(p, mb(v)) for p, v in sorted(
                self.peak_anon["anon_maps"], key=lambda x: -x[1])[:top]],
            "series": self.series,
            "steps": self.steps,
            "step_peaks_mb": {k: {"anon": v[0], "hwm": v[1]}
                              for k, v in self.step_peaks.items()},
        }


def find_process(comm, needle, timeout):
    end = time.time() + timeout
    while time.time() < end:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().strip() != comm:
                        continue
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cl = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle is None or needle in cl:
                return int(d)
        time.sleep(0.2)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pid", type=int)
    ap.add_argument("--comm")
    ap.add_argument("--cmdline-has")
    ap.add_argument("--wait", type=float, default=3600)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--status-interval", type=float, default=None,
                    help="also sample /proc/PID/status this often (s)")
    ap.add_argument("--steps", metavar="GLOB",
                    help="label the status samples with the files GLOB "
                    "matches (e.g. '<index>.compact/*')")
    ap.add_argument("--json")
    ap.add_argument("--stop-after", type=float, default=None,
                    help="with a command: SIGTERM it after this many s")
    ap.add_argument("cmd", nargs="*")
    a = ap.parse_args()
    proc = None
    if a.cmd:
        import subprocess
        proc = subprocess.Popen(a.cmd, stdin=subprocess.DEVNULL)
        pid = proc.pid
    else:
        pid = a.pid or find_process(a.comm, a.cmdline_has, a.wait)
    if not pid:
        sys.exit("no process")
    s = Sampler(pid, a.interval, a.status_interval, a.steps)
    if proc is not None:
        # a child stays a zombie (its smaps empty) until waited for
        s.start()
        try:
            proc.wait(timeout=a.stop_after)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        r = s.stop()
        r["rc"] = proc.returncode
    else:
        s._run()
        r = s.result()
    r["pid"] = pid
    out = json.dumps(r, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(out)
    r.pop("series", None)
    r.pop("steps", None)
    print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
