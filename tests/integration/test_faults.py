"""Fault injection: a damaged, killed or unwritable index never gives a
wrong answer, never refuses a search for good, and says so once.

Every file of an index (Xapian's tables, its version file iamglass, the
lock file, and the plugin's side files terms, opaque and gaps) is damaged
in each of three ways - cut to half its size, 4 KB of garbage written in
its middle, deleted - on a copy of a freshly built index.  Then:

  - every search of a set that reads every part of the index (words,
    substrings, phrases, TEXT on header signatures, headers, addresses,
    NOT, one character) equals Dovecot's own answer (the oracle), right
    after the damage and after the next indexing run;
  - `doveadm index` succeeds;
  - afterwards the index is in use again (`doveadm fts lookup` answers
    from it, equal to the oracle);
  - the log has at most one problem line, and exactly one error where the
    damage is certain to be read (the side files, the version file, the
    main table).  Damage to a table block no search reads, or to the lock
    file (whose content means nothing), may pass unnoticed: then nothing
    may be logged and the answers must still be exact.

Also: `doveadm index` killed with SIGKILL at random moments leaves an
index that answers exactly, with nothing logged; and an index directory
the mail processes can't write is reported at once, naming the path and
the cause, not after a lock timeout.
"""

import os
import random
import struct
import shutil
import signal
import subprocess
import time
import zlib

import pytest

from dovetest import DovecotError, instance_pair, parse_uid_set  # noqa: E402
from fixtures import T2020, T2024, simple  # noqa: E402

USER = "dora"
N = 80
WORDS = ("harbor lantern meadow quartz saffron timber velvet willow zephyr "
         "canyon ember falcon glacier hollow island juniper").split()


def _msg(n):
    rnd = random.Random(n)
    words = [rnd.choice(WORDS) for _ in range(30)]
    if n % 3 == 0:
        words[5:7] = ["bright", "lantern"]
    body = " ".join(words) + "\nticket-%04d closed by build v5.%d\n" % (n, n % 7)
    # a pooled header with opaque tokens (kept in the opaque file)
    sig = "v=1; a=rsa-sha256; d=example.org; bh=Qx%dZk%07dAbCdEf%03dGh=; b=Rt%06dLm" % (
        n, n * 7919, n % 13, n * 31)
    extra = ("DKIM-Signature: %s\n" % sig).encode()
    return simple("Sender %d <s%d@example.org>" % (n, n), "dora@example.test",
                  "Report %d %s" % (n, rnd.choice(WORDS)), T2020 if n % 2 else T2024,
                  body.encode(), extra=extra)


QUERIES = [
    ("BODY", "lantern"), ("BODY", "anter"), ("BODY", "bright lantern"),
    ("BODY", "ticket-0042"), ("BODY", "q"), ("TEXT", "Zk0332598"),
    ("HEADER", "DKIM-Signature", "AbCdEf007"), ("FROM", "s17@example"),
    ("SUBJECT", "report 3"), ("NOT", "BODY", "meadow"),
    ("OR", "BODY", "zephyr", "SUBJECT", "glacier"), ("TEXT", "willow"),
]


def _db_dir(fts):
    return os.path.join(fts.maildir(USER), "fts-sift")


def _same_as_oracle(fts, oracle, label):
    for q in QUERIES:
        a = fts.search(USER, "INBOX", *q)
        b = oracle.search(USER, "INBOX", *q)
        assert a == b, "%s: %s: fts %s, oracle %s" % (label, q, a, b)


def _chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for d, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(d, name), uid, gid)


def _remove_broken(fts):
    md = fts.maildir(USER)
    for name in os.listdir(md):
        if name.startswith("fts-sift."):
            shutil.rmtree(os.path.join(md, name), ignore_errors=True)


