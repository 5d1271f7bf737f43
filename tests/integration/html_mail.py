"""Generated HTML mail and searches drawn from it (test_html.py).

Dovecot's own search reads a text/html part like any text part: its body
after Content-Transfer-Encoding decoding and conversion of its charset to
UTF-8, tags, attributes, comments, <style>/<script> blocks and entities
("&eacute;", "&#233;") exactly as written.  The fts plugin hands the
backend the part converted to text instead (fts-parser-html), which is
why fts-sift reads the source itself (plugin/sift-html.c).  This module
builds messages of many HTML styles, seeded:

  structure   HTML only, multipart/alternative (plain + HTML, different
              words), multipart/mixed and /related (HTML next to an
              attachment or image), HTML inside a forwarded message/rfc822,
              two HTML parts, an application/xhtml+xml part (not text to
              Dovecot's search: never found)
  encoding    7bit/8bit, quoted-printable (soft line breaks inside words
              and tags), base64
  charset     utf-8, iso-8859-1, windows-1252, iso-8859-15, koi8-r,
              iso-2022-jp, shift_jis, gb2312, big5, euc-kr, an unknown
              charset, invalid UTF-8 bytes, no charset at all
  content     text words, words only in tag names, attribute names and
              values (href, alt, title, class, data-*), <style> and
              <script> blocks, comments, CDATA, entities (named, numeric,
              hex, malformed: no semicolon, unknown names, &#xZZ;), words
              split by tags (ke<b>y</b>word), upper-case tags, attributes
              wrapped over lines, long unbroken runs (data: URIs)

and search strings cut out of each message's decoded source (what
Dovecot reads) and of its converted text (what Dovecot does not read):
whole words, prefixes, in-word substrings, slices across markup, entities
as written and decoded, phrases, case variants.  Nothing here knows the
expected results: the oracle gives them.
"""

import base64
import quopri
import random
import re
import unicodedata

WORDS = ("quartz falcon ember lattice nimbus harbor velvet cobalt meadow "
         "signal prairie lantern orchid summit garnet willow tundra beacon "
         "saffron glacier mosaic pepper cinder walnut").split()
# non-ASCII words per charset family (all encodable in the charset)
LATIN1 = ["café", "garçon", "Müller", "naïve", "façade", "Übergröße", "señor", "Noël"]
CP1252 = LATIN1 + ["€uro", "“quoted”", "œuvre"]
LATIN9 = ["café", "œuvre", "€uro", "Šárka"]
CYRILLIC = ["Москва", "проверка", "текстовый", "ёлка", "зима"]
JAPANESE = ["東京都", "検索テスト", "日本語", "全文検索", "会議室"]
CHINESE_S = ["中文邮件", "搜索引擎", "北京市"]
CHINESE_T = ["中文郵件", "搜尋引擎", "臺北市"]
KOREAN = ["한국어", "검색엔진", "서울특별시"]
CHARSETS = [
    ("utf-8", LATIN1 + CYRILLIC + JAPANESE + KOREAN),
    ("iso-8859-1", LATIN1),
    ("windows-1252", CP1252),
    ("iso-8859-15", LATIN9),
    ("koi8-r", CYRILLIC),
    ("iso-2022-jp", JAPANESE),
    ("shift_jis", JAPANESE),
    ("gb2312", CHINESE_S),
    ("big5", CHINESE_T),
    ("euc-kr", KOREAN),
    ("x-unknown-charset", ["plainword"]),
    ("", ["nocharset"]),
]
ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&nbsp;", "&eacute;", "&Eacute;",
            "&uuml;", "&copy;", "&mdash;", "&hellip;", "&euro;", "&#233;",
            "&#xE9;", "&#x00e9;", "&#8364;", "&#169;", "&#39;",
            # malformed: no semicolon, unknown, bad numbers
            "&eacute", "&amp", "&nosuchentity;", "&#xZZ;", "&#;", "&#99999999;",
            "& ", "&&"]
ENTITY_TEXT = {"&eacute;": "é", "&Eacute;": "É", "&uuml;": "ü", "&#233;": "é",
               "&#xE9;": "é", "&#x00e9;": "é", "&euro;": "€", "&#8364;": "€",
               "&amp;": "&", "&copy;": "©", "&#169;": "©"}
TAGS = ["b", "i", "span", "font", "strong", "em", "a", "u", "SPAN", "B"]


def _w(rnd):
    return rnd.choice(WORDS)


