"""Every SEARCH criterion the backend can see, compared with Dovecot's own
scan (the oracle).  Each case also runs ANDed with a date criterion."""

import pytest

from fixtures import DATE_CRITERIA, with_dates


def C(cid, *criteria, **kw):
    return (cid, criteria, kw)


NOTALL_OFF = {"notall": False}

CASES = [
    # ---- BODY: whole words, prefixes, in-word substrings, phrases ----
    C("body-word", "BODY", "kselftest", must=["patch"], must_not=["selftests"]),
    C("body-prefix", "BODY", "kself", must=["patch"]),
    C("body-inword", "BODY", "selft", must=["patch", "selftests"]),
    C("body-suffix", "BODY", "ftest", must=["patch"]),
    C("body-phrase", "BODY", "exact phrase here", must=["patch"], must_not=["selftests"]),
    C("body-phrase-partial-words", "BODY", "act phrase he", must=["patch"]),
    C("body-dashed", "BODY", "test-case", must=["patch"], must_not=["selftests"]),
    C("body-dotted-version", "BODY", "v5.10", must=["patch"], must_not=["selftests"]),
    C("body-dotted-address", "BODY", "a.b@c.d", must=["patch"]),
    C("body-signed-off", "BODY", "Signed-off-by", must=["patch"]),
    C("body-underscore", "BODY", "seccomp_bpf", must=["selftests"]),
    C("body-symbols", "BODY", "schedule+0x3f/0x90", must=["upper"]),
    C("body-hex", "BODY", "0x3f", must=["upper"]),
    C("body-host-dash", "BODY", "db-07", must=["upper"]),
    C("body-north-east", "BODY", "north-east", must=["plus"]),
    C("body-upper-word-lower-query", "BODY", "panic", must=["upper"]),
    C("body-mixed-case-query", "BODY", "KeRnEl", must=["upper"]),
    C("body-two-msgs", "BODY", "minutes", must=["sent_old", "sent_new"]),
    C("body-number", "BODY", "42", must=["b64"]),
    C("body-nomatch", "BODY", "nosuchwordanywhere", empty=True),
    C("body-1char", "BODY", "q", must=["nocolon", "qp"], **NOTALL_OFF),
    C("body-1char-digit", "BODY", "7", must=["upper"], **NOTALL_OFF),
    C("body-header-only-word", "BODY", "Nimbus-7", empty=True),
    C("body-spaces-around", "BODY", " runner ", must=["patch"]),
    C("body-trailing-space", "BODY", "kselftest ", must=["patch"]),
    C("body-punct-at", "BODY", "@", must=["patch"], notall=False),
    C("body-punct-dots", "BODY", "...", nonempty=False, notall=False),
    C("body-punct-plus", "BODY", "+", must=["upper"], notall=False),
    C("body-empty-string", "BODY", "", notall=False),
    C("body-long-query", "BODY", "kselftest runner " * 20, empty=True),
    C("body-nul-message", "BODY", "capybara", must=["nul"]),
    C("body-across-nul", "BODY", "after the nul", nonempty=False),
    # ---- TEXT: headers and body ----
    C("text-word", "TEXT", "kselftest", must=["patch"]),
    C("text-header-only", "TEXT", "Nimbus-7", must=["patch"]),
    C("text-x-mailer", "TEXT", "git-send-email", must=["patch"]),
    C("text-address", "TEXT", "shuah.khan@linux-foundation.org", must=["patch"]),
    C("text-domain", "TEXT", "linux-foundation.org", must=["patch"]),
    C("text-body-word", "TEXT", "quarter", must=["plus"]),
    C("text-phrase", "TEXT", "every test-case that used", must=["patch"]),
    C("text-nomatch", "TEXT", "zzyzzyxnothing", empty=True),
    # ---- FROM / TO / CC / BCC ----
    C("from-address", "FROM", "shuah.khan@linux-foundation.org", must=["patch"]),
    C("from-localpart", "FROM", "shuah.khan", must=["patch"]),
    C("from-domain", "FROM", "linux-foundation.org", must=["patch"]),
    C("from-display-first", "FROM", "Shuah", must=["patch"]),
    C("from-display-full", "FROM", "Shuah Khan", must=["patch"]),
    C("from-inword", "FROM", "huah", must=["patch"]),
    C("from-plus-address", "FROM", "dev.null+lists@mail-relay.example.org", must=["plus"]),
    C("from-plus-local", "FROM", "dev.null+lists", must=["plus"]),
    C("from-plus-tag", "FROM", "+lists", must=["plus"]),
    C("from-dashed-domain", "FROM", "mail-relay", must=["plus"]),
    C("from-two-msgs", "FROM", "secretary", must=["sent_old", "sent_new"]),
    C("from-tld", "FROM", "example.org", must=["plus", "nfd"]),
    C("from-nomatch", "FROM", "nobody-here", empty=True),
    C("to-address", "TO", "linux-kselftest@vger.kernel.org", must=["patch"]),
    C("to-domain", "TO", "vger.kernel.org", must=["patch"]),
    C("to-dashed-local", "TO", "team-list", must=["plus"]),
    C("to-display", "TO", "Team List", must=["plus"]),
    C("to-common", "TO", "alice@example.test", must=["selftests", "utf8"]),
    C("cc-address", "CC", "carol.o-neil@example.net", must=["plus"]),
    C("cc-dashed", "CC", "o-neil", must=["plus"]),
    C("cc-display", "CC", "Carol", must=["plus"]),
    C("cc-other", "CC", "gregkh", must=["patch"]),
    C("bcc-address", "BCC", "secret.bcc@hidden.example", must=["plus"]),
    C("bcc-domain", "BCC", "hidden.example", must=["plus"]),
    C("bcc-local", "BCC", "secret", must=["plus"]),
    # ---- SUBJECT ----
    C("subject-word", "SUBJECT", "kselftest", must=["patch"]),
    C("subject-bracket", "SUBJECT", "[PATCH v5.10]", must=["patch"]),
    C("subject-case", "SUBJECT", "quarterly", must=["plus"]),
    C("subject-two", "SUBJECT", "minutes", must=["sent_old", "sent_new"]),
    C("subject-phrase", "SUBJECT", "Meeting minutes (April)", must=["sent_new"]),
    C("subject-re", "SUBJECT", "Re: selftests", must=["selftests"]),
    C("subject-upper", "SUBJECT", "panic", must=["upper"]),
    C("subject-inword", "SUBJECT", "arterl", must=["plus"]),
    C("subject-folded", "SUBJECT", "line that continues", must=["folded"]),
    C("subject-folded-raw", "SUBJECT", "that\tcontinues", nonempty=False),
    C("subject-empty-string", "SUBJECT", "", notall=False),
    C("subject-with-nul", "SUBJECT", "nul", nonempty=False),
    # ---- HEADER ----
    C("header-x-project", "HEADER", "X-Project", "Nimbus-7", must=["patch"]),
    C("header-x-project-word", "HEADER", "X-Project", "nimbus", must=["patch", "selftests"]),
    C("header-x-project-exists", "HEADER", "X-Project", "", must=["patch", "selftests", "plus"]),
    C("header-x-lowercase-name", "HEADER", "x-project", "aurora", must=["plus"]),
    C("header-x-mailer", "HEADER", "X-Mailer", "git-send-email", must=["patch"]),
    C("header-message-id", "HEADER", "Message-ID", "20200315.patch", must=["patch"]),
    C("header-subject", "HEADER", "Subject", "kselftest", must=["patch"]),
    C("header-from", "HEADER", "From", "shuah", must=["patch"]),
    C("header-cc-exists", "HEADER", "Cc", "", must=["patch", "plus"]),
    C("header-bcc-exists", "HEADER", "Bcc", "", must=["plus"]),
    C("header-missing-exists", "HEADER", "X-No-Such-Header", "", empty=True),
    C("header-content-type", "HEADER", "Content-Type", "iso-2022-jp", must=["jp"]),
    C("header-date", "HEADER", "Date", "2020", must=["patch"]),
    C("header-message-id-brackets", "HEADER", "Message-ID",
      "<20200315.patch.1@linux-foundation.org>", must=["patch"]),
    C("header-repeated-second", "HEADER", "X-Project", "Beta-9", must=["folded"]),
    C("header-repeated-first", "HEADER", "X-Project", "alpha", must=["folded"]),
    C("header-folded-word", "HEADER", "X-Long-Header", "gnarwhal", must=["folded"]),
    C("header-folded-across", "HEADER", "X-Long-Header", "value second", nonempty=False),
    C("to-folded-list", "TO", "bob@example.test", must=["folded"]),
    C("to-group-member", "TO", "treasurer@board.example", must=["sent_old"]),
    C("to-group-name", "TO", "Board", nonempty=False),
    C("header-name-odd-case", "HEADER", "X-Project", "gamma-3", must=["upper"]),
    C("subject-unknown-charset-word", "SUBJECT", "strange", nonempty=False),
    C("subject-bad-base64-word", "SUBJECT", "notbase64", nonempty=False),
    # ---- AND ----
    C("and-body-from", "BODY", "kselftest", "FROM", "shuah", must=["patch"]),
    C("and-body-subject", "BODY", "minutes", "SUBJECT", "April", must=["sent_new"],
      must_not=["sent_old"]),
    C("and-three", "TEXT", "test-case", "SUBJECT", "PATCH", "HEADER", "X-Project", "nimbus",
      must=["patch"]),
    C("and-paren", "(", "FROM", "secretary", "BODY", "january", ")", must=["sent_old"]),
    C("and-disjoint", "BODY", "kselftest", "BODY", "zanzibarite", empty=True),
    C("and-uid-set", "UID", "1:10", "BODY", "the", must=["patch"]),
    C("and-seq-set", "2:6", "BODY", "the", must=["selftests"]),
    C("and-larger", "LARGER", 1000, "BODY", "the", nonempty=False),
    C("and-smaller", "SMALLER", 1000, "TEXT", "alice", nonempty=False),
    # ---- OR ----
    C("or-bodies", "OR", "BODY", "zanzibarite", "BODY", "pangolin", must=["b64", "attach"]),
    C("or-from-subject", "OR", "FROM", "keescook", "SUBJECT", "quarterly",
      must=["selftests", "plus"]),
    C("or-header-body", "OR", "HEADER", "X-Project", "aurora", "BODY", "kselftest",
      must=["plus", "patch"]),
    C("or-to-cc", "OR", "TO", "team-list", "CC", "gregkh", must=["plus", "patch"]),
    C("or-bcc-text", "OR", "BCC", "secret", "TEXT", "marmalade", must=["plus", "html"]),
    C("or-chain", *(["OR"] * 11 + ["BODY", "zanzibarite", "BODY", "pangolin", "BODY", "quokka",
                                    "BODY", "capybara", "BODY", "wombat", "BODY", "marmalade",
                                    "BODY", "pelican", "BODY", "okapi", "BODY", "thornbush",
                                    "BODY", "minutes", "BODY", "kselftest", "BODY", "nosuchword"]),
      must=["b64", "attach", "nocolon", "nul", "badcharset", "html", "alt", "sent_old"]),
    # ---- NOT ----
    C("not-body", "NOT", "BODY", "kselftest", must=["selftests"], must_not=["patch"]),
    C("not-from", "NOT", "FROM", "secretary", must=["patch"], must_not=["sent_old"]),
    C("not-subject", "NOT", "SUBJECT", "minutes", must=["patch"], must_not=["sent_new"]),
    C("not-header-exists", "NOT", "HEADER", "X-Project", "", must=["utf8"],
      must_not=["patch"]),
    C("not-text", "NOT", "TEXT", "alice", must=["patch"]),
    C("not-nomatch", "NOT", "BODY", "nosuchwordanywhere", notall=False),
    C("not-to-and-body", "NOT", "TO", "alice", "BODY", "the", must=["patch"]),
    # ---- nested ----
    C("nested-or-of-ands", "OR", "(", "BODY", "selft", "NOT", "FROM", "kees", ")",
      "(", "SUBJECT", "minutes", "SINCE", "1-Jan-2020", ")", must=["patch", "sent_old"]),
    C("nested-not-or", "NOT", "OR", "BODY", "minutes", "BODY", "kselftest",
      must=["selftests"], must_not=["patch", "sent_old"]),
    C("nested-not-and-not", "NOT", "(", "BODY", "the", "NOT", "BODY", "minutes", ")",
      must=["sent_old"]),
    C("nested-or-not", "OR", "NOT", "BODY", "the", "FROM", "secretary",
      must=["sent_old"]),
    C("nested-and-or-not", "(", "OR", "BODY", "kselftest", "BODY", "selftests", ")",
      "(", "NOT", "SUBJECT", "Re", ")", must=["patch"], must_not=["selftests"]),
    C("nested-deep", "OR", "OR", "BODY", "zanzibarite", "NOT", "OR", "BODY", "the",
      "BODY", "a", "HEADER", "X-Project", "aurora", must=["b64", "plus"]),
]


