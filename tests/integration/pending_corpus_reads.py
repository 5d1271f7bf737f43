"""Single-word in-word substrings need no message reads, on the corpora
other than kselftest (issue 3; kselftest is checked in
test_corpus_oracle.py).

NOT collected by the suite yet (pytest only collects test_*.py): with
today's plugin it fails on these four mailboxes, where every body search
hands Dovecot the same set of "maybe" UIDs to verify (the messages the
index does not trust).  Enable it once the plugin is fixed:

    git mv tests/integration/pending_corpus_reads.py \
           tests/integration/test_corpus_reads.py

or run it now:

    /usr/bin/python3 -m pytest tests/integration/pending_corpus_reads.py
"""

import pytest

from corpus_sample import BOXES, assert_inword_substrings_read_nothing


@pytest.mark.parametrize("box", [b for b in BOXES if b != "kselftest"])
def test_inword_substrings_read_no_message(corpus_runs, box):
    assert_inword_substrings_read_nothing(corpus_runs, box)
