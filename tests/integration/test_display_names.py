"""FROM/TO/CC/BCC for a display name of two words ("Viresh Kumar"),
compared with Dovecot's own search (format 11).

Address headers are indexed as runs (pieces without spaces or address
punctuation) of the form Dovecot's search compares; a string with a space
was only a candidate (both words in some run), so every message from
that person was read by Dovecot.  Now two runs with exactly one space
between them are a term too, and a string whose only separator is one
space inside it is answered from those terms alone (SIFT_PLAN_RUN_PAIR).

The class generated: display names of one to four words, with single and
double spaces, tabs and folds between the words, quoted names holding
commas, dots and other specials, hyphens and apostrophes inside words,
RFC 2047 names in several charsets (B and Q, the whole name or one word),
comments, groups, names missing, several addresses per header, the same
two words in different headers and across two addresses; searched for
every pair of adjacent words, pieces of them (a word's end and the next
one's start), pairs across address boundaries, and strings with one space
at an edge or two spaces.  Every search must equal the oracle's, and a
two-word string must be answered without Dovecot.
"""

import random

import pytest

from dovetest import mailbox_pair  # noqa: E402
from fixtures import T2020, ew_any, oracle_compare  # noqa: E402

FIRST = ["Viresh", "Pali", "Uwe", "Jean-Philippe", "Zoë", "Łukasz", "Иван",
         "D'Arcy", "J.", "Marek", "李", "Ann"]
LAST = ["Kumar", "Rohár", "Kleine-König", "Brucker", "Œuvre", "Żak", "Лее",
        "O'Brien", "Dunlap", "Szyprowski", "王伟", "Lee"]
CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-2", "iso-8859-5", "koi8-r",
            "windows-1252", "gb2312"]
HEADERS = ["From", "To", "Cc", "Bcc"]
# SIFT_ADDRESS_RUN_SEPARATORS
SEPARATORS = " \t\r\n<>\",;:()[]\\"



def display_name(rnd):
    words = [rnd.choice(FIRST)]
    if rnd.random() < 0.2:
        words.append(rnd.choice(FIRST))       # a middle name
    words.append(rnd.choice(LAST))
    if rnd.random() < 0.1:
        words.append(rnd.choice(LAST))
    seps = [rnd.choice([" "] * 8 + ["  ", "\t", "\n\t"]) for _ in words[1:]]
    kind = rnd.randrange(8)
    if kind == 0:
        # the whole name encoded
        return ew_any(" ".join(words), rnd, CHARSETS)
    if kind == 1:
        # one word encoded (never two encoded words side by side)
        i = rnd.randrange(len(words))
        words[i] = ew_any(words[i], rnd, CHARSETS)
    if kind == 2:
        # quoted, with a special inside
        sp = rnd.choice([",", ".", ";", ":", "(", "@", "<"])
        return '"%s%s %s"' % (words[0], sp, " ".join(words[1:]))
    out = words[0]
    for s, w in zip(seps, words[1:]):
        out += s + w
    return out


def address(i, rnd):
    local = "u%d.%s" % (rnd.randrange(40), rnd.choice(["kumar", "lee", "x"]))
    dom = rnd.choice(["linaro.org", "example.com", "kernel.org"])
    kind = rnd.randrange(10)
    if kind == 0:
        return "%s@%s" % (local, dom)                      # no name
    if kind == 1:
        return "%s@%s (%s)" % (local, dom, display_name(rnd))   # comment
    return "%s <%s@%s>" % (display_name(rnd), local, dom)


# fixed shapes at the class's edges: two spaces or a tab between the
# words, a word after ", " or ">", the words in two addresses
EDGES = ["From: Viresh  Kumar <v1@x.org>", "From: Viresh\tKumar <v2@x.org>",
         "From: Viresh\n  Kumar <v3@x.org>", "To: a@b.org, Kumar Lee <k@x.org>",
         "To: Viresh <v@x.org>, Kumar <k@x.org>", "Cc: \"Viresh, Kumar\" <v4@x.org>",
         "From: Viresh Kumar<v5@x.org>", "From: \"Viresh  Kumar\" <v6@x.org>",
         "From: \" Viresh Kumar \" <v7@x.org>"]


