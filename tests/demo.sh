#!/bin/bash
# fts-sift demo: build the plugin, start a throw-away Dovecot on 127.0.0.1
# with it, load mail, index it, run sample searches (timed against
# Dovecot's own scan, and checked to give the same UIDs), and leave the
# server running.
#
#   sudo bash tests/demo.sh            (from the repository root, Debian 12)
#
# Environment:
#   SIFT_CORPUS=<file.mbox[.zst]>  mail to load (default: the first 2000
#                                  messages of ../shared/corpora/lore-kselftest-30k.mbox.zst
#                                  if it exists, else 200 generated messages)
#   SIFT_DEMO_MESSAGES=N           how many messages to take from the corpus (2000)
#   SIFT_DEMO_DIR=<dir>            instance directory (/tmp/fts-sift-demo)
#   SIFT_DEMO_PORT=N               IMAP port (10143, or a free one if taken)
#   SIFT_DEMO_SKIP_APT=1           don't install packages
#   SIFT_DEMO_SKIP_BUILD=1         use the existing plugin/.libs build
set -eu

fail() {
	echo "demo FAILED: $*" >&2
	exit 1
}

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || fail "cannot cd to $REPO"
[ -f configure.ac ] || fail "$REPO does not look like the fts-sift repository"
[ "$(id -u)" = 0 ] || fail "run as root (it installs packages and runs Dovecot): sudo bash tests/demo.sh"

DEMO_DIR=${SIFT_DEMO_DIR:-/tmp/fts-sift-demo}
PY=${PYTHON:-python3}

# ---- 1. packages ----------------------------------------------------------
PKGS="dovecot-core dovecot-imapd dovecot-dev libxapian-dev libicu-dev autoconf automake libtool pkg-config g++ make python3 zstd"
if [ "${SIFT_DEMO_SKIP_APT:-0}" != 1 ]; then
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "== 1. installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q || fail "apt-get update failed"
		# shellcheck disable=SC2086
		apt-get install -y -q $PKGS || fail "apt-get install failed"
	else
		echo "== 1. packages: all installed"
	fi
fi
command -v dovecot >/dev/null || fail "dovecot is not installed"
command -v "$PY" >/dev/null || fail "$PY not found"

# ---- 2. build ---------------------------------------------------------------
SO=${SIFT_PLUGIN_SO:-$REPO/plugin/.libs/lib21_fts_sift_plugin.so}
if [ "${SIFT_DEMO_SKIP_BUILD:-0}" != 1 ]; then
	echo "== 2. building the plugin (log: $DEMO_DIR.build.log)"
	mkdir -p "$(dirname "$DEMO_DIR")"
	if ! { autoreconf -fi && ./configure && make -j"$(nproc 2>/dev/null || echo 2)"; } >"$DEMO_DIR.build.log" 2>&1; then
		tail -n 30 "$DEMO_DIR.build.log" >&2
		fail "the build failed (full log: $DEMO_DIR.build.log)"
	fi
fi
[ -f "$SO" ] || fail "the plugin was not built: $SO is missing"
echo "   plugin: $SO"

# ---- 3.-7. instance, mail, index, searches -----------------------------------
CORPUS=${SIFT_CORPUS:-}
if [ -z "$CORPUS" ] && [ -f "$REPO/../shared/corpora/lore-kselftest-30k.mbox.zst" ]; then
	CORPUS=$(cd "$REPO/../shared/corpora" && pwd)/lore-kselftest-30k.mbox.zst
fi
[ -z "$CORPUS" ] || [ -f "$CORPUS" ] || fail "SIFT_CORPUS=$CORPUS does not exist"

export SIFT_PLUGIN_SO="$SO" DEMO_DIR CORPUS REPO
export DEMO_MESSAGES=${SIFT_DEMO_MESSAGES:-2000}
export DEMO_PORT=${SIFT_DEMO_PORT:-10143}

set +e
"$PY" - <<'PYEOF'
import datetime
import email.header
import email.utils
import os
import random
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ["REPO"], "tests", "lib"))
from dovetest import Dovecot, DovecotError, free_port  # noqa: E402

