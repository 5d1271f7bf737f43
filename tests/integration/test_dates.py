"""Date criteria answered by the index (plugin/sift-dates.c).

The index keeps each message's received date (INTERNALDATE) and its Date:
header (time and the sender's offset) and answers SINCE/BEFORE/ON and
SENTSINCE/SENTBEFORE/SENTON itself; messages whose date Dovecot reads
differently depending on its cache (missing or garbled Date:, dates before
1970 or past 2038) are left to Dovecot.  Generated messages put their dates
around midnight in the server's timezone, in the sender's timezone and in
UTC, across DST changes, in zones from -12:00 to +14:00 (and odd ones:
+05:45, -09:30, +12:45, named zones), with missing, garbled, folded and
doubled Date: headers and extreme years.  Every search - the date keys
alone, with words, under NOT, in OR and sub-lists, WITHIN's OLDER/YOUNGER -
is compared with Dovecot's own (plugin off), with the Dovecot processes
in UTC and in two other timezones and the indexer in yet another one.
The queries are checked to be sensitive: shifting their day by one
changes Dovecot's answer for many of them, so an off-by-one-day (or an
hour of the wrong timezone) in the index fails here.  The log must show
that the index answered date leaves with certain answers."""

import datetime
import os
import random
import re
import time
import zoneinfo

import pytest

from dovetest import Dovecot, DovecotError, new_test_root, remove_test_root  # noqa: E402

USER = "dater"
UTC = datetime.timezone.utc
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
# the days searched for: DST changes in the US, the EU and Lord Howe
# (half an hour), a leap day, the epoch, 2038
BOUNDS = [datetime.date(*d) for d in (
    (2019, 5, 8), (2019, 5, 21), (2021, 3, 14), (2021, 3, 28),
    (2021, 10, 3), (2021, 10, 31), (2021, 11, 7), (2024, 2, 29),
    (2000, 1, 1), (1970, 1, 1), (1970, 1, 2), (2038, 1, 19))]
# the timezones whose midnights the dates are put around
MIDNIGHT_ZONES = ["UTC", "America/New_York", "Asia/Kolkata",
                  "Australia/Lord_Howe", "Pacific/Kiritimati",
                  "Pacific/Pago_Pago", "Europe/Berlin"]
OFFSETS = [-86401, -3601, -3600, -1801, -1, 0, 1, 1799, 3599, 3600,
           43200, 86399, 86400]
ZONES = [0, 60, -300, -240, 330, 345, -570, 840, -720, 765, -210, 540,
         600, -600, 1200, -1200]
NAMED = [("GMT", 0), ("UT", 0), ("EST", -300), ("EDT", -240), ("PDT", -420),
         ("CST", -360), ("Z", 0)]
WORDS = {"trace": 0.5, "files": 0.3, "shift": 0.15, "everyone": 1.0}
# Dovecot's TZ, the indexer's TZ
TZ_SETUPS = [("UTC", "UTC"), ("America/New_York", "Asia/Kolkata"),
             ("Australia/Lord_Howe", "Pacific/Kiritimati")]
N_MESSAGES = 420


