"""Synthetic test mail for the fts-sift integration tests.

Every message is built here, byte by byte where the encoding matters, so
the tests depend on no outside corpus.  MESSAGES is the main corpus that
goes into alice's INBOX; each entry has a key the tests use to name the
messages a query must find (so a query cannot pass vacuously).
"""

import base64
import datetime
import random
import zlib

import pytest

UTC = datetime.timezone.utc


def ts(y, mo, d, h=12, mi=0):
    return datetime.datetime(y, mo, d, h, mi, tzinfo=UTC)


# internal dates (APPEND) and Date: headers used below
T2018 = ts(2018, 1, 2, 8, 15)
T2019 = ts(2019, 6, 10, 12, 0)
T2020 = ts(2020, 3, 15, 9, 30)
T2021 = ts(2021, 8, 1, 17, 45)
T2022 = ts(2022, 11, 20, 6, 5)
T2023 = ts(2023, 1, 3, 22, 10)
T2023B = ts(2023, 5, 5, 13, 0)
T2024 = ts(2024, 2, 29, 11, 11)
T2024B = ts(2024, 6, 1, 10, 0)
T2025 = ts(2025, 4, 30, 19, 20)
NOW = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(hours=1)


def rfc2822(dt):
    days = "Mon Tue Wed Thu Fri Sat Sun".split()
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return "%s, %d %s %04d %02d:%02d:%02d +0000" % (
        days[dt.weekday()], dt.day, months[dt.month - 1], dt.year,
        dt.hour, dt.minute, dt.second)


# Python codec name -> MIME charset name
MIME_CHARSET = {"utf-8": "UTF-8", "iso-8859-1": "ISO-8859-1",
                "iso2022_jp": "ISO-2022-JP", "koi8_r": "KOI8-R"}


def ew(text, charset="utf-8", enc="B"):
    """An RFC 2047 encoded-word for text in charset (a Python codec name)."""
    raw = text.encode(charset)
    name = MIME_CHARSET.get(charset, charset.upper())
    if enc.upper() == "B":
        return "=?%s?B?%s?=" % (name, base64.b64encode(raw).decode())
    out = []
    for b in raw:
        ch = chr(b)
        if ch == " ":
            out.append("_")
        elif ch.isalnum() and b < 128:
            out.append(ch)
        else:
            out.append("=%02X" % b)
    return "=?%s?Q?%s?=" % (name, "".join(out))


def ew_any(text, rnd, charsets):
    """text as one RFC 2047 word, B or Q at random, in the first of
    charsets (shuffled by rnd) that can hold it; text itself if none can."""
    for cs in rnd.sample(charsets, len(charsets)):
        try:
            text.encode(cs)
        except UnicodeEncodeError:
            continue
        return ew(text, cs, "B" if rnd.random() < 0.5 else "Q")
    return text


def oracle_compare(fts, oracle, user, box, queries, wants=None):
    """Each search criteria tuple on both instances: (a line for each
    search whose UIDs differ, how many had a non-empty answer).  wants:
    a list that gets the oracle's answers appended, one a query."""
    bad, nonempty = [], 0
    for crit in queries:
        want = oracle.search(user, box, *crit)
        got = fts.search(user, box, *crit)
        if wants is not None:
            wants.append(want)
        nonempty += bool(want)
        if got != want:
            bad.append("%s: sift %s, oracle %s (missing %s, extra %s)" % (
                crit, got[:10], want[:10], sorted(set(want) - set(got))[:10],
                sorted(set(got) - set(want))[:10]))
    return bad, nonempty


def header_lookup_check(fts, oracle, user, box, name, s, wrong, literal=False):
    """HEADER name s: the oracle's UIDs (s sent as a literal with
    literal) and the index's definite and maybe sets (fts_lookup()); a
    line in wrong for each definite UID that does not match and for
    matches neither definite nor maybe.  Returns (want, definite, maybe)."""
    want = set(oracle.search(user, box, "HEADER", name,
                             s.encode() if literal else s))
    definite, maybe = fts.fts_lookup(user, box, "header", name, s)
    if definite - want:
        wrong.append("HEADER %s %r: definite %s not matching" % (
            name, s, sorted(definite - want)[:10]))
    if want - definite - maybe:
        wrong.append("HEADER %s %r: %s neither definite nor maybe" % (
            name, s, sorted(want - definite - maybe)[:10]))
    return want, definite, maybe


