"""Opaque tokens met again: kept as pooled terms (sift-doc-builder.h).

A long token with a digit in a pooled header (Received ids, DKIM values,
Message-IDs in References) goes to the "opaque" file, once per message.
Once the indexing process has met a token in SIFT_OPAQUE_PROMOTE_AT (3)
messages it becomes the pooled term P<token> instead, for that message and
the later ones; the earlier messages keep it in the opaque file.  So one
token lives in both places, split by message, and which one depends on
the order and the process that indexed the message.  A search of the pool
(TEXT, HEADER of a pooled instance) must unite the two.

The class generated here: tokens held by 1, 2, 3, 4, a few and most
messages (one of them 160 bytes long: as a term it is kept in windows) (relay addresses, cipher names, selectors, Message-IDs cited in
replies' References and In-Reply-To, unique ids), in Received,
DKIM-Signature, Message-ID, References, In-Reply-To and X- headers;
indexed in one bulk run, then more messages one per `doveadm index` run
(a new process each: every count starts again), then an append left to
the search's own indexing (there a token the index already holds as a
P term is made that term again).  Searched for each token whole, its prefix,
suffix and middle, two tokens together, under NOT and OR, with TEXT and
HEADER; each search must equal Dovecot's own (the oracle).  And the test
checks that promotion happened at all: the most common tokens are in
fewer opaque records than messages (else it would test nothing new).
"""

import os
import random
import struct

import pytest

from dovetest import instance_pair  # noqa: E402
from fixtures import T2020  # noqa: E402

USER = "opq"
N_BULK = 90
N_SINGLE = 12

COMMON = ["209.132.180.67", "23.128.96.18", "tls_aes_256_gcm_sha384",
          "20161025", "mx2017.example.net"]


def _uniq(rnd, n):
    return "".join(rnd.choice("0123456789abcdefghjkmnpqrstvwxyz")
                   for _ in range(n - 2)) + "%02d" % rnd.randint(0, 99)


def messages():
    rnd = random.Random(1414)
    # tokens held by a given number of messages: 2, 3, 4, 6
    shared = []
    for count in (2, 3, 4, 6):
        for _ in range(4):
            tok = _uniq(rnd, rnd.randint(9, 20))
            shared.append((tok, sorted(rnd.sample(range(N_BULK + N_SINGLE + 1),
                                                  count))))
    # a long one (windows of a term past 100 bytes, sift-doc-builder.c)
    lr = random.Random(77)
    long_tok = "".join(lr.choice("0123456789abcdef") for _ in range(160))
    shared.append((long_tok, sorted(lr.sample(range(N_BULK + N_SINGLE + 1), 6))))
    out = []
    mids = []
    for i in range(N_BULK + N_SINGLE + 1):
        mid = "%s.%d@lists.example.org" % (_uniq(rnd, 14), i)
        mids.append(mid)
        hdr = ["From: s%d@example.org" % i, "To: list@example.org",
               "Subject: thread %d" % (i % 9),
               "Date: Mon, 6 Jan 2020 10:%02d:00 +0000" % (i % 60),
               "Message-ID: <%s>" % mid]
        if i > 0 and rnd.random() < 0.6:
            cited = rnd.sample(mids[:-1], min(len(mids) - 1, rnd.randint(1, 3)))
            hdr.append("In-Reply-To: <%s>" % cited[0])
            hdr.append("References: " + "\n\t".join("<%s>" % c for c in cited))
        relay = COMMON[0] if rnd.random() < 0.8 else COMMON[1]
        hdr.append("Received: from mail.example.org (mail.example.org [%s])\n"
                   "\tby %s (Postfix) with ESMTPS id %s\n\tfor <list@example.org>; %s"
                   % (relay, COMMON[4] if rnd.random() < 0.5 else "mx.example.net",
                      _uniq(rnd, 10).upper(), "Mon, 6 Jan 2020 10:00:00 +0000"))
        if rnd.random() < 0.5:
            hdr.append("Received: by relay.example.org with cipher %s id %s"
                       % (COMMON[2].upper(), _uniq(rnd, 12)))
        if rnd.random() < 0.7:
            hdr.append("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=%s;\n"
                       "\tbh=%s=; b=%s" % (COMMON[3], _uniq(rnd, 30), _uniq(rnd, 40)))
        mine = [tok for tok, holders in shared if i in holders]
        if mine:
            hdr.append("X-Trace-Ids: " + " ".join(mine))
        raw = "\n".join(hdr) + "\n\nbody of message %d\n" % i
        out.append(raw.encode())
    return out, shared, mids


MSGS, SHARED, MIDS = messages()


OPAQUE_ALPHABET = b" ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@_"