def messages():
    rnd = random.Random(1412)
    out = []
    for i, h in enumerate(EDGES):
        out.append(("%s\nSubject: edge %d\nDate: Mon, 6 Jan 2020 10:00:00 +0000\n"
                    "Message-ID: <edge%d@fixtures.test>\n\nbody\n" % (h, i, i)).encode())
    for i in range(240):
        head = ""
        for h in HEADERS:
            if h != "From" and rnd.random() < 0.4:
                continue
            addrs = [address(i, rnd) for _ in range(1 if h == "From" else rnd.randint(1, 4))]
            value = ",\n ".join(addrs) if rnd.random() < 0.3 else ", ".join(addrs)
            if h != "From" and rnd.random() < 0.08:
                value = "undisclosed-recipients:;" if rnd.random() < 0.5 else \
                    "Team Kumar: %s;" % value
            head += "%s: %s\n" % (h, value)
        head += ("Subject: names %d\nDate: Mon, 6 Jan 2020 10:00:00 +0000\n"
                 "Message-ID: <names%d@fixtures.test>\nMIME-Version: 1.0\n"
                 "Content-Type: text/plain; charset=utf-8\n" % (i, i))
        out.append((head + "\nbody %d\n" % i).encode("utf-8"))
    return out


@pytest.fixture(scope="module")
def inst(request):
    with mailbox_pair(request, "dispnames", "dora", messages(),
                      date=T2020) as (fts, oracle, _since):
        yield fts, oracle


def pair_strings(rnd):
    """Strings with one space inside and no other separator."""
    out = set()
    names = FIRST + LAST
    for a in names:
        for b in names:
            if rnd.random() < 0.12:
                out.add("%s %s" % (a, b))
    for a in FIRST:
        for b in LAST:
            if rnd.random() < 0.3:
                out.add("%s %s" % (a, b))
                out.add("%s %s" % (a[1:] or a, b[:-1] or b))   # end and start
    out.update(["Viresh Kumar", "viresh kumar", "VIRESH KUMAR", "h K", "r L",
                "Team Kumar", "kumar@linaro.org Viresh", "Kumar u1.kumar@linaro.org"])
    seps = set(SEPARATORS)
    return sorted(s for s in out if s.count(" ") == 1 and s[0] != " " and
                  s[-1] != " " and not (set(s) - {" "}) & seps)


def other_strings():
    """Near the class: a space at an edge, two spaces, other separators."""
    return ["Viresh ", " Kumar", "Viresh  Kumar", "Viresh\tKumar", "Kumar <u1",
            "Kumar, Ann", "Viresh Kumar <", "Lee, Viresh", "J. Marek", "(Viresh Kumar",
            "undisclosed-recipients", "Team Kumar:", "Zoë Œuvre", "Ann Lee Kumar"]


def test_display_names_equal_oracle(inst):
    fts, oracle = inst
    rnd = random.Random(9)
    queries = []
    for s in pair_strings(rnd) + other_strings():
        for h in HEADERS:
            if rnd.random() < 0.5:
                queries.append((h.upper(), s.encode()))
    for s in other_strings() + ["Viresh Kumar", "Kumar Lee", "Viresh K"]:
        for h in HEADERS:
            queries.append((h.upper(), s.encode()))
    for crit in list(queries[::10]):
        queries.append(("NOT",) + crit)
    bad, nonempty = oracle_compare(fts, oracle, "dora", "INBOX", queries)
    assert not bad, "%d of %d searches differ:\n%s" % (len(bad), len(queries), "\n".join(bad[:20]))
    assert nonempty > len(queries) // 6, "test problem: only %d non-empty results" % nonempty


def test_two_word_names_are_certain(inst):
    """A two-word string is answered by the index alone: definite equals
    Dovecot's answer, nothing is left to Dovecot (but for the messages
    flagged ZUH, which this corpus has none of)."""
    fts, oracle = inst
    rnd = random.Random(10)
    wrong, want_total = [], 0
    for s in pair_strings(rnd)[:120]:
        h = rnd.choice(HEADERS)
        want = set(oracle.search("dora", "INBOX", h.upper(), s.encode()))
        definite, maybe = fts.fts_lookup("dora", "INBOX", h.lower(), s)
        if definite != want or maybe:
            wrong.append("%s %r: definite %s maybe %s, oracle %s" % (
                h, s, sorted(definite)[:8], sorted(maybe)[:8], sorted(want)[:8]))
        want_total += len(want)
    assert not wrong, "%d strings not certain:\n%s" % (len(wrong), "\n".join(wrong[:20]))
    assert want_total > 100, "test problem: only %d hits" % want_total