def qp_encode(data, width=60):
    """Quoted-printable with soft line breaks every `width` chars (so words
    get split across lines)."""
    out, line = [], ""
    for b in data:
        if b == 0x0A:
            out.append(line + "\n")
            line = ""
            continue
        piece = chr(b) if (33 <= b <= 126 and b != 0x3D) or b == 0x20 else "=%02X" % b
        if len(line) + len(piece) > width:
            out.append(line + "=\n")
            line = ""
        line += piece
    out.append(line)
    return "".join(out).encode("ascii")


def b64_lines(data):
    enc = base64.b64encode(data)
    return b"\n".join(enc[i:i + 76] for i in range(0, len(enc), 76)) + b"\n"


def headers(**kw):
    """Header block from keyword pairs (underscores become dashes; values
    may be str or bytes); order is kept."""
    out = b""
    for name, value in kw.items():
        name = name.replace("_", "-")
        if isinstance(value, str):
            value = value.encode("utf-8")
        out += name.encode() + b": " + value + b"\n"
    return out


def simple(frm, to, subject, date, body, charset="us-ascii", cte=None,
           extra=b"", msgid=None, ctype="text/plain"):
    """A single-part message.  body: bytes (already encoded for cte)."""
    h = headers(From=frm, To=to, Subject=subject, Date=rfc2822(date))
    h += b"Message-ID: <%s>\n" % (msgid or "%s.%d@fixtures.test" % (
        zlib.crc32(subject.encode("utf-8")), date.year)).encode()
    h += extra
    h += b"MIME-Version: 1.0\n"
    h += ("Content-Type: %s; charset=%s\n" % (ctype, charset)).encode()
    if cte:
        h += ("Content-Transfer-Encoding: %s\n" % cte).encode()
    return h + b"\n" + body


class Fixture:
    def __init__(self, key, raw, date, mailbox="INBOX"):
        self.key = key
        self.raw = raw
        self.date = date          # internal date for APPEND
        self.mailbox = mailbox

    def __repr__(self):
        return "Fixture(%s, %d bytes)" % (self.key, len(self.raw))


# --- over-long tokens ---------------------------------------------------
LONG_ASCII = "".join("%s%d" % ("abcdefghij"[i % 10], i % 7) for i in range(200))   # 400 chars
LONG_PATH = "assets-" + "x".join("%03d" % i for i in range(80))                    # ~320 chars
LONG_CYRILLIC = ("длинноеслово" * 15)                                              # 180 chars, 360 bytes

# --- words near the end of the big message ------------------------------
BIG_RARE_WORD = "xylophonist"
BIG_SIZE = 10 * 1024 * 1024

_VOCAB = ("system buffer process kernel thread memory device driver network "
          "packet socket module config build output input error warning debug "
          "trace stack frame lock mutex queue timer clock signal handler event "
          "object pointer array string number value result status flag option "
          "cluster server client request response header payload session token "
          "report update change commit branch merge review release version").split()


def big_body(size=BIG_SIZE, rare=BIG_RARE_WORD, seed=1234):
    """About `size` bytes of log-like text; `rare` appears once near the end."""
    rnd = random.Random(seed)
    lines, total, n = [], 0, 0
    while total < size - 4096:
        n += 1
        words = " ".join(rnd.choice(_VOCAB) for _ in range(rnd.randint(6, 14)))
        line = "%07d %s\n" % (n, words)
        lines.append(line)
        total += len(line)
    pos = len(lines) - 40
    lines.insert(pos, "%07d the %s played a final note\n" % (n + 1, rare))
    return "".join(lines).encode("ascii")


