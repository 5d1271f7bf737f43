"""Random search strings cut out of the corpus's own decoded text (any
length, across word boundaries, in changed case), compared with the oracle.
Deterministic: the seeds are fixed; SIFT_TEST_RANDOM_N sets the number of
queries per group."""

import email
import email.header
import email.policy
import os
import random

import pytest

import fixtures

N_PER_GROUP = int(os.environ.get("SIFT_TEST_RANDOM_N", "60"))
SEEDS = [11, 23, 47, 97]


def _decoded_texts():
    """key -> {"body": text, "subject": ..., "from": ..., "to": ...}"""
    out = {}
    for fx in fixtures.build_messages(big=False):
        msg = email.message_from_bytes(fx.raw, policy=email.policy.compat32)
        parts = []
        for part in msg.walk():
            if part.get_content_maintype() != "text":
                continue
            try:
                payload = part.get_payload(decode=True) or b""
                charset = part.get_content_charset() or "us-ascii"
                parts.append(payload.decode(charset, "replace"))
            except LookupError:
                parts.append(payload.decode("latin-1"))
        hdrs = {}
        for name in ("subject", "from", "to"):
            raw = msg.get(name, "")
            try:
                hdrs[name] = str(email.header.make_header(email.header.decode_header(raw)))
            except Exception:
                hdrs[name] = str(raw)
        hdrs["body"] = "\n".join(parts)
        out[fx.key] = hdrs
    return out


def _random_queries(seed, n):
    rnd = random.Random(seed)
    texts = _decoded_texts()
    keys = sorted(texts)
    fields = [("BODY", "body"), ("BODY", "body"), ("TEXT", "body"), ("TEXT", "subject"),
              ("SUBJECT", "subject"), ("FROM", "from"), ("TO", "to")]
    dates = fixtures.DATE_CRITERIA
    queries = []
    while len(queries) < n:
        key = rnd.choice(keys)
        crit_key, field = rnd.choice(fields)
        text = " ".join(texts[key][field].split())
        if not text:
            continue
        length = rnd.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 24])
        start = rnd.randrange(len(text))
        s = text[start:start + length].strip()
        if not s or "\ufffd" in s:
            continue
        r = rnd.random()
        if r < 0.2:
            s = s.upper()
        elif r < 0.4:
            s = s.lower()
        crit = [crit_key, s]
        if rnd.random() < 0.15:
            crit = ["NOT"] + crit
        if rnd.random() < 0.2:
            crit += list(rnd.choice(dates))
        queries.append((key, tuple(crit)))
    return queries


@pytest.mark.parametrize("seed", SEEDS)
def test_random_substrings_equal_oracle(corpus, seed):
    pair = corpus.pair
    mismatches, nonempty = [], 0
    queries = _random_queries(seed, N_PER_GROUP)
    for key, crit in queries:
        expected, got = pair.search_both("alice", "INBOX", crit)
        nonempty += bool(expected)
        if expected != got:
            mismatches.append(
                "  (cut from %s) UID SEARCH %s: expected %d UIDs, got %d\n"
                "      missing: %s\n      extra:   %s" % (
                    key, pair.show(crit), len(expected), len(got),
                    pair.label("alice", "INBOX", sorted(set(expected) - set(got))),
                    pair.label("alice", "INBOX", sorted(set(got) - set(expected)))))
    assert nonempty >= len(queries) // 2, \
        "test problem: only %d of %d random queries match anything" % (nonempty, len(queries))
    assert not mismatches, "%d of %d random queries differ from the oracle:\n%s" % (
        len(mismatches), len(queries), "\n".join(mismatches))
