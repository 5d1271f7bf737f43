#!/usr/bin/python3
"""Index growth with new mail: index the first BULK messages of MBOX in one
`doveadm index` run, then the next N in runs of K messages (one
`doveadm index` each, as new mail arrives), and print the index's parts
(bytes) after the bulk run, after the short runs and after
`doveadm fts optimize`.  It prints numbers; it is not a test.

    python3 tests/bench/incr_growth.py ROOT MBOX BULK N K
    env: SIFT_PLUGIN_SO=<plugin .so> (default: the build tree's)

ROOT is created (removed first if it exists)."""
import os
import shutil
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
import bench  # noqa: E402
import dovetest  # noqa: E402

PARTS = ("postlist.glass", "opaque", "terms", "gaps")


def main():
    root, mbox = sys.argv[1], sys.argv[2]
    bulk, n, k = (int(a) for a in sys.argv[3:6])
    msgs = bench.read_mbox(mbox, bulk + n)
    shutil.rmtree(root, ignore_errors=True)
    dv = dovetest.Dovecot(root, None, plugin="sift", users=["inc"],
                          plugin_settings={"fts_autoindex": "no"})
    dv.start()

    def sizes():
        d = os.path.join(dv.maildir("inc"), "fts-sift")
        return {f: os.path.getsize(os.path.join(d, f)) for f in PARTS}

    def show(label, s):
        print("%-28s %s total %d" % (label, " ".join("%s %d" % kv for kv in s.items()),
                                     sum(s.values())), flush=True)
    try:
        for m in msgs[:bulk]:
            dv.append("inc", "INBOX", m, create=False)
        dv.doveadm("index", "-u", "inc", "INBOX")
        s0 = sizes()
        show("after %d at once" % bulk, s0)
        t = time.time()
        for i in range(bulk, bulk + n, k):
            for m in msgs[i:i + k]:
                dv.append("inc", "INBOX", m, create=False)
            dv.doveadm("index", "-u", "inc", "INBOX")
        s1 = sizes()
        show("after %d in runs of %d" % (n, k), s1)
        print("growth %s (%.1f s)" % ({p: s1[p] - s0[p] for p in PARTS},
                                      time.time() - t))
        dv.doveadm("fts", "optimize", "-u", "inc")
        show("after fts optimize", sizes())
    finally:
        dv.stop()


if __name__ == "__main__":
    main()