@pytest.fixture(scope="module")
def faults(request):
    with instance_pair("faults", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for n in range(1, N + 1):
            fts.append(USER, "INBOX", _msg(n), date=T2020, create=False)
        fts.doveadm("index", "-u", USER, "INBOX")
        _same_as_oracle(fts, oracle, "pristine")
        fts.close_connections()
        pristine = os.path.join(fts.root, "pristine-index")
        shutil.copytree(_db_dir(fts), pristine)
        yield fts, oracle, pristine


def _restore(fts, pristine):
    fts.close_connections()
    _remove_broken(fts)
    shutil.rmtree(_db_dir(fts), ignore_errors=True)
    shutil.copytree(pristine, _db_dir(fts))
    _chown_tree(_db_dir(fts), fts.mail_uid, fts.mail_gid)


def _damage(path, how):
    size = os.path.getsize(path)
    if how == "truncate":
        os.truncate(path, size // 2)
    elif how == "garbage":
        rnd = random.Random(zlib.crc32(path.encode()))
        with open(path, "r+b") as f:
            f.seek(size // 2)
            f.write(bytes(rnd.randrange(256) for _ in range(4096)))
    else:
        os.unlink(path)


def _index_files(pristine):
    return sorted(f for f in os.listdir(pristine)
                  if os.path.isfile(os.path.join(pristine, f)))


# Damage that a search is certain to read, so it must be reported.
def _must_report(name, how):
    if name in ("terms", "opaque", "gaps", "iamglass"):
        return True
    return name == "postlist.glass" and how in ("truncate", "delete")


def test_index_has_the_expected_files(faults):
    fts, oracle, pristine = faults
    files = _index_files(pristine)
    for name in ("iamglass", "postlist.glass", "flintlock", "terms", "opaque", "gaps"):
        assert name in files, files


def _check_damage(fts, oracle, pristine, names, how):
    failures = []
    for name in names:
        label = "%s %s" % (how, name)
        _restore(fts, pristine)
        _damage(os.path.join(_db_dir(fts), name), how)
        since = fts.log_size()
        try:
            _same_as_oracle(fts, oracle, label + ", first searches")
            _same_as_oracle(fts, oracle, label + ", searches again")
            fts.doveadm("index", "-u", USER, "INBOX")
            _same_as_oracle(fts, oracle, label + ", after doveadm index")
            definite, maybe = fts.fts_lookup(USER, "INBOX", "body", "lantern")
            expected = set(oracle.search(USER, "INBOX", "BODY", "lantern"))
            assert definite == expected and not maybe, \
                "%s: the index is not in use again: %s %s" % (label, definite, maybe)
        except (AssertionError, DovecotError) as e:
            failures.append("%s: %s" % (label, e))
            continue
        problems = fts.log_problems(since)
        errors = [p for p in problems if "Error:" in p]
        if len(problems) > 1:
            failures.append("%s: %d log problems: %s" % (label, len(problems), problems))
        elif _must_report(name, how) and len(errors) != 1:
            failures.append("%s: not reported: %s" % (label, problems))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("how", ["truncate", "garbage", "delete"])
def test_damaged_file(faults, how):
    fts, oracle, pristine = faults
    _check_damage(fts, oracle, pristine, _index_files(pristine), how)


# The metadata the plugin keeps in the database (sift-index.h,
# sift-record.h).  Garbage in a table block can make Xapian find none of
# it without an error (glass has no block checksums) while the documents
# are still there: seen with 4 KB of garbage in the middle of
# postlist.glass, the index was taken for a new one and every message
# added again over documents Xapian could no longer update, so every
# commit failed and every search answered NO [SERVERBUG].
META_KEYS = ("sift.format", "sift.last_uid", "sift.text", "sift.files",
             "sift.headers", "sift.uidvalidity")


def _drop_metadata(path, keys):
    import xapian
    db = xapian.WritableDatabase(path, xapian.DB_OPEN | xapian.DB_NO_TERMLIST)
    try:
        for key in keys:
            db.set_metadata(key, "")
        db.commit()
    finally:
        db.close()


@pytest.mark.parametrize("keys", [("all",)] + [(k,) for k in META_KEYS],
                         ids=lambda k: k[0])
def test_metadata_lost(faults, keys):
    # Each key lost alone and all of them at once, the documents kept:
    # answers stay exact, the index is rebuilt or completed (never
    # written over), in use again afterwards, with at most one problem
    # logged.
    fts, oracle, pristine = faults
    _restore(fts, pristine)
    path = _db_dir(fts)
    _drop_metadata(path, META_KEYS if keys == ("all",) else keys)
    _chown_tree(path, fts.mail_uid, fts.mail_gid)
    since = fts.log_size()
    _same_as_oracle(fts, oracle, "%s lost, first searches" % (keys,))
    _same_as_oracle(fts, oracle, "%s lost, searches again" % (keys,))
    fts.doveadm("index", "-u", USER, "INBOX")
    _same_as_oracle(fts, oracle, "%s lost, after doveadm index" % (keys,))
    definite, maybe = fts.fts_lookup(USER, "INBOX", "body", "lantern")
    assert definite == set(oracle.search(USER, "INBOX", "BODY", "lantern")) \
        and not maybe, (definite, maybe)
    problems = fts.log_problems(since)
    assert len(problems) <= 1, problems
    if keys in (("all",), ("sift.format",), ("sift.files",)):
        # nothing else tells a used index from a new one or names its
        # side files: damage, reported once
        assert len(problems) == 1 and "is damaged" in problems[0], problems


def test_garbage_in_every_table_block(faults):
    # Garbage over each 8 KB block of the main table in turn (at a seeded
    # offset in the block): no search may fail, doveadm index succeeds,
    # at most one problem is logged.  Exactness is not asserted here:
    # garbage that leaves Xapian's B-tree readable can change a posting
    # list without any error, which no reader can tell (see README,
    # "Reliability").
    fts, oracle, pristine = faults
    size = os.path.getsize(os.path.join(pristine, "postlist.glass"))
    failures = []
    for block in range(size // 8192):
        rnd = random.Random(block)
        offset = block * 8192 + rnd.randrange(8192 - 1024)
        label = "garbage at %d of postlist.glass" % offset
        _restore(fts, pristine)
        with open(os.path.join(_db_dir(fts), "postlist.glass"), "r+b") as f:
            f.seek(offset)
            f.write(bytes(rnd.randrange(256) for _ in range(1024)))
        since = fts.log_size()
        try:
            for _ in range(2):
                for q in QUERIES:
                    fts.search(USER, "INBOX", *q)
            fts.doveadm("index", "-u", USER, "INBOX")
            for q in QUERIES:
                fts.search(USER, "INBOX", *q)
        except DovecotError as e:
            failures.append("%s: %s" % (label, e))
            continue
        problems = fts.log_problems(since)
        if len(problems) > 1:
            failures.append("%s: %d log problems: %s" % (label, len(problems), problems))
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def compacted(request):
    """An index whose terms file was rewritten (fts optimize) with its
    saved trigram filters (grams, sift-gramfilter.h): a search loads
    them and verifies the terms records they cover as it reads them."""
    with instance_pair("faultsc", (USER,),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for n in range(1, N + 1):
            fts.append(USER, "INBOX", _msg(n), date=T2020, create=False)
        fts.doveadm("index", "-u", USER, "INBOX")
        fts.doveadm("fts", "optimize", "-u", USER)
        _same_as_oracle(fts, oracle, "pristine")
        fts.close_connections()
        pristine = os.path.join(fts.root, "pristine-index")
        shutil.copytree(_db_dir(fts), pristine)
        yield fts, oracle, pristine


@pytest.mark.parametrize("how", ["truncate", "garbage", "delete"])
def test_damaged_terms_with_saved_filters(compacted, how):
    # (only the side files here: garbage in a compacted postlist.glass
    # is a Xapian block no checksum covers, see the README)
    fts, oracle, pristine = compacted
    assert "grams" in _index_files(pristine)
    _check_damage(fts, oracle, pristine, ("terms", "grams", "opaque", "gaps"), how)


def _grams_slices_offset(path):
    # struct gram_file_header (sift-gramfilter.c): magic, terms_gen,
    # covered, then record_count, block_count and six more 32-bit fields;
    # then the records (16 bytes each) and the blocks (8 bytes each); the
    # slice groups start at the next multiple of 8
    with open(path, "rb") as f:
        hdr = f.read(56)
    assert hdr[:8] == b"SIFTGRM4", hdr[:8]
    records, blocks = struct.unpack_from("=II", hdr, 24)
    return (56 + records * 16 + blocks * 8 + 7) // 8 * 8


def test_damaged_grams_slices_warned_once(compacted):
    # Garbage over every slice group of the saved filters (the header and
    # tables intact, so the file is loaded): searches stay exact, reading
    # the terms file's blocks the damaged groups cover, and the log says
    # so once, naming the grams file, as a warning (the file is a cache
    # written again at the next compaction), and after the compaction
    # the filters are whole again: no further warning.
    fts, oracle, pristine = compacted
    _restore(fts, pristine)
    path = os.path.join(_db_dir(fts), "grams")
    start = _grams_slices_offset(path)
    size = os.path.getsize(path)
    assert size > start, (size, start)
    rnd = random.Random(11)
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(bytes(rnd.randrange(256) for _ in range(size - start)))
    fts.close_connections()
    since = fts.log_size()
    _same_as_oracle(fts, oracle, "damaged grams slices, first searches")
    _same_as_oracle(fts, oracle, "damaged grams slices, searches again")
    problems = fts.log_problems(since)
    warned = [p for p in problems if "grams" in p and "failed their checksum" in p]
    assert len(problems) == 1 and len(warned) == 1 and "Warning:" in warned[0], problems
    fts.doveadm("fts", "optimize", "-u", USER)
    fts.close_connections()
    since = fts.log_size()
    _same_as_oracle(fts, oracle, "after fts optimize")
    assert not fts.log_problems(since), fts.log_problems(since)


def test_kill_during_indexing(faults):
    fts, oracle, pristine = faults
    rnd = random.Random(7)
    fts.close_connections()
    _remove_broken(fts)
    for attempt in range(8):
        shutil.rmtree(_db_dir(fts), ignore_errors=True)
        since = fts.log_size()
        cmd = ["doveadm", "-c", fts.conf_path, "-o", "plugin/fts_sift_commit_batch=7",
               "index", "-u", USER, "INBOX"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.05, 0.8))
        p.send_signal(signal.SIGKILL)
        p.wait()
        _same_as_oracle(fts, oracle, "kill #%d" % attempt)
        fts.doveadm("index", "-u", USER, "INBOX")
        _same_as_oracle(fts, oracle, "kill #%d, indexed again" % attempt)
        assert not fts.log_problems(since), fts.log_problems(since)
        fts.close_connections()


def test_unwritable_index_dir(faults):
    fts, oracle, pristine = faults
    if os.geteuid() != 0 or fts.mail_uid == 0:
        pytest.fail("needs root with unprivileged mail processes (the mail "
                    "uid would bypass the directory's mode)")
    _restore(fts, pristine)
    path = _db_dir(fts)
    os.chmod(path, 0o555)
    try:
        since = fts.log_size()
        uid = fts.append(USER, "INBOX", _msg(N + 1), date=T2020, create=False)
        start = time.time()
        p = fts.doveadm("index", "-u", USER, "INBOX", check=False)
        elapsed = time.time() - start
        log = fts.log_text().encode()[since:].decode("utf-8", "replace")
        assert elapsed < 10, "doveadm index took %.1f s" % elapsed
        assert "locked by another process" not in log, log[-2000:]
        assert "can't be written: faccessat(%s) failed: Permission denied" % path \
            in log, log[-2000:]
        # searches of the indexed messages are still answered by the
        # index's copy, and the new one by Dovecot; an expunge is not
        # held up either
        fts.close_connections()
        start = time.time()
        fts.expunge(USER, "INBOX", [uid])
        assert time.time() - start < 10
    finally:
        os.chmod(path, 0o755)
    fts.close_connections()
    fts.doveadm("index", "-u", USER, "INBOX")
    _same_as_oracle(fts, oracle, "after the directory is writable again")
