"""fts_header_excludes / fts_header_includes (issue 12 part 2).

Dovecot's fts plugin leaves the headers these settings exclude out of
what it hands the backend, for the message and for every MIME part.
fts-sift mirrors the selection: a search on an excluded header is left
to Dovecot, TEXT lets Dovecot check the messages that have one, the
header's name is still indexed (HEADER x "" stays exact), and an index
built under another selection is rebuilt.  Whatever the settings, every
search must equal Dovecot's own (which reads every header).

The same mailbox is searched under several selections in a row
(wildcards, '*', includes overriding excludes, MIME part headers, address
headers, Subject), and at the end with the settings removed: each change
rebuilds the index once and the results stay the oracle's.
"""

import random

import pytest

from dovetest import mailbox_pair  # noqa: E402
from fixtures import T2020, rfc2822  # noqa: E402

MAILERS = ["git-send-email 2.39.2", "Mutt/2.2.9", "Mozilla Thunderbird",
           "Evolution 3.46", "Microsoft Outlook 16.0"]
LISTS = ["<linux-kselftest.vger.kernel.org>", "<lkml.vger.kernel.org>",
         "Debian Users <debian-user.lists.debian.org>"]
WORDS = ["kernel", "selftest", "mailbox", "quokka", "zeppelin", "harbour",
         "tangerine", "observatory", "lantern", "meridian"]


def make_messages(seed=12):
    rnd = random.Random(seed)
    out = []
    for i in range(80):
        h = []
        h.append("Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])\n"
                 "\tby relay.example.org with ESMTP id r%dq; %s" % (i, i, i % 250, i,
                                                                    rfc2822(T2020)))
        if rnd.random() < 0.5:
            h.append("Received: by smtp%d.example.com with SMTP id s%dz" % (i, i))
        if rnd.random() < 0.6:
            h.append("X-Mailer: %s" % rnd.choice(MAILERS))
        if rnd.random() < 0.5:
            h.append("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel%d;\n"
                     "\tbh=Qm9keUhhc2g%dYWJj; b=U2lnbmF0dXJl%dZGVm" % (i, i, i))
        if rnd.random() < 0.5:
            h.append("List-Id: %s" % rnd.choice(LISTS))
            h.append("List-Post: <mailto:list%d@example.org>" % (i % 3))
        if rnd.random() < 0.3:
            h.append("X-Spam-Status: No, score=-%d.1 tests=%s" % (i % 7, rnd.choice(WORDS)))
        h.append("From: %s Sender <sender%d@example.org>" % (rnd.choice(WORDS).title(), i % 9))
        h.append("To: list%d@example.org" % (i % 3))
        if rnd.random() < 0.4:
            h.append("Cc: %s <cc%d@example.net>" % (rnd.choice(WORDS), i % 5))
        h.append("Subject: [PATCH %d] %s %s" % (i, rnd.choice(WORDS), rnd.choice(WORDS)))
        h.append("Date: %s" % rfc2822(T2020))
        h.append("Message-ID: <hf%d@fixtures.test>" % i)
        body = "%s %s\n-- \n%s\n" % (rnd.choice(WORDS), rnd.choice(WORDS),
                                     rnd.choice(MAILERS))
        if i % 4 == 0:
            # MIME part headers the settings may leave out
            h.append("MIME-Version: 1.0")
            h.append('Content-Type: multipart/mixed; boundary="b%d"' % i)
            part = ("--b%d\nContent-Type: text/plain\nContent-Description: %s notes\n"
                    "X-Attachment-Id: att%d%s\n\n%s\n--b%d--\n"
                    % (i, rnd.choice(WORDS), i, rnd.choice(WORDS), body, i))
            raw = "\n".join(h) + "\n\n" + part
        else:
            raw = "\n".join(h) + "\n\n" + body
        out.append(raw.encode())
    return out