@pytest.mark.parametrize("criteria,kw", with_dates(CASES))
def test_search_equals_oracle(corpus, criteria, kw):
    corpus.check(*criteria, **kw)


SIZE_CRITERIA = [("LARGER", "1000"), ("SMALLER", "3000"), ("NOT", "LARGER", "1500")]


def criteria_first(cases):
    """Each case with Dovecot's own criteria (dates, sizes) placed before
    the text searches the index answers: the lookup then moves its
    answered leaves ahead of them (sift_search_args_answered_first()),
    at the top level and, in a parenthesized list, in a sub-level.  The
    results must not change."""
    out = []
    for i, (cid, crit, kw) in enumerate(cases):
        date = DATE_CRITERIA[i % len(DATE_CRITERIA)]
        size = SIZE_CRITERIA[i % len(SIZE_CRITERIA)]
        loose = {"nonempty": False, "notall": False}
        out.append(pytest.param(date + tuple(crit), loose,
                                id="%s-first+%s" % ("-".join(date), cid)))
        out.append(pytest.param(size + tuple(crit) + date, loose,
                                id="%s-first+%s+date" % ("-".join(size), cid)))
        out.append(pytest.param(("(",) + date + size + tuple(crit) + (")",), loose,
                                id="sub-%s-first+%s" % ("-".join(date), cid)))
    return out


@pytest.mark.parametrize("criteria,kw", criteria_first(CASES))
def test_dovecot_criteria_first_equal_oracle(corpus, criteria, kw):
    corpus.check(*criteria, **kw)


@pytest.mark.parametrize("date", DATE_CRITERIA, ids=lambda d: "-".join(d))
def test_date_criterion_alone(corpus, date):
    """The date criteria used above select some but not all messages."""
    corpus.check(*date)


def test_searches_do_not_fail_when_enforced(corpus):
    """fts_enforced=yes: no search may answer NO/BAD (uid_search raises)."""
    for crit in (("BODY", "kselftest"), ("TEXT", "x"), ("HEADER", "X-Project", ""),
                 ("NOT", "BODY", "the"), ("OR", "BODY", "a", "FROM", "b")):
        corpus.pair.fts.search("alice", "INBOX", *crit)