DEMO_DIR = os.environ["DEMO_DIR"]
CORPUS = os.environ.get("CORPUS") or ""
LIMIT = int(os.environ["DEMO_MESSAGES"])
USER = "demo"


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def read_mbox(path, limit):
    """The first `limit` messages of an mboxrd file (optionally .zst)."""
    if path.endswith(".zst"):
        proc = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE)
        stream = proc.stdout
    else:
        proc, stream = None, open(path, "rb")
    msgs, cur, from_line = [], None, None
    try:
        for line in stream:
            if line.startswith(b"From "):
                if cur is not None:
                    msgs.append((from_line, b"".join(cur)))
                    if len(msgs) >= limit:
                        break
                cur, from_line = [], line
                continue
            if cur is None:
                continue
            if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
                line = line[1:]
            cur.append(line)
        else:
            if cur and len(msgs) < limit:
                msgs.append((from_line, b"".join(cur)))
    finally:
        stream.close()
        if proc:
            proc.kill()
            proc.wait()
    return msgs


def msg_date(raw, from_line):
    head = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    for line in head.splitlines():
        if line.lower().startswith("date:"):
            try:
                d = email.utils.parsedate_to_datetime(line[5:].strip())
                if d.tzinfo is None:
                    d = d.replace(tzinfo=datetime.timezone.utc)
                return d
            except (TypeError, ValueError, IndexError):
                break
    return None


def slower_why(label, nmsgs, t_scan):
    """Why a search can take longer with the index than Dovecot's scan."""
    if label == "phrase":
        return ("a phrase is narrowed by the index to candidate messages, "
                "which Dovecot then reads to check the words' order")
    if label in ("x-header", "from", "subject") and t_scan < 50:
        return ("Dovecot answered from its own cache of that header "
                "(dovecot.index.cache, filled by the first search) without "
                "opening any message; fts-sift also has Dovecot check the "
                "values of headers other than Subject and addresses")
    if nmsgs < 5000 or t_scan < 20:
        return ("Dovecot read all %d messages in %.1f ms; a search through the "
                "index has a fixed cost of a few ms (opening it, the plan), which "
                "pays off from a few thousand messages on" % (nmsgs, t_scan))
    return ("not expected at this size: compare with the benchmark "
            "(tests/bench/bench.py) and report it")


def generated(n=200):
    rnd = random.Random(42)
    people = [("Ada Lovelace", "ada@analytical.example"), ("Alan Turing", "alan.turing@bletchley.example"),
              ("Grace Hopper", "grace.hopper+navy@cobol.example"), ("Linus T", "linus@kernel.example"),
              ("Margaret Hamilton", "margaret@apollo.example")]
    topics = ["compiler", "scheduler", "filesystem", "network", "memory", "kselftest", "debugger"]
    words = ("patch review build test failure regression cache buffer queue thread lock "
             "timer signal driver module release branch merge config option").split()
    projects = ["Nimbus-7", "Aurora", "Zephyr"]
    out = []
    base = datetime.datetime(2019, 1, 1, tzinfo=datetime.timezone.utc)
    for i in range(n):
        name, addr = people[i % len(people)]
        topic = topics[rnd.randrange(len(topics))]
        date = base + datetime.timedelta(days=i * 9, hours=rnd.randrange(24))
        body = " ".join(rnd.choice(words) for _ in range(60))
        if i % 17 == 0:
            body += " The quetzalcoatl benchmark regressed."
        raw = ("From: %s <%s>\nTo: list@example.org\nSubject: [%s] %s update %d\n"
               "Date: %s\nX-Project: %s\nMessage-ID: <gen%d@demo.example>\n\n%s\n" % (
                   name, addr, topic, topic, i, email.utils.format_datetime(date),
                   projects[i % 3], i, body)).encode()
        out.append((None, raw, date))
    return out