QUERIES = [
    ("HEADER", "X-Mailer", "git-send-email"), ("HEADER", "X-Mailer", "mutt"),
    ("HEADER", "X-Mailer", ""), ("NOT", "HEADER", "X-Mailer", ""),
    ("TEXT", "git-send-email"), ("TEXT", "thunderbird"), ("TEXT", "X-Mailer"),
    ("HEADER", "Received", "relay.example.org"), ("HEADER", "Received", "smtp1"),
    ("TEXT", "relay.example.org"), ("TEXT", "ESMTP"), ("HEADER", "Received", ""),
    ("HEADER", "DKIM-Signature", "rsa-sha256"), ("HEADER", "DKIM-Signature", ""),
    ("TEXT", "U2lnbmF0dXJl1"), ("TEXT", "sel3"),
    ("HEADER", "List-Id", "kselftest"), ("HEADER", "List-Post", "list1"),
    ("TEXT", "debian-user"), ("TEXT", "lkml.vger"), ("HEADER", "List-Id", ""),
    ("HEADER", "X-Spam-Status", "score"), ("TEXT", "score=-3"),
    ("FROM", "sender3"), ("FROM", "Quokka"), ("FROM", "sender3@example.org"),
    ("TO", "list1@example.org"), ("CC", "cc2"), ("CC", "lantern"), ("HEADER", "Cc", ""),
    ("SUBJECT", "PATCH 1"), ("SUBJECT", "zeppelin"), ("SUBJECT", "ATCH"),
    ("HEADER", "Subject", "harbour"), ("HEADER", "Subject", ""),
    ("BODY", "quokka"), ("BODY", "git-send-email"), ("TEXT", "quokka"),
    ("HEADER", "Content-Description", "notes"), ("TEXT", "notes"),
    ("TEXT", "X-Attachment-Id"), ("TEXT", "att4"), ("HEADER", "Content-Type", "multipart"),
    ("TEXT", "Content-Description"), ("BODY", "notes"),
    ("OR", "HEADER", "X-Mailer", "mutt", "FROM", "sender1"),
    ("NOT", "TEXT", "git-send-email"), ("HEADER", "X-Mailer", "git-send-email", "BODY", "kernel"),
]

# (includes, excludes), in the order they are applied
SELECTIONS = [
    (None, "X-Mailer Received DKIM-* List-*"),
    ("From To Subject", "*"),
    ("X-Mailer", "X-*"),
    (None, "Content-* From"),
    (None, "Subject To Cc List-Id"),
    (None, None),
]


@pytest.fixture(scope="module")
def inst(request):
    with mailbox_pair(request, "hdrfilter", "dana", make_messages(),
                      date=T2020) as (fts, oracle, _since):
        yield fts, oracle


def _apply(fts, includes, excludes):
    fts.stop()
    for key, value in (("fts_header_includes", includes),
                       ("fts_header_excludes", excludes)):
        if value is None:
            fts.plugin_settings.pop(key, None)
        else:
            fts.plugin_settings[key] = value
    fts.start()


def test_selections_equal_oracle(inst):
    fts, oracle = inst
    want = {q: oracle.search("dana", "INBOX", *q) for q in QUERIES}
    nonempty = [q for q, uids in want.items() if uids]
    assert len(nonempty) >= len(QUERIES) * 2 // 3, \
        "test problem: only %d of %d queries match anything" % (len(nonempty), len(QUERIES))
    # an index built without any selection first
    assert fts.search("dana", "INBOX", "BODY", "quokka") == want[("BODY", "quokka")]
    for includes, excludes in SELECTIONS:
        _apply(fts, includes, excludes)
        log_size = fts.log_size()
        bad = []
        for q in QUERIES:
            got = fts.search("dana", "INBOX", *q)
            if got != want[q]:
                bad.append("%s: sift %s, oracle %s" % (q, got[:12], want[q][:12]))
        assert not bad, "includes %r excludes %r:\n%s" % (includes, excludes, "\n".join(bad))
        log = fts.log_text().encode("utf-8", "replace")[log_size:].decode("utf-8", "replace")
        # the index was rebuilt for the new selection, and said so once
        warned = [ln for ln in log.splitlines()
                  if "Warning:" in ln and "header selection" in ln]
        assert len(warned) == 1, (includes, excludes, warned, log[-3000:])
    assert not [p for p in fts.log_problems()
                if "Panic:" in p or "Fatal:" in p or "Error:" in p]


def test_excluded_header_is_left_to_dovecot(inst):
    """The issue's case: with X-Mailer excluded, HEADER X-Mailer and TEXT
    still find the messages (through Dovecot), and the index answers
    the rest by itself."""
    fts, oracle = inst
    _apply(fts, None, "X-Mailer Received DKIM-* List-*")
    try:
        # a mailbox whose index is built under the setting from the start
        for raw in make_messages(seed=13):
            fts.append("dana", "Fresh", raw, date=T2020)
        for q in QUERIES:
            assert fts.search("dana", "Fresh", *q) == oracle.search("dana", "Fresh", *q), q
        want = oracle.search("dana", "Fresh", "HEADER", "X-Mailer", "git-send-email")
        assert want
        assert fts.search("dana", "Fresh", "HEADER", "X-Mailer", "git-send-email") == want
        assert fts.search("dana", "Fresh", "TEXT", "git-send-email") == \
            oracle.search("dana", "Fresh", "TEXT", "git-send-email")
        # BODY is not affected: answered by the index alone
        definite, maybe = fts.fts_lookup("dana", "Fresh", "body", "quokka")
        assert definite and not maybe
    finally:
        _apply(fts, None, None)
    # the setting removed: that index is rebuilt, still exact
    for q in QUERIES:
        assert fts.search("dana", "Fresh", *q) == oracle.search("dana", "Fresh", *q), q