def _uniq(rnd, base):
    """A word no other message has (so the oracle's answer is one
    message, and a miss is visible)."""
    return "%s%s" % (base, "".join(rnd.choice("bcdfghjkmnpqrstvwxz") for _ in range(5)))


def html_document(rnd, native):
    """An HTML document (str) with markup of every kind the generator
    knows, and words in the given non-ASCII list."""
    w = lambda: _w(rnd)  # noqa: E731
    nat = lambda: rnd.choice(native)  # noqa: E731
    parts = []
    upper = rnd.random() < 0.3
    T = (lambda t: t.upper()) if upper else (lambda t: t)
    parts.append("<!DOCTYPE html>\n<%s><%s>" % (T("html"), T("head")))
    parts.append('<meta http-equiv="Content-Type" content="text/html; charset=x">')
    parts.append("<title>%s %s</title>" % (w(), nat()))
    if rnd.random() < 0.7:
        parts.append("<style type=\"text/css\">\n.%s { font-family: %s; color: #%06x }\n"
                     "p.%s{margin:0}</style>" % (_uniq(rnd, "stylecls"), w(),
                                                 rnd.randrange(1 << 24), w()))
    if rnd.random() < 0.5:
        parts.append("<script>var %s = \"%s\"; if (a<b && c>d) { %s(); }</script>" % (
            _uniq(rnd, "scriptvar"), w(), w()))
    parts.append("</%s><%s class=\"%s\">" % (T("head"), T("body"), _uniq(rnd, "bodycls")))
    for _ in range(rnd.randint(3, 9)):
        kind = rnd.randrange(12)
        if kind == 0:      # plain text words
            parts.append("<p>%s %s %s, %s.</p>\n" % (w(), nat(), w(), _uniq(rnd, "text")))
        elif kind == 1:    # word split by a tag
            word = _uniq(rnd, "split")
            cut = rnd.randint(2, len(word) - 2)
            tag = rnd.choice(TAGS)
            parts.append("<p>%s<%s>%s</%s>%s %s</p>\n" % (
                word[:cut], tag, word[cut:cut + 2], tag, word[cut + 2:], w()))
        elif kind == 2:    # link: words in href and title only
            parts.append('<a href="https://%s.example.com/%s?id=%d&amp;ref=%s" title="%s">%s</a>\n'
                         % (_uniq(rnd, "host"), _uniq(rnd, "path"), rnd.randrange(10**6),
                            w(), _uniq(rnd, "title"), w()))
        elif kind == 3:    # image: alt text, data attributes
            parts.append('<img src="cid:%s@x" alt="%s %s" data-%s="%s" width=1>\n' % (
                _uniq(rnd, "cid"), _uniq(rnd, "alt"), nat(), w(), _uniq(rnd, "dataval")))
        elif kind == 4:    # comment
            parts.append("<!-- %s %s -->\n" % (_uniq(rnd, "comment"), w()))
        elif kind == 5:    # entities inside and between words
            e = rnd.choice(ENTITIES)
            parts.append("<p>caf%s %s%s%s &nbsp;%s</p>\n" % (
                rnd.choice(["&eacute;", "&#233;", "&#xE9;", "&eacute", "é"]),
                w(), e, w(), _uniq(rnd, "ent")))
        elif kind == 6:    # a tag name of its own, an attribute name
            tag = _uniq(rnd, "tag")
            parts.append("<%s %s=\"%s\">%s</%s>\n" % (tag, _uniq(rnd, "attr"), w(), w(), tag))
        elif kind == 7:    # attribute wrapped over lines
            parts.append('<div\n  class="%s"\n  style="border:1px solid">%s</div>\n' % (
                _uniq(rnd, "wrapcls"), nat()))
        elif kind == 8:    # table
            parts.append("<table><tr><td>%s</td><td>%s</td></tr></table>\n" % (
                _uniq(rnd, "cell"), nat()))
        elif kind == 9:    # long run without whitespace
            blob = base64.b64encode(bytes(rnd.randrange(256) for _ in range(rnd.choice((60, 300)))))
            parts.append('<img src="data:image/png;base64,%s">\n' % blob.decode())
        elif kind == 10:   # CDATA, pre
            parts.append("<pre><![CDATA[%s]]> %s</pre>\n" % (_uniq(rnd, "cdata"), w()))
        else:              # non-ASCII text with tags between characters
            word = nat()
            if len(word) >= 3:
                parts.append("<p>%s<b>%s</b>%s</p>\n" % (word[0], word[1], word[2:]))
            else:
                parts.append("<p>%s</p>\n" % word)
    parts.append("</%s></%s>\n" % (T("body"), T("html")))
    return "".join(parts)


