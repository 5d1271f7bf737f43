"""The plugin on Dovecot's other mail storage formats: sdbox, mdbox and
mbox (every other integration test runs on maildir).

Each format keeps the index somewhere else (sdbox and mdbox in the
mailbox's dbox-Mails directory, mbox under .imap/<mailbox>), and dbox
keeps a message's flags and UIDs only in Dovecot's index files, so the
oracle can't read the same storage through index files of its own as it
does for maildir: here it is a second Dovecot without FTS, with its own
homes in the same format, and every change (APPEND, EXPUNGE, COPY,
RENAME) is made on both, in the same order, so that the UIDs agree
(asserted).  Then every search of test_search_oracle.py (also ANDed with
a date) must give the oracle's UIDs, in INBOX and after a COPY to a
folder (mdbox shares the copied message's storage), after an EXPUNGE,
after a RENAME of the folder (mbox moves the index directory with it),
after `doveadm fts rescan` and after a restart."""

import os
import shutil
import subprocess

import pytest

from dovetest import Dovecot
from fixtures import with_dates
from storage_pair import USER, format_pair
from test_search_oracle import CASES

FORMATS = ("sdbox", "mdbox", "mbox")
# where each format keeps a mailbox's index (relative to the home)
INDEX_DIRS = {
    "sdbox": "sdbox/mailboxes/%s/dbox-Mails/fts-sift",
    "mdbox": "mdbox/mailboxes/%s/dbox-Mails/fts-sift",
    "mbox": "mbox/.imap/%s/fts-sift",
}
# the cases whose must/must_not keys stay in the folder after EXPUNGE
EXPUNGED_KEYS = ("b64", "html")


@pytest.fixture(scope="module", params=FORMATS)
def fmt(request):
    """The pair (storage_pair.py) on one format: pair.driver."""
    driver = request.param
    yield from format_pair(
        request, "formats-" + driver,
        lambda path, plugin: Dovecot(path, None, plugin=plugin, mail_driver=driver),
        big=True, attrs={"driver": driver})


@pytest.mark.parametrize("criteria,kw", with_dates(CASES))
def test_inbox_equals_oracle(fmt, criteria, kw):
    fmt.check(USER, "INBOX", criteria, **kw)


def test_index_where_the_format_keeps_it(fmt):
    """The index lies with the mailbox, where the format keeps its files."""
    path = os.path.join(fmt.fts.home(USER), INDEX_DIRS[fmt.driver] % "INBOX")
    assert os.path.isdir(path), "no index at %s" % path
    assert os.path.exists(os.path.join(path, "iamglass"))


def _folder_checks(fmt, folder, cases):
    for criteria, kw in cases:
        fmt.check(USER, folder, criteria, **kw)


def _loose(cases, keys=None):
    """The cases with their fixture keys kept only where they stay in the
    folder (keys: None for all), and no checks on result sizes (a
    folder holds other messages than INBOX)."""
    out = []
    for cid, crit, kw in cases:
        kw = dict(kw)
        for k in ("must", "must_not"):
            if k in kw:
                kw[k] = [x for x in kw[k] if keys is None or x in keys]
        kw.pop("empty", None)
        kw["nonempty"] = False
        kw["notall"] = False
        out.append((crit, kw))
    return out


def test_copy_expunge_rename_rescan_restart(fmt):
    """COPY every message to a folder, search it; EXPUNGE some there,
    search again; RENAME the folder, search it under its new name (and
    its index moved with it); `doveadm fts rescan`, search; restart both
    instances, search.  Every search equals the oracle."""
    folder = "Archive"
    fmt.both("create_mailbox", USER, folder)
    fmt.imap_both(USER, "COPY", "1:*", folder)
    # COPY keeps the UID order: the folder's UIDs are INBOX's, renumbered
    inbox_uids = sorted(fmt.uids.values())
    names = {i + 1: {u: k for k, u in fmt.uids.items()}[uid]
             for i, uid in enumerate(inbox_uids)}
    fmt.name_uids(USER, folder, names)
    cases = _loose(CASES)
    _folder_checks(fmt, folder, cases)

    # EXPUNGE every other message but those the kept keys name
    keep = {u for u, k in names.items() if k in EXPUNGED_KEYS}
    gone = [u for u in sorted(names) if u % 2 == 0 and u not in keep]
    assert gone
    fmt.both("expunge", USER, folder, gone)
    fmt.names[(USER, folder)] = {u: k for u, k in names.items() if u not in gone}
    kept_keys = set(fmt.names[(USER, folder)].values())
    cases = _loose(CASES, kept_keys)
    _folder_checks(fmt, folder, cases)
    assert fmt.fts.search(USER, folder, "ALL") == fmt.oracle.search(USER, folder, "ALL")

    renamed = "Archive2020"
    fmt.imap_both(USER, "RENAME", folder, renamed)
    fmt.names[(USER, renamed)] = fmt.names.pop((USER, folder))
    _folder_checks(fmt, renamed, cases)
    assert os.path.isdir(os.path.join(fmt.fts.home(USER),
                                      INDEX_DIRS[fmt.driver] % renamed))

    out = fmt.fts.doveadm("fts", "rescan", "-u", USER)
    assert out is not None
    _folder_checks(fmt, renamed, cases)

    for inst in (fmt.fts, fmt.oracle):
        inst.stop()
        inst.start()
    _folder_checks(fmt, renamed, cases)
    _folder_checks(fmt, "INBOX", [(c, dict(k, nonempty=False, notall=False))
                                  for _, c, k in CASES])
    assert not fmt.fts.log_problems(), fmt.fts.log_problems()


