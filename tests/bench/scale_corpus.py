#!/usr/bin/env python3
"""Build the scale benchmark's corpora (mboxrd, zstd) from public-inbox git
mirrors of mailing-list archives.

Usage:
  python3 tests/bench/scale_corpus.py --out 300000:DIR/scale-300k.mbox.zst \
        [--out 100000:DIR/scale-100k.mbox.zst ...] [--ready] MIRROR...

MIRROR is a public-inbox v2 epoch as a git repository (bare or not; a
directory holding "repo" is accepted too): one message per commit, in the
file "m" of the commit's tree.  Nothing of the mirrors is committed to this
repository; the corpora are test data used on this machine only.

Order.  The messages of all mirrors are merged by their commit (import)
time, oldest first, as one mailbox subscribed to all of these lists would
have received them; ties are broken by author time, then the mirror's
position on the command line, then the commit order.  So the order depends
only on the mirrors' commits, and every output is a prefix of the longest
one: the first 30,000 messages of scale-300k are scale-30k, the first
100,000 are scale-100k (sizes nested, so growth ratios compare like with
like).

Skipped: commits without "m" (public-inbox deletions), empty or blank
messages, and a blob already written (the same message imported twice).

Format: mboxrd with LF line ends (CRLF is turned into LF), like
../shared/corpora/lore-kselftest-30k.mbox.zst: each message starts with
"From <author address> <asctime of the author date, UTC>", every line that
matches ">*From " gets one more ">", and a blank line follows each message.
bench.py reads it back (removing one ">").

Each output is written to a temporary name and renamed when complete, with
OUT.info.json beside it (per-list counts, SHA-256 of the uncompressed mbox,
the mirrors' HEAD commits).  With --ready, an empty marker READY-<label>
(e.g. READY-100k) is then created in the output's directory, again via a
temporary name.  The SHA-256 of the uncompressed mbox is what bench.py keys
cached oracle results by.
"""
import argparse
import hashlib
import heapq
import json
import os
import re
import subprocess
import sys
import threading
import time

FROM_RE = re.compile(rb"^(>*From )", re.M)


def git_dir(path):
    """A mirror path as given (…/repo or its parent) to a git directory."""
    if os.path.isdir(os.path.join(path, "repo")):
        path = os.path.join(path, "repo")
    return path


def list_name(path):
    """linux-mailinglist-archives+linux-usb.vger.kernel.org.0/repo -> linux-usb"""
    p = os.path.abspath(git_dir(path))
    base = os.path.basename(os.path.dirname(p)) if os.path.basename(p) == "repo" else os.path.basename(p)
    base = base.split("+", 1)[-1]
    return base.split(".vger.")[0] if ".vger." in base else base


