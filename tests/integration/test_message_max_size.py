"""Dovecot 2.4's fts_message_max_size (README, "Dovecot 2.4 settings").

With the setting, Dovecot's fts plugin hands a backend only the first N
bytes of a message's body (counted over the decoded blocks of every body
part, the ones no backend indexes too) and drops the rest without telling
it.  An index that took the truncated text for the whole body would
answer "no" for every word past the cut, and NOT BODY "yes": Dovecot's
own search, which reads the message, finds them.  So every search here
must equal the oracle's (the same Dovecot without FTS and without the
setting) on messages of every size around the limit, with the searched
words before, at and after the cut: in one text part, in a second text
part after a large attachment (whose bytes count too), in Latin-1 and
KOI8-R text whose UTF-8 is longer than its bytes (so a message under the
limit in bytes can be over it decoded), in quoted-printable and base64,
and under NOT, OR and phrases.

Dovecot 2.3 has no such setting: the module does not run there
(conftest.py deselects it and says "NOT RUN"; never counted as passed)."""

import base64
import os
import random
import re

import pytest

from dovetest import Dovecot, instance_pair, separate_pair
from fixtures import T2020, rfc2822


USER = "maxi"
LIMIT = 4096


def word(n, pos):
    """A word found in one place only: message n, position tag pos."""
    letters = "bcdfghjklmnpqrstvwz"
    s = ""
    for v in (n, pos):
        s += letters[v % 19] + letters[(v // 19) % 19] + letters[(v // 361) % 19]
    return "qx" + s + "y"


def filler(rnd, nbytes):
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
    out, size = [], 0
    while size < nbytes:
        w = rnd.choice(words)
        out.append(w)
        size += len(w) + 1
    lines = [" ".join(out[i:i + 10]) for i in range(0, len(out), 10)]
    return "\n".join(lines) + "\n"


def build(rnd):
    """(messages as bytes, {message index: [its placed words]},
    {message index: decoded body bytes as the fts plugin counts them})."""
    mails, placed, decoded = [], {}, {}

    def crlf(t):
        return len(t.replace("\n", "\r\n").encode())
    sizes = [100, LIMIT // 4, LIMIT // 3, LIMIT // 2, LIMIT - 200, LIMIT - 20, LIMIT, LIMIT + 20,
             2 * LIMIT, 5 * LIMIT, 40 * LIMIT]
    shapes = ("plain", "after-attachment", "latin1", "koi8r", "qp", "base64")
    n = 0
    for size in sizes:
        for shape in shapes:
            words = [word(n, p) for p in range(5)]
            placed[n] = words
            # the five words: start, a third in, just before size,
            # just after it, and at the very end
            text = words[0] + " " + filler(rnd, size // 3) + words[1] + " " + \
                filler(rnd, max(0, size - size // 3 - 40)) + words[2] + "\n" + \
                words[3] + " " + filler(rnd, size // 2) + words[4] + "\n"
            hdr = ("From: Sender %d <s%d@example.org>\nTo: maxi@example.test\n"
                   "Subject: size %d %s\nDate: %s\nMessage-ID: <max%d@example.org>\n"
                   "MIME-Version: 1.0\n" % (n, n, size, shape, rfc2822(T2020), n))
            if shape == "plain":
                body = "Content-Type: text/plain; charset=us-ascii\n\n" + text
                raw = (hdr + body).encode()
                decoded[n] = crlf(text)
            elif shape == "after-attachment":
                blob = bytes(rnd.getrandbits(8) for _ in range(size))
                raw = (hdr + "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n"
                       "--b%d\nContent-Type: text/plain\n\n%s %s\n"
                       "--b%d\nContent-Type: application/octet-stream\n"
                       "Content-Transfer-Encoding: base64\n\n%s"
                       "--b%d\nContent-Type: text/plain\n\n%s"
                       "--b%d--\n" % (n, n, words[0], "lead", n,
                                      base64.encodebytes(blob).decode(), n,
                                      text, n)).encode()
                decoded[n] = crlf("%s %s\n" % (words[0], "lead")) + crlf(text)
            elif shape == "latin1":
                # every filler letter doubled in UTF-8: é
                t = text.replace("a", "\u00e9")
                raw = hdr.encode() + b"Content-Type: text/plain; charset=iso-8859-1\n" \
                    b"Content-Transfer-Encoding: 8bit\n\n" + t.encode("latin-1")
                decoded[n] = crlf(t)
            elif shape == "koi8r":
                t = text.replace("e", "\u0436")
                raw = hdr.encode() + b"Content-Type: text/plain; charset=koi8-r\n" \
                    b"Content-Transfer-Encoding: 8bit\n\n" + t.encode("koi8-r")
                decoded[n] = crlf(t)
            elif shape == "qp":
                # soft line breaks and encoded spaces
                t = text.replace(" ", "=20", 50)
                raw = (hdr + "Content-Type: text/plain; charset=us-ascii\n"
                       "Content-Transfer-Encoding: quoted-printable\n\n" + t).encode()
                decoded[n] = crlf(text)
            else:
                raw = (hdr + "Content-Type: text/plain; charset=utf-8\n"
                       "Content-Transfer-Encoding: base64\n\n" +
                       base64.encodebytes(text.encode()).decode()).encode()
                decoded[n] = len(text.encode())
            mails.append(raw)
            n += 1
    return mails, placed, decoded


@pytest.fixture(scope="module")
def pair(request):
    with instance_pair("maxsize", (USER,),
                       plugin_settings={"fts_message_max_size": str(LIMIT)},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        mails, placed, decoded = build(random.Random(4096))
        for raw in mails:
            fts.append(USER, "INBOX", raw, date=T2020)
        fts.doveadm("index", "-u", USER, "INBOX")
        yield fts, oracle, placed, decoded


def queries(placed):
    out = []
    for n, words in placed.items():
        out += [("BODY", w) for w in words]
        # (words[2] is just under the message's size, 3 just past it)
        out += [("TEXT", words[3]), ("NOT", "BODY", words[3]),
                ("NOT", "BODY", words[4]), ("BODY", words[2][2:-1])]
        out.append(("OR", "BODY", words[1], "BODY", words[4]))
        out.append(("BODY", words[3] + " " + words[2]))    # not a phrase there
        out.append(("BODY", words[2] + " " + words[3]))    # across the line end
    return out


def test_truncated_bodies_answered_exactly(pair):
    """Every placed word, whole and in part, under NOT and OR, and
    phrases across the cut: each search equal to Dovecot's own."""
    fts, oracle, placed, _ = pair
    conn_f, conn_o = fts.imap(USER), oracle.imap(USER)
    try:
        fts.select(conn_f, "INBOX", readonly=True)
        oracle.select(conn_o, "INBOX", readonly=True)
        bad, found = [], 0
        qs = queries(placed)
        for q in qs:
            a = fts.uid_search(conn_f, *q)
            b = oracle.uid_search(conn_o, *q)
            if a != b:
                bad.append("%s: fts %s, oracle %s" % (" ".join(q), a, b))
            if q[0] == "BODY" and b:
                found += 1
        assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(qs),
                                                         "\n".join(bad[:30]))
        # the class is there: words past the cut are found by the oracle
        assert found >= 100, found
    finally:
        conn_f.logout()
        conn_o.logout()
    assert not fts.log_problems()


def test_index_is_used_below_the_limit(pair):
    """Only messages the fts plugin may have cut are left to Dovecot:
    searches of words of every message read none whose decoded body
    (what fts_message_max_size counts: the text parts, as stored, with
    CRLF line ends) is clearly under the limit."""
    fts, oracle, placed, decoded = pair
    before = fts.log_size()
    conn = fts.imap(USER)
    try:
        fts.select(conn, "INBOX", readonly=True)
        for n, words in placed.items():
            assert fts.uid_search(conn, "BODY", words[0]) == [n + 1], words[0]
    finally:
        conn.logout()
    log = fts.log_since(before)
    opened = {int(u) for u in re.findall(r"UID (\d+): Opened mail because: search", log)}
    small = {n + 1 for n, size in decoded.items() if size < LIMIT * 9 // 10}
    big = {n + 1 for n, size in decoded.items() if size >= LIMIT}
    assert len(small) >= 20 and len(big) >= 20, (len(small), len(big))
    assert not opened & small, sorted(opened & small)
    # (and the cut ones are read: the log shows the reads at all)
    assert opened & big, log[-3000:]


# ---- with a decoder: its input counts too -----------------------------------

# (larger, so that the decoder's bound, 3 bytes per byte of the message,
# leaves the small messages to the index)
DLIMIT = 16384


@pytest.fixture(scope="module", params=["maildir", "mbox"])
def dpair(request):
    """A PDF attachment (decoded by the script service of
    test_attachments.py) before a text part: the fts plugin counts the
    PDF's bytes, which the plugin never sees, and may cut the text after
    it.  On maildir, and on mbox, where the plugin takes the message's
    size from its own copy (the mail's stream is the one the fts plugin
    reads); the oracle has storage of its own, each APPEND goes to both."""
    import test_attachments as ta
    if not ta.decoder_tools_present():
        pytest.skip("needs poppler-utils and unzip (tests/run-all.sh installs them)")
    driver = request.param

    def make(d, plugin):
        if plugin == "none":
            return Dovecot(d, None, plugin="none", users=(USER,), mail_driver=driver)
        return Dovecot(d, None, plugin="sift", users=(USER,), mail_driver=driver,
                       plugin_settings={"fts_decoder": "decode2text",
                                        "fts_message_max_size": str(DLIMIT)},
                       extra_conf=ta.decoder_conf(os.path.dirname(d)))

    with separate_pair("maxsize-decoder-" + driver, make,
                       failed=lambda: request.session.testsfailed > 0) as (fts, oracle):
        rnd = random.Random(77)
        placed, n = {}, 0
        for pdf_lines in (3, 60, 200, 600):
            for text_size in (100, DLIMIT // 8, 2 * DLIMIT):
                words = [word(n + 500, p) for p in range(3)]
                placed[n] = words
                pdf = ta.make_pdf([filler(rnd, 40).strip() for _ in range(pdf_lines)])
                text = words[0] + " " + filler(rnd, text_size) + words[1] + "\n" + words[2] + "\n"
                raw = ("From: D <d@example.org>\nTo: maxi@example.test\nSubject: pdf %d\n"
                       "Date: %s\nMIME-Version: 1.0\n"
                       "Content-Type: multipart/mixed; boundary=\"p%d\"\n\n"
                       "--p%d\nContent-Type: application/pdf; name=\"a.pdf\"\n"
                       "Content-Disposition: attachment; filename=\"a.pdf\"\n"
                       "Content-Transfer-Encoding: base64\n\n%s"
                       "--p%d\nContent-Type: text/plain\n\n%s--p%d--\n" % (
                           n, rfc2822(T2020), n, n, base64.encodebytes(pdf).decode(),
                           n, text, n)).encode()
                a = fts.append(USER, "INBOX", raw, date=T2020)
                b = oracle.append(USER, "INBOX", raw, date=T2020)
                assert a == b, (a, b)
                n += 1
        fts.doveadm("index", "-u", USER, "INBOX")
        yield fts, oracle, placed


def test_text_after_a_decoded_attachment(dpair):
    """The words of the text part after the PDF, under NOT too: each
    search equal to Dovecot's own (which reads the text part; the PDF's
    words are not searched here, Dovecot can't see them)."""
    fts, oracle, placed = dpair
    bad, qs = [], []
    for n, words in placed.items():
        for w in words:
            qs += [("BODY", w), ("NOT", "BODY", w), ("TEXT", w)]
    for q in qs:
        a = fts.search(USER, "INBOX", *q)
        b = oracle.search(USER, "INBOX", *q)
        if a != b:
            bad.append("%s: fts %s, oracle %s" % (" ".join(q), a, b))
    assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(qs), "\n".join(bad[:30]))
    assert not fts.log_problems()
    # the small messages stay answered by the index, the large ones not
    cut = fts.log_text().count("may have been cut at fts_message_max_size")
    assert 0 < cut < len(placed), (cut, len(placed))
