#!/usr/bin/env python3
"""fts-sift benchmark: indexing speed, index size, search latency and
APPEND-to-searchable delay, side by side for several engines on the same
machine and the same messages.  It prints numbers; it is not a test, except
for one check: the plugin claims exact IMAP SEARCH semantics, so every query
must return the same UIDs with sift as with Dovecot's own full scan.

Usage:
  python3 tests/bench/bench.py [MBOX] [--limit N] [--xapian-limit N]
        [--engines sift,none,xapian,notmuch] [--json out.json]
  python3 tests/bench/bench.py --report out.json   # print a run's tables again
Exit status 1 if sift returned different UIDs than none for any query.

MBOX defaults to ../shared/corpora/lore-kselftest-30k.mbox.zst (relative to
the repository root); any mboxrd file with LF line ends works, .zst is
decompressed on the fly with zstd.

Engines
  sift     Dovecot 2.3 + this plugin (plugin/.libs/lib21_fts_sift_plugin.so)
  none     Dovecot with no FTS plugin: every SEARCH is Dovecot's own scan
  xapian   Debian's dovecot-fts-xapian 1.5.5 (partial=3 full=20).  It is slow,
           so it runs on the first --xapian-limit messages (default 3000) and
           sift and none also run on that same slice ("@slice" rows), so its
           ratios are like for like.
  notmuch  `notmuch new` over a maildir of the same messages: a reference
           Xapian mail indexer (not IMAP; its searches are `notmuch count`
           processes, for reference only).

Phases, per engine, each engine alone on the machine (one Dovecot at a time):
  1. import (not timed as indexing): the mbox is split into messages
     (mboxrd: one ">" is removed from ">+From " lines) and written directly
     as maildir files into ~/Maildir/cur of the user, named so that Dovecot
     gives UID i+1 to message i, with the Date: header as mtime (so the
     internal date is the sent date).  Then `doveadm mailbox status` makes
     Dovecot sync them.  --mail-format sdbox|mdbox then copies them into
     that format (`doveadm backup`, which keeps UIDs and dates) and
     restarts Dovecot on it: maildir keeps its uidlist (file names, about
     140 bytes a message) in every mail process's memory.  (Measured on 1,000 messages: direct write + sync
     0.26 s, `doveadm import` of an mbox 0.63 s and it does not undo the
     mboxrd escaping, one `doveadm save` per message 11 s.)
  2. indexing: `doveadm -c CONF index -u USER INBOX` (in-process without -q,
     so the doveadm process is the indexer), or `notmuch new`.  Wall time,
     messages per second, CPU seconds (user+sys of the process and its
     children) and peak RSS (max RSS), both from GNU /usr/bin/time.
  3. index size: bytes on disk (st_blocks) of the engine's index directories
     (sift: fts-sift*, xapian: xapian-indexes, notmuch: .notmuch/xapian) as a
     percentage of the mail size (sum of the message file sizes); for sift
     also after `doveadm fts optimize`.  Dovecot's own index/cache size is
     recorded in the JSON for context.
  4. search latency: one IMAP connection, SELECT INBOX once, then every
     query as one `UID SEARCH`, timed individually; median and p95 in ms per
     engine and per query class.  The query set is built from words that
     occur in the corpus (seeded random sampling of decoded message text,
     subjects, addresses, display names and X- headers, plus hand-picked
     kernel words).  Hits are recorded; sift's UIDs must equal none's
     (a mismatch is a plugin bug and is reported prominently); xapian's
     agreement rate with none is reported.
  5. APPEND-to-searchable: APPEND a message with a unique random word, then
     repeat `UID SEARCH BODY word` until it returns the new UID; the delay
     from the APPEND's OK, median of 5 (fts_autoindex = yes).
  6. Dovecot log: count of Panic/Fatal/Error lines.
Results go to stdout as tables and to --json (default
tests/bench/last-run.json; do not commit it).
"""
import argparse
import collections
import datetime
import email
import email.policy
import email.utils
import hashlib
import imaplib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_MBOX = os.path.join(REPO, "..", "shared", "corpora",
                            "lore-kselftest-30k.mbox.zst")
SIFT_SO = os.path.join(REPO, "plugin", ".libs", "lib21_fts_sift_plugin.so")
# the scale mode's cache of the scan's results (see OracleCache)
DEFAULT_ORACLE_CACHE = "/var/cache/fts-sift/oracle"
# SIFT_BENCH_ROOT lets two benchmarks run side by side on one machine
BENCH_ROOT = os.environ.get("SIFT_BENCH_ROOT", "/tmp/sift-bench")
USER = "bench"
SEED = 20240601
MB = 1024.0 * 1024.0

sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import dovetest  # noqa: E402  (the shared test harness: Dovecot instances)
import dovecot_conf  # noqa: E402  (the installed Dovecot's config syntax)
sys.path.insert(0, HERE)
import rss_sampler  # noqa: E402  (smaps: anonymous vs file-backed memory)

DOVECOT_24 = dovecot_conf.syntax().version >= 24
# flatcurve, prefix search (its default) and with substring search on
# ("flatcurve"): engine name -> (harness plugin, extra dovecot.conf,
# plugin settings in 2.3 plugin { } terms).
#
# Dovecot 2.4 (Debian 13): flatcurve is part of Dovecot; the configuration
# Debian ships in dovecot-flatcurve, as it is (substring search on,
# stemming and stopwords) and with substring search off.  fts-xapian 1.9
# comes from dovecot-fts-xapian.
FLATCURVE_CONF = "/usr/share/dovecot/conf.d/90-fts-flatcurve.conf"
# Dovecot 2.3 (Debian 12): the external flatcurve plugin (1.0.5), built
# for the benchmark only by tests/bench/build-flatcurve.sh into
# $SIFT_FLATCURVE_DIR (its modules/ is the mail_plugin_dir), with the
# same language settings as Debian 13's file above, in 2.3 names.
FLATCURVE_DIR = os.environ.get("SIFT_FLATCURVE_DIR", "/var/cache/fts-sift/peers")
FLATCURVE_MODULES = os.path.join(FLATCURVE_DIR, "modules")
FLATCURVE_SO = os.path.join(FLATCURVE_MODULES, "lib21_fts_flatcurve_plugin.so")
FLATCURVE_23_SETTINGS = {
    "fts_languages": "en",
    "fts_tokenizers": "generic email-address",
    "fts_tokenizer_generic": "algorithm=simple",
    "fts_filters": "normalizer-icu snowball stopwords",
    "fts_filters_en": "lowercase snowball english-possessive stopwords",
}
if DOVECOT_24:
    ENGINE_KINDS = {
        "flatcurve": ("flatcurve", "!include %s\n" % FLATCURVE_CONF, {}),
        "flatcurve-nosub": ("flatcurve", "!include %s\nfts flatcurve {\n"
                            "  substring_search = no\n}\n" % FLATCURVE_CONF,
                            {}),
    }
else:
    _FC23_CONF = "mail_plugin_dir = %s\n" % FLATCURVE_MODULES
    ENGINE_KINDS = {
        "flatcurve": ("flatcurve", _FC23_CONF, dict(
            FLATCURVE_23_SETTINGS, fts_flatcurve_substring_search="yes")),
        "flatcurve-nosub": ("flatcurve", _FC23_CONF, dict(
            FLATCURVE_23_SETTINGS, fts_flatcurve_substring_search="no")),
    }
ALL_ENGINES = ("sift", "none", "xapian", "notmuch", "flatcurve", "flatcurve-nosub")
DEFAULT_ENGINES = ("sift,none,flatcurve,flatcurve-nosub,xapian" if DOVECOT_24
                   else "sift,none,xapian,notmuch")
# mail_debug (2.3) became log_debug filters (2.4): no debug lines in a run
QUIET_CONF = "log_debug =\n" if DOVECOT_24 else "mail_debug = no\n"

# the users' mail storage: maildir (as written), or sdbox/mdbox/mbox converted
# from it (--mail-format: measures without maildir's uidlist in memory)
MAIL_FORMAT = "maildir"

# index directories per engine (names of directories under the user's home)
INDEX_DIR_NAMES = {"sift": ("fts-sift",), "xapian": ("xapian-indexes",),
                   "flatcurve": ("fts-flatcurve",),
                   "none": ()}


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---------------------------------------------------------------- corpus

class Corpus:
    """The messages (bytes, LF line ends) in mbox order, with the maildir
    file names and mtimes every engine uses."""

    def __init__(self, messages, mtimes=None):
        self.messages = messages
        self.mtimes = mtimes or [message_time(m) for m in messages]
        self.names = ["%d.M%dP1.bench,S=%d:2," % (1000000000 + i, i, len(m))
                      for i, m in enumerate(messages)]
        self.mail_bytes = sum(len(m) for m in messages)
        self._sha = None

    def __len__(self):
        return len(self.messages)

    def slice(self, n):
        return Corpus(self.messages[:n], self.mtimes[:n])

    def sha256(self):
        """SHA-256 over the messages as the engines get them (each one's
        length, 8 bytes big-endian, then its bytes): the key of the oracle
        cache, so a prefix of a corpus has its own key."""
        if self._sha is None:
            h = hashlib.sha256()
            for m in self.messages:
                h.update(len(m).to_bytes(8, "big"))
                h.update(m)
            self._sha = h.hexdigest()
        return self._sha


def read_mbox(path, limit=None):
    """Split an mboxrd file into messages; .zst is piped through zstd."""
    proc = None
    if path.endswith(".zst"):
        proc = subprocess.Popen(["zstd", "-dcq", path], stdout=subprocess.PIPE)
        f = proc.stdout
    else:
        f = open(path, "rb")
    msgs, cur = [], None
    try:
        for line in f:
            if line.startswith(b"From "):
                if cur is not None:
                    msgs.append(finish_message(cur))
                    if limit and len(msgs) >= limit:
                        cur = None
                        break
                cur = []
                continue
            if cur is None:
                continue        # garbage before the first separator
            if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
                line = line[1:]
            cur.append(line)
        if cur is not None:
            msgs.append(finish_message(cur))
    finally:
        f.close()
        if proc:
            proc.kill()
            proc.wait()
    return msgs


def finish_message(lines):
    # the writer's blank separator line before the next "From "
    if len(lines) > 1 and lines[-1] == b"\n":
        lines = lines[:-1]
    return b"".join(lines)


def message_time(raw):
    m = re.search(rb"^Date:[ \t]*(.*(?:\n[ \t].*)*)", raw.split(b"\n\n", 1)[0],
                  re.M | re.I)
    if m:
        try:
            d = email.utils.parsedate_to_datetime(
                m.group(1).decode("ascii", "replace").replace("\n", " "))
            if d.tzinfo is None:
                d = d.replace(tzinfo=datetime.timezone.utc)
            t = d.timestamp()
            if 0 < t < 4e9:
                return t
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return 1500000000.0


