"""Dovecot 2.4 setting scopes: fts settings given inside a namespace's or a
mailbox's filter instead of at the top level.

2.4 reads a setting through the filters of the event it is read for: the
fts core reads the driver for a namespace, fts_autoindex for a mailbox
(at save), and the header lists and the decoder once per user (its fts
user's settings: a namespace's or a mailbox's filter does not change
what it hands a backend); fts-sift reads its own settings with
settings_get() on the backend's event and the header lists from the fts
user, as the core (fts-sift-user-24.c).  header-lists-ns-override failed
before that: 24 of 663 searches wrong, all in Other/.  Whatever the scopes, every search must equal the
oracle's (the same Dovecot without FTS, storage of its own in the same
layout, the same mail appended in the same order so that the UIDs agree).

Each configuration has two namespaces, the inbox one (INBOX, Archive,
Lists) and "Other/" (maildir of its own, Other/Box), every mailbox holding
the fixtures' 27 messages; in each mailbox: every test_search_oracle.py
case (129: BODY/TEXT/headers/NOT/OR/...) and random substrings of the
mail (test_random_queries.py's generator: any length, changed case, NOT,
dates, OR), plus SUBJECT/FROM/HEADER searches on the headers a filter
leaves out.

Dovecot 2.3 has no filters of this kind (plugin { } is global): the
module does not run there (conftest.py ONLY_24, "NOT RUN")."""

import os

import pytest

import fixtures
from dovetest import Dovecot, separate_pair
from storage_pair import FormatPair
from test_search_oracle import CASES
import test_random_queries as rq

USER = "alice"
BOXES = ["INBOX", "Archive", "Lists", "Other/Box"]

# the second namespace, the same on both instances
OTHER_NS = """\
namespace other {
  prefix = Other/
  separator = /
  mail_driver = maildir
  mail_path = %{home}/OtherMail
}
"""

# name -> (plugin_settings for the instance under test, configuration
# text only it gets: the scoped fts settings, the mailboxes that have an
# fts-sift index after the appends and before any search (autoindex),
# the mailboxes that have none after every search)
CONFIGS = {
    # fts_autoindex off for one mailbox and for the whole Other/
    # namespace (their mail is indexed by the first search), on elsewhere
    "autoindex-scoped": ({}, """\
mailbox Archive {
  fts_autoindex = no
}
namespace other {
  fts_autoindex = no
}
""", {"INBOX", "Lists"}, set()),
    # header lists per namespace and per mailbox (none at the top level):
    # Other/ leaves out Subject and X-*, Lists leaves out From and To,
    # INBOX and Archive index every header
    "header-lists-scoped": ({}, """\
namespace other {
  fts_header_excludes {
    Subject = yes
    X-* = yes
  }
}
namespace inbox {
  mailbox Lists {
    fts_header_excludes {
      From = yes
      To = yes
    }
  }
}
""", set(BOXES), set()),
    # Subject left out at the top level, and put back for Other/ by its
    # namespace filter: the core builds every index with the user's
    # lists (Subject left out in Other/ too), so fts-sift must not take
    # Other/'s Subject for indexed
    "header-lists-ns-override": ({"fts_header_excludes": "Subject"}, """\
namespace other {
  fts_header_excludes {
    Subject = no
  }
}
""", set(BOXES), set()),
    # fts only in the inbox namespace (no top-level fts { }): Other/'s
    # searches are Dovecot's own; and the opposite header lists: only
    # Subject indexed in the inbox namespace
    "fts-only-inbox-ns": ({"fts": ""}, """\
language en {
  default = yes
}
namespace inbox {
  fts sift {
  }
  fts_header_includes {
    Subject = yes
  }
  fts_header_excludes {
    * = yes
  }
}
""", {"INBOX", "Archive", "Lists"}, {"Other/Box"}),
    # fts-sift's own settings in a namespace filter and in the fts sift
    # filter of one mailbox (tiny commit batches there: several commits
    # while a mailbox is indexed)
    "sift-settings-scoped": ({}, """\
namespace other {
  fts_sift_commit_batch = 1
  fts_sift_max_doc_terms = 64
}
mailbox Lists {
  fts sift {
    fts_sift_commit_batch = 2
  }
}
""", set(BOXES), set()),
}

# the headers the configurations leave out, searched in every mailbox
HEADER_QUERIES = [
    ("SUBJECT", "patch"), ("SUBJECT", "selftests"), ("SUBJECT", "caf"),
    ("FROM", "example"), ("FROM", "alice"), ("TO", "example"), ("TO", "bob"),
    ("HEADER", "X-Project", ""), ("HEADER", "X-Project", "sift"),
    ("HEADER", "From", "@"), ("TEXT", "example"), ("NOT", "SUBJECT", "the"),
    ("OR", "SUBJECT", "patch", "FROM", "example"),
]

RANDOM_N = int(os.environ.get("SIFT_SCOPES_RANDOM_N", "24"))


def _queries(box_index):
    qs = [tuple(crit) for _cid, crit, _kw in CASES]
    # (a substring that is just "(" or ")" would be sent as an atom)
    qs += [crit for _k, crit in rq._random_queries(101 + box_index, RANDOM_N)
           if "(" not in crit and ")" not in crit]
    return qs + HEADER_QUERIES


@pytest.fixture(params=sorted(CONFIGS), scope="module")
def scoped(request):
    settings, scoped_conf, autoindexed, unindexed = CONFIGS[request.param]

    def make(directory, plugin):
        if plugin == "sift":
            return Dovecot(directory, None, plugin=plugin, users=(USER,),
                           plugin_settings=settings,
                           extra_conf=OTHER_NS + scoped_conf)
        return Dovecot(directory, None, plugin=plugin, users=(USER,),
                       extra_conf=OTHER_NS)

    with separate_pair("scopes-" + request.param, make,
                       failed=lambda: request.session.testsfailed > 0) as (fts, oracle):
        pair = FormatPair(fts, oracle)
        pair.config = request.param
        for box in BOXES:
            for fx in fixtures.build_messages(big=False):
                pair.both("append", USER, box, fx.raw, date=fx.date)
        pair.autoindexed = _indexed(fts)
        assert pair.autoindexed == autoindexed, (
            "indexed at APPEND: %s, expected %s" % (sorted(pair.autoindexed), sorted(autoindexed)))
        pair.unindexed = unindexed
        yield pair


def _index_dir(inst, box):
    top, _, name = box.partition("/") if box.startswith("Other/") else ("", "", box)
    base = os.path.join(inst.home(USER), "OtherMail" if top else "Maildir")
    return os.path.join(base, "" if name == "INBOX" else "." + name, "fts-sift")


def _indexed(inst):
    """The mailboxes that have an fts-sift index directory."""
    return {box for box in BOXES if os.path.isdir(_index_dir(inst, box))}


def test_scoped_settings_equal_oracle(scoped):
    """Every mailbox of both namespaces answers as the oracle does."""
    bad, total, nonempty = [], 0, 0
    for i, box in enumerate(BOXES):
        queries = _queries(i)
        b, n = fixtures.oracle_compare(scoped.fts, scoped.oracle, USER, box, queries)
        bad += ["%s: %s" % (box, x) for x in b]
        total += len(queries)
        nonempty += n
    assert not bad, "%s: %d of %d differ:\n%s" % (
        scoped.config, len(bad), total, "\n".join(bad[:30]))
    assert nonempty >= total // 3, (nonempty, total)
    # (where fts is not configured, no index was made by the searches)
    assert _indexed(scoped.fts) == set(BOXES) - scoped.unindexed
    assert not scoped.fts.log_problems(), scoped.fts.log_problems()[:10]
