"""SEARCH in the shapes real IMAP clients send, compared byte for byte
with the oracle (Dovecot without FTS over the same maildirs, same UIDs).

Each command goes over a raw socket exactly as a client writes it:
CHARSET (UTF-8, US-ASCII, ISO-8859-1 with Latin-1 bytes, unknown),
quoted strings with escaped quotes and backslashes, synchronizing
literals {n} (waiting for the "+" continuation) and LITERAL+ {n+}, UID
and sequence sets, $ (SEARCHRES), ESEARCH RETURN options, SORT and ESORT,
THREAD.  The forms follow what the clients send:

  Thunderbird     UID SEARCH UNDELETED OR OR FROM x TO x SUBJECT x,
                  CHARSET UTF-8 with literals, TEXT/BODY x,
                  HEADER Message-ID <id>, HEADER References <id>
  Apple Mail/iOS  UID SEARCH 1:* NOT DELETED (OR HEADER FROM x (OR ...)),
                  UID SEARCH RETURN (COUNT) / (MIN MAX COUNT ALL) ...
  Outlook & co.   CHARSET US-ASCII, ISO-8859-1 (Latin-1 literal), UTF-8
                  with CJK, an unknown charset (NO [BADCHARSET ...])
  Roundcube, mutt, Evolution, K-9
                  SORT (REVERSE ARRIVAL) UTF-8 ..., SORT (DATE) UTF-8 OR
                  ..., THREAD REFERENCES UTF-8 BODY x, SEARCH RETURN (SAVE)
                  then SEARCH $ ..., dates/sizes/flags/keywords with text
                  keys, NOT (OR ...), nested lists, sequence sets

over fixture mail and (when /work/shared/corpora or $SIFT_CORPORA has
them) samples of the real corpora, in mailbox states: after EXPUNGE,
with \\Deleted set, with new mail appended just before the search (not
yet indexed; fts_autoindex=yes and =no), in a second folder, SELECT and
EXAMINE.  What is compared: every untagged SEARCH/ESEARCH/SORT/THREAD
response (order included) and the tagged status with its response
code.  The counts per form are printed (pytest -s shows them).

Not compared: MODSEQ, RECENT/NEW/OLD and SAVEDBEFORE (each instance has
its own index, so modseqs and \\Recent differ by design).  After every
change made by the other session both sessions get a NOOP before they
search: the oracle sees such a change only when it rescans the maildir,
which a command's own quick sync may not do yet - a race between the two
instances, not a difference of the plugin.  UPDATE searches never hold
KEYWORD: Dovecot 2.3.19 itself (no FTS plugin loaded) dies with SIGSEGV
at the NOOP after new mail when a RETURN (UPDATE) search holds KEYWORD of
a keyword the mailbox doesn't have yet.  Strings with CR or LF go to BODY
and TEXT only: Dovecot's header search carries a partial match from one
message to the next it evaluates (SUBJECT "a\\r\\nb" matches a subject
starting with "b" right after one ending in "a", with Dovecot alone), so
its answer depends on which messages it evaluated before - which the
index changes for any FTS backend.  No search mixes an address key
(FROM/TO/CC) with HEADER of the same header: Dovecot alone answers such a
search by neither argument's own answer, depending on their order (From:
=?UTF-8?Q?Zo=C3=AB?= <zoe.work@edge.example> (Zoe at work): OR FROM zzz
HEADER From "Zoe at work" misses it, the reverse order finds it; HEADER
From ")" FROM "Zoe at" finds it though FROM "Zoe at" alone does not).  The
plugin answers those as the arguments alone do (56 of 624 such searches
differed from the oracle, every one that way).

Environment: SIFT_CLIENT_FORMS_N (searches per form and mailbox state,
default 24), SIFT_CLIENT_FORMS_SEED (added to every seed, default 0),
SIFT_CLIENT_FORMS_TRACE (a file that gets every command and change, to
replay one).
"""

import email.utils
import os
import random
import re
import socket
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))

from dovetest import instance_pair  # noqa: E402
import fixtures  # noqa: E402

USER = "cli"
N = int(os.environ.get("SIFT_CLIENT_FORMS_N", "24"))
TRACE = os.environ.get("SIFT_CLIENT_FORMS_TRACE")   # file: every command sent
SEED = int(os.environ.get("SIFT_CLIENT_FORMS_SEED", "0"))  # added to every seed
CORPUS_BOXES = ["kselftest", "multilingual", "mime_edge_cases",
                "spamassassin_public", "sisimai_bounces"]
CORPUS_SAMPLE = {"kselftest": 60, "*": 30}
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


# ------------------------------------------------------------ raw IMAP

class Lit:
    """A literal argument: {n} (sync, waits for "+") or {n+}."""

    def __init__(self, data, sync):
        self.data, self.sync = data, sync