def _encode_body(rnd, data, cte):
    if cte == "base64":
        enc = base64.encodebytes(data)
        return enc if enc.endswith(b"\n") else enc + b"\n"
    if cte == "quoted-printable":
        # short lines: soft line breaks inside words, tags and entities
        enc = quopri.encodestring(data)
        out = []
        for line in enc.split(b"\n"):
            while len(line) > 30:
                cut = rnd.randint(10, 30)
                while cut > 1 and b"=" in line[cut - 2:cut]:
                    cut -= 1
                out.append(line[:cut] + b"=")
                line = line[cut:]
            out.append(line)
        return b"\n".join(out)
    return data


def _html_part(rnd, charset, native, cte=None, invalid=False):
    """(MIME headers + body bytes, the decoded source str)."""
    doc = html_document(rnd, native)
    py_charset = charset if charset and charset != "x-unknown-charset" else "utf-8"
    data = doc.encode(py_charset, "replace" if charset else "strict")
    if invalid:
        data = data.replace(b"<p>", b"<p>\xff\xfe", 1)
    if cte is None:
        cte = rnd.choice(["7bit" if max(data, default=0) < 128 else "8bit",
                          "quoted-printable", "base64"])
    ctype = rnd.choice(["text/html", "text/html", "TEXT/HTML", "Text/Html"])
    hdr = "Content-Type: %s%s\n" % (ctype, "; charset=\"%s\"" % charset if charset else "")
    hdr += "Content-Transfer-Encoding: %s\n" % cte
    source = data.decode(py_charset, "replace")
    return hdr.encode() + b"\n" + _encode_body(rnd, data, cte), source, cte


def _plain_part(rnd, text):
    return (b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            + text.encode() + b"\n")


def _multipart(subtype, boundary, parts):
    out = b"Content-Type: multipart/%s; boundary=\"%s\"\n\n" % (subtype.encode(), boundary.encode())
    out += b"preamble %s\n" % boundary.encode()
    for p in parts:
        out += b"--%s\n" % boundary.encode() + p + b"\n"
    out += b"--%s--\nepilogue\n" % boundary.encode()
    return out


