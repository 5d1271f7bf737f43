"""Address headers (FROM, TO, CC, BCC) exactly as Dovecot's own search
reads them (issue 12 part 1, issue 13 "malformed addresses").

Dovecot's FROM/TO/CC/BCC search parses the header as written, with
placeholders for missing parts (MISSING_DOMAIN, MISSING_MAILBOX,
SYNTAX_ERROR), writes it again, and only then decodes RFC 2047
encoded-words.  So an encoded display name that decodes to address
punctuation ("Edgar <Lee>", "edgar@lee", "Edgar; Lee", "[李]") does not
disturb its neighbours there, while decoding first (as Dovecot's fts
plugin hands the header over) splits or swallows them.

Generated broadly: display names in 15 charsets, B and Q encoded,
decoding to every RFC 5322 special ( ) < > [ ] : ; @ \\ , . " and
whitespace at the start, inside and at the end of the name, the encoded
address at every position of a list of four, in From, To, Cc and Bcc;
searched for the neighbours' addresses, parts of them and the names.
Then malformed address headers of many shapes, searched for their
placeholders and their pieces.  Every search must equal the oracle's.
"""

import itertools

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020, ew, oracle_compare, rfc2822  # noqa: E402

# (Python codec, MIME name, a name in that charset's script)
CHARSETS = [
    ("utf-8", "UTF-8", "Edgar 李"),
    ("iso-8859-1", "ISO-8859-1", "Édgar Lée"),
    ("iso-8859-2", "ISO-8859-2", "Łukasz Żak"),
    ("iso-8859-5", "ISO-8859-5", "Иван Лее"),
    ("iso-8859-7", "ISO-8859-7", "Νίκος Λη"),
    ("iso-8859-15", "ISO-8859-15", "Zoë Œuvre"),
    ("koi8_r", "KOI8-R", "Пётр Ли"),
    ("windows-1250", "WINDOWS-1250", "Žofie Lá"),
    ("windows-1251", "WINDOWS-1251", "Борис Ли"),
    ("windows-1252", "WINDOWS-1252", "Zoë Lee"),
    ("gb2312", "GB2312", "王伟 李"),
    ("gbk", "GBK", "张三 李"),
    ("big5", "BIG5", "陳大文 李"),
    ("shift_jis", "SHIFT_JIS", "山田 李"),
    ("iso2022_jp", "ISO-2022-JP", "鈴木 李"),
]
SPECIALS = list("()<>[]:;@\\,.\"") + [" ", "  "]
HEADERS = ["From", "To", "Cc", "Bcc"]


def encoded_word(text, codec, mime, enc):
    raw = text.encode(codec)
    if enc == "B":
        import base64
        return "=?%s?B?%s?=" % (mime, base64.b64encode(raw).decode())
    out = []
    for b in raw:
        ch = chr(b)
        if ch.isalnum() and b < 128:
            out.append(ch)
        elif ch == " ":
            out.append("_")
        else:
            out.append("=%02X" % b)
    return "=?%s?Q?%s?=" % (mime, "".join(out))


def name_with_special(base, special, where):
    first, _, last = base.partition(" ")
    if where == "inside":
        return first + special + last
    if where == "start":
        return special + base
    if where == "end":
        return base + special
    if where == "wrap":
        return "%s %s%s%s" % (first, special, last, special)
    return base