def _opaque_text(payload):
    """A record's text (sift-termfiles.c, "opaque records"): after the
    uid a mode byte, 0 for the text as it is, 1 + pad for 3 characters of
    OPAQUE_ALPHABET packed in each little-endian 16-bit unit."""
    mode, body = payload[0], payload[1:]
    if mode == 0:
        return body
    out = bytearray()
    for i in range(0, len(body), 2):
        v = body[i] | body[i + 1] << 8
        out += bytes((OPAQUE_ALPHABET[v // 1600], OPAQUE_ALPHABET[v // 40 % 40],
                      OPAQUE_ALPHABET[v % 40]))
    return bytes(out[:len(out) - (mode - 1)])


def _opaque_records(path):
    """(uid, text) of each of the opaque file's records (sift-record.h: a
    32-byte header, then per record a 4-byte length, a 4-byte check, the
    payload: the uid and the text)."""
    data = open(path, "rb").read()
    pos, out = 32, []
    while pos + 8 <= len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        payload = data[pos + 8:pos + 8 + n]
        (uid,) = struct.unpack_from("<I", payload, 0)
        out.append((uid, _opaque_text(payload[4:])))
        pos += 8 + n
    return out


@pytest.fixture(scope="module")
def inst(request):
    with instance_pair("opqcommon", (USER,), {"fts_autoindex": "no"},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for raw in MSGS[:N_BULK]:
            fts.append(USER, "INBOX", raw, date=T2020, create=False)
        fts.doveadm("index", "-u", USER, "INBOX")
        for raw in MSGS[N_BULK:N_BULK + N_SINGLE]:
            fts.append(USER, "INBOX", raw, date=T2020, create=False)
            fts.doveadm("index", "-u", USER, "INBOX")
        # the last one is indexed by the search itself
        fts.append(USER, "INBOX", MSGS[-1], date=T2020, create=False)
        yield fts, oracle


def _pieces(tok):
    out = [tok]
    if len(tok) > 6:
        out += [tok[:5], tok[-5:], tok[2:-2]]
    return out


def _queries(rnd):
    toks = list(COMMON) + [t for t, _ in SHARED]
    toks += rnd.sample(MIDS, 12)
    qs = []
    for tok in toks:
        for p in _pieces(tok):
            qs.append(("TEXT", p))
    for tok in COMMON:
        qs.append(("HEADER", "Received", tok))
        qs.append(("NOT", "TEXT", tok))
    for mid in rnd.sample(MIDS, 10):
        qs.append(("HEADER", "References", mid))
        qs.append(("HEADER", "In-Reply-To", mid[3:-3]))
        qs.append(("HEADER", "Message-ID", mid))
    for tok, _ in SHARED[::3]:
        qs.append(("HEADER", "X-Trace-Ids", tok))
        qs.append(("OR", "TEXT", tok, "TEXT", COMMON[1]))
        qs.append(("TEXT", "%s %s" % (COMMON[0], tok)))
    long_tok = SHARED[-1][0]
    for piece in (long_tok, long_tok[10:130], long_tok[40:90], long_tok[-101:]):
        qs.append(("TEXT", piece))
        qs.append(("HEADER", "X-Trace-Ids", piece))
    qs.append(("TEXT", "%s mx.example.net" % COMMON[0]))
    qs.append(("TEXT", "with cipher %s" % COMMON[2]))
    return qs


def test_searches_equal_oracle(inst):
    fts, oracle = inst
    qs = _queries(random.Random(5))
    bad, nonempty = [], 0
    for q in qs:
        want = oracle.search(USER, "INBOX", *q)
        got = fts.search(USER, "INBOX", *q)
        if want:
            nonempty += 1
        if got != want:
            bad.append("%r: fts %s oracle %s" % (q, got[:8], want[:8]))
    assert not bad, "%d of %d differ:\n%s" % (len(bad), len(qs), "\n".join(bad[:20]))
    assert nonempty > len(qs) // 2, "test problem: only %d non-empty" % nonempty


def test_common_tokens_were_promoted(inst):
    fts, oracle = inst
    fts.search(USER, "INBOX", "TEXT", "x")   # everything indexed
    path = os.path.join(fts.maildir(USER), "fts-sift", "opaque")
    recs = _opaque_records(path)
    assert len(recs) >= N_BULK, "test problem: %d opaque records" % len(recs)
    for tok in (COMMON[0], COMMON[2]):
        held = len(oracle.search(USER, "INBOX", "TEXT", tok))
        in_opaque = sum(1 for _, r in recs if tok.upper().encode() in r)
        # promoted in the bulk run after 2 messages, each single run
        # after 2 of its own (it has 1)
        assert held > 20 and in_opaque < held // 2, (tok, held, in_opaque)
        assert in_opaque >= 1, (tok, in_opaque)
        # the runs of one message after the bulk run start with empty
        # counts: the token is a P term of the index by then, so it is
        # made that term again (sift_index_term_known())
        late = [r for uid, r in recs if uid > N_BULK]
        assert late, "test problem: no opaque record after the bulk run"
        assert not [r for r in late if tok.upper().encode() in r], tok
