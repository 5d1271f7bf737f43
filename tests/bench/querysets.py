"""Query sets for oracle comparisons: IMAP SEARCH criteria built from what
really occurs in a list of raw messages.

    from querysets import generate
    queries = generate(raw_messages, seed="kselftest", n=240)
    for q in queries:
        q.cls        # class label, one of CLASSES
        q.criteria   # IMAP SEARCH tokens for dovetest.Dovecot.uid_search()

Deterministic: the same messages and seed give the same queries (a
random.Random seeded with `seed`; dictionaries are iterated in sorted
order).  Nothing here knows the expected result: the oracle (Dovecot without
FTS) gives it when the queries are run (tests/bench/oracle_sets.py).

How the strings are taken from the mail (Python's `email` package, policy
default: RFC 2047 words and MIME parts decoded):
  - text: the decoded text/* parts (HTML as is, tags included, because
    Dovecot's own BODY search reads it that way);
  - words: runs of letters/digits (\\w) in that text and in the Subject;
  - phrases: 2-4 consecutive words exactly as they stand in one line of the
    text, the whitespace between them included;
  - substrings: random slices strictly inside a real word, prefixes: the
    word's first half;
  - CJK/Thai: random 2-4 character slices of real runs of Han, kana,
    Hangul or Thai characters (the runs are unspaced sentences, so the
    slices cross dictionary word boundaries at random);
  - case and normalization variants: real non-ASCII words upper- or
    lower-cased, with ss/SS for sharp s, capital sigma, dotted/dotless i,
    full-width forms, NFD/NFC;
  - addresses, display names, Subject, X- and other headers: the decoded
    header values;
  - HTML markup: tags and slices of them, entities as written, words
    only inside tags and attributes, and words only an HTML-to-text
    conversion has (split by tags, entities decoded), from the text/html
    parts' source (drawn without the shared random generator, so adding
    the class left the other classes' strings as they were);
  - the header sweep (SWEEP_CLASSES, on top of n, own random generator):
    every top-level header as Dovecot's HEADER search reads it (folding
    line breaks removed, encoded-words decoded), searched with HEADER for
    the whole value, words, 1-3 words, slices from a word start, from
    inside a word, across punctuation, across a space and short slices;
    display names of From/To/Cc/Bcc (quoted and encoded ones too) for 1-3
    words, a word's prefix, suffix or inside, across a word boundary;
    both under NOT, OR and NOT (OR ...); and TEXT for pieces of top-level
    and MIME part headers ("Name: value" sometimes).
Each class draws its strings without replacement, so repeats are rare; a
class that finds nothing in the corpus (e.g. no CJK in it) is left out and
the remaining classes grow until the set has `n` queries.

Values are plain str (dovetest quotes them, or sends a literal with
CHARSET UTF-8 when they are not ASCII) except where bytes are the point
(invalid UTF-8, NUL, the 100 KB literal).  A value that is "(" or ")" or
empty is sent as bytes too, so it is never taken for a list delimiter.
"""

import collections
import datetime
import email
import email.header
import html
import email.policy
import email.utils
import random
import re
import unicodedata

from bench import text_of  # decoded text/* parts, as the benchmark reads them

# The classes, in report order.
CLASSES = [
    "word", "rare word", "prefix", "in-word substring", "short substring",
    "phrase", "dashed/punctuated", "CJK/Thai run", "case variant",
    "NFC/NFD variant", "address", "partial address", "display name",
    "subject", "header", "TEXT", "NOT", "OR", "nested", "date+word",
    "hostile", "address list", "malformed address", "filtered header",
    "HTML markup",
    # header sweep (format 11): pieces of real header values at any
    # position, display-name pieces, and both under NOT/OR and in TEXT
    "header piece", "address piece", "header NOT/OR", "TEXT header piece",
]

# The header sweep (format 11's hashed, pooled and address headers): pieces
# of real header values at every kind of position with HEADER, pieces of
# display names with FROM/TO/CC/BCC, both under NOT and OR, and pieces of
# top-level and MIME part headers with TEXT.  Drawn with generators of
# their own and added on top of n, so the other classes keep their strings.
SWEEP_CLASSES = ("header piece", "address piece", "header NOT/OR", "TEXT header piece")

# Queries per class in a set of 240; scaled to the requested n.
WEIGHTS = {
    "word": 14, "rare word": 10, "prefix": 10, "in-word substring": 20,
    "short substring": 8, "phrase": 14, "dashed/punctuated": 12,
    "CJK/Thai run": 12, "case variant": 14, "NFC/NFD variant": 8,
    "address": 10, "partial address": 10, "display name": 8, "subject": 12,
    "header": 14, "TEXT": 8, "NOT": 8, "OR": 8, "nested": 8,
    "date+word": 8, "hostile": 16,
    # issue 12/13: address lists with encoded display names, malformed
    # addresses, headers fts_header_excludes typically drops
    "address list": 16, "malformed address": 12, "filtered header": 12,
    "HTML markup": 8,
    "header piece": 30, "address piece": 20, "header NOT/OR": 16,
    "TEXT header piece": 12,
}

WORD_RE = re.compile(r"\w+")
LETTERS_RE = re.compile(r"[^\W\d_]+")
# a word followed by 1-3 more, separated by spaces/tabs only (one line)
PHRASE_RE = re.compile(r"(?<!\w)[^\W_]+(?:[ \t]+[^\W_]+){1,3}(?!\w)")
# tokens with punctuation inside: test-case, v5.10, a.b@c.d, x86_64, a/b
PUNCT_RE = re.compile(r"(?<![\w.@/:-])\w+(?:[-.@/:_+]\w+)+")
ADDR_RE = re.compile(r"^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$")
# Han, Hiragana, Katakana, Hangul, Thai
# HTML source: tags, entities as written, words
TAG_RE = re.compile(r"<[^<>\s][^<>]{0,80}>")
ENTITY_RE = re.compile(r"&#?[A-Za-z0-9]{1,10};?")
HTML_STRIP_RE = re.compile(r"(?is)<(style|script)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>")
CJK_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
                    "\u0e00-\u0e7f]{2,}")