def address_messages():
    """(key, raw message, {search label: criteria...}) for the generated
    address lists; the searches are collected separately."""
    msgs = []
    n = 0
    combos = itertools.product(CHARSETS, SPECIALS, ("inside", "start", "end", "wrap"))
    for (codec, mime, base), special, where in combos:
        # every combination would be 15 * 15 * 4 * 2 * 4 * 4; rotate the
        # encoding, position and header instead (each still occurs with
        # every charset and every special)
        enc = "BQ"[n % 2]
        pos = (n // 2) % 4
        hdr = HEADERS[(n // 8) % 4]
        n += 1
        text = name_with_special(base, special, where)
        try:
            word = encoded_word(text, codec, mime, enc)
        except UnicodeEncodeError:
            continue
        i = n
        others = ["First <first%d@example.org>" % i,
                  "Rob <rob+dt%d@example.org>" % i,
                  "plain%d@example.net" % i]
        addrs = others[:pos] + ["%s <lee%d@example.org>" % (word, i)] + others[pos:]
        value = ",\n ".join(addrs) if i % 3 == 0 else ", ".join(addrs)
        other_hdr = "To" if hdr != "To" else "From"
        raw = ("%s: %s\n%s: someone%d@example.com\nSubject: list %d\n"
               "Date: %s\nMessage-ID: <addr%d@fixtures.test>\n"
               "MIME-Version: 1.0\nContent-Type: text/plain\n\nbody %d\n"
               % (hdr, value, other_hdr, i, i, rfc2822(T2020), i, i))
        msgs.append(("list%d" % i, raw.encode("ascii"),
                     dict(hdr=hdr, i=i, text=text, special=special)))
    return msgs


# malformed and unusual address header values
MALFORMED = [
    "me", "<moderator>", "MAILER-DAEMON <>", "<>", "", " ", "undisclosed-recipients:;",
    "undisclosed-recipients: ;", "Group: a@example.org, b@example.org;",
    "Group: a@example.org, Inner: b@example.org;;", "Empty Group:;, c@example.org",
    "Name <@route.example:a@example.org>", "a@", "@example.org", "\"quoted\"",
    "a b c", "(comment only)", "x <y", "<a@example.org", "a@example.org>",
    "Foo Bar <foo@example.org> extra words", "a@example.org (com(nested)ment)",
    "\"unterminated", "=?utf-8?B?RWRnYXIgPExlZT4=?=", "=?utf-8?Q?x?= <>",
    "a@example.org, , c@example.org", ",,,", "a@[192.0.2.1]", "a@example.org.",
    "a..b@example.org", "\"a@b\" <c@example.org>", "<a@example.org> <c@example.org>",
    "a:b:c", "a@b@example.org", "\\", "MISSING_DOMAIN", "me@MISSING_DOMAIN",
    "Mailer Daemon <MAILER-DAEMON>", "postmaster", "<postmaster>",
    "\"Doe, John\" <>", "john@ (John)", "=?iso-8859-1?Q?Andr=E9?= <andre>",
    "=?utf-8?B?44GC?= <@example.org>", "Group:;", "Lost;", "a@b;c@d",
    "<<a@example.org>>", "a@example.org\t(tab comment)",
    # names Dovecot's writer escapes (its FROM compares "Ts\\'o", TEXT
    # reads "Ts'o")
    "Theodore Ts'o <tytso@example.org>", "'Peter Zijlstra' <peterz@example.org>",
    "Kevin 'ldir' Bryant <ldir@example.org>, Greg <greg@example.org>",
]

MALFORMED_QUERIES = [
    "MISSING_DOMAIN", "MISSING_MAILBOX", "SYNTAX_ERROR", "missing", "missing_",
    "_domain", "ing_dom", "error", "me", "me@", "@missing", "moderator",
    "mailer-daemon", "MAILER-DAEMON@", "daemon", "@", "<>", "<", ">", ";", ":",
    ",", "undisclosed", "undisclosed-recipients", "group", "Group:", "a@example.org",
    "example.org", "route", "quoted", "comment", "postmaster", "extra", "words",
    "doe", "john", "andre", "andré", "edgar", "lee", "edgar <lee>", "inner",
    "192.0.2.1", "[192", "a..b", "b@example", "nested", "x", "y", "\"",
    "Ts'o", "ts'o", "Ts\\'o", "'ldir'", "'ldir", "'Peter", "Zijlstra'", "s'o <",
]


def malformed_messages():
    out = []
    for i, value in enumerate(MALFORMED):
        for hdr in ("From", "Cc"):
            raw = ("%s: %s\nTo: dest%d@example.com\nSubject: malformed %d\n"
                   "Date: %s\nMessage-ID: <bad%d%s@fixtures.test>\n\nbody\n"
                   % (hdr, value, i, i, rfc2822(T2020), i, hdr))
            out.append(("bad%d%s" % (i, hdr), raw.encode("utf-8")))
    # a message without any From header
    out.append(("nofrom", ("To: x@example.com\nSubject: none\nDate: %s\n\nbody\n"
                           % rfc2822(T2020)).encode()))
    return out


@pytest.fixture(scope="module")
def inst(request):
    with instance_pair("addrhdr", ("dana",),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        lists = address_messages()
        uids = {}
        for key, raw, _info in lists:
            uids[key] = fts.append("dana", "INBOX", raw, date=T2020)
        for key, raw in malformed_messages():
            uids[key] = fts.append("dana", "Malformed", raw, date=T2020)
        yield fts, oracle, lists, uids


def test_encoded_names_in_address_lists(inst):
    fts, oracle, lists, _uids = inst
    assert len(lists) >= 800, "test problem: only %d messages generated" % len(lists)
    queries = []
    for key, _raw, info in lists[::5]:
        h, i, text = info["hdr"].upper(), info["i"], info["text"]
        queries += [
            (h, "rob+dt%d@example.org" % i),
            (h, "first%d@example.org" % i),
            (h, "plain%d@example.net" % i),
            (h, "lee%d@example.org" % i),
            (h, "rob+dt%d" % i),
            (h, "ob+dt%d@exa" % i),
            (h, "<lee%d@example.org>" % i),
            (h, text),
            (h, text.split()[-1] if text.split() else text),
        ]
        # the name's pieces around the special
        for piece in text.replace(info["special"], " ").split():
            queries.append((h, piece))
        queries.append(("TEXT", "rob+dt%d@example.org" % i))
    queries += [("CC", "xample.or"), ("FROM", "example.org"), ("TO", "Rob"),
                ("BCC", "plain"), ("CC", "李"), ("FROM", "Edgar"), ("TO", ">"),
                ("CC", "["), ("FROM", "lee <"), ("TEXT", "Edgar"), ("TEXT", "李")]
    bad, nonempty = oracle_compare(fts, oracle, "dana", "INBOX", queries)
    assert nonempty >= len(queries) // 2, \
        "test problem: only %d of %d searches match anything" % (nonempty, len(queries))
    assert not bad, "%d of %d searches differ from the oracle:\n%s" % (
        len(bad), len(queries), "\n".join(bad[:40]))


def test_issue_examples(inst):
    """The issue's own cases: CC "rob+dt@example.org" with an encoded
    neighbour decoding to each of its examples."""
    fts, oracle, _lists, _uids = inst
    names = ["Edgar Lee [李]", "Edgar <Lee>", "edgar@lee", "Edgar; Lee",
             "Edgar, Lee", "Edgar \"Lee\"", "Edgar (Lee)", "Edgar: Lee"]
    uids = {}
    for n, name in enumerate(names):
        raw = ("Cc: First <first@example.org>, %s <lee@example.org>, "
               "Rob <rob+dt@example.org>\nFrom: x@example.com\nSubject: ex %d\n"
               "Date: %s\n\nbody\n" % (ew(name), n, rfc2822(T2020)))
        uids[name] = fts.append("dana", "Examples", raw.encode(), date=T2020)
    for crit in [("CC", "rob+dt@example.org"), ("CC", "first@example.org"),
                 ("CC", "lee@example.org"), ("CC", "Lee"), ("CC", "edgar@lee")]:
        want = oracle.search("dana", "Examples", *crit)
        assert fts.search("dana", "Examples", *crit) == want, crit
    # and Dovecot itself finds rob in every one of them
    assert oracle.search("dana", "Examples", "CC", "rob+dt@example.org") == \
        sorted(uids.values())


def test_malformed_addresses(inst):
    fts, oracle, _lists, _uids = inst
    queries = []
    for q in MALFORMED_QUERIES:
        for h in ("FROM", "CC", "TEXT"):
            queries.append((h, q))
    for value in MALFORMED:
        for tok in value.replace(",", " ").split():
            queries.append(("FROM", tok))
    queries += [("NOT", "FROM", "MISSING_DOMAIN"), ("OR", "FROM", "me", "CC", "SYNTAX_ERROR"),
                ("HEADER", "From", ""), ("NOT", "HEADER", "From", "")]
    bad, nonempty = oracle_compare(fts, oracle, "dana", "Malformed", queries)
    # the placeholders are really there for Dovecot
    assert oracle.search("dana", "Malformed", "FROM", "MISSING_DOMAIN")
    assert nonempty >= len(queries) // 3, \
        "test problem: only %d of %d searches match anything" % (nonempty, len(queries))
    assert not bad, "%d of %d searches differ from the oracle:\n%s" % (
        len(bad), len(queries), "\n".join(bad[:40]))
    assert not [p for p in fts.log_problems() if "Panic" in p or "Fatal" in p]


def test_attached_message_addresses(inst):
    """Address headers of an attached message (message/rfc822): Dovecot's
    fts plugin hands them over parsed, TEXT reads them as written
    ("To: (address in US-ASCII)": TEXT "dr" finds "address" there)."""
    fts, oracle, _lists, _uids = inst
    for i, value in enumerate(MALFORMED):
        raw = ("From: outer@example.org\nTo: dana@example.com\nSubject: fwd %d\n"
               "Date: %s\nMIME-Version: 1.0\n"
               "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n"
               "--b%d\nContent-Type: text/plain\n\nsee attached\n"
               "--b%d\nContent-Type: message/rfc822\n\n"
               "From: %s\nTo: %s\nSubject: inner\n\ninner body\n"
               "--b%d--\n" % (i, rfc2822(T2020), i, i, i, value,
                               MALFORMED[(i + 7) % len(MALFORMED)], i))
        fts.append("dana", "Attached", raw.encode("utf-8"), date=T2020)
    queries = []
    for value in MALFORMED:
        for tok in value.replace(",", " ").split():
            queries.append(("TEXT", tok))
            if len(tok) > 3:
                queries.append(("TEXT", tok[1:3]))
    queries += [("TEXT", q) for q in MALFORMED_QUERIES]
    bad, nonempty = oracle_compare(fts, oracle, "dana", "Attached", queries)
    assert nonempty >= len(queries) // 3, \
        "test problem: only %d of %d searches match anything" % (nonempty, len(queries))
    assert not bad, "%d of %d searches differ from the oracle:\n%s" % (
        len(bad), len(queries), "\n".join(bad[:40]))