class Raw:
    """One IMAP connection that sends commands byte for byte."""

    def __init__(self, inst, user=USER):
        self.port = inst.port
        self.sock = socket.create_connection(("127.0.0.1", inst.port), timeout=300)
        self.f = self.sock.makefile("rb")
        self.n = 0
        self._line()                                # greeting
        _u, tagged = self.cmd([b"LOGIN %s %s" % (user.encode(),
                                                 inst.password(user).encode())])
        assert tagged.startswith(b"OK"), tagged
        _u, tagged = self.cmd([b"CAPABILITY"])
        self.caps = set(b" ".join(_u).upper().split())

    def _line(self):
        """One response line, its literals included."""
        out = b""
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("connection closed after %r" % out[-200:])
            out += line
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if not m:
                return out
            out += self.f.read(int(m.group(1)))

    def cmd(self, parts):
        """Send parts (bytes verbatim, Lit literals); (untagged lines,
        tagged status line without the tag)."""
        self.n += 1
        tag = b"c%d" % self.n
        buf = tag + b" "
        for p in parts:
            if isinstance(p, Lit):
                buf += b"{%d%s}\r\n" % (len(p.data), b"" if p.sync else b"+")
                if p.sync:
                    self.sock.sendall(buf)
                    buf = b""
                    line = self._line()
                    if not line.startswith(b"+"):
                        # refused before the literal was sent
                        assert line.startswith(tag + b" "), line
                        return [], line[len(tag) + 1:].rstrip(b"\r\n")
                buf += p.data
            else:
                buf += p
        self.sock.sendall(buf + b"\r\n")
        trace("cmd", self.port, id(self), [(p.data, p.sync) if isinstance(p, Lit) else p for p in parts])
        untagged = []
        while True:
            line = self._line()
            if line.startswith(tag + b" "):
                return untagged, line[len(tag) + 1:].rstrip(b"\r\n")
            untagged.append(line.rstrip(b"\r\n"))

    def close(self):
        try:
            self.cmd([b"LOGOUT"])
        except Exception:
            pass
        self.sock.close()


KEEP = (b"* SEARCH", b"* ESEARCH", b"* SORT", b"* THREAD", b"* NO", b"* BAD", b"* BYE")


def normalized(untagged, tagged):
    """What must be equal: the search responses (order kept) and the
    tagged status and code, without the timing Dovecot appends."""
    keep = [u for u in untagged if u.startswith(KEEP)]
    tagged = re.sub(rb"\s*\([0-9.+ ]+secs\)", b"", tagged)
    return keep, tagged


def trace(*what):
    if TRACE:
        with open(TRACE, "a") as f:
            f.write(repr(what) + "\n")


# ------------------------------------------------------------ strings

WORD_RE = re.compile(r"\w[\w'.@+-]*\w|\w", re.UNICODE)
MSGID_RE = re.compile(r"<[^<>\s]+@[^<>\s]+>")


def _is_cjk(ch):
    return 0x3040 <= ord(ch) <= 0x9fff or 0xac00 <= ord(ch) <= 0xd7af or \
        0xf900 <= ord(ch) <= 0xfaff


class Pool:
    """Strings cut from one mailbox's mail, by kind."""

    SPECIAL = ["", " ", '"', "\\", 'say "hi"', "back\\slash", '\\"', "a\"b\\c",
               "-", "--", "test-case", "-case", "v5.10", "a.b@c.d", "@",
               "<", ">", "(", ")", "{5}", "%", "*", "zzqxvnotthere",
               "Re:", "[PATCH", "caf\u00e9", "\u00fcber", "\u65e5\u672c",
               "\u0414\u043b\u0438\u043d", "\U0001f600", "x" * 300, "a\r\nb", "tab\there",
               "nul\0byte", "  kselftest  ", "KSELFTEST", "\u00c9t\u00e9", "e\u0301t\u0301"]

    def __init__(self, messages, rng):
        import querysets
        self.rng = rng
        k = {n: set() for n in ("word", "sub", "phrase", "dash", "addr", "name",
                                "subject", "msgid", "nonascii", "cjk", "latin1")}
        for raw in messages:
            mt = querysets.parse_message(raw)
            words = WORD_RE.findall(mt.body[:4000])
            for w in rng.sample(words, min(6, len(words))):
                k["word"].add(w)
                if len(w) >= 5:
                    a = rng.randrange(1, len(w) - 3)
                    k["sub"].add(w[a:a + rng.randint(2, len(w) - a - 1)])
                if "-" in w:
                    k["dash"].add(w)
                if not w.isascii():
                    k["nonascii"].add(w)
                    try:
                        w.encode("iso-8859-1")
                        k["latin1"].add(w)
                    except UnicodeEncodeError:
                        pass
            if len(words) > 3:
                i = rng.randrange(0, len(words) - 2)
                k["phrase"].add(" ".join(words[i:i + rng.randint(2, 3)]))
            for run in re.findall(r"[\u3040-\u9fff\uac00-\ud7af]{2,}", mt.body[:4000]):
                a = rng.randrange(0, len(run) - 1)
                k["cjk"].add(run[a:a + rng.randint(1, min(4, len(run) - a))])
            for _h, a in mt.addrs:
                k["addr"].add(a)
                k["addr"].add(a.split("@")[0])
                k["addr"].add(a.split("@")[-1])
            for _h, n in mt.names:
                k["name"].add(n)
                k["name"].add(n.split()[-1])
            if mt.subject:
                k["subject"].add(mt.subject[:60])
                sw = mt.subject.split()
                if sw:
                    k["subject"].add(rng.choice(sw))
            for name, value in mt.headers:
                if name in ("message-id", "references", "in-reply-to"):
                    for mid in MSGID_RE.findall(value):
                        k["msgid"].add((name, mid))
        self.k = {n: sorted(v, key=repr) for n, v in k.items()}
        self.k["special"] = list(self.SPECIAL)

    def pick(self, kinds=None, crlf=False):
        """A search string of one of the kinds (all when None); one with
        CR or LF only when crlf (for BODY and TEXT, see below)."""
        kinds = [n for n in (kinds or self.k) if self.k.get(n)]
        while True:
            n = self.rng.choice(kinds)
            v = self.rng.choice(self.k[n])
            if n == "msgid":
                v = v[1]
            if crlf or ("\r" not in v and "\n" not in v):
                break
        r = self.rng.random()
        if r < 0.1:
            v = v.upper()
        elif r < 0.2:
            v = v.lower()
        return v

    def text(self, crlf=False):
        return self.pick(["word", "word", "sub", "phrase", "dash", "nonascii", "cjk",
                          "subject", "special", "name"], crlf)

    def who(self):
        return self.pick(["addr", "addr", "name", "word", "special"])


