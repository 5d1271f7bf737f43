"""Last checks of the session (conftest.py runs this file after every
other test, whatever the order of names): the plugin really
answered (its Xapian index exists) and the Dovecot logs are clean."""

import os

import pytest

BACKEND = os.environ.get("SIFT_TEST_BACKEND", "sift")


def _sift_index_dirs(maildir):
    """Directories named fts-sift under maildir that contain a Xapian
    (glass) database somewhere below."""
    found = []
    for dirpath, dirnames, _ in os.walk(maildir):
        if os.path.basename(dirpath) != "fts-sift":
            continue
        dbs = [d for d, _, files in os.walk(dirpath) if "iamglass" in files]
        found.append((dirpath, dbs))
    return found


def test_mail_was_searched(corpus):
    """Make sure the corpus fixture ran even when this file runs alone."""
    assert corpus.uids


@pytest.mark.skipif(BACKEND != "sift", reason="checks the fts-sift index layout")
def test_sift_index_on_disk(pair, corpus):
    maildir = pair.fts.maildir("alice")
    found = _sift_index_dirs(maildir)
    assert found, "no directory named fts-sift under %s" % maildir
    dbs = [db for _, d in found for db in d]
    assert dbs, "fts-sift directories %s hold no Xapian database (iamglass)" % (
        [p for p, _ in found])


@pytest.mark.skipif(BACKEND != "sift", reason="checks the fts-sift plugin's log lines")
def test_sift_plugin_was_loaded(pair, corpus):
    log = pair.fts.log_text()
    so = os.path.join(pair.fts.module_dir, "lib21_fts_sift_plugin.so")
    if "Module loaded: %s" % so not in log:
        # Dovecot 2.4's mail processes do not log module loading at the
        # debug level the tests use; doveadm -D does, from the same config
        p = pair.fts.doveadm("-D", "mailbox", "status", "-u", "alice", "messages", "INBOX")
        log = p.stdout + p.stderr
    assert "Module loaded: %s" % so in log, \
        "neither the Dovecot log nor doveadm -D shows %s loaded" % so
    # and it served searches
    assert "fts-sift: Lookup in INBOX" in pair.fts.log_text()


def test_no_log_problems_fts(pair, corpus):
    problems = pair.fts.log_problems()
    assert not problems, "%d Panic/Fatal/Error lines in %s:\n%s" % (
        len(problems), pair.fts.log_path, "\n".join(problems[:50]))


def test_no_log_problems_oracle(pair, corpus):
    problems = pair.oracle.log_problems()
    assert not problems, "%d Panic/Fatal/Error lines in %s:\n%s" % (
        len(problems), pair.oracle.log_path, "\n".join(problems[:50]))