def _zone_str(minutes):
    sign = "-" if minutes < 0 else "+"
    m = abs(minutes)
    return "%s%02d%02d" % (sign, m // 60, m % 60)


def _local(epoch, minutes):
    """The wall clock of epoch at a fixed offset (any year)."""
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(
        seconds=epoch + minutes * 60)


def _internaldate(epoch, minutes):
    t = _local(epoch, minutes)
    return '"%02d-%s-%04d %02d:%02d:%02d %s"' % (
        t.day, MONTHS[t.month - 1], t.year, t.hour, t.minute, t.second,
        _zone_str(minutes))


def _date_hdr(t, zone):
    """RFC 5322 date of the naive wall clock t in zone (a string)."""
    return "%s, %02d %s %04d %02d:%02d:%02d %s" % (
        DAYS[t.weekday()], t.day, MONTHS[t.month - 1], t.year, t.hour,
        t.minute, t.second, zone)


def _midnight_epoch(day, tzname):
    return int(datetime.datetime(day.year, day.month, day.day,
                                 tzinfo=zoneinfo.ZoneInfo(tzname)).timestamp())


def _received(rng):
    """An INTERNALDATE (the APPEND string) near a midnight, or extreme."""
    if rng.random() < 0.06:
        epoch = rng.choice([-86400 * 400, -1, 0, 1, 2**31 - 2, 2**31 - 1,
                            2**31, 2**32 - 1, 2**32, 7258118400])
        return _internaldate(epoch, 0)
    day = rng.choice(BOUNDS)
    epoch = _midnight_epoch(day, rng.choice(MIDNIGHT_ZONES)) + \
        rng.choice(OFFSETS)
    return _internaldate(epoch, rng.choice(ZONES))


def _date_headers(rng):
    """Date: header lines (bytes) of every kind."""
    r = rng.random()
    day = rng.choice(BOUNDS)
    # the sender's wall clock near its own midnight
    wall = datetime.datetime(day.year, day.month, day.day) + \
        datetime.timedelta(seconds=rng.choice(OFFSETS))
    if r < 0.55:
        return b"Date: %s\n" % _date_hdr(wall, _zone_str(rng.choice(ZONES))).encode()
    if r < 0.65:
        # near a midnight of UTC or of a named zone, written in any zone
        epoch = _midnight_epoch(day, rng.choice(MIDNIGHT_ZONES)) + \
            rng.choice(OFFSETS)
        z = rng.choice(ZONES)
        return b"Date: %s\n" % _date_hdr(_local(epoch, z), _zone_str(z)).encode()
    if r < 0.70:
        name, _ = rng.choice(NAMED)
        return b"Date: %s\n" % _date_hdr(wall, name).encode()
    if r < 0.74:
        return b""
    if r < 0.78:
        return rng.choice([b"Date: yesterday\n", b"Date: \n",
                           b"Date: 32 Foo 2019 99:99:99 +0000\n",
                           b"Date: Wed, 08 May 2019\n",
                           b"Date: 08 May 2019 12:00 +99999\n"])
    if r < 0.81:
        # no zone at all
        return b"Date: %s\n" % _date_hdr(wall, "").strip().encode()
    if r < 0.85:
        # folded
        s = _date_hdr(wall, _zone_str(rng.choice(ZONES)))
        head, _, tail = s.rpartition(" ")
        return b"Date: %s\n\t%s\n" % (head.encode(), tail.encode())
    if r < 0.89:
        # two Date: headers, the first maybe garbled
        first = rng.choice([b"Date: garbage\n", b"Date: %s\n" % _date_hdr(
            wall, "+0200").encode()])
        return first + b"Date: %s\n" % _date_hdr(wall, "-0700").encode()
    if r < 0.95:
        # extreme years
        t = datetime.datetime(rng.choice([1901, 1969, 1970, 2038, 2040,
                                          2106, 2107, 9999]),
                              rng.choice([1, 2, 12]), rng.choice([1, 7, 19, 28]),
                              rng.choice([0, 3, 23]), rng.choice([0, 14, 59]),
                              rng.choice([0, 7, 8, 59]))
        return b"Date: %s\n" % _date_hdr(t, _zone_str(rng.choice(ZONES))).encode()
    # two-digit years
    t = wall.replace(day=min(wall.day, 28),
                     year=rng.choice([1969, 1970, 1999, 2000, 2019]))
    s = "%02d %s %02d %02d:%02d:%02d %s" % (t.day, MONTHS[t.month - 1],
                                             t.year % 100, t.hour, t.minute,
                                             t.second, _zone_str(rng.choice(ZONES)))
    return b"Date: %s\n" % s.encode()


def _messages():
    rng = random.Random(20261205)
    out = []
    for i in range(N_MESSAGES):
        words = [w for w, p in WORDS.items() if rng.random() < p]
        body = ("%s filler%d\n" % (" ".join(words), i % 13)).encode()
        raw = (b"From: Sender %d <s%d@example.org>\nTo: dater@example.test\n"
               b"Subject: message %d %s\n" % (i, i % 7, i, rng.choice(list(WORDS)).encode()))
        raw += _date_headers(rng)
        raw += b"Message-ID: <d%d@example.org>\nMIME-Version: 1.0\n" \
               b"Content-Type: text/plain; charset=us-ascii\n\n" % i
        out.append((raw + body, _received(rng)))
    return out


def _day(d):
    return "%d-%s-%04d" % (d.day, MONTHS[d.month - 1], d.year)


KEYS = ["SINCE", "BEFORE", "ON", "SENTSINCE", "SENTBEFORE", "SENTON"]


def _systematic():
    """Every date key on every boundary day and its neighbours, with the
    word every message has: (query, key, day) for the sensitivity check."""
    out = []
    for key in KEYS:
        for b in BOUNDS:
            for delta in (-1, 0, 1):
                d = b + datetime.timedelta(days=delta)
                out.append((["BODY", "everyone", key, _day(d)], key, d))
    return out


def _date_leaf(rng):
    d = rng.choice(BOUNDS) + datetime.timedelta(days=rng.randint(-1, 1))
    if rng.random() < 0.08 and d.year < 2030:
        # WITHIN: OLDER/YOUNGER compare UTC times; seconds far from any
        # message's date (all are on whole seconds of old days)
        return [rng.choice(["OLDER", "YOUNGER"]),
                str(int(time.time()) - _midnight_epoch(d, "UTC") + 43200)]
    return [rng.choice(KEYS), _day(d)]


def _leaf(rng, depth=0):
    r = rng.random()
    if r < 0.35:
        return ["BODY", rng.choice(list(WORDS))]
    if r < 0.65:
        return _date_leaf(rng)
    if r < 0.75:
        return ["NOT"] + _date_leaf(rng)
    if r < 0.80:
        return ["NOT", "BODY", rng.choice(list(WORDS))]
    if r < 0.85:
        return ["SUBJECT", rng.choice(list(WORDS))]
    if depth < 2 and r < 0.93:
        return ["OR"] + _leaf(rng, depth + 1) + _leaf(rng, depth + 1)
    if depth < 2:
        return ["("] + _leaf(rng, depth + 1) + _leaf(rng, depth + 1) + [")"]
    return _date_leaf(rng)


def _random_queries(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [_leaf(rng) for _ in range(rng.randint(1, 4))]
        # most searches have a word at the top level (the fts plugin asks
        # the index only for levels with a text search)
        if rng.random() < 0.8:
            parts.append(["BODY", rng.choice(list(WORDS))])
        rng.shuffle(parts)
        out.append([tok for p in parts for tok in p])
    return out


class _TZ:
    """TZ in this process's environment (inherited by Dovecot and
    doveadm) for the duration of a block."""

    def __init__(self, tz):
        self.tz = tz

    def __enter__(self):
        self.old = os.environ.get("TZ")
        os.environ["TZ"] = self.tz
        time.tzset()

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = self.old
        time.tzset()


ORACLE_ANSWERS = {}


@pytest.fixture(scope="module", params=TZ_SETUPS, ids=lambda p: "%s-idx-%s" % p)
def inst(request):
    server_tz, indexer_tz = request.param
    root = new_test_root("dates")
    fts = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=(USER,))
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=fts)
    try:
        with _TZ(server_tz):
            fts.start()
            oracle.start()
        msgs = _messages()
        refused = 0
        for raw, received in msgs[:N_MESSAGES - 20]:
            try:
                fts.append(USER, "INBOX", raw, date=received)
            except DovecotError:
                # an INTERNALDATE Dovecot doesn't take (out of its range)
                refused += 1
        assert refused < 20, refused
        with _TZ(indexer_tz):
            fts.doveadm("index", "-u", USER, "INBOX")
        # a tail the index hasn't seen (Dovecot reads it itself)
        for raw, received in msgs[N_MESSAGES - 20:]:
            try:
                fts.append(USER, "INBOX", raw, date=received)
            except DovecotError:
                pass
        # Dovecot's own answer for a date outside 1970..2038 depends on
        # whether its cache holds the date yet: the first read compares
        # the full time (a maildir file's mtime, the parsed Date:), later
        # ones the cache's 32-bit copy (seen here as searches changing
        # their answer between the first and the second time).  Such
        # messages are left to Dovecot (sift-dates.h), so the two
        # instances' caches are filled alike first: both read every date.
        for d in (fts, oracle):
            for key in KEYS:
                d.search(USER, "INBOX", key, "1-Jan-2000")
        yield fts, oracle, server_tz
    finally:
        oracle.stop()
        fts.stop()
        remove_test_root(root, request.session.testsfailed)