def main():
    # ---- 3. instances
    for sub in ("sift", "oracle"):
        old = Dovecot(os.path.join(DEMO_DIR, sub), 1, plugin="none")
        old.stop()                              # a previous demo's master, by pid
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    os.makedirs(DEMO_DIR)
    os.chmod(DEMO_DIR, 0o755)
    port = int(os.environ["DEMO_PORT"])
    if port_in_use(port):
        port = free_port()
    # autoindex off: step 5 then really measures indexing
    sift = Dovecot(os.path.join(DEMO_DIR, "sift"), port, plugin="sift", users=(USER,),
                   plugin_settings={"fts_autoindex": "no"})
    oracle = Dovecot(os.path.join(DEMO_DIR, "oracle"), None, plugin="none", oracle_of=sift)
    STARTED.extend([oracle, sift])
    print("== 3. starting Dovecot with fts-sift on 127.0.0.1:%d (%s)" % (port, sift.root))
    sift.start()
    oracle.start()

    # ---- 4. mail
    if CORPUS:
        print("== 4. loading the first %d messages of %s" % (LIMIT, CORPUS))
        msgs = [(f, raw, msg_date(raw, f)) for f, raw in read_mbox(CORPUS, LIMIT)]
        kind = "kselftest" if "kselftest" in os.path.basename(CORPUS) else "other"
    else:
        print("== 4. no corpus found (../shared/corpora/lore-kselftest-30k.mbox.zst beside the\n"
              "   clone, or SIFT_CORPUS=<mbox>): loading 200 generated messages.  Their\n"
              "   timings prove nothing: Dovecot scans 200 small messages in a few ms")
        msgs = generated()
        kind = "generated"
    t0 = time.time()
    total = 0
    for _, raw, date in msgs:
        sift.append(USER, "INBOX", raw, date=date)
        total += len(raw)
    print("   %d messages, %.1f MB appended over IMAP in %.1f s" % (
        len(msgs), total / 1e6, time.time() - t0))

    # ---- 5. index
    print("== 5. doveadm index -u %s INBOX" % USER)
    t0 = time.time()
    sift.doveadm("index", "-u", USER, "INBOX", timeout=3600)
    print("   indexed in %.2f s" % (time.time() - t0))

    # ---- 6. searches
    if kind == "kselftest":
        queries = [
            ("word", ("BODY", "seccomp")),
            ("prefix", ("BODY", "livepat")),
            ("from", ("FROM", "shuah")),
            ("subject", ("SUBJECT", "kunit")),
            ("x-header", ("HEADER", "X-Mailer", "git-send-email")),
            ("or", ("OR", "BODY", "ftrace", "BODY", "kprobe")),
            ("not", ("NOT", "BODY", "kunit")),
            ("word+since", ("BODY", "userfaultfd", "SINCE", "1-Jun-2019")),
            ("phrase", ("BODY", "Signed-off-by: Shuah")),
        ]
    else:
        queries = [
            ("word", ("BODY", "quetzalcoatl")),
            ("prefix", ("BODY", "quetzal")),
            ("from", ("FROM", "grace.hopper")),
            ("subject", ("SUBJECT", "kselftest")),
            ("x-header", ("HEADER", "X-Project", "Nimbus-7")),
            ("or", ("OR", "BODY", "quetzalcoatl", "SUBJECT", "debugger")),
            ("not", ("NOT", "FROM", "ada")),
            ("word+since", ("BODY", "quetzalcoatl", "SINCE", "1-Jan-2021")),
        ]
    print("== 6. sample searches (latency: best of 3; 'scan' = the same search by Dovecot without FTS)")
    sc = sift.imap(USER)
    oc = oracle.imap(USER)
    sift.select(sc, "INBOX", readonly=True)
    oracle.select(oc, "INBOX", readonly=True)
    sift.uid_search(sc, "BODY", "warmup")       # opens the index once
    mismatches = 0
    first_hits = []

    def timed(inst, conn, crit):
        best, res = None, None
        for _ in range(3):
            t = time.perf_counter()
            res = inst.uid_search(conn, *crit)
            dt = (time.perf_counter() - t) * 1000
            best = dt if best is None else min(best, dt)
        return res, best

    for label, crit in queries:
        got, t_sift = timed(sift, sc, crit)
        want, t_scan = timed(oracle, oc, crit)
        same = got == want
        mismatches += not same
        if not first_hits and label == queries[0][0]:
            first_hits.extend(got)
        print("\n  [%s] UID SEARCH %s" % (label, " ".join(
            '"%s"' % c if " " in c else c for c in crit)))
        print("    %d hits   fts-sift %.1f ms   scan %.1f ms   same UIDs as scan: %s" % (
            len(got), t_sift, t_scan, "yes" if same else "NO (scan found %d)" % len(want)))
        if t_sift > t_scan:
            print("    (slower than the scan: %s)" % slower_why(label, len(msgs), t_scan))
        for uid in got[:3]:
            typ, data = oc.uid("FETCH", str(uid), "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subj = b""
            for item in data:
                if isinstance(item, tuple):
                    subj = item[1]
            text = subj.decode("utf-8", "replace").strip()
            text = text[len("Subject:"):].strip() if text.lower().startswith("subject:") else text
            try:
                text = str(email.header.make_header(email.header.decode_header(" ".join(text.split()))))
            except Exception:
                pass
            print("      uid %-6d %s" % (uid, text[:90]))
    sc.logout()
    oc.logout()
    oracle.stop()
    shutil.rmtree(oracle.root, ignore_errors=True)

    # step 5 measured indexing with autoindex off; the server left running
    # uses the README's recommended settings (new mail indexed on delivery
    # and APPEND, no silent fallback to a scan)
    from dovecot_conf import syntax
    print("\n== 7. restarting it with the README's settings: fts_autoindex = yes, %s" % (
        "fts_enforced = yes" if syntax().version < 24 else
        "fts_search_add_missing = yes, fts_search_read_fallback = no (2.3's fts_enforced = yes)"))
    sift.stop()
    sift.plugin_settings = {"fts_autoindex": "yes", "fts_enforced": "yes"}
    sift.start()
    check = sift.search(USER, "INBOX", *queries[0][1])
    if sorted(check) != sorted(first_hits):
        print("   after the restart [%s] found %d messages, before %d" % (
            queries[0][0], len(check), len(first_hits)))
        mismatches += 1

    # ---- 8. leave it running
    print("""
== 8. the demo server keeps running
   IMAP:     127.0.0.1 port %(port)d, user %(user)s, password %(pw)s (plaintext, no TLS)
             e.g.  python3 -c "import imaplib; c=imaplib.IMAP4('127.0.0.1',%(port)d); c.login('%(user)s','%(pw)s'); c.select(); print(c.uid('SEARCH','BODY','%(word)s'))"
   doveadm:  doveadm -c %(conf)s search -u %(user)s mailbox INBOX body <word>
   log:      %(log)s
   stop:     kill $(cat %(pid)s)""" % {
        "port": port, "user": USER, "pw": Dovecot.password(USER), "conf": sift.conf_path,
        "log": sift.log_path, "pid": sift.pid_path, "word": queries[0][1][1]})
    problems = sift.log_problems()
    if problems:
        print("\nDovecot logged %d problem line(s), e.g.:\n  %s" % (len(problems), "\n  ".join(problems[:5])))
    if mismatches:
        print("\n%d search(es) gave other UIDs than Dovecot's own scan" % mismatches)
        return 3
    if problems:
        return 4
    return 0


STARTED = []
try:
    sys.exit(main())
except (DovecotError, OSError) as e:
    print("\n%s" % e, file=sys.stderr)
    for inst in STARTED:             # don't leave a half-set-up demo behind
        inst.stop()
    sys.exit(2)
PYEOF
rc=$?
set -e
case $rc in
0) echo; echo "demo OK" ;;
3) fail "fts-sift answered some searches differently from Dovecot (see above); the server is left running" ;;
4) fail "the Dovecot log has errors (see above); the server is left running" ;;
*) fail "the demo stopped with status $rc (see the messages above)" ;;
esac
