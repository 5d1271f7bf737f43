"""Maildir mail compressed with xz by an admin (Dovecot 2.3's zlib plugin
reads xz, it never writes it): the plugin indexes it through Dovecot's
decompressing stream and answers as the oracle does.

Both instances (the plugin's and the oracle, Dovecot without FTS, each
with storage of its own) get the fixtures' 27 messages in INBOX and in
Box, written gzip-compressed (zlib_save = gz, which also loads zlib);
then, stopped, every message file is rewritten xz-compressed under the
same name (S= keeps the uncompressed size) and mtime (INTERNALDATE), Dovecot's own index files of
Box and the plugin's index are removed, so the plugin indexes Box anew
from the xz files, and both are started again.  Compared: every
test_search_oracle.py case and random substrings (test_random_queries.py)
in both mailboxes, and that the files are xz (magic) and no fts-sift
warning or error was logged.

Dovecot 2.4 reads no xz (its mail_compress has gz, bz2, lz4, zstd): the
module runs on 2.3 only (conftest.py ONLY_23)."""

import glob
import gzip
import lzma
import os
import shutil

import pytest

import fixtures
from dovetest import Dovecot, separate_pair
from storage_pair import FormatPair
from test_search_oracle import CASES
import test_random_queries as rq

USER = "alice"
BOXES = ["INBOX", "Box"]
XZ_MAGIC = b"\xfd7zXZ\x00"


def _mail_files(inst, box):
    d = os.path.join(inst.maildir(USER), "" if box == "INBOX" else "." + box)
    return [f for sub in ("cur", "new") for f in glob.glob(os.path.join(d, sub, "*"))]


def _to_xz(path):
    """Rewritten xz-compressed, keeping its mtime: a maildir message's
    INTERNALDATE (as Dovecot's documentation says to do when compressing
    existing mail)."""
    st = os.stat(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with open(path, "wb") as f:
        f.write(lzma.compress(data, format=lzma.FORMAT_XZ))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture(scope="module")
def xz_pair(request):
    def make(directory, plugin):
        return Dovecot(directory, None, plugin=plugin, users=(USER,),
                       storage={"compress": "gz"})

    with separate_pair("xz", make,
                       failed=lambda: request.session.testsfailed > 0) as (fts, oracle):
        pair = FormatPair(fts, oracle)
        for box in BOXES:
            for fx in fixtures.build_messages(big=False):
                pair.both("append", USER, box, fx.raw, date=fx.date)
        # INBOX indexed from the gzip files, Box will be from the xz ones
        fts.search(USER, "INBOX", "BODY", "warmupword")
        for inst in (fts, oracle):
            inst.stop()
            for box in BOXES:
                files = _mail_files(inst, box)
                assert len(files) == 27, files
                for f in files:
                    _to_xz(f)
            box_dir = os.path.join(inst.maildir(USER), ".Box")
            for name in os.listdir(box_dir):
                if name.startswith("dovecot.index") or name == "fts-sift":
                    p = os.path.join(box_dir, name)
                    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
            inst.start()
        pair.since = fts.log_size()
        yield pair


def test_xz_mail_equals_oracle(xz_pair):
    fts, oracle = xz_pair.fts, xz_pair.oracle
    for box in BOXES:
        for f in _mail_files(fts, box):
            with open(f, "rb") as fh:
                assert fh.read(6) == XZ_MAGIC, f
    bad, total, nonempty = [], 0, 0
    for i, box in enumerate(BOXES):
        queries = [tuple(crit) for _cid, crit, _kw in CASES]
        queries += [crit for _k, crit in rq._random_queries(201 + i, 40)
                    if "(" not in crit and ")" not in crit]
        b, n = fixtures.oracle_compare(fts, oracle, USER, box, queries)
        bad += ["%s: %s" % (box, x) for x in b]
        total += len(queries)
        nonempty += n
    assert not bad, "%d of %d differ:\n%s" % (len(bad), total, "\n".join(bad[:30]))
    assert nonempty >= total // 3, (nonempty, total)
    # Box was indexed anew, from the xz files
    assert os.path.isdir(os.path.join(fts.maildir(USER), ".Box", "fts-sift"))
    assert not fts.log_problems(xz_pair.since), fts.log_problems(xz_pair.since)[:10]