def _date_lines(fts, since):
    text = fts.log_text().encode()[since:].decode("utf-8", "replace")
    return [(int(r), int(d), int(m)) for r, d, m in re.findall(
        r"(?:SENT)?(?:SINCE|BEFORE|ON): (\d+) read, (\d+) definite, (\d+) maybe",
        text)]


def _explain(oracle, got, expected):
    """The dates of the messages the two answers differ in."""
    diff = sorted(set(got) ^ set(expected))[:8]
    if not diff:
        return ""
    conn = oracle.imap(USER)
    try:
        oracle.select(conn, "INBOX", readonly=True)
        out = []
        for uid in diff:
            typ, data = conn.uid("FETCH", str(uid), "(INTERNALDATE BODY.PEEK"
                                 "[HEADER.FIELDS (DATE)])")
            m = re.search(rb'INTERNALDATE "([^"]*)"', data[0][0])
            out.append("uid %d %s: received %s, %r" % (
                uid, "index only" if uid in got else "Dovecot only",
                m.group(1).decode() if m else "?", data[0][1].strip()))
        return "\n".join(out)
    finally:
        conn.logout()


def _check(fts, oracle, server_tz, crit):
    expected = oracle.search(USER, "INBOX", *crit)
    got = fts.search(USER, "INBOX", *crit)
    assert got == expected, (server_tz, crit, _explain(oracle, got, expected))
    return expected


