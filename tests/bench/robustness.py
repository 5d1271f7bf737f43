#!/usr/bin/env python3
"""Robustness run: index every set of ../shared/corpora with fts-sift and
check that nothing crashed and that searches still equal Dovecot's own.

    python3 tests/bench/robustness.py [--corpora DIR] [--limit N] [--queries N]

Each corpus becomes one mailbox of one user (maildir files written
directly), "doveadm index -u robust '*'" indexes all of them, and then for
each mailbox a sample of words that really occur in it (bodies, subjects,
addresses, in every script present) is searched over IMAP on the fts-sift
instance and on an instance without FTS serving the same maildirs.  Prints
per mailbox: messages, indexing seconds, queries, mismatches, and the
Panic/Fatal/Error lines of Dovecot's log.  Exit status 1 on any mismatch or
log problem.  This is a run to look at, not part of the test suite (the
corpora are not shipped with the project).
"""

import argparse
import email
import email.policy
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
from dovetest import Dovecot, free_port  # noqa: E402
sys.path.insert(0, HERE)
from bench import read_mbox  # noqa: E402

WORD_RE = re.compile(r"\w{3,24}", re.UNICODE)


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


def write_maildir(box_dir, msgs):
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(box_dir, d), exist_ok=True)
    total = 0
    for i, m in enumerate(msgs, 1):
        total += len(m)
        with open(os.path.join(box_dir, "cur", "%d.%d.robust:2," % (1000000 + i, i)), "wb") as f:
            f.write(m)
    return total


def sample_queries(msgs, n, seed):
    """Words, addresses and subject words that occur in these messages."""
    rnd = random.Random(seed)
    words, addrs, subjects = set(), set(), set()
    for raw in rnd.sample(msgs, min(len(msgs), 400)):
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            for part in msg.walk():
                if part.get_content_maintype() == "text":
                    try:
                        text = part.get_content()
                    except Exception:
                        continue
                    words.update(rnd.sample(WORD_RE.findall(text)[:2000],
                                            min(5, len(WORD_RE.findall(text)[:2000]))))
            for h in ("From", "To"):
                v = str(msg.get(h, ""))
                addrs.update(re.findall(r"[\w.+-]+@[\w.-]+", v)[:2])
            subjects.update(WORD_RE.findall(str(msg.get("Subject", "")))[:3])
        except Exception:
            continue
    q = []
    for w in rnd.sample(sorted(words), min(len(words), n // 2)):
        q.append(("BODY", w))
        if len(w) > 5:
            q.append(("BODY", w[1:-1]))
    for a in rnd.sample(sorted(addrs), min(len(addrs), n // 6)):
        q.append(("FROM", a))
    for s in rnd.sample(sorted(subjects), min(len(subjects), n // 6)):
        q.append(("SUBJECT", s))
        q.append(("TEXT", s))
    return q[:n]


def search(inst, conn, crit):
    try:
        return inst.uid_search(conn, *crit)
    except Exception as e:  # an error is a result to compare, too
        return "ERR %s" % str(e)[:200]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", default=os.path.join(os.path.dirname(REPO), "shared", "corpora"))
    ap.add_argument("--limit", type=int, default=0, help="messages per mailbox (0 = all)")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--root", default="/tmp/fts-sift-robustness")
    args = ap.parse_args()

    shutil.rmtree(args.root, ignore_errors=True)
    os.makedirs(args.root)
    sets = {}
    k30 = os.path.join(args.corpora, "lore-kselftest-30k.mbox.zst")
    ml = os.path.join(args.corpora, "multilingual.mbox.zst")
    dv = os.path.join(args.corpora, "diverse.tar.zst")
    if os.path.exists(dv):
        sets.update(diverse_sets(dv, args.root))
    if os.path.exists(ml):
        sets["multilingual"] = read_mbox(ml)
    if os.path.exists(k30):
        sets["kselftest"] = read_mbox(k30)
    if not sets:
        print("no corpora found under", args.corpora)
        return 2
    if args.limit:
        sets = {k: v[:args.limit] for k, v in sets.items()}

    sift = Dovecot(os.path.join(args.root, "sift"), free_port(), plugin="sift", users=("robust",))
    sift._prepare()
    maildir = sift.maildir("robust")
    boxes = {}
    for name, msgs in sets.items():
        box = name.replace("-", "_")
        write_maildir(os.path.join(maildir, "." + box), msgs)
        boxes[box] = msgs
    subprocess.run(["chown", "-R", "nobody:nogroup", sift.home("robust")], check=True)
    sift.start()
    oracle = Dovecot(os.path.join(args.root, "oracle"), free_port(), plugin="none",
                     users=("robust",), oracle_of=sift)
    oracle.start()
    bad = 0
    try:
        for box in boxes:
            sift.doveadm("mailbox", "subscribe", "-u", "robust", box, check=False)
        t = time.time()
        p = sift.doveadm("index", "-u", "robust", "*", check=False, timeout=7200)
        print("doveadm index '*': rc=%d, %.1f s" % (p.returncode, time.time() - t))
        if p.returncode != 0:
            print(p.stderr[-2000:])
            bad += 1
        cs, co = sift.imap("robust"), oracle.imap("robust")
        print("%-22s %7s %8s %8s" % ("mailbox", "msgs", "queries", "mismatch"))
        for box, msgs in boxes.items():
            cs.select(box, readonly=True)
            co.select(box, readonly=True)
            queries = sample_queries(msgs, args.queries, seed=box)
            mism = 0
            for q in queries:
                a, b = search(sift, cs, q), search(oracle, co, q)
                if a != b:
                    mism += 1
                    if mism <= 5:
                        extra = sorted(set(a) - set(b)) if isinstance(a, list) and isinstance(b, list) else a
                        missing = sorted(set(b) - set(a)) if isinstance(a, list) and isinstance(b, list) else b
                        print("   MISMATCH %s: extra %s missing %s" % (q, extra[:10], missing[:10]))
            print("%-22s %7d %8d %8d" % (box, len(msgs), len(queries), mism))
            bad += mism
        problems = sift.log_problems()
        print("Dovecot log problems (Panic/Fatal/Error): %d" % len(problems))
        for line in problems[:20]:
            print("  ", line)
        bad += len([p for p in problems if "Panic" in p or "Fatal" in p])
    finally:
        sift.stop()
        oracle.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