def build_messages(seed, n):
    """[(key, raw bytes, {"sources": [decoded HTML source], "plain": text
    of the text/plain parts, "style": label})]"""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        charset, native = CHARSETS[i % len(CHARSETS)]
        style = ("only", "alternative", "mixed", "related", "rfc822", "two", "xhtml")[
            (i // len(CHARSETS) + i) % 7]
        invalid = charset == "utf-8" and rnd.random() < 0.3
        body, source, cte = _html_part(rnd, charset, native, invalid=invalid)
        sources = [source]
        plain = ""
        if style == "only":
            top = body
        elif style == "alternative":
            plain = "%s %s %s" % (_w(rnd), _uniq(rnd, "plainonly"), _w(rnd))
            top = _multipart("alternative", "alt-%d" % i, [_plain_part(rnd, plain), body])
        elif style in ("mixed", "related"):
            att = (b"Content-Type: application/octet-stream; name=x.bin\n"
                   b"Content-Transfer-Encoding: base64\n\n" +
                   base64.encodebytes(("%s attachment" % _uniq(rnd, "attword")).encode()))
            top = _multipart(style, "%s-%d" % (style, i), [body, att])
        elif style == "rfc822":
            inner = (b"From: Inner <inner@example.org>\nSubject: fwd %s\nMIME-Version: 1.0\n"
                     % _w(rnd).encode()) + body
            top = _multipart("mixed", "fwd-%d" % i, [
                _plain_part(rnd, "see below %s" % _w(rnd)),
                b"Content-Type: message/rfc822\n\n" + inner])
        elif style == "two":
            body2, source2, _ = _html_part(rnd, "utf-8", LATIN1)
            sources.append(source2)
            top = _multipart("mixed", "two-%d" % i, [body, body2])
        else:
            # application/xhtml+xml: converted by the fts plugin, not text
            # to Dovecot's search (never found by BODY)
            x = html_document(rnd, ["xhtmlword"]).encode()
            xpart = b"Content-Type: application/xhtml+xml\n\n" + x
            top = _multipart("mixed", "x-%d" % i, [body, xpart])
        raw = (b"From: Sender %d <sender%d@example.org>\nTo: rcpt@example.test\n"
               b"Subject: html %s %d\nDate: Mon, 3 Jun 2024 10:%02d:00 +0000\n"
               b"Message-ID: <html%d@example.org>\nMIME-Version: 1.0\n"
               % (i, i, style.encode(), i, i % 60, i)) + top
        out.append(("h%03d" % i, raw, {"sources": sources, "plain": plain,
                                      "style": "%s/%s/%s" % (style, charset or "none", cte)}))
    return out


TAG_RE = re.compile(r"<[^>]*>")
ENTITY_RE = re.compile(r"&#?\w*;?")
RUN_RE = re.compile(r"\S+")
WORD_RE = re.compile(r"[^\W_]+")


def converted_text(source):
    """Roughly what an HTML-to-text conversion makes of source: tags
    dropped, entities decoded (the strings Dovecot's search does NOT
    find unless they occur as written)."""
    text = re.sub(r"(?is)<(style|script)[^>]*>.*?</\1>", " ", source)
    text = re.sub(r"(?s)<!--.*?-->", " ", text)
    text = TAG_RE.sub("", text)
    for e, t in ENTITY_TEXT.items():
        text = text.replace(e, t)
    return text


def queries(messages, seed, per_class):
    """{class: [criteria tuple]} drawn from the messages' HTML."""
    rnd = random.Random(seed)
    words, runs, markup, entities, conv, phrases = set(), set(), set(), set(), set(), set()
    for _key, _raw, info in messages:
        for src in info["sources"]:
            for m in WORD_RE.finditer(src):
                if len(m.group(0)) >= 3:
                    words.add(m.group(0))
            for r in RUN_RE.findall(src):
                if "<" in r or ">" in r or "=" in r or "&" in r:
                    runs.add(r)
            for t in TAG_RE.findall(src):
                markup.add(t)
            entities.update(ENTITY_RE.findall(src))
            c = converted_text(src)
            for m in WORD_RE.finditer(c):
                if len(m.group(0)) >= 4:
                    conv.add(m.group(0))
            for ln in src.splitlines():
                toks = ln.split()
                if len(toks) >= 2:
                    k = rnd.randint(0, len(toks) - 2)
                    phrases.add(" ".join(toks[k:k + rnd.randint(2, 3)]))
    pick = lambda s, k: rnd.sample(sorted(s), min(k, len(s)))  # noqa: E731
    letters = [w for w in words if w.isalpha()]
    q = {}
    q["word"] = [("BODY", w) for w in pick(words, per_class)]
    q["prefix"] = [("BODY", w[:max(3, len(w) // 2)]) for w in pick([w for w in letters if len(w) >= 6], per_class)]
    inner = []
    for w in pick([w for w in letters if len(w) >= 6], per_class * 2):
        n = rnd.randint(3, min(6, len(w) - 2))
        s = rnd.randint(1, len(w) - 1 - n)
        inner.append(("BODY", w[s:s + n]))
    q["in-word substring"] = inner[:per_class]
    # markup: whole tags, slices of tags and attribute values, runs with
    # markup inside (ke<b>y</b>word), entities as written
    mk = []
    for t in pick(markup, per_class):
        if len(t) > 3 and rnd.random() < 0.5:
            a = rnd.randrange(len(t) - 2)
            t = t[a:a + rnd.randint(3, 20)]
        if t.strip() and not any(c.isspace() for c in t):
            mk.append(("BODY", t))
    for r in pick(runs, per_class):
        a = rnd.randrange(len(r))
        s = r[a:a + rnd.randint(2, 24)]
        if s:
            mk.append(("BODY", s))
    q["markup"] = mk[:per_class * 2]
    q["entity"] = [("BODY", e) for e in pick(entities, per_class)] + \
                  [("BODY", "caf" + e) for e in ("&eacute;", "&#233;", "&eacute", "é")]
    # words of the converted text: a word split by tags, an entity
    # decoded, words only in text; Dovecot finds them only as written
    q["converted text"] = [("BODY", w) for w in pick(conv - words, per_class)] + \
                          [("BODY", w) for w in pick(conv, per_class // 2)]
    q["phrase"] = [("BODY", p) for p in pick(phrases, per_class)]
    case = []
    for w in pick(words, per_class):
        case.append(("BODY", rnd.choice([w.upper(), w.lower(), w.swapcase(),
                                         unicodedata.normalize("NFD", w)])))
    q["case/normalization"] = case
    q["TEXT/NOT"] = [(("TEXT", w) if i % 2 == 0 else ("NOT", "BODY", w))
                     for i, w in enumerate(pick(words, per_class))]
    q["xhtml/attachment"] = [("BODY", "xhtmlword"), ("BODY", "attword"), ("BODY", "plainonly"),
                             ("TEXT", "xhtmlword")]
    return q