def write_maildir(maildir, corpus, uid=-1, gid=-1):
    """Write the messages as maildir/cur files owned by uid:gid."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        os.chown(os.path.join(maildir, sub), uid, gid)
    os.chown(maildir, uid, gid)
    cur = os.path.join(maildir, "cur")
    for raw, name, mtime in zip(corpus.messages, corpus.names, corpus.mtimes):
        p = os.path.join(cur, name)
        with open(p, "wb") as f:
            f.write(raw)
        os.utime(p, (mtime, mtime))
        if uid >= 0:
            os.chown(p, uid, gid)


# ---------------------------------------------------------------- queries

class V(str):
    """A search string value (quoted or sent as a literal), as opposed to
    an IMAP search key atom."""


class Query:
    def __init__(self, cls, criteria, notmuch=None):
        self.cls = cls
        self.criteria = list(criteria)
        self.notmuch = notmuch       # notmuch query string or None
        self.label = " ".join('"%s"' % c if isinstance(c, V) else c
                              for c in self.criteria)


CLASSES = ["common word", "rare word", "address", "display name",
           "subject word", "prefix", "in-word substring", "phrase",
           "dashed token", "X- header", "non-ASCII word", "text (hdr+body)",
           "NOT", "OR", "date+word"]

WORD_RE = re.compile(r"[^\W\d_]+")
DASHED_RE = re.compile(r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+"
                       r"(?![\w-])")
PAIR_RE = re.compile(r"(?=(?<![\w-])([A-Za-z]{3,}) ([A-Za-z]{3,})(?![\w-]))")
XTOKEN_RE = re.compile(r"(?<![\w.@/=+:-])[A-Za-z][A-Za-z-]{2,}"
                       r"(?![\w.@/=+:-])")
SKIP_X_HEADERS = {"x-google-dkim-signature", "x-gm-message-state",
                  "x-google-smtp-source", "x-received", "x-ms-exchange",
                  "x-forefront-antispam-report", "x-microsoft-antispam",
                  "x-microsoft-antispam-message-info"}


def text_of(msg):
    """Decoded text of the text/* parts of a parsed message."""
    out = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        try:
            out.append(part.get_content())
        except Exception:
            payload = part.get_payload(decode=True) or b""
            out.append(payload.decode("utf-8", "replace"))
    return "\n".join(out)


class Stats:
    """Document frequencies over a sample of messages."""

    def __init__(self):
        self.n = 0
        self.words = collections.Counter()     # lowercase body words
        self.nonascii = collections.Counter()  # body/subject words, as is
        self.pairs = collections.Counter()
        self.dashed = collections.Counter()
        self.subject = collections.Counter()
        self.from_addr = collections.Counter()
        self.rcpt_addr = collections.Counter()
        self.names = collections.Counter()
        self.xhdr = collections.Counter()       # (header, token)
        self.dates = []

    def add(self, raw):
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.n += 1
        try:
            body = text_of(msg)
        except Exception:
            body = ""
        words = set(WORD_RE.findall(body))
        self.words.update({w.lower() for w in words if w.isascii()})
        subj = str(msg.get("subject", "") or "")
        self.subject.update({w.lower() for w in WORD_RE.findall(subj)
                             if w.isascii() and len(w) >= 4})
        self.nonascii.update({w for w in words | set(WORD_RE.findall(subj))
                              if not w.isascii() and len(w) >= 4 and
                              all(ord(ch) < 0x2000 for ch in w)})
        self.pairs.update(set(m.group(1) + " " + m.group(2)
                              for m in PAIR_RE.finditer(body)))
        self.dashed.update(set(DASHED_RE.findall(body)))
        for hdr, counter in (("from", self.from_addr), ("to", self.rcpt_addr),
                             ("cc", self.rcpt_addr)):
            try:
                vals = [str(v) for v in msg.get_all(hdr, [])]
            except Exception:
                continue
            pairs = email.utils.getaddresses(vals)
            counter.update({a.lower() for _, a in pairs
                            if re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", a)})
            if hdr == "from":
                self.names.update({n for n, _ in pairs
                                   if len(n.split()) >= 2 and '"' not in n})
        for name in set(msg.keys()):
            if not name.lower().startswith("x-") or \
               name.lower() in SKIP_X_HEADERS:
                continue
            try:
                val = str(msg.get(name, ""))
            except Exception:
                continue
            for tok in set(XTOKEN_RE.findall(val)):
                self.xhdr[(name, tok.lower())] += 1
        try:
            d = msg.get("date")
            if d is not None and d.datetime is not None:
                self.dates.append(d.datetime)
        except Exception:
            pass


def sample_messages(corpus, slice_n, per_part, rnd):
    """Indexes of messages to analyse: up to per_part from the xapian slice
    and up to per_part from the rest, so queries hit in both."""
    n = len(corpus)
    first = list(range(min(slice_n, n)))
    rest = list(range(min(slice_n, n), n))
    idx = rnd.sample(first, min(per_part, len(first)))
    idx += rnd.sample(rest, min(per_part, len(rest)))
    return sorted(idx)


def pick(rnd, candidates, k, used=None):
    cands = sorted(set(candidates) - (used or set()))
    got = rnd.sample(cands, min(k, len(cands)))
    if used is not None:
        used.update(got)
    return got


def nm_term(prefix, word):
    return '%s:"%s"' % (prefix, word.replace('"', ""))


def build_queries(corpus, slice_n, seed=SEED, per_part=1500):
    """The query set: ≥ 50 word queries over 12 classes, plus NOT, OR and
    date+word, all from words that occur in the corpus."""
    rnd = random.Random(seed)
    st = Stats()
    for i in sample_messages(corpus, slice_n, per_part, rnd):
        st.add(corpus.messages[i])
    n = max(st.n, 1)
    q = []
    used = set()

    def body(cls, w, nm=True):
        q.append(Query(cls, ["BODY", V(w)], nm_term("body", w) if nm else None))

    common = [w for w, c in st.words.items()
              if 0.05 * n <= c <= 0.5 * n and len(w) >= 4]
    mid = [w for w, c in st.words.items()
           if 0.005 * n <= c < 0.05 * n and len(w) >= 9]
    rare = [w for w, c in st.words.items()
            if c == 1 and 7 <= len(w) <= 14 and w.isalpha()]
    for w in ["kselftest", "selftests"] + pick(rnd, common, 6, used):
        body("common word", w)
    for w in pick(rnd, rare, 6, used):
        body("rare word", w)
    froms = [a for a, c in st.from_addr.items() if c >= 2]
    rcpts = [a for a, c in st.rcpt_addr.items() if c >= 2]
    for a in pick(rnd, froms, 3, used):
        q.append(Query("address", ["FROM", V(a)], nm_term("from", a)))
    for a in pick(rnd, rcpts, 2, used):
        q.append(Query("address", ["TO", V(a)], nm_term("to", a)))
    for a in pick(rnd, rcpts, 1, used):
        q.append(Query("address", ["CC", V(a)], None))
    for nme in pick(rnd, [x for x, c in st.names.items() if c >= 2], 5, used):
        q.append(Query("display name", ["FROM", V(nme)], nm_term("from", nme)))
    subj = [w for w, c in st.subject.items() if c >= 2]
    for w in ["PATCH"] + pick(rnd, subj, 5, used):
        q.append(Query("subject word", ["SUBJECT", V(w)],
                       nm_term("subject", w)))
    for w in pick(rnd, mid, 5, used):
        p = w[:max(5, len(w) // 2)]
        q.append(Query("prefix", ["BODY", V(p)], "body:%s*" % p))
    for w in pick(rnd, [w for w in mid if len(w) >= 10], 5, used):
        body("in-word substring", w[3:8], nm=False)
    for ph in pick(rnd, [p for p, c in st.pairs.items()
                         if c >= 2 and p.lower() not in used], 5, used):
        body("phrase", ph)
    dashed = [d for d, c in st.dashed.items() if c >= 2 and len(d) >= 6]
    for d in ["Signed-off-by", "Reviewed-by"] + pick(rnd, dashed, 5, used):
        body("dashed token", d)
    for h, tok in (("X-Mailer", "git-send-email"),
                   ("X-Mailing-List", "linux-kselftest")):
        if st.xhdr.get((h, tok)):
            q.append(Query("X- header", ["HEADER", h, V(tok)], None))
    by_hdr = collections.defaultdict(list)
    for (h, tok), c in st.xhdr.items():
        if c >= 2 and h not in ("X-Mailer", "X-Mailing-List"):
            by_hdr[h].append(tok)
    for h in pick(rnd, list(by_hdr), 3):
        tok = pick(rnd, by_hdr[h], 1)[0]
        q.append(Query("X- header", ["HEADER", h, V(tok)], None))
    for w in pick(rnd, st.nonascii, 4, used):
        body("non-ASCII word", w)
    for w in pick(rnd, common, 2, used):
        q.append(Query("text (hdr+body)", ["TEXT", V(w)], w))
    for a in pick(rnd, froms, 1, used):
        q.append(Query("text (hdr+body)", ["TEXT", V(a)], a))

    c1, c2, c3 = pick(rnd, common, 3, used)
    r1, r2 = pick(rnd, rare, 2, used)
    fa = pick(rnd, froms, 1, used)[0]
    sw = pick(rnd, subj, 1, used)[0]
    b1, b2, b3 = (nm_term("body", w) for w in (c1, c2, c3))
    nf, ns = nm_term("from", fa), nm_term("subject", sw)
    q.append(Query("NOT", ["NOT", "BODY", V(c1)], "not " + b1))
    q.append(Query("NOT", ["BODY", V(c2), "NOT", "BODY", V(c3)],
                   "%s and not %s" % (b2, b3)))
    q.append(Query("NOT", ["NOT", "FROM", V(fa)], "not " + nf))
    q.append(Query("OR", ["OR", "BODY", V(r1), "BODY", V(r2)], "%s or %s"
                   % (nm_term("body", r1), nm_term("body", r2))))
    q.append(Query("OR", ["OR", "FROM", V(fa), "SUBJECT", V(sw)],
                   "%s or %s" % (nf, ns)))
    q.append(Query("OR", ["OR", "BODY", V(c1), "BODY", V(r1)],
                   "%s or %s" % (b1, nm_term("body", r1))))
    dates = sorted(d for d in st.dates if d.tzinfo is not None) or \
        [datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)]
    dmid = dates[len(dates) // 2]
    dq = dates[len(dates) // 4]
    q.append(Query("date+word", ["SINCE", dovetest.imap_date(dmid), "BODY",
                                 V(c2)], "date:%s.. and %s" % (dmid.date(), b2)))
    q.append(Query("date+word", ["BEFORE", dovetest.imap_date(dq), "BODY",
                                 V(c3)], "date:..%s and %s" % (dq.date(), b3)))
    q.append(Query("date+word", ["SENTSINCE", dovetest.imap_date(dq),
                                 "SUBJECT", V(sw)],
                   "date:%s.. and %s" % (dq.date(), ns)))
    return q


# ---------------------------------------------------------------- timing

GNU_TIME = "/usr/bin/time"


def timed_run(cmd, env=None, live=False, smaps=False):
    """Run cmd under GNU time; return dict(wall_s, user_s, sys_s, cpu_s,
    maxrss_mb, rc, stdout, stderr).  CPU and max RSS cover the process and
    the children it waited for.  (os.wait4 on our own child would report
    this script's RSS as the peak: a child's ru_maxrss starts from the
    memory of the process it was forked from, hence the GNU time process
    in between.)  live: the command's stdout is also shown as it comes
    (doveadm -v index's "done/total" progress).  smaps (with live): the
    command's memory is sampled from /proc/PID/smaps every second
    (rss_sampler.py) and returned as "smaps": its peak anonymous memory
    apart from the file pages (Dovecot's index files, the side files)."""
    smaps_res = None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as tm:
        full = [GNU_TIME, "-o", tm.name, "-f", "%U %S %M %x"] + cmd
        t0 = time.perf_counter()
        if live:
            proc = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err, env=env)
            sampler = None
            if smaps:
                # the command is GNU time's child
                for _ in range(100):
                    kids = dovetest._child_pids(proc.pid)
                    if kids:
                        sampler = rss_sampler.Sampler(kids[0], 1.0).start()
                        break
                    time.sleep(0.02)
            while True:
                chunk = proc.stdout.read1(4096)
                if not chunk:
                    break
                out.write(chunk)
                sys.stderr.write(chunk.decode(errors="replace"))
                sys.stderr.flush()
            proc.wait()
            if sampler is not None:
                smaps_res = sampler.stop()
        else:
            subprocess.call(full, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=err, env=env)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        # GNU time may print "Command exited with ..." first; ours is last
        fields = tm.read().strip().splitlines()[-1].split()
        user, sys_, rss_kb, rc = (float(fields[0]), float(fields[1]),
                                  int(fields[2]), int(fields[3]))
        return {"wall_s": wall, "user_s": user, "sys_s": sys_,
                "cpu_s": user + sys_, "maxrss_mb": rss_kb / 1024.0, "rc": rc,
                "smaps": smaps_res,
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def check_uidlist(path, corpus):
    """Dovecot must have given UID i+1 to corpus.names[i]."""
    want = {name.split(":")[0]: i + 1 for i, name in enumerate(corpus.names)}
    bad = 0
    with open(path, errors="replace") as f:
        next(f)                                 # header line
        for line in f:
            head, _, fname = line.rstrip("\n").partition(":")
            uid = int(head.split()[0])
            if want.get(fname.split(":")[0]) != uid:
                bad += 1
    if bad:
        raise RuntimeError("%s: %d files got unexpected UIDs" % (path, bad))


def dir_bytes(path):
    """(bytes on disk, apparent bytes) of a directory tree."""
    disk = app = 0
    for dp, _, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(dp, f))
            except OSError:
                continue
            disk += st.st_blocks * 512
            app += st.st_size
    return disk, app


def find_dirs(top, names):
    out = []
    for dp, dirs, _ in os.walk(top):
        for d in list(dirs):
            if any(d.startswith(n) for n in names):
                out.append(os.path.join(dp, d))
                dirs.remove(d)
    return out


def dovecot_index_bytes(maildir):
    total = 0
    for dp, dirs, files in os.walk(maildir):
        for d in ("cur", "new", "tmp"):
            if d in dirs:
                dirs.remove(d)
        dirs[:] = [d for d in dirs if not d.startswith(("fts-sift",
                                                        "xapian-indexes"))]
        for f in files:
            if f.startswith("dovecot"):
                total += os.lstat(os.path.join(dp, f)).st_blocks * 512
    return total


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ---------------------------------------------------------------- IMAP

def uid_search(dv, conn, criteria):
    """UID SEARCH through the harness (it quotes values and sends non-ASCII
    ones as literals with CHARSET UTF-8).  Returns (set of UIDs, error)."""
    try:
        return set(dv.uid_search(conn, *criteria)), None
    except dovetest.DovecotError as e:
        return set(), str(e)[:500]


def floor_criteria(n, total):
    """A search Dovecot answers from its own index alone that walks every
    message of a mailbox of total messages and matches n of them (the
    first n by sequence): what Dovecot itself costs to evaluate a search
    over the mailbox and hand back an answer of n UIDs, with no FTS
    lookup and no mail read.  The bench's messages carry no flags, so
    UNDELETED matches every one."""
    if n >= total:
        return ("UNDELETED",)
    return ("NOT", "%d:%d" % (max(n, 0) + 1, total))


def imap_cpu_ms(pid):
    """The process's CPU time in ms (/proc/<pid>/schedstat: ns, not the
    10 ms ticks of /proc/<pid>/stat); None if it is gone."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return None


FLOOR_REPS = 3


def make_message(word, n):
    date = email.utils.formatdate(localtime=False)
    return ("From: Bench Appender <appender@example.test>\r\n"
            "To: bench@example.test\r\nSubject: append probe %d\r\n"
            "Date: %s\r\nMessage-ID: <append-%d-%s@bench.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "\r\nThis probe carries the word %s in its body.\r\n"
            % (n, date, n, word, word)).encode()


# ---------------------------------------------------------------- oracle cache

def dovecot_version():
    try:
        return subprocess.run(["dovecot", "--version"], capture_output=True,
                              text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def uid_ranges(uids):
    out = []
    for u in sorted(uids):
        if out and out[-1][1] == u - 1:
            out[-1][1] = u
        else:
            out.append([u, u])
    return out


def uids_sha256(uids):
    return hashlib.sha256(",".join(map(str, sorted(uids))).encode()).hexdigest()


def recheck(runs, cache_dir):
    """Agreement with the scan, recomputed from the oracle cache for every
    engine of every run whose queries have UID hashes: for runs made
    before the scan had finished.  Updates search.agreement in place."""
    for run in runs:
        if not run.get("corpus_sha256") or not run.get("dovecot"):
            continue
        cache = OracleCache(cache_dir, run["dovecot"])
        n = run.get("limit")
        for e in run["engines"]:
            se = e.get("search")
            if not se or e.get("kind") == "none":
                continue
            rows = se.get("queries_detail", [])
            if not rows or "uids_sha256" not in rows[0]:
                continue
            agree = total = unchecked = 0
            mism = []
            for row in rows:
                o = cache.entry(run["corpus_sha256"], row["query"], n or e["msgs"])
                if o is None:
                    unchecked += 1
                    continue
                ou = set()
                for a, b in o["uids"]:
                    ou.update(range(a, b + 1))
                same = (uids_sha256(ou) == row["uids_sha256"]
                        and not row.get("error") and not o.get("error"))
                total += 1
                agree += same
                if not same:
                    mism.append({"query": row["query"], "class": row["class"],
                                 "hits": row["hits"], "oracle_hits": o["hits"],
                                 "missing": None, "extra": None,
                                 "missing_uids": [], "extra_uids": [],
                                 "error": row.get("error"),
                                 "oracle_error": o.get("error")})
            se["agreement"] = {"agree": agree, "total": total,
                               "unchecked": unchecked,
                               "rate": agree / total if total else None,
                               "rechecked": time.strftime("%Y-%m-%d %H:%M:%S")}
            se["mismatches"] = mism


class OracleCache:
    """Results of Dovecot's own scan (engine none), one JSON file per
    query: DIR/<Dovecot version>/<corpus SHA-256>/<SHA-256 of the query's
    IMAP form>.json.  The scan does not depend on the plugin, so it is
    computed once per corpus, query and Dovecot version (at 300,000
    messages about 40 s a query) and every later run compares with it.
    Each entry is written as soon as its query has run (temporary name,
    then rename), so an interrupted oracle run keeps what it finished."""

    def __init__(self, root, version):
        self.root = root
        self.version = version
        self.vdir = os.path.join(root, re.sub(r"[^\w.+-]+", "_", version))

    def _path(self, corpus_sha, label):
        key = hashlib.sha256(label.encode()).hexdigest()
        return os.path.join(self.vdir, corpus_sha, key + ".json")

    def entry(self, corpus_sha, label, messages):
        """The stored entry (UIDs as ranges) or None."""
        try:
            with open(self._path(corpus_sha, label)) as f:
                e = json.load(f)
        except (OSError, ValueError):
            return None
        if e.get("query") != label or e.get("messages") != messages:
            return None
        if e.get("error"):
            # a failed scan is no oracle (older runs stored them): the
            # query is scanned again
            return None
        return e

    def get(self, corpus, q):
        e = self.entry(corpus.sha256(), q.label, len(corpus))
        if e is None:
            return None
        uids = set()
        for a, b in e["uids"]:
            uids.update(range(a, b + 1))
        return {"ms": e["ms"], "uids": uids, "error": e.get("error"),
                "cached": e.get("measured")}

    def put(self, corpus, q, r):
        path = self._path(corpus.sha256(), q.label)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        e = {"query": q.label, "class": q.cls, "messages": len(corpus),
             "dovecot": self.version, "ms": r["ms"], "error": r["error"],
             "hits": len(r["uids"]), "uids": uid_ranges(r["uids"]),
             "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
             "loadavg": os.getloadavg()[0]}
        tmp = "%s.tmp%d" % (path, os.getpid())
        with open(tmp, "w") as f:
            json.dump(e, f)
        os.rename(tmp, path)

    def lookup(self, corpus, queries):
        return [self.get(corpus, q) for q in queries]


def log_smaps(what, sm):
    """One line: peak RSS and its owners (rss_sampler.py's classes)."""
    if not sm or not sm.get("samples"):
        return
    at = sm["at_peak_rss_mb"]
    log("%s: smaps peak RSS %.1f MB = anon %.1f + Dovecot files %.1f + "
        "fts-sift files %.1f + libraries %.1f; peak anon %.1f MB (heap %.1f)"
        % (what, sm["peak_rss_mb"], at["anon"], at["dovecot_files"],
           at["sift_files"], at["libs"], sm["peak_anon_mb"],
           sm["peak_heap_mb"]))


# ---------------------------------------------------------------- imap process

def imap_processes(dv):
    """The imap processes of this instance (children of its master): pid,
    peak RSS (VmHWM), current RSS and CPU seconds, from /proc."""
    master = dv._pid or dv._master_pid()
    out = {}
    if not master:
        return out
    tck = os.sysconf("SC_CLK_TCK")
    for c in dovetest._child_pids(master):
        try:
            with open("/proc/%d/comm" % c) as f:
                if f.read().strip() != "imap":
                    continue
            with open("/proc/%d/status" % c) as f:
                st = f.read()
            with open("/proc/%d/stat" % c) as f:
                stat = f.read()
        except OSError:
            continue
        hwm = re.search(r"VmHWM:\s+(\d+)", st)
        vpk = re.search(r"VmPeak:\s+(\d+)", st)
        rss = re.search(r"VmRSS:\s+(\d+)", st)
        fields = stat[stat.rfind(")") + 2:].split()
        out[c] = {"pid": c, "peak_rss_mb": int(hwm.group(1)) / 1024.0 if hwm else None,
                  "peak_vsz_mb": int(vpk.group(1)) / 1024.0 if vpk else None,
                  "rss_mb": int(rss.group(1)) / 1024.0 if rss else None,
                  "cpu_s": (int(fields[11]) + int(fields[12])) / tck}
    return out


# ---------------------------------------------------------------- engines

class Engine:
    """One engine instance on one corpus (or slice)."""
    kind = None

    def __init__(self, name, corpus, root):
        self.name = name
        self.corpus = corpus
        self.root = root
        self.r = {"engine": name, "kind": self.kind, "msgs": len(corpus),
                  "mail_bytes": corpus.mail_bytes}

    def run(self, queries, appends):
        raise NotImplementedError

    def indexed(self, res, progress=""):
        """Record and log the indexing run res (timed_run()'s, stdout
        already read); progress: text for the log line."""
        res["msgs_per_s"] = len(self.corpus) / res["wall_s"]
        res["stderr"] = res["stderr"][-2000:]
        del res["stdout"]
        self.r["index"] = res
        log("%s: indexed %d msgs in %.1fs (%.0f msg/s, cpu %.1fs, rss %.0f MB%s)"
            % (self.name, len(self.corpus), res["wall_s"], res["msgs_per_s"],
               res["cpu_s"], res["maxrss_mb"], progress))

    def index_size(self, disk, app, dirs):
        """The size record of an index of disk bytes (app apparent) in
        dirs (relative paths)."""
        return {"index_bytes": disk, "index_apparent_bytes": app,
                "index_pct_of_mail": 100.0 * disk / self.corpus.mail_bytes,
                "dirs": dirs}


class DovecotEngine(Engine):
    def __init__(self, name, kind, corpus, root, port, plugin_settings=None,
                 extra_conf=""):
        self.kind = kind
        super().__init__(name, corpus, root)
        self.port = port
        self.plugin_settings = plugin_settings
        self.extra_conf = extra_conf
        self.dv = None
        # engine none: an OracleCache to read from and fill, and whether
        # to use the cache only (no Dovecot run; queries not cached stay
        # unanswered)
        self.cache = None
        self.cache_only = False

    def setup(self):
        shutil.rmtree(self.root, ignore_errors=True)
        self.dv = dovetest.Dovecot(self.root, self.port, plugin=self.kind,
                                   users=[USER], extra_conf=self.extra_conf,
                                   plugin_settings=self.plugin_settings)
        self.dv.start()
        self.home = self.dv.home(USER)
        self.maildir = self.dv.maildir(USER)

    def import_mail(self):
        """Maildir files first, then one Dovecot sync; checks that Dovecot
        gave UID i+1 to message i (so UIDs compare across engines).  With
        --mail-format sdbox/mdbox the maildir is then copied into that
        format by `doveadm backup` (dsync keeps the UIDs), Dovecot is
        restarted on it and the maildir removed."""
        t0 = time.perf_counter()
        write_maildir(self.maildir, self.corpus, self.dv.mail_uid,
                      self.dv.mail_gid)
        t1 = time.perf_counter()
        out = self.dv.doveadm("mailbox", "status", "-u", USER, "messages",
                              "INBOX").stdout
        t2 = time.perf_counter()
        got = int(re.search(r"messages=(\d+)", out).group(1))
        self.r["import"] = {"write_s": t1 - t0, "sync_s": t2 - t1,
                            "messages": got}
        if got != len(self.corpus):
            raise RuntimeError("%s: INBOX has %d messages, wanted %d"
                               % (self.name, got, len(self.corpus)))
        check_uidlist(os.path.join(self.maildir, "dovecot-uidlist"),
                      self.corpus)
        log("%s: wrote %d files in %.1fs, Dovecot sync %.1fs"
            % (self.name, got, t1 - t0, t2 - t1))
        if MAIL_FORMAT != "maildir":
            self.convert_mail(MAIL_FORMAT)

    def convert_mail(self, fmt):
        """Copy the maildir into fmt (sdbox, mdbox, mbox) and switch to
        it (the location of dovetest.MAIL_PATHS: mbox's INBOX is a file)."""
        t0 = time.perf_counter()
        path = dovetest.MAIL_PATHS[fmt]
        self.dv.doveadm("backup", "-u", USER, "%s:%s" % (fmt, path),
                        timeout=7200)
        self.dv.stop()
        shutil.rmtree(self.maildir)
        self.dv.mail_driver, self.dv.mail_path = fmt, path
        self.dv.start()
        self.maildir = os.path.join(self.home, fmt)
        out = self.dv.doveadm("mailbox", "status", "-u", USER,
                              "messages uidnext", "INBOX").stdout
        got = int(re.search(r"messages=(\d+)", out).group(1))
        uidnext = int(re.search(r"uidnext=(\d+)", out).group(1))
        if got != len(self.corpus) or uidnext != got + 1:
            raise RuntimeError("%s: %s INBOX has %d messages, uidnext %d; "
                               "wanted %d, %d (UIDs 1..N)"
                               % (self.name, fmt, got, uidnext,
                                  len(self.corpus), len(self.corpus) + 1))
        self.r["import"]["format"] = fmt
        self.r["import"]["convert_s"] = time.perf_counter() - t0
        log("%s: converted to %s in %.1fs" % (self.name, fmt,
                                               time.perf_counter() - t0))

    def index(self):
        self.r["loadavg_before_index"] = os.getloadavg()[0]
        # -v: Dovecot's own progress ("\r<done>/<total>" every 100
        # messages), shown live and counted
        res = timed_run(["doveadm", "-v", "-c", self.dv.conf_path, "index",
                         "-u", USER, "INBOX"], live=True, smaps=True)
        sys.stderr.write("\n")
        if res["rc"] != 0:
            raise RuntimeError("%s: doveadm index failed (%d): %s"
                               % (self.name, res["rc"], res["stderr"]))
        steps = re.findall(r"(\d+)/(\d+)", res["stdout"])
        res["progress_updates"] = len(steps)
        res["progress_last"] = "/".join(steps[-1]) if steps else None
        self.indexed(res, "; progress shown %d times, last %s"
                     % (res["progress_updates"], res["progress_last"]))
        log_smaps(self.name + ": doveadm index", res.get("smaps"))

    def sizes(self, key="size"):
        dirs = find_dirs(self.home, INDEX_DIR_NAMES[self.kind])
        disk = app = 0
        for d in dirs:
            a, b = dir_bytes(d)
            disk += a
            app += b
        self.r[key] = self.index_size(
            disk, app, [os.path.relpath(d, self.home) for d in dirs])
        self.r[key]["dovecot_index_bytes"] = dovecot_index_bytes(self.maildir)

    def optimize(self):
        res = timed_run(["doveadm", "-c", self.dv.conf_path, "fts", "optimize",
                         "-u", USER])
        self.r["optimize"] = {"wall_s": res["wall_s"], "cpu_s": res["cpu_s"],
                              "rc": res["rc"], "stderr": res["stderr"][-2000:]}
        self.sizes("size_optimized")
        log("%s: fts optimize %.1fs -> index %.1f MB"
            % (self.name, res["wall_s"],
               self.r["size_optimized"]["index_bytes"] / MB))

    def search(self, queries, cached=None):
        """Every query as one UID SEARCH on one connection.  cached: for
        none, the oracle cache's entries (None where missing): those are
        not run again.  The searching imap process's peak RSS (VmHWM) and
        CPU seconds are read from /proc before LOGOUT."""
        def connect():
            c = self.dv.imap(USER)
            typ, data = c.select("INBOX")
            if typ != "OK" or int(data[0]) != len(self.corpus):
                raise RuntimeError("%s: SELECT INBOX: %s %s"
                                   % (self.name, typ, data))
            return c

        # the imap processes' peak figures, sampled after every query
        # (a process that dies takes its VmHWM with it)
        seen = {}
        base = imap_processes(self.dv)

        def sample():
            for pid, a in imap_processes(self.dv).items():
                m = seen.setdefault(pid, dict(a, cpu0=base.get(pid, {}).get(
                    "cpu_s", 0.0)))
                for k in ("peak_rss_mb", "peak_vsz_mb"):
                    if a.get(k) is not None:
                        m[k] = max(m.get(k) or 0, a[k])
                m["cpu_s"] = a["cpu_s"]

        # each imap process's memory from smaps, sampled in a thread
        # (anonymous memory apart from Dovecot's mapped index files)
        samplers = {}

        def watch():
            for pid in imap_processes(self.dv):
                if pid not in samplers:
                    samplers[pid] = rss_sampler.Sampler(pid, 0.5).start()

        conn = connect()
        watch()
        lost = 0
        out = []

        def conn_pid():
            # the connection's imap process: the newest one
            ps = imap_processes(self.dv)
            return max(ps) if ps else None
        ipid = conn_pid()
        try:
            base = imap_processes(self.dv)
            self.first_open(conn, ipid)
            for i, q in enumerate(queries):
                if cached and cached[i] is not None:
                    out.append(cached[i])
                    continue
                c0 = imap_cpu_ms(ipid) if ipid else None
                t0 = time.perf_counter()
                try:
                    uids, err = uid_search(self.dv, conn, q.criteria)
                except (imaplib.IMAP4.abort, OSError) as e:
                    uids, err = set(), "socket error: %s" % e
                if err and ("socket error" in err or
                            "unexpected response" in err or
                            "got more than" in err):
                    # the imap process died (e.g. out of memory; the
                    # harness reports it as a socket error): the query
                    # counts as failed, the rest go on in a new one
                    err = "connection lost: " + err
                    lost += 1
                    try:
                        conn.shutdown()
                    except Exception:
                        pass
                    conn = connect()
                    watch()
                    c0 = None
                    ipid = conn_pid()
                ms = (time.perf_counter() - t0) * 1000.0
                c1 = imap_cpu_ms(ipid) if c0 is not None else None
                out.append({"ms": ms, "uids": uids, "error": err,
                            "cpu_ms": c1 - c0 if c1 is not None else None})
                if self.cache is not None and self.kind == "none" and \
                        not err:
                    self.cache.put(self.corpus, q, out[-1])
                sample()
            if self.kind != "notmuch" and ipid:
                self.floor(conn, ipid, out)
                sample()
            # the peaks: the largest of every imap process that ran
            # queries, and the CPU of all of them
            if seen:
                self.r["imap"] = {
                    "processes": len(seen), "connections_lost": lost,
                    "peak_rss_mb": max((m.get("peak_rss_mb") or 0)
                                       for m in seen.values()),
                    "peak_vsz_mb": max((m.get("peak_vsz_mb") or 0)
                                       for m in seen.values()),
                    "search_cpu_s": sum(m["cpu_s"] - m["cpu0"]
                                        for m in seen.values())}
                sm = [x.stop() for x in samplers.values()]
                sm = [x for x in sm if x.get("samples")]
                if sm:
                    # the process with the largest anonymous peak
                    self.r["imap"]["smaps"] = max(
                        sm, key=lambda x: x["peak_anon_mb"])
                    self.r["imap"]["peak_anon_mb"] = max(
                        x["peak_anon_mb"] for x in sm)
                    log_smaps(self.name + ": imap",
                              self.r["imap"]["smaps"])
            self.results = out
            try:
                conn.logout()
            except (imaplib.IMAP4.abort, OSError):
                pass
        finally:
            try:
                conn.shutdown()
            except Exception:
                pass
        self.results = out
        log("%s: %d queries, p50 %.1f ms, p95 %.1f ms, %d errors; imap "
            "process peak RSS %s MB, %s CPU s"
            % (self.name, len(out), pct([o["ms"] for o in out], 50),
               pct([o["ms"] for o in out], 95),
               sum(1 for o in out if o["error"]),
               fmt((self.r.get("imap") or {}).get("peak_rss_mb"), 0),
               fmt((self.r.get("imap") or {}).get("search_cpu_s"))))

    def first_open(self, conn, ipid):
        """Open one message before the queries and time it on its own:
        Dovecot's first opening of a mail file costs it, whatever asks for
        it (maildir: reading the whole dovecot-uidlist, about 0.8 s of
        CPU at 300,000 messages), and would otherwise count for the
        first query's class.  Kept in the JSON as first_open, and in the
        imap process's search CPU."""
        c0 = imap_cpu_ms(ipid) if ipid else None
        t0 = time.perf_counter()
        typ, data = conn.uid("FETCH", "*", "(BODY.PEEK[TEXT]<0.1>)")
        ms = (time.perf_counter() - t0) * 1000.0
        c1 = imap_cpu_ms(ipid) if c0 is not None else None
        self.r["first_open"] = {"ms": ms, "ok": typ == "OK",
                                "cpu_ms": c1 - c0 if c1 is not None else None}
        log("%s: first mail opened (UID FETCH * BODY.PEEK[TEXT]<0.1>): %s ms, "
            "imap CPU %s ms" % (self.name, fmt(ms), fmt(self.r["first_open"]["cpu_ms"])))

    def floor(self, conn, ipid, out):
        """Dovecot's own floor for each answer: floor_criteria() with the
        answer's size, FLOOR_REPS times on the same connection (median
        wall ms and imap CPU ms); and per size, 0 UIDs (Dovecot sees
        that no message can match and walks none) and every UID.  A query's time above its
        floor is what the FTS lookup and the messages Dovecot reads for
        it add; a class at its floor is bound by Dovecot."""
        total = len(self.corpus)
        cache = {}

        def measure(n):
            if n in cache:
                return cache[n]
            ws, cs, got = [], [], None
            for _ in range(FLOOR_REPS):
                c0 = imap_cpu_ms(ipid)
                t0 = time.perf_counter()
                uids, err = uid_search(self.dv, conn, floor_criteria(n, total))
                ws.append((time.perf_counter() - t0) * 1000.0)
                c1 = imap_cpu_ms(ipid)
                if err or c0 is None or c1 is None:
                    cache[n] = None
                    return None
                cs.append(c1 - c0)
                got = len(uids)
            if got != min(n, total):
                raise RuntimeError("%s: floor search for %d UIDs returned %d"
                                   % (self.name, n, got))
            cache[n] = {"ms": statistics.median(ws),
                        "cpu_ms": statistics.median(cs)}
            return cache[n]
        for o in out:
            if o is None or o.get("error") or "uids" not in o:
                continue
            f = measure(len(o["uids"]))
            if f is not None:
                o["floor_ms"] = f["ms"]
                o["floor_cpu_ms"] = f["cpu_ms"]
        self.r["floor"] = {"criteria": "UID SEARCH NOT <n+1>:<all> (UNDELETED "
                           "for all)", "reps": FLOOR_REPS,
                           "none": measure(0), "all": measure(total),
                           "all_n": total}
        log("%s: Dovecot's floor: 0 UIDs %s ms (CPU %s), all %d UIDs %s ms "
            "(CPU %s)" % (self.name, fmt((self.r["floor"]["none"] or {})
                                         .get("ms")),
                          fmt((self.r["floor"]["none"] or {}).get("cpu_ms")),
                          total, fmt((self.r["floor"]["all"] or {}).get("ms")),
                          fmt((self.r["floor"]["all"] or {}).get("cpu_ms"))))

    def append_delay(self, n, seed):
        """APPEND a message with a unique word, then poll until a search
        finds its UID; n samples each way:
        imap:    `UID SEARCH BODY word` on the same connection (with FTS,
                 Dovecot's imap waits for the indexer in 250 ms steps,
                 INDEXER_WAIT_MSECS, so this is quantized);
        backend: `doveadm fts lookup` (the FTS index alone: when did the
                 indexer-worker commit it; ~30 ms per poll)."""
        rnd = random.Random(seed)
        conn = self.dv.imap(USER)
        out = {}
        try:
            conn.select("INBOX")
            modes = ["imap"] + (["backend"] if self.kind != "none" else [])
            for mode in modes:
                samples, errors = [], []
                for _ in range(n):
                    word = "zqbench" + "".join(
                        rnd.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))
                    try:
                        samples.append(self._append_probe(conn, mode, word,
                                                          len(samples)))
                    except RuntimeError as e:
                        errors.append(str(e)[:300])
                ds = [x["delay_ms"] for x in samples]
                out[mode] = {"samples": samples, "errors": errors,
                             "delay_ms_median": statistics.median(ds)
                             if ds else None}
            conn.logout()
        finally:
            try:
                conn.shutdown()
            except Exception:
                pass
        out["delay_ms_median"] = out["imap"]["delay_ms_median"]
        out["backend_delay_ms_median"] = out.get("backend", {}).get(
            "delay_ms_median")
        self.r["append"] = out
        log("%s: APPEND-to-searchable median %s ms (IMAP SEARCH), %s ms "
            "(doveadm fts lookup)" % (self.name, fmt(out["delay_ms_median"]),
                                      fmt(out["backend_delay_ms_median"])))

    def _append_probe(self, conn, mode, word, i):
        t0 = time.perf_counter()
        typ, data = conn.append("INBOX", None, None, make_message(word, i))
        t1 = time.perf_counter()
        m = re.search(rb"APPENDUID \d+ (\d+)", (data or [b""])[0] or b"")
        if typ != "OK" or not m:
            raise RuntimeError("APPEND: %s %s" % (typ, data))
        uid = int(m.group(1))
        polls = 0
        while time.perf_counter() < t1 + 60:
            polls += 1
            if mode == "imap":
                uids, err = uid_search(self.dv, conn, ["BODY", V(word)])
                if err:
                    raise RuntimeError(err)
            else:
                try:
                    definite, maybe = self.dv.fts_lookup(USER, "INBOX", "body", word)
                except dovetest.DovecotError:
                    definite, maybe = set(), set()
                uids = definite | maybe
            if uid in uids:
                return {"append_ms": (t1 - t0) * 1000, "polls": polls,
                        "delay_ms": (time.perf_counter() - t1) * 1000}
            time.sleep(0.005)
        raise RuntimeError("%s: uid %d not found after 60 s" % (mode, uid))

    def teardown(self):
        if self.dv is None:
            return
        try:
            problems = self.dv.log_problems()
        except Exception as e:
            problems = ["log_problems() failed: %s" % e]
        self.r["log_problems"] = len(problems)
        self.r["log_problem_lines"] = problems[:50]
        self.dv.stop()
        self.dv = None

    def run(self, queries, appends):
        cached = None
        if self.cache is not None:
            cached = self.cache.lookup(self.corpus, queries)
            n = sum(1 for c in cached if c is not None)
            self.r["oracle_cache"] = {"dir": self.cache.vdir,
                                      "corpus_sha256": self.corpus.sha256(),
                                      "cached": n, "queries": len(queries)}
            log("%s: oracle cache has %d of %d queries (%s)"
                % (self.name, n, len(queries), self.cache.vdir))
            if n == len(queries) or self.cache_only:
                # nothing to run: the scan's results (and timings) from
                # the cache; queries it lacks stay unanswered (None)
                self.results = cached
                self.r["oracle_cache"]["only"] = True
                return
        try:
            self.setup()
            self.import_mail()
            self.index()
            self.sizes()
            if self.kind == "sift":
                self.optimize()
            self.search(queries, cached)
            if appends:
                self.append_delay(appends, SEED)
        finally:
            self.teardown()


class NotmuchEngine(Engine):
    kind = "notmuch"

    def run(self, queries, appends):
        shutil.rmtree(self.root, ignore_errors=True)
        mail = os.path.join(self.root, "mail")
        t0 = time.perf_counter()
        write_maildir(os.path.join(mail, "INBOX"), self.corpus)
        self.r["import"] = {"write_s": time.perf_counter() - t0}
        self.cfg = os.path.join(self.root, "notmuch-config")
        with open(self.cfg, "w") as f:
            f.write("[database]\npath=%s\n[user]\nname=Bench\n"
                    "primary_email=bench@example.test\n[new]\ntags=inbox;\n"
                    "ignore=\n[search]\nexclude_tags=\n[maildir]\n"
                    "synchronize_flags=false\n" % mail)
        env = dict(os.environ, NOTMUCH_CONFIG=self.cfg)
        self.r["loadavg_before_index"] = os.getloadavg()[0]
        res = timed_run(["notmuch", "--config=" + self.cfg, "new", "--quiet"],
                        env=env)
        if res["rc"] != 0:
            raise RuntimeError("notmuch new failed: %s" % res["stderr"])
        self.indexed(res)
        xdir = os.path.join(mail, ".notmuch", "xapian")
        disk, app = dir_bytes(xdir)
        self.r["size"] = self.index_size(disk, app, [".notmuch/xapian"])
        out = []
        for q in queries:
            if q.notmuch is None:
                out.append(None)
                continue
            t0 = time.perf_counter()
            p = subprocess.run(["notmuch", "--config=" + self.cfg, "count",
                                "--output=messages", "--", q.notmuch],
                               capture_output=True, text=True, env=env)
            ms = (time.perf_counter() - t0) * 1000.0
            err = p.stderr.strip() if p.returncode else None
            try:
                hits = int(p.stdout.strip())
            except ValueError:
                hits, err = None, err or p.stderr.strip()
            out.append({"ms": ms, "hits": hits, "error": err})
        self.results = out
        done = [o["ms"] for o in out if o]
        log("%s: %d queries, p50 %.1f ms, p95 %.1f ms (process per query)"
            % (self.name, len(done), pct(done, 50), pct(done, 95)))


# ---------------------------------------------------------------- report

def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.*f" % (nd, v)
    return str(v)


def floor_stats(rows):
    """p95 of the imap CPU, of Dovecot's floor (wall and CPU) and of each
    query's time above its floor, over rows that have them."""
    out = {}
    for key, f in (("cpu_p95_ms", lambda r: r.get("cpu_ms")),
                   ("floor_p95_ms", lambda r: r.get("floor_ms")),
                   ("floor_cpu_p95_ms", lambda r: r.get("floor_cpu_ms")),
                   ("above_floor_p95_ms",
                    lambda r: r["ms"] - r["floor_ms"]
                    if r.get("floor_ms") is not None else None),
                   ("cpu_above_floor_p95_ms",
                    lambda r: r["cpu_ms"] - r["floor_cpu_ms"]
                    if r.get("floor_cpu_ms") is not None and
                    r.get("cpu_ms") is not None else None)):
        v = [x for x in (f(r) for r in rows) if x is not None]
        if v:
            out[key] = pct(v, 95)
    return out


def summarize_search(engine, queries, oracle):
    """Per-class latency and hit stats; agreement with the oracle (none on
    the same messages)."""
    res = engine.results
    per_class = collections.OrderedDict()
    rows = []
    mism = []
    agree = total = unchecked = 0
    for q, r in zip(queries, res):
        if r is None:
            rows.append(None)
            continue
        hits = r.get("hits") if "hits" in r else len(r["uids"])
        row = {"class": q.cls, "query": q.label, "ms": r["ms"], "hits": hits,
               "error": r.get("error")}
        for k in ("cpu_ms", "floor_ms", "floor_cpu_ms"):
            if r.get(k) is not None:
                row[k] = r[k]
        if "uids" in r:
            # so agreement can be checked later against the oracle cache
            # (--report rechecks), when the scan was not done yet
            row["uids_sha256"] = uids_sha256(r["uids"])
        o = oracle[len(rows)] if oracle is not None else None
        if oracle is not None and o is None:
            unchecked += 1
        if o is not None and "uids" in r:
            row["oracle_hits"] = len(o["uids"])
            same = (r["uids"] == o["uids"] and not r["error"]
                    and not o["error"])
            row["agrees"] = same
            total += 1
            agree += same
            if not same:
                missing = sorted(o["uids"] - r["uids"])
                extra = sorted(r["uids"] - o["uids"])
                mism.append({"query": q.label, "class": q.cls,
                             "hits": len(r["uids"]), "oracle_hits":
                             len(o["uids"]), "missing": len(missing),
                             "extra": len(extra), "missing_uids":
                             missing[:10], "extra_uids": extra[:10],
                             "error": r["error"], "oracle_error":
                             o["error"]})
        rows.append(row)
        per_class.setdefault(q.cls, []).append(r["ms"])
    allms = [r["ms"] for r in res if r]
    s = {"p50_ms": pct(allms, 50), "p95_ms": pct(allms, 95),
         "queries": len(allms),
         "errors": sum(1 for r in res if r and r.get("error")),
         "per_class": {c: dict({"n": len(v), "p50_ms": pct(v, 50),
                                "p95_ms": pct(v, 95)},
                               **floor_stats([row for row in rows if row and
                                              row["class"] == c]))
                       for c, v in per_class.items()},
         "queries_detail": [r for r in rows if r]}
    if oracle is not None:
        s["agreement"] = {"agree": agree, "total": total,
                          "unchecked": unchecked,
                          "rate": agree / total if total else None}
        s["mismatches"] = mism
    return s


def print_report(report):
    engines = report["engines"]
    print()
    print("=" * 100)
    print("fts-sift benchmark  %s  corpus %s" % (report["started"],
                                                 report["mbox"]))
    print("machine: %s CPUs, %s" % (report["cpus"], report["uname"]))
    if report.get("mail_format", "maildir") != "maildir":
        print("mailbox format: %s" % report["mail_format"])
    print("=" * 100)
    cols = [("engine", "%-11s"), ("msgs", "%6s"), ("index s", "%8s"),
            ("msg/s", "%6s"), ("CPU s", "%7s"), ("RSS MB", "%6s"),
            ("index MB", "%8s"), ("% mail", "%6s"), ("opt MB", "%6s"),
            ("opt %", "%6s"), ("p50 ms", "%7s"), ("p95 ms", "%7s"),
            ("app>srch", "%8s"), ("app>idx", "%7s"), ("=none", "%7s"),
            ("logerr", "%6s")]
    line = " ".join(f for _, f in cols)
    hdr = line % tuple(n for n, _ in cols)
    print(hdr)
    print("-" * len(hdr))
    for e in engines:
        ix = e.get("index", {})
        sz = e.get("size", {})
        so = e.get("size_optimized", {})
        se = e.get("search", {})
        ap = e.get("append", {})
        ag = se.get("agreement")
        print(line % (
            e["engine"], e["msgs"], fmt(ix.get("wall_s")),
            fmt(ix.get("msgs_per_s"), 0), fmt(ix.get("cpu_s")),
            fmt(ix.get("maxrss_mb"), 0),
            fmt(sz["index_bytes"] / MB if sz else None),
            fmt(sz.get("index_pct_of_mail")),
            fmt(so["index_bytes"] / MB if so else None),
            fmt(so.get("index_pct_of_mail")),
            fmt(se.get("p50_ms")), fmt(se.get("p95_ms")),
            fmt(ap.get("delay_ms_median"), 0),
            fmt(ap.get("backend_delay_ms_median"), 0),
            "%d/%d" % (ag["agree"], ag["total"]) if ag else "-",
            fmt(e.get("log_problems"))))
    print("""index s, msg/s, CPU s, RSS: `doveadm index -u USER INBOX` (in-process; \
for none only Dovecot's cache)
  or `notmuch new`.  %% mail: index bytes on disk / mail bytes.  opt: after \
`doveadm fts optimize`.
p50/p95: every UID SEARCH of the query set over one IMAP connection (notmuch: \
a `notmuch count`
  process per query, for reference).  =none: queries answered with exactly \
Dovecot's own UIDs.
app>srch: ms from APPEND to a UID SEARCH BODY that finds it (Dovecot waits \
for the indexer in
  250 ms steps); app>idx: ms until `doveadm fts lookup` finds it (medians \
of %d).""" % report.get("appends", 5))
    busy = ["%s %.1f" % (e["engine"], e["loadavg_before_index"])
            for e in engines if e.get("loadavg_before_index", 0) > 1.0]
    if busy:
        print("NOTE: the machine was busy (1-min load average before indexing"
              " > 1 on %d CPUs): %s" % (report["cpus"], ", ".join(busy)))
    for e in engines:
        if e.get("error"):
            print("!! %s failed: %s" % (e["engine"], e["error"]))

    # per class
    names = [e["engine"] for e in engines if e.get("search")]
    if names:
        print()
        print("search latency per class, p50/p95 ms (n = queries in class)")
        line = "%-18s %3s " % ("class", "n") + " ".join("%17s" % n
                                                        for n in names)
        print(line)
        print("-" * len(line))
        for c in CLASSES:
            cells = []
            n = 0
            for e in engines:
                if not e.get("search"):
                    continue
                pc = e["search"]["per_class"].get(c)
                if pc:
                    n = max(n, pc["n"])
                    cells.append("%8s/%-8s" % (fmt(pc["p50_ms"]),
                                               fmt(pc["p95_ms"])))
                else:
                    cells.append("%17s" % "-")
            print("%-18s %3d " % (c, n) + " ".join(cells))

    print_floor(engines)
    fo = [e for e in engines if e.get("first_open")]
    if fo:
        print()
        print("first mail opened before the queries (not in p50/p95): ms, imap CPU ms")
        for e in fo:
            print("  %-16s %8s %8s" % (e.get("engine"), fmt(e["first_open"].get("ms")),
                                       fmt(e["first_open"].get("cpu_ms"))))

    print()
    print("ratios")
    for k, v in report["ratios"].items():
        print("  %-52s %s" % (k, fmt(v, 2)))

    print()
    for e in engines:
        se = e.get("search")
        if not se or "agreement" not in se:
            continue
        a = se["agreement"]
        print("%s vs %s: %d/%d queries return the same UIDs (%.1f%%)"
              % (e["engine"], e["oracle"], a["agree"], a["total"],
                 100.0 * a["rate"] if a["rate"] is not None else 0))
        if e["kind"] != "sift" and se["mismatches"]:
            per = collections.Counter(m["class"] for m in se["mismatches"])
            print("  differs in: " + ", ".join("%s %d" % kv
                                               for kv in per.items()))
        if e["kind"] == "sift" and se["mismatches"]:
            print("!" * 100)
            print("!! CORRECTNESS BUG: %s returned different UIDs than "
                  "Dovecot's own search for %d queries:" %
                  (e["engine"], len(se["mismatches"])))
            for m in se["mismatches"]:
                print("!!   [%s] %s: %d hits vs %d (missing %d %s, extra %d "
                      "%s)%s" % (m["class"], m["query"], m["hits"],
                                 m["oracle_hits"], m["missing"],
                                 m["missing_uids"], m["extra"],
                                 m["extra_uids"],
                                 " error: %s" % m["error"] if m["error"]
                                 else ""))
            print("!" * 100)
    for e in engines:
        if e.get("log_problems"):
            print("%s: %d Panic/Fatal/Error log lines, first: %s"
                  % (e["engine"], e["log_problems"],
                     e["log_problem_lines"][0][:200]))


def print_floor(engines):
    """Per class, each engine's p95 next to Dovecot's own floor for the
    same answer sizes (DovecotEngine.floor()): how much of a class is
    Dovecot's handling of that many UIDs and how much is above it."""
    for e in engines:
        se = e.get("search") or {}
        fl = e.get("floor")
        if not fl or not se.get("per_class"):
            continue
        print()
        print("%s: Dovecot's floor per class (the same answer sizes, "
              "Dovecot alone: %s)" % (e["engine"], fl["criteria"]))
        print("  0 UIDs: %s ms (imap CPU %s); all %d "
              "UIDs: %s ms (imap CPU %s)"
              % (fmt((fl.get("none") or {}).get("ms")),
                 fmt((fl.get("none") or {}).get("cpu_ms")), fl["all_n"],
                 fmt((fl.get("all") or {}).get("ms")),
                 fmt((fl.get("all") or {}).get("cpu_ms"))))
        line = "  %-18s %8s %8s %8s %8s %8s %8s"
        print(line % ("class (p95 ms)", "query", "floor", "above", "CPU",
                      "floorCPU", "CPUabove"))
        for c in CLASSES:
            pc = se["per_class"].get(c)
            if not pc:
                continue
            print(line % (c, fmt(pc.get("p95_ms")), fmt(pc.get("floor_p95_ms")),
                          fmt(pc.get("above_floor_p95_ms")),
                          fmt(pc.get("cpu_p95_ms")),
                          fmt(pc.get("floor_cpu_p95_ms")),
                          fmt(pc.get("cpu_above_floor_p95_ms"))))


def ratios(by):
    def get(name, *path):
        v = by.get(name)
        for p in path:
            if not isinstance(v, dict):
                return None
            v = v.get(p)
        return v

    def div(a, b):
        return a / b if a is not None and b else None

    r = collections.OrderedDict()
    r["sift msg/s / notmuch msg/s"] = div(get("sift", "index", "msgs_per_s"),
                                          get("notmuch", "index",
                                              "msgs_per_s"))
    sl = "sift@slice" if "sift@slice" in by else "sift"
    r["sift msg/s / xapian msg/s (same slice)"] = div(
        get(sl, "index", "msgs_per_s"), get("xapian", "index", "msgs_per_s"))
    r["sift CPU s / notmuch CPU s"] = div(get("sift", "index", "cpu_s"),
                                          get("notmuch", "index", "cpu_s"))
    r["xapian CPU s / sift CPU s (same slice)"] = div(
        get("xapian", "index", "cpu_s"), get(sl, "index", "cpu_s"))
    r["sift index % / notmuch index %"] = div(
        get("sift", "size", "index_pct_of_mail"),
        get("notmuch", "size", "index_pct_of_mail"))
    r["sift index % / xapian index % (same slice)"] = div(
        get(sl, "size", "index_pct_of_mail"),
        get("xapian", "size", "index_pct_of_mail"))
    r["sift search p95 / none (full scan) p95"] = div(
        get("sift", "search", "p95_ms"), get("none", "search", "p95_ms"))
    r["none p95 / sift p95 (speed-up)"] = div(
        get("none", "search", "p95_ms"), get("sift", "search", "p95_ms"))
    nsl = "none@slice" if "none@slice" in by else "none"
    r["sift p95 / xapian p95 (same slice)"] = div(
        get(sl, "search", "p95_ms"), get("xapian", "search", "p95_ms"))
    r["xapian p95 / none p95 (same slice)"] = div(
        get("xapian", "search", "p95_ms"), get(nsl, "search", "p95_ms"))
    # issue 14's aim: indexing at least 3x flatcurve's CPU throughput
    for fc in ("flatcurve", "flatcurve-nosub"):
        if fc in by:
            r["%s CPU s / sift CPU s" % fc] = div(
                get(fc, "index", "cpu_s"), get("sift", "index", "cpu_s"))
            r["sift index %% / %s index %%" % fc] = div(
                get("sift", "size", "index_pct_of_mail"),
                get(fc, "size", "index_pct_of_mail"))
    return r


# ---------------------------------------------------------------- main

def flatcurve_version():
    """Which flatcurve the flatcurve engines run: on 2.3 the VERSION file
    build-flatcurve.sh wrote, on 2.4 Debian's dovecot-flatcurve package."""
    if not DOVECOT_24:
        try:
            with open(os.path.join(FLATCURVE_DIR, "VERSION")) as f:
                return " ".join(f.read().split("\n")[:1])
        except OSError:
            return None
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                              "dovecot-flatcurve"], capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        return None
    return "dovecot-flatcurve " + out if out else None


def snapshot_plugin():
    """Copy the plugin .so aside (a rebuild during the run must not change
    or break the instances) and point the harness at the copy."""
    src = os.environ.get("SIFT_PLUGIN_SO") or SIFT_SO
    if not os.path.exists(src):
        return None
    os.makedirs(BENCH_ROOT, exist_ok=True)
    dst = os.path.join(BENCH_ROOT, "lib21_fts_sift_plugin.so")
    shutil.copy2(src, dst)
    # Dovecot 2.4: the settings module built beside it (the harness
    # installs it into Dovecot's modules/settings)
    settings_so = os.path.join(os.path.dirname(src), dovetest.SETTINGS_SO_NAME)
    if os.path.exists(settings_so):
        shutil.copy2(settings_so, os.path.join(BENCH_ROOT, dovetest.SETTINGS_SO_NAME))
    os.environ["SIFT_PLUGIN_SO"] = dst
    with open(dst, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()

    def git(*a):
        try:
            return subprocess.run(["git", "-C", REPO] + list(a),
                                  capture_output=True, text=True).stdout
        except OSError:
            return ""
    # SIFT_GIT_HEAD: for a copy without .git (tests/chroot-trixie.sh run)
    head = git("rev-parse", "--short", "HEAD").strip() or \
        os.environ.get("SIFT_GIT_HEAD") or None
    dirty = bool(git("status", "--porcelain", "--", "plugin", "include",
                     "Makefile.am", "configure.ac").strip())
    return {"path": src, "sha256": digest, "mtime": time.strftime(
        "%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(src))),
        "git_head": head, "source_dirty": dirty}


def plan(args, corpus, cache=None, queries=()):
    """The engine instances to run, in order: oracles (none) before the
    engines compared with them.  With an oracle cache, none reads it and
    fills what it lacks; when none is not asked for but the cache has
    results for this corpus, they are the oracle (nothing is run)."""
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ALL_ENGINES:
            raise SystemExit("unknown engine %r" % e)
    if "sift" in engines and not os.path.exists(
            os.environ.get("SIFT_PLUGIN_SO", "")):
        log("WARNING: %s does not exist; skipping sift" % SIFT_SO)
        engines.remove("sift")
    for fc in ("flatcurve", "flatcurve-nosub"):
        if fc in engines and not DOVECOT_24 and not os.path.exists(
                FLATCURVE_SO):
            log("WARNING: %s does not exist (build it with "
                "tests/bench/build-flatcurve.sh); skipping %s"
                % (FLATCURVE_SO, fc))
            engines.remove(fc)
    n = len(corpus)
    sl = min(args.xapian_limit, n) if args.xapian_limit > 0 else n
    slice_c = corpus.slice(sl) if sl < n else corpus
    port = args.port_base
    out = []  # (name, factory, oracle name)
    def add(name, kind, c, oracle):
        nonlocal port
        root = os.path.join(BENCH_ROOT, name.replace("@", "-"))
        if kind == "notmuch":
            out.append((NotmuchEngine(name, c, root), None))
        else:
            kind, conf, settings = ENGINE_KINDS.get(kind, (kind, "", {}))
            out.append((DovecotEngine(name, kind, c, root, port or None,
                                      plugin_settings=settings or None,
                                      extra_conf=args.extra_conf + conf), oracle))
            port += 1 if port else 0
    have_oracle = "none" in engines
    if cache is not None and not have_oracle and any(
            cache.get(corpus, q) is not None for q in queries):
        have_oracle = True
    if have_oracle:
        add("none", "none", corpus, None)
        if cache is not None:
            out[-1][0].cache = cache
            out[-1][0].cache_only = "none" not in engines
    if "sift" in engines:
        add("sift", "sift", corpus, "none" if have_oracle else None)
    if "notmuch" in engines:
        add("notmuch", "notmuch", corpus, None)
    for fc in ("flatcurve", "flatcurve-nosub"):
        if fc in engines:
            add(fc, fc, corpus, "none" if have_oracle else None)
    if "xapian" in engines:
        if sl < n:
            if "none" in engines:
                add("none@slice", "none", slice_c, None)
            if "sift" in engines:
                add("sift@slice", "sift", slice_c,
                    "none@slice" if "none" in engines else None)
            add("xapian", "xapian", slice_c,
                "none@slice" if "none" in engines else None)
        else:
            add("xapian", "xapian", slice_c,
                "none" if have_oracle else None)
    return out, sl


def run_set(args, corpus, queries, so_info, cache, on_update=None,
            extra=None):
    """Every planned engine on one corpus; returns the report dict (the
    JSON of a plain run).  on_update(report) is called after every engine
    (the JSON is written then, so a long run that dies keeps what it
    measured)."""
    instances, slice_n = plan(args, corpus, cache, queries)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    by = collections.OrderedDict()
    results = {}

    def report():
        r = {"started": started, "mbox": os.path.abspath(args.mbox),
             "mail_format": MAIL_FORMAT,
             "limit": len(corpus) if args.sizes else args.limit,
             "xapian_limit": slice_n,
             "cpus": os.cpu_count(),
             "uname": " ".join(os.uname()[2:3] + os.uname()[4:5]),
             "dovecot": dovecot_version(),
             "corpus_sha256": corpus.sha256() if cache is not None else None,
             "sift_plugin": so_info, "appends": args.appends,
             "flatcurve": flatcurve_version() if any(
                 n.startswith("flatcurve") for n in by) else None,
             "command": " ".join([os.path.basename(sys.argv[0])] +
                                 sys.argv[1:]),
             "queries": [{"class": q.cls, "imap": q.label,
                          "notmuch": q.notmuch} for q in queries],
             "engines": list(by.values()), "ratios": ratios(by)}
        r.update(extra or {})
        return r

    for inst, oracle in instances:
        log("=== %s (%d messages)" % (inst.name, len(inst.corpus)))
        inst.r["started"] = time.strftime("%Y-%m-%d %H:%M:%S")
        inst.r["loadavg_start"] = os.getloadavg()
        try:
            # the scan's APPEND probes are scans too: not at scale
            inst.run(queries, 0 if (args.sizes and inst.kind == "none")
                     else args.appends)
        except Exception as e:
            traceback.print_exc()
            inst.r["error"] = "%s: %s" % (type(e).__name__, e)
        if getattr(inst, "results", None) is not None:
            results[inst.name] = inst.results
            inst.r["oracle"] = oracle
            inst.r["search"] = summarize_search(
                inst, queries, results.get(oracle) if oracle else None)
        by[inst.name] = inst.r
        if not args.keep and not inst.r.get("error"):
            shutil.rmtree(inst.root, ignore_errors=True)
        if on_update:
            on_update(report())
    return report()


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=str)
    os.rename(tmp, path)


# ---------------------------------------------------------------- scale

def scale_rows(runs):
    """(size, engine name) -> engine record, from the per-size reports of
    one or more scale runs (later ones win)."""
    rows = collections.OrderedDict()
    for run in runs:
        for e in run["engines"]:
            e = dict(e)
            e["_run"] = run
            key = (run["limit"] or e["msgs"], e["engine"])
            # a run that only read the oracle cache (perhaps before the
            # scan had finished) does not replace the scan's own run
            if key in rows and _g(e, "oracle_cache", "only"):
                continue
            rows[key] = e
    return rows


def _g(d, *path):
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def size_label(n):
    return "%dk" % (n // 1000) if n >= 1000 and n % 1000 == 0 else str(n)


def print_flatcurve_ratios(rows, sizes):
    """fts-sift against each flatcurve engine at each size where both ran:
    indexing CPU (issue 14 aims at >= 3x), index size, memory, latency,
    exactness."""
    pairs = [(n, fc) for n in sizes for fc in ("flatcurve", "flatcurve-nosub")
             if (n, "sift") in rows and (n, fc) in rows]
    if not pairs:
        return

    def div(a, b):
        return a / b if a is not None and b else None

    def exact(e):
        ag = _g(e, "search", "agreement")
        return ("%d/%d" % (ag["agree"], ag["total"])
                if ag and ag.get("total") else "-")
    print()
    print("fts-sift vs flatcurve (CPU x = flatcurve's CPU s / fts-sift's; "
          "issue 14 aims at >= 3)")
    print("(s/f: fts-sift's figure / flatcurve's)")
    line = "  %-16s %7s %7s %6s %12s %10s %11s %12s %14s %12s"
    print(line % ("flatcurve", "msgs", "CPU s", "CPU x", "% mail s/f",
                  "idxRSS s/f", "imapRSS s/f", "p50 ms s/f", "p95 ms s/f",
                  "=scan s/f"))
    for n, fc in pairs:
        s, f = rows[(n, "sift")], rows[(n, fc)]
        print(line % (
            fc, n, fmt(_g(f, "index", "cpu_s")),
            fmt(div(_g(f, "index", "cpu_s"), _g(s, "index", "cpu_s")), 2),
            "%s/%s" % (fmt(_g(s, "size", "index_pct_of_mail")),
                       fmt(_g(f, "size", "index_pct_of_mail"))),
            "%s/%s" % (fmt(_g(s, "index", "maxrss_mb"), 0),
                       fmt(_g(f, "index", "maxrss_mb"), 0)),
            "%s/%s" % (fmt(_g(s, "imap", "peak_rss_mb"), 0),
                       fmt(_g(f, "imap", "peak_rss_mb"), 0)),
            "%s/%s" % (fmt(_g(s, "search", "p50_ms")),
                       fmt(_g(f, "search", "p50_ms"))),
            "%s/%s" % (fmt(_g(s, "search", "p95_ms")),
                       fmt(_g(f, "search", "p95_ms"))),
            "%s %s" % (exact(s), exact(f))))


def _print_class_tables(rows, engines, sizes, title, need, width, cell):
    """print_scale_report()'s tables of CLASSES by size, one for each
    engine that has `need` (a path in its result) at some size; a cell is
    cell(the class's search figures), "-" where there are none.  title
    (if any) goes before the first table."""
    for name in engines:
        have = [n for n in sizes if (n, name) in rows and
                _g(rows[(n, name)], *need)]
        if not have:
            continue
        if title:
            print()
            print(title)
            title = None
        print("  %s" % name)
        print("    %-18s" % "class" + "".join("%*s" % (width, size_label(n))
                                              for n in have))
        for c in CLASSES:
            cells = []
            for n in have:
                pc = rows[(n, name)]["search"]["per_class"].get(c)
                cells.append("%*s" % (width, cell(pc) if pc else "-"))
            print("    %-18s" % c + "".join(cells))


def print_scale_report(runs):
    rows = scale_rows(runs)
    sizes = sorted({k[0] for k in rows})
    engines = []
    for _, name in rows:
        if name not in engines:
            engines.append(name)
    print()
    print("=" * 110)
    print("fts-sift scale benchmark: %s" % ", ".join(
        sorted({os.path.basename(r["mbox"]) for r in runs})))
    print("Dovecot %s; %s CPUs, %s; runs started %s" % (
        ", ".join(sorted({r.get("dovecot", "?") for r in runs})),
        runs[0]["cpus"], runs[0]["uname"],
        ", ".join(sorted({r["started"] for r in runs}))))
    heads = sorted({"%s%s" % (_g(r, "sift_plugin", "git_head") or "?",
                              " (dirty)" if _g(r, "sift_plugin", "source_dirty")
                              else "") for r in runs if r.get("sift_plugin")})
    if heads:
        print("fts-sift at " + ", ".join(heads))
    fcs = sorted({r["flatcurve"] for r in runs if r.get("flatcurve")})
    if fcs:
        print("flatcurve: " + ", ".join(fcs))
    print("=" * 110)
    line = ("%-16s %7s %6s %7s %7s %7s %7s %7s %9s %6s %8s %8s %9s %8s %4s %5s")
    hdr = line % ("engine", "msgs", "msg/s", "CPU s", "idxRSS", "imapRSS",
                  "imapVSZ", "srchCPU", "index MB", "% mail", "p50 ms",
                  "p95 ms", "max ms", "=scan", "err", "load")
    print(hdr)
    print("-" * len(hdr))
    for name in engines:
        for n in sizes:
            e = rows.get((n, name))
            if e is None:
                continue
            se = e.get("search", {})
            ag = se.get("agreement")
            allms = [q["ms"] for q in se.get("queries_detail", [])]
            sz = e.get("size", {})
            exact = "-"
            if ag:
                exact = "%d/%d" % (ag["agree"], ag["total"])
                if ag.get("unchecked"):
                    exact += "+%d?" % ag["unchecked"]
            if name == "none" and _g(e, "oracle_cache", "only"):
                exact = "cache"
            print(line % (
                name, n, fmt(_g(e, "index", "msgs_per_s"), 0),
                fmt(_g(e, "index", "cpu_s")), fmt(_g(e, "index", "maxrss_mb"), 0),
                fmt(_g(e, "imap", "peak_rss_mb"), 0),
                fmt(_g(e, "imap", "peak_vsz_mb"), 0),
                fmt(_g(e, "imap", "search_cpu_s")),
                fmt(sz["index_bytes"] / MB if sz.get("index_bytes") else None), fmt(sz.get("index_pct_of_mail")),
                fmt(se.get("p50_ms")), fmt(se.get("p95_ms")),
                fmt(max(allms) if allms else None),
                exact, fmt(se.get("errors")), fmt(e.get("loadavg_before_index"))))
            if e.get("error"):
                print("   !! %s at %d failed: %s" % (name, n, e["error"][:200]))
    # who owns the peaks (smaps, rss_sampler.py): anonymous memory vs
    # file pages of Dovecot's own files, the index's files, libraries
    print()
    print("memory at the sampled peak (MB): RSS = anon + Dovecot files + "
          "index files + libraries; peak anon (heap)")
    for name in engines:
        for n in sizes:
            e = rows.get((n, name))
            if e is None:
                continue
            for what, sm in (("doveadm index", _g(e, "index", "smaps")),
                             ("imap", _g(e, "imap", "smaps"))):
                if not sm or not sm.get("samples"):
                    continue
                at = sm["at_peak_rss_mb"]
                print("  %-16s %7d %-13s %6.1f = %5.1f + %5.1f + %5.1f + "
                      "%5.1f; anon %5.1f (heap %5.1f)"
                      % (name, n, what, sm["peak_rss_mb"], at["anon"],
                         at["dovecot_files"], at["sift_files"], at["libs"],
                         sm["peak_anon_mb"], sm["peak_heap_mb"]))
    fo = [(name, n, e["first_open"]) for (n, name), e in sorted(rows.items())
          if e.get("first_open")]
    if fo:
        print()
        print("first mail opened before the queries (not in p50/p95): ms, imap CPU ms")
        for name, n, f in fo:
            print("  %-16s %7d %8s %8s" % (name, n, fmt(f.get("ms")), fmt(f.get("cpu_ms"))))
    for (n, name), e in rows.items():
        mm = _g(e, "search", "mismatches")
        if e.get("kind") == "sift" and mm:
            print("!! CORRECTNESS BUG: %s at %d: %d queries differ from the scan: %s"
                  % (name, n, len(mm), "; ".join("[%s] %s %s vs %s hits" % (
                      m["class"], m["query"], m["hits"], m["oracle_hits"])
                      for m in mm)))
    print("""msg/s, CPU s, idxRSS (MB): `doveadm index` under GNU time (peak RSS).  imapRSS (MB): \
VmHWM of the imap
process that ran the queries (imapVSZ: VmPeak, what Dovecot's vsz_limit caps), srchCPU: its CPU s
for them.  err: queries that failed (error or the imap process died).  =scan: queries with \
exactly the scan's UIDs
(+N?: no scan result for N).  load: 1-min load average before indexing (2 CPUs).""")

    print_flatcurve_ratios(rows, sizes)

    print()
    print("per class p50/p95 ms")
    _print_class_tables(
        rows, engines, sizes, None, ("search", "per_class"), 20,
        lambda pc: "%s/%s" % (fmt(pc["p50_ms"]), fmt(pc["p95_ms"])))
    # Dovecot's own floor for the same answer sizes (DovecotEngine.floor())
    _print_class_tables(
        rows, engines, sizes, "per class p95 ms / Dovecot's floor p95 ms for "
        "the same answer sizes (imap CPU: query/floor)", ("floor",), 24,
        lambda pc: "%s/%s (%s/%s)" % (
            fmt(pc.get("p95_ms")), fmt(pc.get("floor_p95_ms")),
            fmt(pc.get("cpu_p95_ms")), fmt(pc.get("floor_cpu_p95_ms"))))

    print()
    print("growth (ratio of the larger size's figure to the smaller's)")
    for name in engines:
        have = [n for n in sizes if (n, name) in rows]
        for a, b in zip(have, have[1:]):
            ea, eb = rows[(a, name)], rows[(b, name)]

            def r(*path):
                x, y = _g(ea, *path), _g(eb, *path)
                return y / x if x and y is not None else None
            print("  %-16s %s -> %s (messages x%.2f): CPU s x%s, msg/s x%s, "
                  "idx RSS x%s, imap RSS x%s, index x%s, p50 x%s, p95 x%s"
                  % (name, size_label(a), size_label(b), b / a,
                     fmt(r("index", "cpu_s"), 2), fmt(r("index", "msgs_per_s"), 2),
                     fmt(r("index", "maxrss_mb"), 2),
                     fmt(r("imap", "peak_rss_mb"), 2),
                     fmt(r("size", "index_bytes"), 2),
                     fmt(r("search", "p50_ms"), 2),
                     fmt(r("search", "p95_ms"), 2)))
            pa = _g(ea, "search", "per_class") or {}
            pb = _g(eb, "search", "per_class") or {}
            cl = []
            for c in CLASSES:
                if c in pa and c in pb and pa[c]["p95_ms"]:
                    g = pb[c]["p95_ms"] / pa[c]["p95_ms"]
                    cl.append("%s x%.2f%s" % (c, g, " (~linear)"
                                              if g >= 0.7 * b / a else ""))
            if cl:
                print("      p95 per class: " + ", ".join(cl))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mbox", nargs="?", default=DEFAULT_MBOX,
                    help="mboxrd file, .zst allowed (default: %(default)s)")
    ap.add_argument("--limit", type=int, default=None,
                    help="use only the first N messages")
    ap.add_argument("--sizes", default=None,
                    help="scale mode: comma-separated message counts (e.g. "
                    "30000,100000,300000); the engines run on the first N "
                    "messages of MBOX for each N, with one query set")
    ap.add_argument("--oracle-cache", default=None, metavar="DIR",
                    help="cache of the scan's results (default in scale "
                    "mode: %s; 'none' to disable)" % DEFAULT_ORACLE_CACHE)
    ap.add_argument("--xapian-limit", type=int, default=0 if DOVECOT_24 else 3000,
                    help="slice for fts-xapian (and sift/none alongside); "
                    "0: all messages (default on 2.4, whose fts-xapian 1.9 "
                    "is fast enough; 3000 on 2.3)")
    ap.add_argument("--engines", default=DEFAULT_ENGINES,
                    help="comma-separated subset (default: %(default)s)")
    ap.add_argument("--json", default=os.path.join(HERE, "last-run.json"),
                    help="results as JSON (default: %(default)s, "
                    "git-ignored; '' for none)")
    ap.add_argument("--appends", type=int, default=5,
                    help="APPEND-to-searchable samples per Dovecot engine")
    ap.add_argument("--port-base", type=int, default=0,
                    help="first IMAP port (default: a free port each)")
    ap.add_argument("--extra-conf", default=QUIET_CONF,
                    help="extra dovecot.conf text for every instance")
    ap.add_argument("--mail-format", default="maildir",
                    choices=("maildir", "sdbox", "mdbox", "mbox"),
                    help="mailbox format of the Dovecot engines (default: "
                    "%(default)s; sdbox/mdbox/mbox are copied from the maildir "
                    "by doveadm backup before indexing, so Dovecot's "
                    "maildir uidlist is not in the indexer's memory)")
    ap.add_argument("--keep", action="store_true",
                    help="keep /tmp/sift-bench/* after the run")
    ap.add_argument("--report", metavar="JSON", nargs="+",
                    help="only print the tables of earlier runs' JSON "
                    "(scale runs: several files are merged into one table)")
    args = ap.parse_args()
    global MAIL_FORMAT
    MAIL_FORMAT = args.mail_format
    if args.report:
        runs = []
        for path in args.report:
            with open(path) as f:
                j = json.load(f)
            runs.extend(j["runs"] if j.get("scale") else [j])
        if args.oracle_cache != "none":
            recheck(runs, args.oracle_cache or DEFAULT_ORACLE_CACHE)
        if any(r.get("scale_size") for r in runs):
            print_scale_report(runs)
        else:
            for r in runs:
                print_report(r)
        return 0

    sizes = None
    if args.sizes:
        sizes = sorted({int(x) for x in args.sizes.split(",") if x.strip()})
        args.xapian_limit = 0
    cache_dir = args.oracle_cache or (DEFAULT_ORACLE_CACHE if sizes else None)
    cache = None
    if cache_dir and cache_dir != "none":
        cache = OracleCache(cache_dir, dovecot_version())

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    limit = sizes[-1] if sizes else args.limit
    log("reading %s (limit %s)" % (args.mbox, limit))
    t0 = time.perf_counter()
    corpus = Corpus(read_mbox(args.mbox, limit))
    log("%d messages, %.1f MB, read in %.1fs" % (len(corpus),
                                                 corpus.mail_bytes / MB,
                                                 time.perf_counter() - t0))
    so_info = snapshot_plugin()
    t0 = time.perf_counter()
    if sizes:
        if len(corpus) < sizes[-1]:
            raise SystemExit("%s has %d messages, fewer than %d"
                             % (args.mbox, len(corpus), sizes[-1]))
        # one query set for every size, drawn from the smallest (a prefix
        # of the others), so every query has hits at every size and the
        # sizes compare query by query
        base = corpus.slice(sizes[0])
        queries = build_queries(base, min(3000, len(base)))
    else:
        # the query set depends on the slice it samples first: with no
        # slice (2.4's default) the same 3000 as 2.3's default run, so
        # that both versions' runs search for the same strings
        _, slice_n = plan(args, corpus)
        queries = build_queries(corpus, slice_n if slice_n < len(corpus)
                                else min(3000, len(corpus)))
    log("%d queries built in %.1fs" % (len(queries), time.perf_counter() - t0))

    if not sizes:
        report = run_set(args, corpus, queries, so_info, cache,
                         on_update=(lambda r: write_json(args.json, r))
                         if args.json else None)
        report["started"] = started
        if args.json:
            write_json(args.json, report)
        print_report(report)
        if args.json:
            log("JSON written to %s" % args.json)
        reports = [report]
    else:
        reports = []
        for n in sizes:
            c = corpus.slice(n) if n < len(corpus) else corpus
            log("##### size %d" % n)

            def save(rep):
                if args.json:
                    write_json(args.json, {"scale": True, "started": started,
                                           "runs": reports + [rep]})
            rep = run_set(args, c, queries, so_info, cache, on_update=save,
                          extra={"scale_size": n})
            reports.append(rep)
            if args.json:
                write_json(args.json, {"scale": True, "started": started,
                                       "runs": reports})
            print_report(rep)
        if cache is not None:
            # the scan may have finished meanwhile (a background oracle run)
            recheck(reports, cache.root)
            if args.json:
                write_json(args.json, {"scale": True, "started": started,
                                       "runs": reports})
        print_scale_report(reports)
        if args.json:
            log("JSON written to %s" % args.json)
    bad = any(e.get("kind") == "sift" and e.get("search", {}).get("mismatches")
              for r in reports for e in r["engines"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