ADDRESS_HEADERS = ("from", "to", "cc")
# headers searched with HEADER <name> <value>; X- headers are added as found
OTHER_HEADERS = ("message-id", "list-id", "in-reply-to", "references",
                 "user-agent", "content-type", "reply-to", "sender",
                 "mime-version", "return-path", "organization", "precedence",
                 "list-unsubscribe", "delivered-to")
# X- headers that are base64 blobs or tracking noise: no useful tokens
SKIP_HEADERS = {"x-google-dkim-signature", "x-gm-message-state",
                "x-google-smtp-source", "x-received", "dkim-signature",
                "x-forefront-antispam-report", "x-microsoft-antispam",
                "x-microsoft-antispam-message-info", "arc-seal",
                "arc-message-signature", "x-ms-exchange-crosstenant-id"}
# headers fts_header_excludes typically lists (Dovecot's documented example
# and friends); with such a setting the plugin must leave them to Dovecot
FILTERED_HEADERS = ("x-mailer", "received", "user-agent", "x-spam-status",
                    "x-virus-scanned", "x-originating-ip")
# what Dovecot's address search writes for missing parts
ADDRESS_PLACEHOLDERS = ("MISSING_DOMAIN", "MISSING_MAILBOX", "SYNTAX_ERROR")
# query-parser syntax of Xapian (and of other engines): must be plain text
# to an IMAP SEARCH
PARSER_SYNTAX = ["AND", "OR", "NOT", "*", '"', "subject:", "from:x", "-",
                 "+", "NEAR", "a*", "(", ")", "\\", "%", "_", "~", "^",
                 "ADJ/3", "[", "{}"]


class Query:
    """One SEARCH: class label, IMAP criteria tokens, a short note on where
    the string came from."""

    __slots__ = ("cls", "criteria", "note")

    def __init__(self, cls, criteria, note=""):
        self.cls = cls
        self.criteria = [_safe_value(c) for c in criteria]
        self.note = note

    def label(self, limit=160):
        """The criteria as readable text (long values cut)."""
        out = []
        for c in self.criteria:
            if isinstance(c, bytes):
                s = repr(c[:40])[1:] + ("...(%d bytes)" % len(c) if len(c) > 40 else "")
            elif isinstance(c, int):
                s = str(c)
            elif c in ("(", ")") or (c.isascii() and re.match(r"^[A-Z0-9:*.,-]+$", c)):
                s = c
            else:
                s = '"%s"' % (c[:60] + ("...(%d chars)" % len(c) if len(c) > 60 else ""))
            out.append(s)
        text = " ".join(out).replace("( ", "(").replace(" )", ")")
        return text if len(text) <= limit else text[:limit] + "..."

    def to_json(self):
        return {"class": self.cls, "query": self.label(400), "note": self.note}


def _safe_value(c):
    # "(" and ")" are the only strings dovetest sends bare as delimiters;
    # Query builders pass delimiters as the Paren marker below
    if isinstance(c, _Paren):
        return str(c)
    if isinstance(c, str) and (c in ("(", ")") or c == ""):
        return c.encode()
    return c


class _Paren(str):
    """A list delimiter in criteria (as opposed to a value "(")."""


LP, RP = _Paren("("), _Paren(")")


# ---------------------------------------------------------------- parsing

class MessageText:
    """What the generator needs from one message."""

    __slots__ = ("body", "html", "subject", "headers", "addrs", "names", "date",
                 "lists", "malformed", "raw_headers", "dv_headers", "part_headers",
                 "addr_names")

    def __init__(self):
        self.lists = []        # (header, [addresses], [decoded names], encoded?)
        self.malformed = []    # (header, raw value) that is not a clean address list
        self.raw_headers = []  # (lower-case name, raw value), unfolded
        self.body = ""
        self.html = []         # decoded source of each text/html part
        self.subject = ""
        self.headers = []      # (lower-case name, decoded value)
        self.addrs = []        # (header, address)
        self.names = []        # display names (From/To/Cc)
        self.date = None       # Date: as an aware datetime
        # header sweep: top-level headers as Dovecot's HEADER search reads
        # them (unfolded, line breaks removed, encoded-words decoded), the
        # headers of MIME parts below the top (TEXT reads them), and
        # decoded display names of From/To/Cc/Bcc (quoted ones too)
        self.dv_headers = []   # (name as written, value)
        self.part_headers = []  # (name as written, value)
        self.addr_names = []   # (lower-case header, decoded display name)


def parse_message(raw):
    """A MessageText from raw bytes; fields left empty when parsing fails."""
    mt = MessageText()
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:
        return mt
    try:
        mt.body = text_of(msg)
    except Exception:
        pass
    try:
        for part in msg.walk():
            if part.get_content_type() == "text/html":
                mt.html.append(part.get_content())
    except Exception:
        pass
    for name in msg.keys():
        lname = name.lower()
        try:
            value = str(msg.get(name, ""))
        except Exception:
            continue
        value = " ".join(value.split())
        mt.headers.append((lname, value))
        if lname == "subject" and not mt.subject:
            mt.subject = value
    for h in ADDRESS_HEADERS:
        try:
            vals = [str(v) for v in msg.get_all(h, [])]
        except Exception:
            continue
        for nme, addr in email.utils.getaddresses(vals):
            if ADDR_RE.match(addr or ""):
                mt.addrs.append((h, addr))
            if nme and '"' not in nme and "\ufffd" not in nme:
                mt.names.append((h, nme))
    _raw_address_lists(raw, mt)
    _sweep_headers(raw, msg, mt)
    try:
        d = msg.get("date")
        if d is not None and d.datetime is not None and d.datetime.tzinfo is not None:
            mt.date = d.datetime
    except Exception:
        pass
    return mt


ENCODED_WORD_RE = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# an address list entry that is a plain addr-spec
ADDR_SPEC_RE = re.compile(r"^[^\s@<>()\[\]:;,\"\\]+@[^\s@<>()\[\]:;,\"\\]+\.[A-Za-z]{2,}$")