def build_messages(big=True):
    """The main corpus (alice's INBOX), in APPEND order."""
    M = []

    # 1. kselftest patch: prefix/substring words, phrase, dashed and dotted
    #    tokens, X- headers, Cc, old internal date
    M.append(Fixture("patch", simple(
        '"Shuah Khan" <shuah.khan@linux-foundation.org>',
        '"Linux Kselftest" <linux-kselftest@vger.kernel.org>',
        "[PATCH v5.10] kselftest: fix the test-case runner", T2020,
        b"The kselftest runner on v5.10 failed for every test-case that used\n"
        b"the exact phrase here in its name. Report problems to a.b@c.d please.\n"
        b"\n"
        b"Signed-off-by: Shuah Khan <shuah.khan@linux-foundation.org>\n",
        extra=b"Cc: gregkh@linuxfoundation.org\nX-Project: Nimbus-7\n"
              b"X-Mailer: git-send-email 2.25.1\n",
        msgid="20200315.patch.1@linux-foundation.org"), T2020))

    # 2. same area, other words: "selftests" shares the in-word "selft";
    #    the phrase words appear, but not in that order
    M.append(Fixture("selftests", simple(
        "Kees Cook <keescook@chromium.org>", "alice@example.test",
        "Re: selftests: seccomp timeouts", T2021,
        b"Running the selftests takes a while; the seccomp_bpf case times out\n"
        b"on v5.9 again. This phrase here is exact, but the order differs.\n"
        b"Tested on a test-bed, not a test case.\n",
        extra=b"X-Project: Nimbus-8\n"), T2021))

    # 3. dots/dashes/plus in addresses, Cc and Bcc; Date: differs from the
    #    internal date
    M.append(Fixture("plus", simple(
        '"Dev Null" <dev.null+lists@mail-relay.example.org>',
        '"Team List" <team-list@lists.example.com>',
        "Quarterly numbers", T2022,
        b"Numbers for the quarter are attached below. Revenue grew in every\n"
        b"region except the north-east.\n",
        extra=b"Cc: \"Carol O'Neil\" <carol.o-neil@example.net>\n"
              b"Bcc: secret.bcc@hidden.example\nX-Project: Aurora\n"), T2023))

    # 4. UTF-8 8-bit body, RFC 2047 Q subject and display name, upper case
    M.append(Fixture("utf8", simple(
        "%s <jose.mueller@example.de>" % ew("José Müller", "utf-8", "Q"),
        "alice@example.test",
        ew("Résumé für das Café", "utf-8", "Q"), T2023B,
        "Wir treffen uns im Café an der Straße. Crème brûlée ist naïve Kunst.\n"
        "Die ÜBERGRÖSSE der Portionen ist bekannt.\n".encode("utf-8"),
        charset="utf-8", cte="8bit"), T2023B))

    # 5. decomposed (NFD) accents in the body
    M.append(Fixture("nfd", simple(
        "Noor Haddad <noor@example.org>", "alice@example.test",
        "Decomposed text test", T2024,
        "Meet me at the Cafe\u0301 in Mu\u0308nchen, said the nai\u0308ve tourist.\n"
        .encode("utf-8"), charset="utf-8", cte="8bit"), T2024))

    # 6. ISO-8859-1, quoted-printable body, encoded subject and name
    M.append(Fixture("latin1", simple(
        "%s <francois.dupre@example.fr>" % ew("François Dupré", "iso-8859-1", "Q"),
        "alice@example.test",
        ew("Le garçon et la pâtisserie", "iso-8859-1", "Q"), T2019,
        qp_encode("Le garçon mangea une pâtisserie à Noël près de la fenêtre.\n"
                  "Ensuite il écrivit une très longue lettre à sa sœur.\n"
                  .replace("œ", "oe").encode("iso-8859-1")),
        charset="ISO-8859-1", cte="quoted-printable"), T2019))

    # 7. ISO-2022-JP body, subject and display name
    M.append(Fixture("jp", simple(
        "%s <taro.yamada@example.jp>" % ew("山田太郎", "iso2022_jp", "B"),
        "alice@example.test",
        ew("会議の議事録", "iso2022_jp", "B"), T2024B,
        "東京都で会議を開催します。\n日本語の全文検索テストです。\n".encode("iso2022_jp"),
        charset="ISO-2022-JP", cte="7bit"), T2024B))

    # 8. KOI8-R 8-bit body, subject and display name
    M.append(Fixture("koi8", simple(
        "%s <ivan.petrov@example.ru>" % ew("Иван Петров", "koi8_r", "B"),
        "alice@example.test",
        ew("Отчёт о работе", "koi8_r", "B"), T2022,
        "Привет мир! Это проверка полнотекстового поиска.\n"
        "Москва, ЗИМА, ёлка.\n".encode("koi8_r"),
        charset="KOI8-R", cte="8bit"), T2022))

    # 9. quoted-printable UTF-8 with soft breaks inside words
    qp_text = ("Mary Poppins said supercalifragilisticexpialidocious while the "
               "chimney sweep danced the réveillon quickstep on the rooftop.\n")
    M.append(Fixture("qp", simple(
        "Bert <bert@chimney.example>", "alice@example.test",
        "Quoted printable sample", NOW,
        qp_encode(qp_text.encode("utf-8"), width=40),
        charset="utf-8", cte="quoted-printable"), NOW))

    # 10. base64 text body
    M.append(Fixture("b64", simple(
        "Geology Dept <rocks@geo.example.edu>", "alice@example.test",
        "Mineral sample", T2021,
        b64_lines(b"The zanzibarite mineral is rare.\nIts lattice is cubic and "
                  b"the sample weighs 42 grams.\n"),
        charset="utf-8", cte="base64"), T2021))

    # 11. HTML-only
    M.append(Fixture("html", simple(
        "Web Team <web@news.example.com>", "alice@example.test",
        "Newsletter: marmalade edition", T2023B,
        b"<html><head><style>.marmot { color: red }</style></head><body>\n"
        b"<p>The <b>marmalade</b> protocol uses caf&eacute; tokens &amp; "
        b"mar<i>zip</i>an.</p>\n"
        b"<a href=\"https://example.com/hrefword\">quincejam link</a>\n"
        b"</body></html>\n",
        charset="utf-8", ctype="text/html"), T2023B))

    # 12. multipart/alternative; "flamingo" only in the HTML part
    M.append(Fixture("alt", (
        headers(From="Pelican Press <press@pelican.example>", To="alice@example.test",
                Subject="The pelican brief", Date=rfc2822(T2024)) +
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/alternative; boundary=\"alt-bound-42\"\n\n"
        b"This is a multi-part message in MIME format.\n"
        b"--alt-bound-42\nContent-Type: text/plain; charset=utf-8\n\n"
        b"The pelican brief is ready for review.\n"
        b"--alt-bound-42\nContent-Type: text/html; charset=utf-8\n\n"
        b"<p>The pelican brief is <i>ready</i> for review. flamingo</p>\n"
        b"--alt-bound-42--\n"), T2024))

    # 13. attachments: text/plain attachment and a binary one
    rnd = random.Random(7)
    binary = bytes(rnd.randrange(256) for _ in range(600)) + b" octetsecret " + \
        bytes(rnd.randrange(256) for _ in range(600))
    M.append(Fixture("attach", (
        headers(From="Census Office <census@stats.example.gov>", To="alice@example.test",
                Subject="Census notes attached", Date=rfc2822(T2022)) +
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=\"mix-b0und\"\n\n"
        b"--mix-b0und\nContent-Type: text/plain; charset=us-ascii\n\n"
        b"See the attached census notes.\n"
        b"--mix-b0und\nContent-Type: text/plain; charset=us-ascii; name=notes.txt\n"
        b"Content-Disposition: attachment; filename=notes.txt\n\n"
        b"The pangolin census figures for the southern province.\n"
        b"--mix-b0und\nContent-Type: application/octet-stream; name=census-data.bin\n"
        b"Content-Disposition: attachment; filename=census-data.bin\n"
        b"Content-Transfer-Encoding: base64\n\n" + b64_lines(binary) +
        b"--mix-b0und--\n"), T2022))

    # 14. malformed: multipart without its closing boundary
    M.append(Fixture("nobound", (
        headers(From="Broken Mailer <broken@mailer.example>", To="alice@example.test",
                Subject="Unterminated multipart", Date=rfc2822(T2019)) +
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=\"never-closed\"\n\n"
        b"--never-closed\nContent-Type: text/plain\n\n"
        b"First part speaks of the unterminated bramble.\n"
        b"--never-closed\nContent-Type: text/plain\n\n"
        b"Second part mentions the thornbush and ends abruptly\n"), T2019))

    # 15. malformed: unknown charset label, 8-bit Latin-1 bytes in the body
    M.append(Fixture("badcharset", simple(
        "Odd Charset <odd@charset.example>", "alice@example.test",
        "Bogus charset label =?x-unknown?Q?strange=20words?= =?UTF-8?B?!!notbase64?=", T2020,
        b"A bogus charset wombat appears. Caf\xe9 na\xefve d\xe9j\xe0 vu.\n",
        charset="x-no-such-charset", cte="8bit"), T2020))

    # 16. malformed: broken base64 (bad characters, truncated)
    good = base64.b64encode(b"The brokenbase64 walrus sings. ").decode()
    M.append(Fixture("badb64", simple(
        "B64 Breaker <b64@breaker.example>", "alice@example.test",
        "Broken base64 body", T2021,
        (good + "!!!@@@###\n" + "VGhpcyBpcyBub3QgcGFkZGVk\nQUJD").encode(),
        charset="utf-8", cte="base64"), T2021))

    # 17. malformed: a header line without a colon
    M.append(Fixture("nocolon", (
        b"From: No Colon <nocolon@headers.example>\n"
        b"To: alice@example.test\n"
        b"This header line has no colon nocolonword\n"
        b"Subject: Colonless header test\n"
        + ("Date: %s\n" % rfc2822(T2023)).encode() +
        b"\nThe body talks about a quokka on a bicycle.\n"), T2023))

    # 18. malformed: raw 8-bit bytes in headers (UTF-8 subject, Latin-1 name)
    M.append(Fixture("8bithdr", (
        "Subject: Übermäßig große Käseplatte\n".encode("utf-8") +
        b"From: Ren\xe9 Fa\xefs <rene.fais@fromage.example.be>\n"
        b"To: alice@example.test\n"
        + ("Date: %s\n" % rfc2822(T2024)).encode() +
        b"\nA cheese platter for the whole department.\n"), T2024))

    # 19. upper-case words
    M.append(Fixture("upper", simple(
        "Ops Pager <pager@ops.example.net>", "alice@example.test",
        "KERNEL PANIC in scheduler", T2025,
        b"KERNEL PANIC observed on host db-07. Stack trace follows.\n"
        b"RIP: schedule+0x3f/0x90\n", extra=b"x-PROJECT: gamma-3\n"), T2025))

    # 20./21. sent date (Date:) far from the internal date
    M.append(Fixture("sent_old", simple(
        "Secretary <secretary@board.example>",
        "Board: chair@board.example, treasurer@board.example;",
        "Meeting minutes (January)", T2018,
        b"The minutes of the January board meeting are below.\n"), T2024B))
    M.append(Fixture("sent_new", simple(
        "Secretary <secretary@board.example>", "alice@example.test",
        "Meeting minutes (April)", T2025,
        b"The minutes of the April board meeting are below.\n"), T2019))

    # 22. words longer than Xapian's term limit (245 bytes), ASCII and Cyrillic
    M.append(Fixture("longword", simple(
        "Token Service <tokens@auth.example>", "alice@example.test",
        "Long tokens", T2022,
        ("Token: %s end.\nURL: https://cdn.example.com/%s/index.html\n"
         "Слово: %s конец.\n" % (LONG_ASCII, LONG_PATH, LONG_CYRILLIC)).encode("utf-8"),
        charset="utf-8", cte="8bit"), T2022))

    # 23. repeated and folded headers
    M.append(Fixture("folded", (
        b"From: Folding Mailer <fold@headers.example>\n"
        b"To: alice@example.test,\n\tbob@example.test\n"
        b"Subject: A rather long subject line that\n continues on the next line\n"
        b"X-Project: Alpha\n"
        b"X-Project: Beta-9\n"
        b"X-Long-Header: first portion of the value\n\tsecond portion gnarwhal\n"
        + ("Date: %s\n" % rfc2822(T2021)).encode() +
        b"\nShort body about folding.\n"), T2021))

    # 24. a forwarded message (message/rfc822 part)
    M.append(Fixture("forward", (
        headers(From="Forwarder <fwd@relay.example>", To="alice@example.test",
                Subject="Fwd: inner news", Date=rfc2822(T2023B)) +
        b"MIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=\"fwd-b\"\n\n"
        b"--fwd-b\nContent-Type: text/plain\n\nForwarding this one.\n"
        b"--fwd-b\nContent-Type: message/rfc822\n\n"
        b"From: Inner Sender <inner.sender@origin.example>\n"
        b"To: someone@origin.example\n"
        b"Subject: Inner subject aardwolf\n"
        b"Date: Mon, 1 Jan 2018 10:00:00 +0000\n"
        b"Content-Type: text/plain; charset=utf-8\n\n"
        b"The inner body mentions an okapi.\n"
        b"--fwd-b--\n"), T2023B))

    # 25. NUL bytes in the body and a header
    M.append(Fixture("nul", (
        b"From: Nul Sender <nul@bytes.example>\n"
        b"To: alice@example.test\n"
        b"Subject: Contains nul\x00bytes here\n"
        + ("Date: %s\n" % rfc2822(T2020)).encode() +
        b"\nBefore the nul\x00after the nul: capybara.\n"), T2020))

    # 26. Unicode edge cases: mixed scripts, ligatures, full-width forms,
    #     special casing, non-breaking space, Unicode hyphen, emoji
    M.append(Fixture("unicode", simple(
        "=?UTF-8?B?w4XDoHNh?= <aasa@unicode.example>", "alice@example.test",
        ew("ΣΊΣΥΦΟΣ and the ﬁle", "utf-8", "B"), T2024B,
        ("Linux内核开发 abc123def e\u2010mail foo\u00a0bar \U0001F680launch\n"
         "The \ufb01le uses \uff21\uff22\uff23 full-width letters and \u216b numerals.\n"
         "\u0130stanbul DIŞARI straße σίσυφος ΣΊΣΥΦΟΣ\n"
         "zero\u200bwidth Ǆemal œuvre\n").encode("utf-8"),
        charset="utf-8", cte="8bit"), T2024B))

    # 27. header encoding edge cases: a character split across two encoded
    #     words, invalid UTF-8 inside an encoded word, encoded words in a
    #     non-standard header, an address comment
    tokyo = "東京タワー".encode("utf-8")
    M.append(Fixture("hdredge", (
        b"From: =?UTF-8?Q?Zo=C3=AB?= <zoe.work@edge.example> (Zoe at work)\n"
        b"To: alice@example.test\n"
        b"Subject: =?UTF-8?B?" + base64.b64encode(tokyo[:4]) + b"?= =?UTF-8?B?" +
        base64.b64encode(tokyo[4:]) + b"?= split\n"
        b"X-Weird: =?utf-8?q?caf=C3=A9_au_lait?= and plain\n"
        b"X-Invalid: =?UTF-8?B?" + base64.b64encode(b"ok\xffbadbytes") + b"?=\n"
        + ("Date: %s\n" % rfc2822(T2022)).encode() +
        b"\nHeader edge cases body with a lemur.\n"), T2022))

    # 28. a 10 MB message with a rare word near its end
    if big:
        M.append(Fixture("big", simple(
            "Log Collector <logs@collector.example>", "alice@example.test",
            "Large log dump", T2024, big_body()), T2024))
    return M


# date criteria that are combined with the word queries; each alone is
# non-trivial on the corpus (checked in test_search_oracle.py)
DATE_CRITERIA = [
    ("SINCE", "1-Jan-2022"),
    ("BEFORE", "1-Jan-2021"),
    ("SENTSINCE", "1-Jan-2022"),
    ("SENTBEFORE", "1-Jan-2021"),
    ("ON", "15-Mar-2020"),
    ("SENTON", "20-Nov-2022"),
    ("NOT", "SINCE", "1-Jan-2023"),
    ("OR", "SENTBEFORE", "1-Jan-2020", "SINCE", "1-Jan-2025"),
]


def with_dates(cases):
    """For each case (id, criteria, kw): the case itself and the case ANDed
    with a date criterion (rotating through DATE_CRITERIA).  The dated
    variant only checks equality with the oracle."""
    out = []
    for i, (cid, crit, kw) in enumerate(cases):
        out.append(pytest.param(crit, kw, id=cid))
        date = DATE_CRITERIA[i % len(DATE_CRITERIA)]
        out.append(pytest.param(tuple(crit) + date, {"nonempty": False, "notall": False},
                                id="%s+%s" % (cid, "-".join(date))))
    return out