# ------------------------------------------------------------ forms

class Q:
    """A command being built: its parts and the charset the strings are
    encoded in (None: UTF-8 bytes)."""

    def __init__(self, rng, enc="utf-8", literal_ok=True, lplus=True):
        self.rng, self.enc, self.literal_ok, self.lplus = rng, enc, literal_ok, lplus
        self.parts = []

    def raw(self, *atoms):
        for a in atoms:
            self._sep()
            self.parts.append(a.encode() if isinstance(a, str) else a)
        return self

    def _sep(self):
        if self.parts:
            last = self.parts[-1]
            if not (isinstance(last, bytes) and last.endswith((b"(", b" "))):
                self.parts.append(b" ")

    def close(self):
        self.parts.append(b")")
        return self

    def s(self, text):
        """A string argument the way a client would send it."""
        data = text.encode(self.enc, "replace") if self.enc else text.encode()
        self._sep()
        quotable = not any(c in data for c in b"\r\n\0")
        r = self.rng.random()
        if quotable and (not self.literal_ok or r < 0.5 or (data.isascii() and r < 0.7)):
            self.parts.append(b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"')
        else:
            self.parts.append(Lit(data, sync=not self.lplus or self.rng.random() < 0.5))
        return self


def _date(rng):
    return "%d-%s-%d" % (rng.randint(1, 28), rng.choice(MONTHS), rng.choice((2019, 2020, 2021, 2022, 2023)))


def _seqset(rng, hi):
    """A sequence or UID set the way clients write them."""
    a = rng.randint(1, max(1, hi))
    b = rng.randint(1, max(1, hi + 5))
    return rng.choice(["1:*", "%d:*" % a, "%d:%d" % (a, b), "%d,%d:%d" % (a, b, b + 3),
                       "*", "*:%d" % a, "%d" % a])


def _leaf(q, pool, rng, hi, text_only=False):
    kinds = ["body", "body", "text", "subject", "from", "to", "cc", "header"]
    if not text_only:
        kinds += ["since", "before", "sentsince", "sentbefore", "on", "larger",
                  "smaller", "keyword", "unkeyword", "unseen", "seen", "flagged",
                  "deleted", "undeleted", "answered", "uid", "seq", "not", "or", "sub",
                  "draft", "all", "older", "younger"]
    k = rng.choice(kinds)
    if k in ("body", "text", "subject"):
        q.raw(k.upper()).s(pool.text(True) if k != "subject" else pool.pick(["subject", "word", "special"]))
    elif k in ("from", "to", "cc"):
        q.raw(k.upper()).s(pool.who())
    elif k == "header":
        # (no From/To/Cc here: see the top about address keys)
        h = rng.choice(["Message-ID", "References", "In-Reply-To", "X-Mailer", "Subject",
                        "Content-Type", "List-Id", "X-None"])
        q.raw("HEADER").s(h).s(pool.pick(["msgid"]) if h in ("Message-ID", "References", "In-Reply-To")
                               else pool.text())
    elif k in ("since", "before", "sentsince", "sentbefore", "on"):
        q.raw(k.upper(), _date(rng))
    elif k in ("older", "younger"):
        q.raw(k.upper(), str(rng.choice((60, 86400 * 400, 86400 * 365 * 5, 86400 * 365 * 30))))
    elif k in ("larger", "smaller"):
        q.raw(k.upper(), str(rng.choice((300, 1000, 2500, 5000, 20000))))
    elif k in ("keyword", "unkeyword"):
        q.raw(k.upper(), rng.choice(("$Label1", "$Forwarded", "NonJunk", "$label1")))
    elif k == "uid":
        q.raw("UID", _seqset(rng, hi))
    elif k == "seq":
        q.raw(_seqset(rng, hi))
    elif k == "not":
        q.raw("NOT")
        _leaf(q, pool, rng, hi, True)
    elif k == "or":
        q.raw("OR")
        _leaf(q, pool, rng, hi, rng.random() < 0.5)
        _leaf(q, pool, rng, hi)
    elif k == "sub":
        q.raw("(")
        for _ in range(rng.randint(1, 3)):
            _leaf(q, pool, rng, hi, rng.random() < 0.3)
        q.close()
    else:
        q.raw(k.upper())


def _charset_prefix(q, rng, always=False):
    if always or rng.random() < 0.6:
        q.raw("CHARSET", rng.choice(("UTF-8", "UTF-8", "utf-8")))


# each form: function(rng, pool, hi, lplus) -> Q
def f_tb_or(rng, pool, hi, lp):
    q = Q(rng, lplus=lp).raw("UID SEARCH")
    _charset_prefix(q, rng)
    x = pool.who()
    q.raw("UNDELETED OR OR FROM").s(x).raw("TO").s(x).raw("SUBJECT").s(
        x if rng.random() < 0.5 else pool.text())
    return q


def f_tb_text(rng, pool, hi, lp):
    q = Q(rng, lplus=lp).raw("UID SEARCH" if rng.random() < 0.8 else "SEARCH", "CHARSET UTF-8")
    if rng.random() < 0.5:
        q.raw("UNDELETED")
    q.raw(rng.choice(("TEXT", "BODY"))).s(pool.text(True))
    return q


def f_tb_header(rng, pool, hi, lp):
    q = Q(rng, lplus=lp).raw("UID SEARCH")
    if rng.random() < 0.5:
        q.raw("UNDELETED")
    ids = pool.k.get("msgid") or [("message-id", "<none@x>")]
    name, mid = rng.choice(ids)
    if rng.random() < 0.25:
        mid = mid.strip("<>") if rng.random() < 0.5 else mid[1:rng.randint(2, len(mid))]
    hdr = rng.choice({"message-id": ["Message-ID", "Message-Id", "MESSAGE-ID"],
                      "references": ["References", "REFERENCES", "In-Reply-To"],
                      "in-reply-to": ["In-Reply-To", "References"]}[name])
    q.raw("HEADER").s(hdr).s(mid)
    if rng.random() < 0.3:
        q.raw("NOT HEADER").s(rng.choice(["References", "Message-ID"])).s(mid)
    return q


def f_apple_or(rng, pool, hi, lp):
    q = Q(rng, lplus=lp).raw("UID SEARCH", rng.choice(("1:*", "1:*", "%d:*" % max(1, hi // 2))),
                             "NOT DELETED")
    x = pool.who() if rng.random() < 0.7 else pool.text()
    hdrs = ["FROM", "TO", "CC", "BCC", "SUBJECT"]
    rng.shuffle(hdrs)
    hdrs = hdrs[:rng.randint(2, 5)]
    tail = rng.random() < 0.5          # ... (OR HEADER SUBJECT x BODY x)
    depth = 0
    for i, h in enumerate(hdrs):
        last = i == len(hdrs) - 1 and not tail
        if not last:
            q.raw("(OR")
            depth += 1
        q.raw("HEADER", h).s(x)
    if tail:
        q.raw("BODY").s(x)
    for _ in range(depth):
        q.close()
    return q


def f_apple_esearch(rng, pool, hi, lp):
    ret = rng.choice(["(COUNT)", "(MIN MAX COUNT ALL)", "(ALL)", "()", "(MIN)",
                      "(MAX COUNT)", "(COUNT ALL)"])
    q = Q(rng, lplus=lp).raw("UID SEARCH" if rng.random() < 0.8 else "SEARCH", "RETURN", ret)
    _charset_prefix(q, rng)
    if rng.random() < 0.5:
        q.raw("1:*", "NOT DELETED")
    q.raw("BODY" if rng.random() < 0.6 else "TEXT").s(pool.text(True))
    if rng.random() < 0.4:
        _leaf(q, pool, rng, hi)
    return q


def f_partial(rng, pool, hi, lp):
    """ESEARCH PARTIAL (RFC 9394), only where both instances advertise it."""
    a = rng.randint(1, 20)
    rng_s = rng.choice(["%d:%d" % (a, a + rng.randint(0, 30)), "-1:-%d" % a, "1:100"])
    q = Q(rng, lplus=lp).raw("UID SEARCH" if rng.random() < 0.7 else "SEARCH",
                             "RETURN", rng.choice(["(PARTIAL %s)", "(COUNT PARTIAL %s)",
                                                   "(MIN PARTIAL %s)"]) % rng_s)
    _charset_prefix(q, rng)
    q.raw(rng.choice(("BODY", "TEXT", "SUBJECT"))).s(pool.text())
    if rng.random() < 0.4:
        _leaf(q, pool, rng, hi)
    return q


def f_outlook_charset(rng, pool, hi, lp):
    kind = rng.choice(["us-ascii", "latin1", "latin1", "cjk", "unknown", "koi8"])
    key = rng.choice(("BODY", "TEXT", "SUBJECT", "FROM"))
    uid = "UID SEARCH" if rng.random() < 0.7 else "SEARCH"
    if kind == "us-ascii":
        q = Q(rng, lplus=lp).raw(uid, "CHARSET", rng.choice(("US-ASCII", "us-ascii")))
        s = pool.pick(["word", "sub", "phrase", "addr", "special"])
        q.raw(key).s(s if s.isascii() else "plain")
    elif kind == "latin1":
        q = Q(rng, enc="iso-8859-1", lplus=lp).raw(uid, "CHARSET",
                                                    rng.choice(("ISO-8859-1", "iso-8859-1", "latin1")))
        cands = pool.k.get("latin1") or ["caf\u00e9"]
        s = rng.choice(cands + ["caf\u00e9", "\u00fcber", "na\u00efve", "Ren\u00e9e"])
        q.raw(key).s(s)
    elif kind == "cjk":
        q = Q(rng, lplus=lp).raw(uid, "CHARSET UTF-8")
        q.raw(key).s(pool.pick(["cjk"]) if pool.k.get("cjk") else "\u65e5\u672c")
    elif kind == "koi8":
        q = Q(rng, enc="koi8-r", lplus=lp).raw(uid, "CHARSET KOI8-R")
        q.raw(key).s(rng.choice(["\u0434\u043b\u0438\u043d", "\u041f\u0440\u0438\u0432\u0435\u0442",
                                 "test"]))
    else:
        q = Q(rng, lplus=lp).raw(uid, "CHARSET", rng.choice(("X-UNKNOWN-42", "UTF-9", "foo",
                                                             "ISO-8859-99")))
        q.raw(key).s(pool.text())
    if rng.random() < 0.3:
        q.raw("UNDELETED")
    return q


def f_sort(rng, pool, hi, lp):
    crit = rng.choice(["(REVERSE ARRIVAL)", "(DATE)", "(REVERSE DATE)", "(SUBJECT)",
                       "(FROM)", "(ARRIVAL)", "(SIZE)", "(REVERSE SIZE)", "(TO)", "(CC)",
                       "(DISPLAYFROM)", "(SUBJECT REVERSE DATE)"])
    q = Q(rng, lplus=lp).raw("UID SORT" if rng.random() < 0.7 else "SORT")
    if rng.random() < 0.25:
        q.raw("RETURN", rng.choice(["(ALL)", "(COUNT)", "(MIN MAX)", "(ALL COUNT)"]))
    q.raw(crit, rng.choice(("UTF-8", "UTF-8", "US-ASCII")))
    if rng.random() < 0.5:
        q.raw("OR")
        _leaf(q, pool, rng, hi, True)
        _leaf(q, pool, rng, hi, True)
    else:
        _leaf(q, pool, rng, hi, True)
        if rng.random() < 0.5:
            _leaf(q, pool, rng, hi)
    return q


def f_thread(rng, pool, hi, lp):
    q = Q(rng, lplus=lp).raw("UID THREAD" if rng.random() < 0.6 else "THREAD",
                             rng.choice(("REFERENCES", "REFERENCES", "REFS", "ORDEREDSUBJECT")),
                             "UTF-8")
    q.raw(rng.choice(("BODY", "TEXT", "SUBJECT"))).s(pool.text())
    if rng.random() < 0.3:
        q.raw("UNDELETED")
    return q


def f_combo(rng, pool, hi, lp):
    q = Q(rng, lplus=lp).raw("UID SEARCH" if rng.random() < 0.7 else "SEARCH")
    _charset_prefix(q, rng)
    shape = rng.choice(["not_or", "nested", "flat", "seq"])
    if shape == "not_or":
        q.raw("NOT (OR")
        _leaf(q, pool, rng, hi, True)
        _leaf(q, pool, rng, hi)
        q.close()
        _leaf(q, pool, rng, hi)
    elif shape == "nested":
        q.raw("((")
        _leaf(q, pool, rng, hi, True)
        q.raw("(")
        _leaf(q, pool, rng, hi)
        _leaf(q, pool, rng, hi, True)
        q.close().close()
        _leaf(q, pool, rng, hi)
        q.close()
    elif shape == "seq":
        q.raw(_seqset(rng, hi))
        _leaf(q, pool, rng, hi, True)
        if rng.random() < 0.5:
            q.raw("UID", _seqset(rng, hi))
    else:
        for _ in range(rng.randint(2, 4)):
            _leaf(q, pool, rng, hi)
        _leaf(q, pool, rng, hi, True)
    return q


FORMS = {"thunderbird OR FROM/TO/SUBJECT": f_tb_or,
         "thunderbird CHARSET UTF-8 TEXT/BODY": f_tb_text,
         "thunderbird HEADER Message-ID/References": f_tb_header,
         "apple NOT DELETED (OR HEADER ...)": f_apple_or,
         "apple ESEARCH RETURN": f_apple_esearch,
         "outlook CHARSET US-ASCII/ISO-8859-1/CJK/unknown": f_outlook_charset,
         "SORT/ESORT": f_sort,
         "THREAD": f_thread,
         "combined keys, NOT (OR), nesting, sets": f_combo}


# ------------------------------------------------------------ running

class Runner:
    """Both instances' sessions on one mailbox; every command compared."""

    def __init__(self, fts, oracle, box, readonly):
        self.box = box
        self.s = {"fts": Raw(fts), "oracle": Raw(oracle)}
        self.lplus = all(b"LITERAL+" in r.caps for r in self.s.values())
        verb = b"EXAMINE" if readonly else b"SELECT"
        for r in self.s.values():
            _u, t = r.cmd([verb + b' "' + box.encode() + b'"'])
            assert t.startswith(b"OK"), (box, t)
        self.hi = 1
        self.sync()

    def sync(self, tally=None, state=None):
        """NOOP on both (new mail and expunges seen); the message count.
        With tally: the NOOP's untagged ESEARCH updates (CONTEXT=SEARCH)
        are compared too."""
        counts = set()
        noop = {}
        for name, r in self.s.items():
            u, t = r.cmd([b"NOOP"])
            assert t.startswith(b"OK"), t
            noop[name] = normalized(u, b"OK")
            u, t = r.cmd([b"SEARCH RETURN (COUNT) ALL"])
            m = re.search(rb"COUNT (\d+)", b" ".join(u))
            counts.add(int(m.group(1)) if m else 0)
        assert len(counts) == 1, counts
        if tally is not None and any(noop["oracle"][0]):
            tally.add("CONTEXT=SEARCH updates after NOOP", state, [b"NOOP"],
                      noop["fts"], noop["oracle"])
        self.hi = max(1, counts.pop())
        return self.hi

    def both(self, parts):
        out = {}
        for name, r in self.s.items():
            out[name] = normalized(*r.cmd(parts))
        return out["fts"], out["oracle"]

    def close(self):
        for r in self.s.values():
            r.close()


def _show(parts):
    out = b""
    for p in parts:
        out += (b"{%d}<%r>" % (len(p.data), p.data)) if isinstance(p, Lit) else p
    return out.decode("utf-8", "replace")[:400]


class Tally:
    def __init__(self):
        self.counts = {}
        self.results = {}
        self.nonempty = 0
        self.failures = []

    def add(self, form, state, parts, got, expected):
        key = (form, state)
        self.counts[key] = self.counts.get(key, 0) + 1
        tagged = expected[1].split(b" ")[0].decode()
        self.results[tagged] = self.results.get(tagged, 0) + 1
        if re.search(rb"^\* (SEARCH|SORT|THREAD|ESEARCH.* (ALL|MIN|COUNT [1-9])) *[(0-9]",
                     b"\n".join(expected[0]), re.M):
            self.nonempty += 1
        if got != expected:
            self.failures.append("%s [%s]: %s\n  oracle: %r\n  fts:    %r" % (
                form, state, _show(parts), expected, got))

    def report(self, title):
        lines = ["%s: %d searches compared with the oracle" % (title, sum(self.counts.values()))]
        per_form, per_state = {}, {}
        for (f, s), n in sorted(self.counts.items()):
            per_form[f] = per_form.get(f, 0) + n
            per_state[s] = per_state.get(s, 0) + n
        lines += ["  %-50s %5d" % (f, n) for f, n in per_form.items()]
        lines += ["  state %-44s %5d" % (s, n) for s, n in per_state.items()]
        lines.append("  tagged: %s; with a non-empty result: %d" % (self.results, self.nonempty))
        sys.stdout.write("\n" + "\n".join(lines) + "\n")
        return lines


class Churn:
    """Changes by another session between searches: new mail (not yet
    indexed when the next search runs), expunges, flag changes.
    Some searches register CONTEXT=SEARCH updates whose untagged ESEARCH
    ADDTO/REMOVEFROM after the changes are compared too."""

    def __init__(self, fts, box, run, mail, rng, tally, state, p=0.2):
        self.fts, self.box, self.run, self.rng = fts, box, run, rng
        self.mail = iter(mail * 6)
        self.tally, self.state, self.p = tally, state, p
        self.conn = fts.imap(USER)
        fts.select(self.conn, box)
        self.updates = 0

    def uids(self):
        typ, data = self.conn.uid("SEARCH", "ALL")
        assert typ == "OK", data
        return [int(x) for x in (data[0] or b"").split()]

    def __call__(self):
        rng = self.rng
        changed = False
        if rng.random() < self.p:
            raw, date = next(self.mail)
            flags = rng.choice(FLAG_CHOICES)
            trace("append", self.fts.port, raw, date, flags)
            self.fts.append(USER, self.box, raw, date=date, flags=flags)
            changed = True
        if rng.random() < self.p / 3:
            uids = self.uids()
            if len(uids) > 10:
                u = str(rng.choice(uids))
                trace("expunge", self.fts.port, u)
                self.conn.uid("STORE", u, "+FLAGS.SILENT", "(\\Deleted)")
                self.conn.expunge()
                changed = True
        if rng.random() < self.p / 2:
            uids = self.uids()
            if uids:
                st = (str(rng.choice(uids)), rng.choice(("+FLAGS.SILENT", "-FLAGS.SILENT")),
                      rng.choice(("(\\Deleted)", "(\\Seen)", "($Label1)", "(\\Flagged)")))
                trace("store", self.fts.port, st)
                self.conn.uid("STORE", *st)
                changed = True
        if changed:
            # both sessions are told (NOOP) before they search again: a
            # change the other session made is seen by the oracle only
            # when it rescans the maildir, which a command's own sync
            # does when it gets to it (new mail in one SORT and not in
            # the other's; a message expunged elsewhere still matching
            # from the oracle's cache) - a race between two instances,
            # not between the plugin and Dovecot
            self.run.sync(self.tally, self.state)
        if rng.random() < 0.1 and self.updates < 6:
            # a CONTEXT=SEARCH search whose result the server keeps updated
            self.updates += 1
            while True:
                q = Q(rng, lplus=self.run.lplus).raw(
                    "UID SEARCH RETURN", rng.choice(("(UPDATE)", "(UPDATE COUNT)",
                                                     "(UPDATE MIN MAX)", "(UPDATE ALL)")))
                _leaf(q, self.run.pool, rng, self.run.hi, True)
                if rng.random() < 0.5:
                    _leaf(q, self.run.pool, rng, self.run.hi)
                # Dovecot 2.3.19 itself (no FTS plugin loaded) dies with
                # SIGSEGV at the NOOP after new mail when an UPDATE search
                # holds KEYWORD of a keyword the mailbox doesn't have yet
                if not any(isinstance(p, bytes) and b"KEYWORD" in p for p in q.parts):
                    break
            got, expected = self.run.both(q.parts)
            self.tally.add("CONTEXT=SEARCH RETURN (UPDATE)", self.state, q.parts, got, expected)

    def close(self):
        self.run.sync(self.tally, self.state)
        self.conn.logout()


def run_forms(run, pool, rng, state, tally, n=N, before=None):
    """n searches of every form (and a SEARCHRES pair per form) on run."""
    run.pool = pool
    forms = dict(FORMS)
    if all(b"PARTIAL" in r.caps for r in run.s.values()):
        forms["ESEARCH PARTIAL"] = f_partial
    for form, make in forms.items():
        for _ in range(n):
            if before is not None:
                before()
            q = make(rng, pool, run.hi, run.lplus)
            got, expected = run.both(q.parts)
            tally.add(form, state, q.parts, got, expected)
    # SEARCHRES: RETURN (SAVE), then $ in later searches
    for _ in range(n):
        q = f_combo(rng, pool, run.hi, run.lplus) if rng.random() < 0.5 else \
            f_tb_text(rng, pool, run.hi, run.lplus)
        parts = list(q.parts)
        head = parts[0].split(b" ")
        verb = b" ".join(head[:2] if head[0] == b"UID" else head[:1])
        rest = [parts[0][len(verb):]] + parts[1:]
        parts = [verb + b" RETURN (SAVE)"] + rest
        got, expected = run.both(parts)
        tally.add("SEARCHRES RETURN (SAVE)", state, parts, got, expected)
        for use in ([b"UID SEARCH $"], [b"SEARCH $"], [b"UID SEARCH NOT $"],
                    [b"UID SEARCH RETURN (COUNT MIN) UID $"]):
            q2 = Q(rng, lplus=run.lplus).raw(use[0].decode())
            _leaf(q2, pool, rng, run.hi, True)
            got, expected = run.both(q2.parts)
            tally.add("SEARCHRES $ with text key", state, q2.parts, got, expected)
        q3 = Q(rng, lplus=run.lplus).raw("UID SEARCH OR $")
        _leaf(q3, pool, rng, run.hi, True)
        _leaf(q3, pool, rng, run.hi, True)
        got, expected = run.both(q3.parts)
        tally.add("SEARCHRES $ with text key", state, q3.parts, got, expected)


# ------------------------------------------------------------ mail

def _fixture_mail():
    return [(fx.raw, fx.date) for fx in fixtures.build_messages(big=False)]


def _corpus_mail():
    """Raw messages of the corpus samples (none when the corpora are absent)."""
    import oracle_sets
    import tempfile
    d = oracle_sets.default_corpora_dir()
    if not any(os.path.exists(os.path.join(d, f)) for f in oracle_sets.CORPUS_FILES.values()):
        return []
    work = tempfile.mkdtemp(prefix="fts-sift-clientforms.")
    try:
        sets = oracle_sets.load_corpora(d, work, CORPUS_SAMPLE, seed=7, only=set(CORPUS_BOXES))
    finally:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    out = []
    for msgs in sets.values():
        out.extend(msgs)
    return out


def _date_of(raw, rng):
    try:
        m = re.search(rb"^Date:[ \t]*(.*)$", raw[:20000], re.M | re.I)
        d = email.utils.parsedate_to_datetime(m.group(1).decode("latin-1").strip())
        if d.tzinfo is not None and 1990 < d.year < 2030:
            return d
    except Exception:
        pass
    return fixtures.ts(rng.choice((2019, 2020, 2021, 2022)), rng.randint(1, 12), rng.randint(1, 28))


FLAG_CHOICES = [None, None, None, "(\\Seen)", "(\\Seen \\Flagged)", "($Label1)",
                "(\\Deleted)", "(\\Answered $Forwarded)", "(\\Draft)", "(NonJunk \\Seen)"]


def _fill(fts, box, mail, rng):
    uids = []
    for raw, date in mail:
        flags = rng.choice(FLAG_CHOICES)
        trace("fill", fts.port, box, raw, date, flags)
        uids.append(fts.append(USER, box, raw, date=date, flags=flags))
    return uids


@pytest.fixture(scope="module")
def pair(request):
    with instance_pair("clientforms", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        yield fts, oracle


def _check(tally, title):
    tally.report(title)
    assert sum(tally.counts.values()) > 0
    assert not tally.failures, "%d of %d client-shaped searches differ from the oracle:\n%s" % (
        len(tally.failures), sum(tally.counts.values()), "\n".join(tally.failures[:15]))


def _run_changing(fts, oracle, pool, mail, rng, tally, state, p=0.2):
    """The forms on INBOX while another session changes it between
    searches (Churn: mail is what it appends)."""
    run = Runner(fts, oracle, "INBOX", False)
    churn = Churn(fts, "INBOX", run, mail, rng, tally, state, p=p)
    try:
        run_forms(run, pool, rng, state, tally, n=max(4, N // 2), before=churn)
        churn.close()
    finally:
        run.close()


def test_fixture_mail_states(pair):
    """Fixture mail in INBOX: \\Deleted and other flags set, some messages
    expunged, then new mail appended before searches (not indexed yet),
    under SELECT and EXAMINE."""
    fts, oracle = pair
    rng = random.Random(20261207 + SEED)
    mail = _fixture_mail()
    uids = _fill(fts, "INBOX", mail, rng)
    pool = Pool([raw for raw, _d in mail], rng)
    tally = Tally()
    fts.search(USER, "INBOX", "BODY", "warmupword")        # indexed
    gone = rng.sample(uids, len(uids) // 8)
    trace("index+expunge", fts.port, "INBOX", gone)
    fts.expunge(USER, "INBOX", gone)
    for readonly in (True, False):
        run = Runner(fts, oracle, "INBOX", readonly)
        try:
            run_forms(run, pool, rng, "INBOX expunged+deleted %s" % (
                "EXAMINE" if readonly else "SELECT"), tally)
        finally:
            run.close()
    # new mail arriving between searches: each search sees a tail the
    # index does not have yet
    _run_changing(fts, oracle, pool, mail, rng, tally,
                  "INBOX changing (new mail, expunges, flags)")
    _check(tally, "fixture mail")


def test_corpus_folder(pair):
    """A second folder with samples of the real corpora (when present),
    some expunged and some \\Deleted."""
    fts, oracle = pair
    rng = random.Random(7 + SEED)
    raws = _corpus_mail()
    if not raws:
        raws = [raw for raw, _d in _fixture_mail()]
        sys.stdout.write("\n[client forms] no corpora: the second folder holds fixture mail\n")
    mail = [(raw, _date_of(raw, rng)) for raw in raws]
    uids = _fill(fts, "Lists/Mixed", mail, rng)
    pool = Pool(raws, rng)
    fts.search(USER, "Lists/Mixed", "BODY", "warmupword")
    fts.expunge(USER, "Lists/Mixed", rng.sample(uids, len(uids) // 10))
    tally = Tally()
    run = Runner(fts, oracle, "Lists/Mixed", rng.random() < 0.5)
    try:
        run_forms(run, pool, rng, "second folder, %d corpus messages" % len(raws), tally,
                  n=N * 2)
    finally:
        run.close()
    _check(tally, "corpus folder")


@pytest.mark.parametrize("enforced", ["yes", "no", "body"])
def test_autoindex_off_new_mail(request, enforced):
    """fts_autoindex=no: mail appended after the index was built is not
    indexed until a search needs it; each search here follows new mail.
    With fts_enforced=yes, and with Dovecot's defaults (2.3:
    fts_enforced=no, which indexes missing mail for body searches only
    and reads the rest; 2.4: fts_search_add_missing=body-search-only,
    fts_search_read_fallback=yes), where a header search reads the
    unindexed messages itself and the index answers for the others, and
    with fts_enforced=body (2.4: fts_search_add_missing=body-search-only
    alone)."""
    rng = random.Random(99 + SEED)
    mail = _fixture_mail()
    pool = Pool([raw for raw, _d in mail], rng)
    tally = Tally()
    with instance_pair("clientforms-noauto", (USER,),
                       {"fts_autoindex": "no", "fts_enforced": enforced},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        half = len(mail) // 2
        _fill(fts, "INBOX", mail[:half], rng)
        fts.doveadm("index", "-u", USER, "INBOX")
        _run_changing(fts, oracle, pool, mail[half:], rng, tally,
                      "fts_autoindex=no, fts_enforced=%s, changing" % enforced, p=0.25)
    _check(tally, "fts_autoindex=no, fts_enforced=%s" % enforced)


def _mixed_level(rng, pool):
    """One level (OR chain or AND list) of 3-5 leaves, some the index
    answers (BODY/TEXT/SUBJECT, HEADER SUBJECT, absent headers, dates)
    and some it leaves to Dovecot (HEADER TO/FROM/CC with a phrase), in
    random order, where phrases leave messages "maybe"."""
    leaves = []
    for _ in range(rng.randint(3, 5)):
        # (bytes: sent as a literal, whatever it holds)
        x = rng.choice([pool.pick(["phrase", "subject", "name"]), pool.text()]).encode()
        k = rng.choice(["hdr_addr", "hdr_addr", "body", "text", "hsubject", "subject",
                        "absent", "since", "larger"])
        if k == "hdr_addr":
            leaves.append(["HEADER", rng.choice(["TO", "FROM", "CC"]), x])
        elif k == "body":
            leaves.append(["BODY", x])
        elif k == "text":
            leaves.append(["TEXT", x])
        elif k == "hsubject":
            leaves.append(["HEADER", "SUBJECT", x])
        elif k == "subject":
            leaves.append(["SUBJECT", x])
        elif k == "absent":
            leaves.append(["HEADER", "X-None", x])
        elif k == "since":
            leaves.append(["SINCE", _date(rng)])
        else:
            leaves.append(["LARGER", str(rng.choice((300, 1000, 3000)))])
    rng.shuffle(leaves)
    if rng.random() < 0.5:
        out = ["("] + [t for leaf in leaves for t in leaf] + [")"]
    else:
        out = []
        for i, leaf in enumerate(leaves):
            if i < len(leaves) - 1:
                out += ["OR"] if rng.random() < 0.5 else ["(", "OR"]
            out += leaf
        out += [")"] * out.count("(")
    if rng.random() < 0.3:
        out = ["NOT", "DELETED"] + out
    return out


def test_reordered_level_keeps_certain_leaves(pair):
    """A level the index answers in part: the answered leaves are moved
    ahead of the others (sift_search_args_answered_first()), and the
    leaves the lookup was certain of are set per message by the search
    walk.  Those must stay the same leaves: the walk kept pointers to the
    nodes, the contents moved, and "OR HEADER TO x (OR HEADER SUBJECT x
    BODY x)" (Apple Mail's form, x a phrase) set SUBJECT's "false" on
    BODY, losing every message only BODY matched."""
    fts, oracle = pair
    rng = random.Random(5 + SEED)
    mail = _fixture_mail()
    box = "Reordered"
    for raw, date in mail:
        fts.append(USER, box, raw, date=date)
    pool = Pool([raw for raw, _d in mail], rng)
    fts.search(USER, box, "BODY", "warmupword")
    n = differ = nonempty = 0
    bad = []
    for _ in range(12 * N + 12):
        crit = _mixed_level(rng, pool)
        expected = oracle.search(USER, box, *crit)
        got = fts.search(USER, box, *crit)
        n += 1
        nonempty += bool(expected)
        if got != expected:
            differ += 1
            bad.append("%s: oracle %s, fts %s" % (crit, expected, got))
    sys.stdout.write("\nreordered levels: %d searches, %d with a non-empty result, %d differ\n"
                     % (n, nonempty, differ))
    assert nonempty >= n // 5, nonempty
    assert not bad, "%d of %d differ:\n%s" % (differ, n, "\n".join(bad[:10]))