def _raw_address_lists(raw, mt):
    """The raw (undecoded) header block: address lists of From/To/Cc, and
    which of them have an encoded-word or are malformed."""
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    try:
        text = head.decode("utf-8", "replace").replace("\r\n", "\n")
    except Exception:
        return
    for m in re.finditer(r"(?m)^([!-9;-~]+):[ \t]*((?:.*)(?:\n[ \t].*)*)", text):
        name = m.group(1).lower()
        value = " ".join(m.group(2).split())
        mt.raw_headers.append((name, value))
        if name not in ADDRESS_HEADERS:
            continue
        try:
            pairs = email.utils.getaddresses([value])
        except Exception:
            pairs = []
        addrs = [a for _n, a in pairs if ADDR_RE.match(a or "")]
        if not pairs or any(not ADDR_SPEC_RE.match(a or "") for _n, a in pairs) or \
                not value or "@" not in value:
            mt.malformed.append((name, value))
        if len(addrs) >= 2 or ENCODED_WORD_RE.search(value):
            names = []
            for w in ENCODED_WORD_RE.findall(value):
                try:
                    dec = str(email.header.make_header(email.header.decode_header(w)))
                except Exception:
                    continue
                if dec and "\ufffd" not in dec:
                    names.append(dec)
            mt.lists.append((name, addrs, names, bool(ENCODED_WORD_RE.search(value))))


HEADER_LINE_RE = re.compile(r"(?m)^([!-9;-~]+):[ \t]*((?:.*)(?:\n[ \t].*)*)")


def dovecot_header_value(raw_value):
    """A header value about as Dovecot's HEADER search compares it: the
    line breaks of the folding removed (the whitespace after them kept),
    encoded-words decoded (whitespace between two of them dropped).
    None when it does not decode cleanly."""
    v = raw_value.replace("\r", "").replace("\n", "").strip()
    if ENCODED_WORD_RE.search(v):
        try:
            v = str(email.header.make_header(email.header.decode_header(v)))
        except Exception:
            return None
    if "\ufffd" in v or "\x00" in v:
        return None
    return v


def _sweep_headers(raw, msg, mt):
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    text = head.decode("utf-8", "replace").replace("\r\n", "\n")
    for m in HEADER_LINE_RE.finditer(text):
        v = dovecot_header_value(m.group(2))
        if v:
            mt.dv_headers.append((m.group(1), v))
    try:
        parts = list(msg.walk())[1:]
        for part in parts[:8]:
            for name, value in part.raw_items():
                v = dovecot_header_value(str(value))
                if v:
                    mt.part_headers.append((name, v))
    except Exception:
        pass
    for h in ("from", "to", "cc", "bcc"):
        try:
            vals = [str(v) for v in msg.get_all(h, [])]
            for nme, _addr in email.utils.getaddresses(vals):
                nme = " ".join(nme.split())
                if nme and "\ufffd" not in nme:
                    mt.addr_names.append((h, nme))
        except Exception:
            pass


def value_piece(rnd, v):
    """A piece of a header value at a random kind of position: the whole
    value, a word, 1-3 words from a word start, a slice starting at a
    word start or inside a word, one across punctuation or across a
    space, a short slice; None when v gives nothing of that kind."""
    kind = rnd.choice(("whole", "word", "words", "words", "wordstart", "midword",
                       "punct", "space", "short", "any", "any"))
    words = [m for m in re.finditer(r"\w+", v)]
    if kind == "whole":
        return kind, v[:200]
    if kind == "word" and words:
        return kind, rnd.choice(words).group(0)
    if kind == "words" and words:
        i = rnd.randrange(len(words))
        j = min(len(words) - 1, i + rnd.randint(1, 2))
        return kind, v[words[i].start():words[j].end()]
    if kind == "wordstart" and words:
        a = rnd.choice(words).start()
        return kind, v[a:a + rnd.randint(3, 24)]
    if kind == "midword":
        long_ = [m for m in words if len(m.group(0)) >= 4]
        if long_:
            m = rnd.choice(long_)
            a = rnd.randint(m.start() + 1, m.end() - 2)
            return kind, v[a:a + rnd.randint(2, 20)]
    if kind == "punct":
        at = [i for i, c in enumerate(v) if not c.isalnum() and not c.isspace()]
        if at:
            i = rnd.choice(at)
            return kind, v[max(0, i - rnd.randint(1, 8)):i + rnd.randint(1, 9)]
    if kind == "space":
        at = [i for i, c in enumerate(v) if c.isspace()]
        if at:
            i = rnd.choice(at)
            return kind, v[max(0, i - rnd.randint(1, 10)):i + rnd.randint(2, 11)]
    if kind == "short" and len(v) >= 2:
        a = rnd.randrange(len(v) - 1)
        return kind, v[a:a + rnd.randint(1, 3)]
    if len(v) >= 2:
        a = rnd.randrange(len(v) - 1)
        return "any", v[a:a + rnd.randint(2, 30)]
    return None


def name_piece(rnd, nme):
    """A piece of a display name: 1, 2 or 3 words, a word's prefix, suffix
    or inside, across a word boundary, or the whole name."""
    words = nme.split()
    kind = rnd.choice(("whole", "1", "2", "3", "prefix", "suffix", "inner", "across"))
    if kind == "whole" or not words:
        return kind, nme
    if kind in ("1", "2", "3"):
        k = min(len(words), int(kind))
        i = rnd.randrange(len(words) - k + 1)
        return kind, " ".join(words[i:i + k])
    w = rnd.choice(words)
    if kind == "prefix" and len(w) >= 3:
        return kind, w[:rnd.randint(2, len(w) - 1)]
    if kind == "suffix" and len(w) >= 3:
        return kind, w[rnd.randint(1, len(w) - 2):]
    if kind == "inner" and len(w) >= 4:
        a = rnd.randint(1, len(w) - 3)
        return kind, w[a:a + rnd.randint(1, len(w) - 1 - a)]
    if kind == "across" and len(words) >= 2:
        i = rnd.randrange(len(words) - 1)
        a, b = words[i], words[i + 1]
        return kind, a[rnd.randint(0, len(a) - 1):] + " " + b[:rnd.randint(1, len(b))]
    return "1", w


def _usable_piece(p):
    return p and p.strip() and p not in ("(", ")") and "\ufffd" not in p