def _json(p):
    import json
    return json.loads(p.stdout or "[]")


def test_doveadm_commands(fmt):
    """fts-sift status, check, stale and remove find each format's index
    (the index files are where INDEX_DIRS says)."""
    box = "Scratch"
    fmt.both("append", USER, box, b"From: x@example.org\nSubject: scratch\n\nkeepme here\n")
    fmt.check(USER, box, ("BODY", "keepme"), notall=False)
    rows = {r["mailbox"]: r for r in _json(fmt.fts.doveadm_sift(
        "-f", "json", "fts-sift", "status", "-u", USER))}
    assert rows[box]["state"] == "ok" and int(rows[box]["documents"]) == 1, rows
    assert rows["INBOX"]["state"] == "ok", rows
    p = fmt.fts.doveadm_sift("-f", "json", "fts-sift", "check", "-u", USER, box)
    assert _json(p)[0]["result"] == "ok", p.stdout
    index = os.path.join(fmt.fts.home(USER), INDEX_DIRS[fmt.driver] % box)
    assert os.path.isdir(index)
    # an empty mailbox was never indexed (the test instances index new
    # mail as it arrives): stale lists it as missing, until it is
    fresh = "Fresh"
    fmt.both("create_mailbox", USER, fresh)
    stale = {r["mailbox"]: r["state"] for r in _json(fmt.fts.doveadm_sift(
        "-f", "json", "fts-sift", "stale", "-u", USER))}
    assert stale == {fresh: "missing"}, stale
    fmt.both("append", USER, fresh, b"From: y@example.org\nSubject: fresh\n\nfreshword\n")
    fmt.check(USER, fresh, ("BODY", "freshword"), notall=False)
    stale = _json(fmt.fts.doveadm_sift("-f", "json", "fts-sift", "stale", "-u", USER))
    assert stale == [], stale
    fmt.imap_both(USER, "DELETE", fresh)
    # DELETE removes the mailbox's index with it (on mbox the plugin does:
    # Dovecot leaves .imap/<name>/fts-sift behind).  A mailbox created
    # again under the name numbers its messages from 1 again: an old
    # index found there (left behind, or restored from a backup; here
    # put back by hand) must not answer for them (SIFT_META_UIDVALIDITY)
    saved = os.path.join(fmt.fts.root, "saved-index")
    subprocess.run(["cp", "-a", index, saved], check=True)
    fmt.imap_both(USER, "DELETE", box)
    assert not os.path.isdir(index), index
    assert not os.path.isdir(os.path.dirname(index)) or fmt.driver != "mbox", \
        os.listdir(os.path.dirname(index))
    fmt.both("append", USER, box, b"From: z@example.org\nSubject: again\n\nagainword\n")
    fmt.check(USER, box, ("BODY", "againword"), notall=False)
    shutil.rmtree(index)
    subprocess.run(["cp", "-a", saved, index], check=True)
    fmt.both("append", USER, box, b"From: z@example.org\nSubject: again\n\nkeepme too\n")
    fmt.check(USER, box, ("BODY", "againword"), notall=False)
    fmt.check(USER, box, ("BODY", "keepme"), notall=False)
    fmt.check(USER, box, ("SUBJECT", "scratch"), empty=True)
    fmt.imap_both(USER, "DELETE", box)
    stale = _json(fmt.fts.doveadm_sift("-f", "json", "fts-sift", "stale", "-u", USER))
    assert stale == [], stale
    p = fmt.fts.doveadm_sift("-f", "json", "fts-sift", "remove", "-u", USER, "INBOX")
    assert p.returncode == 0, p.stderr
    assert not os.path.isdir(os.path.join(fmt.fts.home(USER), INDEX_DIRS[fmt.driver] % "INBOX"))
    # the next search rebuilds it, and is exact
    for _, crit, kw in CASES[:20]:
        fmt.check(USER, "INBOX", crit, **dict(kw, nonempty=False, notall=False))
    assert os.path.isdir(os.path.join(fmt.fts.home(USER), INDEX_DIRS[fmt.driver] % "INBOX"))
