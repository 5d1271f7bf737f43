"""Single-word, prefix and in-word substring searches need no message
reads on the real corpora (issue 3 for kselftest, in
test_corpus_oracle.py; issue 12 for the HTML mail of the others).

Before fts-sift indexed HTML parts as Dovecot's search reads them
(plugin/sift-html.c), every body search on these mailboxes handed Dovecot
every message with an HTML part to verify ("maybe"); now the index
answers them alone.  What reads remain in these classes has another
cause, which the failure message shows (the UIDs Dovecot opened).
"""

import pytest

from corpus_sample import assert_inword_substrings_read_nothing

CLASSES = ("word", "prefix", "in-word substring")
BOXES = ("multilingual", "spamassassin_public", "sisimai_bounces")


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("box", BOXES)
def test_words_read_no_message(corpus_runs, box, cls):
    assert_inword_substrings_read_nothing(corpus_runs, box, cls)