# ---------------------------------------------------------------- variants

def _is_cjk(ch):
    return bool(CJK_RE.match(ch + ch))


def fullwidth(s):
    """ASCII letters/digits as their full-width forms (U+FF01..)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def case_variants(word):
    """Case variants of a real word beyond ASCII: upper, lower, title, and
    the special mappings (sharp s, final sigma, Turkish i, full width)."""
    out = [word.upper(), word.lower(), word.title()]
    if "ß" in word:
        out += [word.replace("ß", "ss"), word.replace("ß", "SS").upper(),
                word.replace("ß", "ẞ")]
    if any(c in "σςΣ" for c in word):
        out += [word.upper(), word.lower().replace("ς", "σ"),
                word.lower()[:-1] + "ς" if word.lower().endswith("σ") else word.lower()]
    if "i" in word or "I" in word:
        out += [word.replace("i", "İ"), word.replace("I", "ı"),
                word.lower().replace("i", "ı")]
    if "İ" in word or "ı" in word:
        out += [word.replace("İ", "i").replace("ı", "I"), word.upper()]
    if word.isascii():
        out += [fullwidth(word), fullwidth(word.upper())]
    return [v for v in dict.fromkeys(out) if v and v != word] or [word.swapcase()]


def halfwidth_katakana(s):
    """NFKC maps half-width katakana to full width; the reverse for the
    characters that have a half-width form."""
    table = {}
    for cp in range(0xFF61, 0xFFA0):
        full = unicodedata.normalize("NFKC", chr(cp))
        if len(full) == 1:
            table.setdefault(full, chr(cp))
    return "".join(table.get(c, c) for c in s)


# ---------------------------------------------------------------- generator

class _Pool:
    """Candidate strings per kind, with document frequencies."""

    def __init__(self):
        self.df = collections.Counter()          # word -> messages
        self.cased = {}                          # lower word -> a real spelling
        self.phrases = collections.Counter()
        self.punct = collections.Counter()
        self.cjk = collections.Counter()
        self.subject_words = collections.Counter()
        self.subjects = []
        self.addrs = collections.Counter()       # (hdr, addr)
        self.names = collections.Counter()       # (hdr, name)
        self.headers = collections.Counter()     # (name, token)
        self.whole_headers = collections.Counter()  # (name, whole value)
        self.header_names = collections.Counter()
        self.dates = []
        self.longest_line = ""
        self.lists = []                          # (hdr, addrs, names, encoded)
        self.malformed = collections.Counter()   # (hdr, raw value)
        self.filtered = collections.Counter()    # (name, token) of such headers
        # HTML: tags, entities as written, words only inside markup, and
        # words of the text an HTML-to-text conversion makes that are not
        # in the source (split by tags, entities decoded)
        self.html_tags = collections.Counter()
        self.html_entities = collections.Counter()
        self.html_markup_words = collections.Counter()
        self.html_converted_words = collections.Counter()
        # header sweep, drawn with a generator of its own (the other
        # classes draw the same strings as before these existed)
        self.hrnd = random.Random("header sweep")
        self.dv_headers = collections.Counter()    # (name, value)
        self.part_headers = collections.Counter()  # (name, value)
        self.addr_names = collections.Counter()    # (hdr, name)

    def add(self, mt, rnd):
        hr = self.hrnd
        for name, v in hr.sample(mt.dv_headers, min(len(mt.dv_headers), 10)):
            self.dv_headers[(name, v[:2000])] += 1
        for name, v in hr.sample(mt.part_headers, min(len(mt.part_headers), 3)):
            self.part_headers[(name, v[:2000])] += 1
        for h, nme in set(mt.addr_names):
            self.addr_names[(h, nme)] += 1
        words = set()
        for w in WORD_RE.findall(mt.body):
            if 3 <= len(w) <= 30 and "_" not in w:
                words.add(w)
        for w in words:
            self.df[w.lower()] += 1
            self.cased.setdefault(w.lower(), w)
        lines = [ln for ln in mt.body.splitlines() if ln.strip()]
        for ln in rnd.sample(lines, min(len(lines), 30)):
            for m in PHRASE_RE.finditer(ln):
                if 6 <= len(m.group(0)) <= 60:
                    self.phrases[m.group(0)] += 1
            for m in PUNCT_RE.finditer(ln):
                if 4 <= len(m.group(0)) <= 60:
                    self.punct[m.group(0)] += 1
            if len(ln) > len(self.longest_line) and len(ln) < 4000:
                self.longest_line = ln
        for run in CJK_RE.findall(mt.body + "\n" + mt.subject):
            self.cjk[run] += 1
        if mt.subject:
            self.subjects.append(mt.subject)
            for w in set(WORD_RE.findall(mt.subject)):
                if len(w) >= 3 and "_" not in w:
                    self.subject_words[w] += 1
        for h, a in set(mt.addrs):
            self.addrs[(h, a)] += 1
        for h, nme in set(mt.names):
            self.names[(h, nme)] += 1
        for name, value in mt.headers:
            if name in SKIP_HEADERS or not value or "\ufffd" in value:
                continue
            if not (name.startswith("x-") or name in OTHER_HEADERS or name.startswith("list-")):
                continue
            self.header_names[name] += 1
            if len(value) <= 200:
                self.whole_headers[(name, value)] += 1
            toks = [t for t in re.findall(r"[\w][\w.@-]*\w", value) if len(t) >= 3]
            for t in set(rnd.sample(toks, min(len(toks), 4))):
                self.headers[(name, t)] += 1
        if mt.date is not None:
            self.dates.append(mt.date)
        self.lists.extend(mt.lists)
        for h, v in mt.malformed:
            self.malformed[(h, v)] += 1
        for name, value in mt.raw_headers:
            if name in FILTERED_HEADERS or name.startswith(("dkim-", "list-")):
                toks = [t for t in re.findall(r"[\w][\w.@+-]*\w", value) if len(t) >= 3]
                for t in set(rnd.sample(toks, min(len(toks), 2))):
                    self.filtered[(name, t)] += 1
        # deterministic, without rnd: the other classes draw the same
        # strings as before this class existed
        for src in mt.html:
            tags = TAG_RE.findall(src)
            for t in tags[:40]:
                self.html_tags[t] += 1
            for e in set(ENTITY_RE.findall(src)):
                self.html_entities[e] += 1
            text = HTML_STRIP_RE.sub("", src)
            text_words = set(WORD_RE.findall(text))
            src_words = set(WORD_RE.findall(src))
            for t in tags[:40]:
                for w in WORD_RE.findall(t):
                    if 4 <= len(w) <= 30 and w not in text_words:
                        self.html_markup_words[w] += 1
            conv = HTML_STRIP_RE.sub("", html.unescape(src))
            for w in set(WORD_RE.findall(conv)):
                if 4 <= len(w) <= 30 and w not in src_words:
                    self.html_converted_words[w] += 1


def _pick(rnd, items, k):
    # (a Query's repr holds its address: sort it by its criteria)
    items = sorted(items, key=lambda x: x.label(10**6) if isinstance(x, Query) else repr(x))
    return rnd.sample(items, min(k, len(items)))


def _inner_slice(rnd, word, lo=3, hi=6):
    """A slice strictly inside word (neither its first nor its last
    character), lo..hi characters, or None."""
    n = len(word)
    if n < lo + 2:
        return None
    length = rnd.randint(lo, min(hi, n - 2))
    start = rnd.randint(1, n - 1 - length)
    return word[start:start + length]


def _imap_date(d):
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return "%d-%s-%04d" % (d.day, months[d.month - 1], d.year)


def generate(messages, seed, n=240, sample=1500):
    """At least n queries (if the corpus offers that many strings) from the
    raw messages, each with a class label.  At most `sample` messages
    (seeded choice) are parsed to find the strings."""
    rnd = random.Random(str(seed))
    idx = sorted(rnd.sample(range(len(messages)), min(sample, len(messages))))
    pool = _Pool()
    for i in idx:
        pool.add(parse_message(messages[i]), rnd)
    builders = _builders(pool, rnd)
    quota = {c: max(1, round(WEIGHTS[c] * n / 240.0)) for c in CLASSES}
    out = {c: [] for c in CLASSES}
    for c in CLASSES:
        out[c] = builders[c](quota[c])
    # the header sweep's classes come on top of n: the others' growth (and
    # so their strings) is what it was before those classes existed
    total = sum(len(v) for c, v in out.items() if c not in SWEEP_CLASSES)
    # classes short of strings: the others grow, round robin
    growable = [c for c in CLASSES if c not in ("hostile",) and c not in SWEEP_CLASSES
                and len(out[c]) >= quota[c]]
    rounds = 0
    while total < n and growable and rounds < 50:
        rounds += 1
        for c in growable:
            if total >= n:
                break
            more = builders[c](len(out[c]) + 4)
            seen = {q.label(10**6) for q in out[c]}
            for q in more:
                if q.label(10**6) not in seen and total < n:
                    out[c].append(q)
                    seen.add(q.label(10**6))
                    total += 1
    return [q for c in CLASSES for q in out[c]]


def _builders(pool, rnd):
    """Class label -> function(k) returning up to k queries."""
    words = [w for w, c in pool.df.items() if c >= 2 and len(w) >= 3]
    rare = [w for w, c in pool.df.items() if c == 1 and 5 <= len(w) <= 20
            and not w.isdigit()]
    letter_words = [w for w in pool.df if LETTERS_RE.fullmatch(w) and len(w) >= 6]
    nonascii = [w for w in pool.df if not w.isascii() and LETTERS_RE.fullmatch(w)
                and len(w) >= 3 and not _is_cjk(w[0])]
    cased = lambda w: pool.cased.get(w, w)  # noqa: E731
    dates = sorted(pool.dates) or [datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)]
    common = [w for w, c in pool.df.items() if c >= 3 and len(w) >= 4] or words
    addrs = [a for a in pool.addrs]
    from_addrs = [a for h, a in addrs if h == "from"] or [a for _, a in addrs]
    subj_words = [w for w in pool.subject_words if len(w) >= 4] or list(pool.subject_words)

    def rnd_choice(seq, default=None):
        seq = sorted(seq, key=repr)
        return rnd.choice(seq) if seq else default

    def word(k):
        return [Query("word", ["BODY", cased(w)], "df=%d" % pool.df[w])
                for w in _pick(rnd, words, k)]

    def rare_word(k):
        return [Query("rare word", ["BODY", cased(w)], "df=1") for w in _pick(rnd, rare, k)]

    def prefix(k):
        return [Query("prefix", ["BODY", cased(w)[:max(3, len(w) // 2)]], "prefix of " + cased(w))
                for w in _pick(rnd, letter_words, k)]

    def inword(k):
        out = []
        # the issue's own examples, when the corpus has them
        for needle in ("ftest",):
            if any(needle in w for w in pool.df if "kselftest" in w):
                out.append(Query("in-word substring", ["BODY", needle], "inside kselftest"))
        for w in _pick(rnd, letter_words, k * 2):
            s = _inner_slice(rnd, cased(w))
            if s and len(out) < k:
                out.append(Query("in-word substring", ["BODY", s], "inside " + cased(w)))
        return out[:k]

    def short(k):
        out = []
        for w in _pick(rnd, words, k):
            w = cased(w)
            length = rnd.choice((1, 2, 2))
            start = rnd.randrange(0, len(w) - length + 1)
            key = rnd.choice(("BODY", "BODY", "SUBJECT", "TEXT"))
            out.append(Query("short substring", [key, w[start:start + length]], "from " + w))
        return out

    def phrase(k):
        cands = [p for p, c in pool.phrases.items()]
        return [Query("phrase", ["BODY", p], "x%d" % pool.phrases[p]) for p in _pick(rnd, cands, k)]

    def punct(k):
        cands = list(pool.punct)
        out = [Query("dashed/punctuated", ["BODY", p]) for p in _pick(rnd, cands, k)]
        for fixed in ("test-case", "v5.10", "Signed-off-by", "a.b@c.d"):
            if fixed in pool.punct and len(out) < k + 2:
                out.append(Query("dashed/punctuated", ["BODY", fixed], "issue example"))
        return out[:k]

    def cjk(k):
        out = []
        runs = sorted(pool.cjk, key=repr)
        if not runs:
            return out
        for _ in range(k * 3):
            run = rnd.choice(runs)
            length = min(len(run), rnd.choice((2, 2, 3, 4)))
            start = rnd.randrange(0, len(run) - length + 1)
            s = run[start:start + length]
            key = rnd.choice(("BODY", "BODY", "TEXT", "SUBJECT"))
            if key == "SUBJECT" and not any(s in x for x in pool.subjects):
                key = "BODY"
            if rnd.random() < 0.15 and halfwidth_katakana(s) != s:
                s = halfwidth_katakana(s)
            q = Query("CJK/Thai run", [key, s], "in %s" % run[:20])
            if q.label() not in {x.label() for x in out}:
                out.append(q)
            if len(out) >= k:
                break
        return out

    def case(k):
        out = []
        # non-ASCII words first (with the special mappings first of all),
        # then ASCII words (full-width forms, Turkish i)
        special = [w for w in nonascii if any(c in w for c in "ßςσΣİı")]
        ascii_words = [w for w in words if w.isascii() and w.isalpha()]
        for w in (_pick(rnd, special, k // 3) + _pick(rnd, nonascii, k) +
                  _pick(rnd, ascii_words, k)):
            w = cased(w)
            v = rnd.choice(case_variants(w))
            key = "SUBJECT" if any(w.lower() in s.lower() for s in pool.subjects[:200]) \
                and rnd.random() < 0.3 else "BODY"
            out.append(Query("case variant", [key, v], "variant of " + w))
            if len(out) >= k:
                break
        return out

    def nfd(k):
        out = []
        for w in _pick(rnd, nonascii, k * 4):
            w = cased(w)
            nfd_w, nfc_w = unicodedata.normalize("NFD", w), unicodedata.normalize("NFC", w)
            if nfd_w != w:
                out.append(Query("NFC/NFD variant", ["BODY", nfd_w], "NFD of " + w))
            elif nfc_w != w:
                out.append(Query("NFC/NFD variant", ["BODY", nfc_w], "NFC of " + w))
            if len(out) >= k:
                break
        return out

    def address(k):
        return [Query("address", [h.upper(), a]) for h, a in _pick(rnd, addrs, k)]

    def partial(k):
        out = []
        for h, a in _pick(rnd, addrs, k * 2):
            local, _, domain = a.partition("@")
            kind = rnd.choice(("local", "domain", "inner", "inner"))
            if kind == "local":
                s = local
            elif kind == "domain":
                s = domain
            else:
                s = _inner_slice(rnd, a, 4, 10) or domain
            out.append(Query("partial address", [h.upper(), s], "part of " + a))
            if len(out) >= k:
                break
        if any(a.endswith("@example.com") for _, a in addrs):
            out[-1:] = [Query("partial address", ["FROM", "xample.co"], "issue example")]
        return out

    def names(k):
        out = []
        for h, nme in _pick(rnd, pool.names, k):
            parts = nme.split()
            s = nme if len(parts) < 2 or rnd.random() < 0.6 else rnd.choice(parts)
            out.append(Query("display name", [h.upper(), s], "name " + nme))
        return out

    def subject(k):
        out = []
        for w in _pick(rnd, subj_words, k):
            r = rnd.random()
            s = w if r < 0.5 else (_inner_slice(rnd, w, 3, 5) or w)
            out.append(Query("subject", ["SUBJECT", s], "in subject word " + w))
        if any("onfi" in w for w in pool.subject_words):
            out.append(Query("subject", ["SUBJECT", "onfi"], "issue example"))
        if pool.subjects:
            s = rnd_choice(pool.subjects)
            out.append(Query("subject", ["SUBJECT", s[:60]], "whole subject"))
        return out[:max(k, 1)]

    def header(k):
        out = []
        names_ = sorted(pool.header_names)
        whole = _pick(rnd, pool.whole_headers, max(1, k // 3))
        for name, value in whole:
            out.append(Query("header", ["HEADER", name.title(), value], "whole value"))
        for name, tok in _pick(rnd, pool.headers, k):
            out.append(Query("header", ["HEADER", name.title(), tok]))
        for name in _pick(rnd, names_, 2):
            out.append(Query("header", ["HEADER", name, ""], "header present"))
        mid = [v for (nme, v) in pool.whole_headers if nme == "message-id"]
        if mid:
            v = rnd_choice(mid)
            out.append(Query("header", ["HEADER", "Message-ID", v.strip("<>")], "Message-ID"))
        # interleave so a cut keeps every kind
        rnd.shuffle(out)
        return out[:k]

    def text(k):
        out = []
        for w in _pick(rnd, common, k // 2):
            out.append(Query("TEXT", ["TEXT", cased(w)]))
        for h, a in _pick(rnd, addrs, max(1, k // 4)):
            out.append(Query("TEXT", ["TEXT", a]))
        for p in _pick(rnd, pool.phrases, max(1, k // 4)):
            out.append(Query("TEXT", ["TEXT", p]))
        return out[:k]

    def two(src):
        got = _pick(rnd, src, 2)
        return [cased(w) for w in got] if len(got) == 2 else None

    def not_(k):
        out = []
        for i in range(k):
            ws = two(common)
            if not ws:
                break
            a = rnd_choice(from_addrs)
            form = i % 4
            if form == 0:
                c = ["NOT", "BODY", ws[0]]
            elif form == 1:
                c = ["BODY", ws[0], "NOT", "BODY", ws[1]]
            elif form == 2 and a:
                c = ["NOT", "FROM", a]
            else:
                c = ["NOT", "SUBJECT", rnd_choice(subj_words, ws[1])]
            out.append(Query("NOT", c))
        return out

    def or_(k):
        out = []
        for i in range(k):
            ws = two(words)
            if not ws:
                break
            a = rnd_choice(from_addrs)
            form = i % 3
            if form == 0 and a:
                c = ["OR", "FROM", a, "SUBJECT", rnd_choice(subj_words, ws[0])]
            elif form == 1:
                c = ["OR", "BODY", ws[0], "BODY", ws[1]]
            else:
                s = _inner_slice(rnd, ws[0], 3, 4) or ws[0]
                c = ["OR", "BODY", s, "TEXT", ws[1]]
            out.append(Query("OR", c))
        return out

    def nested(k):
        out = []
        for i in range(k):
            ws = [cased(w) for w in _pick(rnd, common, 4)]
            if len(ws) < 4:
                break
            a = rnd_choice(from_addrs, ws[0])
            s = rnd_choice(subj_words, ws[1])
            form = i % 4
            if form == 0:
                c = ["NOT", LP, "OR", "BODY", ws[0], "SUBJECT", s, RP]
            elif form == 1:
                c = ["OR", LP, "BODY", ws[0], "NOT", "BODY", ws[1], RP, "FROM", a]
            elif form == 2:
                c = [LP, "OR", "BODY", ws[0], "BODY", ws[1], RP, "NOT", LP,
                     "OR", "TEXT", ws[2], "SUBJECT", s, RP]
            else:
                c = ["OR", "OR", "BODY", ws[0], "NOT", "BODY", ws[1], LP,
                     "BODY", ws[2], "NOT", LP, "OR", "FROM", a, "BODY", ws[3], RP, RP,
                     "NOT", "TEXT", ws[1]]
            out.append(Query("nested", c))
        return out

    def dateword(k):
        out = []
        for i, w in enumerate(_pick(rnd, common, k)):
            d = dates[rnd.randrange(len(dates))]
            form = i % 4
            key = ("SINCE", "BEFORE", "SENTSINCE", "SENTBEFORE")[form]
            if form == 2 and from_addrs:
                c = [key, _imap_date(d), "FROM", rnd_choice(from_addrs)]
            elif form == 3:
                c = [key, _imap_date(d), "SUBJECT", rnd_choice(subj_words, w)]
            else:
                c = [key, _imap_date(d), "BODY", cased(w)]
            out.append(Query("date+word", c))
        return out

    def hostile(k):
        out = []
        w = cased(rnd_choice(words, "test"))
        out.append(Query("hostile", ["BODY", rnd_choice("aeinost")], "1 char"))
        out.append(Query("hostile", ["SUBJECT", w[:1]], "1 char"))
        # ~100 KB via a literal: a real word repeated, and a real line
        # repeated (no message holds either; Dovecot must still answer)
        out.append(Query("hostile", ["BODY", ((w + " ") * (100000 // (len(w) + 1))).encode()],
                         "100 KB literal"))
        if pool.longest_line:
            ln = pool.longest_line.encode("utf-8")
            out.append(Query("hostile", ["TEXT", (ln * (100000 // max(1, len(ln)) + 1))[:100000]
                                         .decode("utf-8", "ignore").encode("utf-8")],
                             "100 KB literal of a real line"))
        # 1000+ OR terms of real words, one of them a substring; limited to
        # the first 300 UIDs so the oracle's scan stays bounded (the FTS
        # lookup still gets all of them)
        terms = [cased(x) for x in _pick(rnd, words, 1100)]
        if len(terms) >= 3:
            while len(terms) < 1001:
                terms += terms[:1001 - len(terms)]
            c = ["UID", "1:300"]
            expr = ["BODY", terms[-1]]
            for t in terms[:-1]:
                expr = ["OR", "BODY", t] + expr
            out.append(Query("hostile", c + expr, "%d OR terms" % len(terms)))
        for syn in _pick(rnd, PARSER_SYNTAX, 6):
            form = rnd.choice(("alone", "around"))
            s = syn if form == "alone" else "%s %s %s" % (w, syn, cased(rnd_choice(words, w)))
            out.append(Query("hostile", ["BODY", s], "query-parser syntax"))
        out.append(Query("hostile", ["BODY", w + "*"], "wildcard suffix"))
        out.append(Query("hostile", ["BODY", 'subject:"%s"' % w], "field prefix"))
        out.append(Query("hostile", ["BODY", b"\xff\xfe" + w.encode()], "invalid UTF-8"))
        out.append(Query("hostile", ["BODY", w.encode() + b"\x00x"], "NUL"))
        out.append(Query("hostile", ["BODY", b""], "empty string"))
        out.append(Query("hostile", ["HEADER", "X-" + "Z" * 300, w], "long header name"))
        return out[:max(k, len(out))]

    def address_list(k):
        """Neighbours of encoded display names in address lists (any list
        when the corpus has none with an encoded name), parts of them,
        and the decoded names."""
        out, seen = [], set()
        lists = sorted(pool.lists, key=repr)
        enc = [x for x in lists if x[3]]
        for h, addrs, names, _e in _pick(rnd, enc, k) + _pick(rnd, lists, k):
            kind = rnd.choice(("addr", "addr", "part", "name", "name"))
            if kind == "name" and names:
                nme = rnd.choice(names)
                parts = nme.split()
                s = nme if len(parts) < 2 or rnd.random() < 0.5 else rnd.choice(parts)
                q = Query("address list", [h.upper(), s], "encoded name " + nme)
            elif addrs:
                a = rnd.choice(addrs)
                s = a if kind != "part" else (_inner_slice(rnd, a, 4, 10) or a)
                q = Query("address list", [h.upper(), s], "in a list of %d" % len(addrs))
            else:
                continue
            if q.label() not in seen:
                seen.add(q.label())
                out.append(q)
            if len(out) >= k:
                break
        return out

    def malformed(k):
        """The placeholders Dovecot's search writes, in every address
        header (whether or not this corpus has malformed addresses), and
        pieces of the malformed values it has."""
        out = [Query("malformed address", [h, p], "placeholder")
               for h in ("FROM", "TO", "CC") for p in ADDRESS_PLACEHOLDERS]
        out = _pick(rnd, out, max(1, k // 3))
        for h, v in _pick(rnd, pool.malformed, k):
            toks = [t for t in re.split(r"[\s,]+", v) if t] or [v or "@"]
            s = rnd.choice(toks + [v[:60]] if v else toks)
            out.append(Query("malformed address", [h.upper(), s], "from " + v[:60]))
            if len(out) >= k:
                break
        return out[:max(k, 1)]

    def filtered(k):
        out = []
        for name, tok in _pick(rnd, pool.filtered, k):
            key = rnd.choice(("HEADER", "HEADER", "TEXT"))
            crit = ["HEADER", name.title(), tok] if key == "HEADER" else ["TEXT", tok]
            out.append(Query("filtered header", crit, "in " + name))
        names_ = sorted({n for n, _t in pool.filtered})
        for name in _pick(rnd, names_, 2):
            out.append(Query("filtered header", ["HEADER", name.title(), ""], "present"))
        rnd.shuffle(out)
        return out[:k]

    def html_markup(k):
        """Strings of HTML source (Dovecot's search reads it as written):
        tags and slices of them, entities as written, words only inside
        tags and attributes, and words only the converted text has (it
        doesn't find them, unless they occur elsewhere as written)."""
        out = []
        per = max(1, k // 4)
        for t in _pick(rnd, pool.html_tags, per):
            if len(t) > 12 and rnd.random() < 0.6:
                a = rnd.randrange(len(t) - 4)
                t = t[a:a + rnd.randint(4, 16)]
            out.append(Query("HTML markup", ["BODY", t], "tag"))
        for e in _pick(rnd, pool.html_entities, per):
            out.append(Query("HTML markup", ["BODY", e], "entity as written"))
        for w in _pick(rnd, pool.html_markup_words, per):
            key = "TEXT" if rnd.random() < 0.25 else "BODY"
            out.append(Query("HTML markup", [key, w], "only inside markup"))
        for w in _pick(rnd, pool.html_converted_words, per):
            out.append(Query("HTML markup", ["BODY", w], "converted text only"))
        rnd.shuffle(out)
        return out[:k]

    hrnd = random.Random("header sweep builders/%d" % len(pool.dv_headers))

    def name_case(name):
        return hrnd.choice((name, name, name.lower(), name.upper()))

    def header_piece(k):
        out, seen = [], set()
        items = sorted(pool.dv_headers, key=repr)
        # every header name gets its turn, then random values
        by_name = collections.defaultdict(list)
        for name, v in items:
            by_name[name.lower()].append((name, v))
        order = [hrnd.choice(by_name[n]) for n in sorted(by_name)]
        hrnd.shuffle(order)
        for _ in range(k * 4):
            if len(out) >= k or not items:
                break
            name, v = order.pop() if order else hrnd.choice(items)
            got = value_piece(hrnd, v)
            if not got or not _usable_piece(got[1]):
                continue
            q = Query("header piece", ["HEADER", name_case(name), got[1]],
                      "%s of %s: %s" % (got[0], name, v[:60]))
            if q.label(10**6) not in seen:
                seen.add(q.label(10**6))
                out.append(q)
        return out

    def address_piece(k):
        out, seen = [], set()
        items = sorted(pool.addr_names, key=repr)
        for _ in range(k * 4):
            if len(out) >= k or not items:
                break
            h, nme = hrnd.choice(items)
            kind, p = name_piece(hrnd, nme)
            if not _usable_piece(p):
                continue
            key = h.upper() if hrnd.random() < 0.85 else hrnd.choice(("FROM", "TO", "CC", "BCC"))
            q = Query("address piece", [key, p], "%s of %s %s" % (kind, h, nme[:60]))
            if q.label(10**6) not in seen:
                seen.add(q.label(10**6))
                out.append(q)
        return out

    def header_logic(k):
        out = []
        hdrs = sorted(pool.dv_headers, key=repr)
        names_ = sorted(pool.addr_names, key=repr)
        if not hdrs:
            return out

        def hp():
            for _ in range(10):
                name, v = hrnd.choice(hdrs)
                got = value_piece(hrnd, v)
                if got and _usable_piece(got[1]):
                    return ["HEADER", name_case(name), got[1]]
            return ["HEADER", "Subject", "a"]

        def ap():
            if not names_:
                return hp()
            h, nme = hrnd.choice(names_)
            return [h.upper(), name_piece(hrnd, nme)[1]]

        def wd():
            w = hrnd.choice(sorted(common)) if common and hrnd.random() < 0.5 else None
            return ["BODY", w] if w else hp()
        for i in range(k):
            form = i % 6
            if form == 0:
                c = ["NOT"] + hp()
            elif form == 1:
                c = ["OR"] + hp() + hp()
            elif form == 2:
                c = hp() + ["NOT"] + hp()
            elif form == 3:
                c = ["NOT"] + ap()
            elif form == 4:
                c = ["OR"] + ap() + hp()
            else:
                c = ["NOT", LP, "OR"] + hp() + wd() + [RP] + ap()
            out.append(Query("header NOT/OR", c))
        return out

    def text_header_piece(k):
        out, seen = [], set()
        top = sorted(pool.dv_headers, key=repr)
        parts = sorted(pool.part_headers, key=repr)
        for _ in range(k * 4):
            if len(out) >= k or not (top or parts):
                break
            src = parts if parts and (not top or hrnd.random() < 0.4) else top
            name, v = hrnd.choice(src)
            if hrnd.random() < 0.15:
                v = "%s: %s" % (name, v)
            got = value_piece(hrnd, v)
            if not got or not _usable_piece(got[1]):
                continue
            q = Query("TEXT header piece", ["TEXT", got[1]], "%s of %s%s: %s" % (
                got[0], "part " if src is parts else "", name, v[:60]))
            if q.label(10**6) not in seen:
                seen.add(q.label(10**6))
                out.append(q)
        return out

    return {
        "header piece": header_piece, "address piece": address_piece,
        "header NOT/OR": header_logic, "TEXT header piece": text_header_piece,
        "address list": address_list, "malformed address": malformed,
        "filtered header": filtered,
        "word": word, "rare word": rare_word, "prefix": prefix,
        "in-word substring": inword, "short substring": short, "phrase": phrase,
        "dashed/punctuated": punct, "CJK/Thai run": cjk, "case variant": case,
        "NFC/NFD variant": nfd, "address": address, "partial address": partial,
        "display name": names, "subject": subject, "header": header, "TEXT": text,
        "NOT": not_, "OR": or_, "nested": nested, "date+word": dateword,
        "hostile": hostile, "HTML markup": html_markup,
    }
