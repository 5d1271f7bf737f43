"""A small sample of each real corpus, indexed by fts-sift, with its
generated query set run on fts-sift and on the oracle (Dovecot without
FTS).  Shared by test_corpus_oracle.py and pending_corpus_reads.py: the
session fixture `corpus_runs` does the work once, the tests only look at
the results.

The corpora are not part of the project: they are read from
$SIFT_CORPORA or ../shared/corpora (next to the repository).  A corpus
that is not there makes its tests skip (tests/run-all.sh does not count a
skipped test as passed).

Environment:
  SIFT_CORPORA           directory with the corpora (see above)
  SIFT_CORPUS_QUERIES    queries per corpus (default 200)
  SIFT_TEST_KEEP=1       keep the instances' directory
"""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))

import oracle_sets  # noqa: E402
import querysets  # noqa: E402

# messages per mailbox: the first 300 of kselftest, a seeded sample of the
# others (so every script and every kind of mail is in it)
SAMPLE = {"kselftest": 300, "multilingual": 300, "*": 100}
QUERIES = int(os.environ.get("SIFT_CORPUS_QUERIES", "200"))
BOXES = ["kselftest", "multilingual", "spamassassin_public",
         "sisimai_bounces", "mime_edge_cases"]


# the header selections the filtered run uses: built with the first,
# searched under the second (a changed selection: the index is rebuilt)
FILTER_BUILT = {"fts_header_includes": "X-Mailer",
                "fts_header_excludes": "X-* Received DKIM-* List-* Subject Cc"}
FILTER_SEARCHED = {"fts_header_excludes": "X-Mailer Received DKIM-* List-*"}
FILTER_SAMPLE = {"kselftest": 150, "*": 80}
FILTER_QUERIES = int(os.environ.get("SIFT_CORPUS_FILTER_QUERIES", "120"))


def _corpus_runs(request, prefix, sample, n_queries, built=None, searched=None):
    corpora = oracle_sets.default_corpora_dir()
    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o755)
    sets = oracle_sets.load_corpora(corpora, os.path.join(root, "corpora"), sample,
                                    seed=1, only=set(BOXES))
    if not sets:
        shutil.rmtree(root, ignore_errors=True)
        return root, {}
    queries = {box: querysets.generate(msgs, seed="1/%s" % box, n=n_queries)
               for box, msgs in sets.items()}
    sift, oracle, _secs = oracle_sets.setup(os.path.join(root, "run"), sets,
                                            plugin_settings=built)
    out = {}
    try:
        if searched is not None:
            sift.stop()
            sift.plugin_settings = dict(searched)
            sift.start()
        for box, msgs in sets.items():
            out[box] = {"messages": len(msgs),
                        "results": oracle_sets.run_set(sift, oracle, box, queries[box])}
    finally:
        sift.stop()
        oracle.stop()
    return root, out


@pytest.fixture(scope="session")
def corpus_runs(request):
    """Mailbox name -> {"messages": n, "results": [result dict per query,
    see oracle_sets.run_set]}, for the corpora that are present."""
    root, out = _corpus_runs(request, "fts-sift-corpus.", SAMPLE, QUERIES)
    yield out
    if request.session.testsfailed or os.environ.get("SIFT_TEST_KEEP") == "1":
        sys.stderr.write("[fts-sift tests] kept %s (logs: run/sift/log/dovecot.log)\n" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)


def results_of(corpus_runs, box):
    """The results for one mailbox, or skip the test when its corpus is
    absent."""
    if box not in corpus_runs:
        pytest.skip("corpus for %s not found under %s (set SIFT_CORPORA)"
                    % (box, oracle_sets.default_corpora_dir()))
    return corpus_runs[box]["results"]


def assert_inword_substrings_read_nothing(corpus_runs, box, cls="in-word substring"):
    """Every query of class cls in box's set (by default "in-word
    substring": BODY with a slice from inside one real word, letters only)
    was answered by the index alone: the plugin's debug line "Lookup in
    <box>: D definite, M maybe uids, ..." says M = 0, and Dovecot logged
    no "UID <n>: Opened mail because: search" for it (it read no
    message)."""
    res = [r for r in results_of(corpus_runs, box) if r["class"] == cls]
    assert len(res) >= 5, "test problem: only %d %s queries" % (len(res), cls)
    unlogged = [r for r in res if not r["lookups"]]
    assert not unlogged, "no lookup logged (the index was not asked) for:\n%s" % (
        "\n".join("  UID SEARCH " + r["query"] for r in unlogged))
    reading = [r for r in res if r["read"] or r["opened"]]
    assert not reading, "%d of %d %s searches in %s made Dovecot read " \
        "messages:\n%s" % (len(reading), len(res), cls, box, "\n".join(
            "  UID SEARCH %s: %d hits, %d maybe uids, %d opened %s" % (
                r["query"], r["hits"] or 0, r["read"], r["opened"], r["opened_uids"][:10])
            for r in reading))


@pytest.fixture(scope="session")
def corpus_runs_filtered(request):
    """As corpus_runs, on smaller samples, with the index built under
    FILTER_BUILT and searched under FILTER_SEARCHED (issue 12: the
    fts_header_excludes/includes settings)."""
    root, out = _corpus_runs(request, "fts-sift-corpus-filter.", FILTER_SAMPLE,
                             FILTER_QUERIES, FILTER_BUILT, FILTER_SEARCHED)
    yield out
    if request.session.testsfailed or os.environ.get("SIFT_TEST_KEEP") == "1":
        sys.stderr.write("[fts-sift tests] kept %s\n" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)