class Mirror:
    """One mirror: its commits (oldest first) and a `git cat-file --batch`
    fed with "<commit>:m" for every commit by a writer thread, so responses
    are read in commit order without one round trip per message."""

    def __init__(self, idx, path):
        self.idx = idx
        self.path = git_dir(path)
        self.name = list_name(path)
        self.head = subprocess.run(["git", "-C", self.path, "rev-parse", "HEAD"], check=True,
                                   capture_output=True, text=True).stdout.strip()
        out = subprocess.run(["git", "-C", self.path, "log", "--reverse", "--format=%H %ct %at %ae",
                              self.head], check=True, capture_output=True).stdout
        self.commits = []
        for line in out.splitlines():
            parts = line.split(b" ", 3)
            addr = parts[3] if len(parts) > 3 else b""
            self.commits.append((parts[0].decode(), int(parts[1]), int(parts[2]), addr))
        self.proc = subprocess.Popen(["git", "-C", self.path, "cat-file", "--batch", "--buffer"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1 << 20)
        self.writer = threading.Thread(target=self._feed, daemon=True)
        self.writer.start()
        self.read_pos = 0

    def _feed(self):
        try:
            for c in self.commits:
                self.proc.stdin.write(c[0].encode() + b":m\n")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # closed early: we had enough messages

    def keys(self):
        for seq, (sha, ct, at, addr) in enumerate(self.commits):
            yield (ct, at, self.idx, seq)

    def read(self, seq):
        """The blob id and content of commit seq's "m", or (None, None) when
        the commit has none (a deletion).  Must be called in commit order."""
        assert seq == self.read_pos, (seq, self.read_pos)
        self.read_pos += 1
        header = self.proc.stdout.readline()
        if not header:
            raise RuntimeError(f"{self.path}: git cat-file ended early")
        fields = header.split()
        if len(fields) < 3 or fields[-1] == b"missing" or fields[1] != b"blob":
            if len(fields) == 3 and fields[1] != b"missing" and fields[1] != b"blob":
                # an object that is not a blob: skip its content too
                self.proc.stdout.read(int(fields[2]) + 1)
            return None, None
        size = int(fields[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)  # the LF after the content
        return fields[0], data

    def close(self):
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        self.proc.kill()
        self.proc.wait()


def from_line(addr, at):
    a = addr.decode("utf-8", "replace").strip()
    a = re.sub(r"\s+", "", a) or "MAILER-DAEMON"
    return ("From %s %s\n" % (a, time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(at)))).encode()


def mboxrd(raw):
    raw = raw.replace(b"\r\n", b"\n")
    raw = FROM_RE.sub(rb">\1", raw)
    if not raw.endswith(b"\n"):
        raw += b"\n"
    return raw + b"\n"


class Output:
    def __init__(self, count, path, mirrors, level):
        self.count = count
        self.path = path
        self.tmp = path + ".tmp"
        self.sha = hashlib.sha256()
        self.bytes = 0
        self.per_list = {m.name: 0 for m in mirrors}
        self.first_time = self.last_time = None
        self.fh = open(self.tmp, "wb")
        self.zstd = subprocess.Popen(["zstd", "-q", "-f", "-T2", "-%d" % level, "-c"],
                                     stdin=subprocess.PIPE, stdout=self.fh, bufsize=1 << 20)
        self.n = 0

    def write(self, chunk, name, ct):
        self.zstd.stdin.write(chunk)
        self.sha.update(chunk)
        self.bytes += len(chunk)
        self.per_list[name] += 1
        self.n += 1
        if self.first_time is None:
            self.first_time = ct
        self.last_time = ct

    def finish(self, mirrors, ready):
        self.zstd.stdin.close()
        if self.zstd.wait() != 0:
            raise RuntimeError("zstd failed for " + self.path)
        self.fh.close()
        info = {
            "file": os.path.basename(self.path),
            "messages": self.n,
            "per_list": self.per_list,
            "mbox_bytes": self.bytes,
            "mbox_sha256": self.sha.hexdigest(),
            "zst_bytes": os.path.getsize(self.tmp),
            "first_import": time.strftime("%Y-%m-%d", time.gmtime(self.first_time)),
            "last_import": time.strftime("%Y-%m-%d", time.gmtime(self.last_time)),
            "mirrors": [{"list": m.name, "path": os.path.abspath(m.path), "head": m.head}
                        for m in mirrors],
            "built_by": "tests/bench/scale_corpus.py",
        }
        with open(self.path + ".info.json.tmp", "w") as f:
            json.dump(info, f, indent=1)
            f.write("\n")
        os.rename(self.tmp, self.path)
        os.rename(self.path + ".info.json.tmp", self.path + ".info.json")
        label = "%dk" % (self.count // 1000) if self.count % 1000 == 0 else str(self.count)
        if ready:
            marker = os.path.join(os.path.dirname(os.path.abspath(self.path)), "READY-" + label)
            with open(marker + ".tmp", "w") as f:
                f.write(info["mbox_sha256"] + "  " + info["file"] + "\n")
            os.rename(marker + ".tmp", marker)
        print("%s: %d messages (%s), %.1f MB mbox, %.1f MB zst, %s..%s, sha256 %s" % (
            self.path, self.n, ", ".join("%s %d" % kv for kv in self.per_list.items()),
            self.bytes / 1e6, info["zst_bytes"] / 1e6, info["first_import"], info["last_import"],
            info["mbox_sha256"]), flush=True)
        return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mirrors", nargs="+", help="public-inbox v2 epoch git repositories")
    ap.add_argument("--out", action="append", required=True, metavar="COUNT:PATH",
                    help="write the first COUNT messages to PATH (.mbox.zst); repeatable")
    ap.add_argument("--ready", action="store_true",
                    help="create READY-<count label> beside each output once it is complete")
    ap.add_argument("--level", type=int, default=3, help="zstd level (default 3)")
    args = ap.parse_args()

    mirrors = [Mirror(i, p) for i, p in enumerate(args.mirrors)]
    names = [m.name for m in mirrors]
    if len(set(names)) != len(names):
        sys.exit("two mirrors of the same list: %s" % names)
    outs = []
    for spec in args.out:
        count, _, path = spec.partition(":")
        if not path.endswith(".zst"):
            sys.exit("--out PATH must end in .zst: " + path)
        outs.append(Output(int(count), path, mirrors, args.level))
    outs.sort(key=lambda o: o.count)
    total = outs[-1].count
    available = sum(len(m.commits) for m in mirrors)
    if available < total:
        sys.exit("the mirrors hold %d commits, fewer than %d" % (available, total))

    seen = set()
    skipped = {"deleted": 0, "empty": 0, "duplicate": 0}
    written = 0
    t0 = time.time()
    merged = heapq.merge(*(m.keys() for m in mirrors))
    open_outs = list(outs)
    for ct, at, idx, seq in merged:
        m = mirrors[idx]
        blob, raw = m.read(seq)
        if blob is None:
            skipped["deleted"] += 1
            continue
        if not raw.strip():
            skipped["empty"] += 1
            continue
        if blob in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(blob)
        chunk = from_line(m.commits[seq][3], at) + mboxrd(raw)
        for o in open_outs:
            o.write(chunk, m.name, ct)
        written += 1
        while open_outs and open_outs[0].count == written:
            open_outs.pop(0).finish(mirrors, args.ready)
        if not open_outs:
            break
        if written % 20000 == 0:
            print("  %d messages, %.0f s" % (written, time.time() - t0), file=sys.stderr, flush=True)
    for m in mirrors:
        m.close()
    if open_outs:
        sys.exit("ran out of messages at %d" % written)
    print("skipped: %s; %.0f s" % (", ".join("%s %d" % kv for kv in skipped.items()),
                                   time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