def test_date_searches_equal_oracle(inst):
    fts, oracle, server_tz = inst
    since = fts.log_size()
    answers = {}
    for crit, key, day in _systematic():
        answers[(key, day)] = _check(fts, oracle, server_tz, crit)
    # the queries are sensitive: moving a day by one changes Dovecot's
    # answer at most boundaries, for every key (so an off-by-one day or a
    # wrong timezone would fail above)
    for key in KEYS:
        changed = sum(1 for b in BOUNDS
                      if answers[(key, b)] != answers[(key, b + datetime.timedelta(days=1))])
        assert changed >= len(BOUNDS) // 2, (key, changed)
    ORACLE_ANSWERS[server_tz] = answers
    if server_tz != "UTC" and "UTC" in ORACLE_ANSWERS:
        # the TZ reached Dovecot: received dates are compared as local
        # time, so some answers differ from the UTC run's
        base = ORACLE_ANSWERS["UTC"]
        assert any(answers[k] != base[k] for k in answers
                   if k[0] in ("SINCE", "BEFORE", "ON")), server_tz
        # sent dates are the sender's wall clock, whatever the server's TZ
        assert all(answers[k] == base[k] for k in answers
                   if k[0].startswith("SENT")), server_tz

    checked = nonempty = 0
    for crit in _random_queries(300, 5):
        expected = _check(fts, oracle, server_tz, crit)
        checked += 1
        nonempty += bool(expected)
    assert checked == 300 and nonempty >= 100, nonempty

    # the index answered the date leaves: most messages it read got a
    # certain answer
    lines = _date_lines(fts, since)
    assert len(lines) >= 200, len(lines)
    read = sum(r for r, _, _ in lines)
    maybe = sum(m for _, _, m in lines)
    assert sum(d for _, d, _ in lines) > 0
    assert maybe < read * 0.3, (read, maybe)


def test_expunge_and_reindex_keep_dates(inst):
    """Expunged messages' dates are never reported; the rest still
    answer after a rebuild of the index (values are copied)."""
    fts, oracle, server_tz = inst
    uids = fts.search(USER, "INBOX", "ALL")
    rng = random.Random(3)
    fts.expunge(USER, "INBOX", rng.sample(uids[:300], 40))
    for crit, _, _ in _systematic()[::5]:
        _check(fts, oracle, server_tz, crit)
    since = fts.log_size()
    with _TZ(server_tz):
        fts.doveadm("fts", "optimize", "-u", USER)
    for crit, _, _ in _systematic()[1::4]:
        _check(fts, oracle, server_tz, crit)
    lines = _date_lines(fts, since)
    assert lines and sum(d for _, d, _ in lines) > 0


def test_sublist_dates_read_only_candidates(inst):
    """A date sub-list of a search whose top level has a word reads only
    the dates of the messages with the word (the rest fail the search
    anyway), and answers them exactly."""
    fts, oracle, server_tz = inst
    with_word = len(oracle.search(USER, "INBOX", "BODY", "shift"))
    total = len(oracle.search(USER, "INBOX", "ALL"))
    assert 0 < with_word < total // 3
    for crit in (["BODY", "shift", "(", "SINCE", "7-May-2019", "BEFORE",
                  "1-Jan-2038", ")"],
                 ["BODY", "shift", "OR", "SENTON", "8-May-2019", "ON",
                  "21-May-2019"],
                 ["BODY", "shift", "NOT", "(", "SENTSINCE", "14-Mar-2021",
                  "SENTBEFORE", "29-Feb-2024", ")"]):
        since = fts.log_size()
        _check(fts, oracle, server_tz, crit)
        # (the log process writes the lines a moment later)
        for _ in range(50):
            lines = _date_lines(fts, since)
            if len(lines) >= 2:
                break
            time.sleep(0.1)
        assert len(lines) == 2, (crit, lines)
        for read, _, _ in lines:
            assert read <= with_word, (crit, lines, with_word)
