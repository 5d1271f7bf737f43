"""The plugin under storage configurations beyond the four plain formats
(test_mail_formats.py): compressed mail (2.3 zlib, 2.4 mail_compress),
dbox single-instance attachment storage, other mailbox list layouts and
separators, index and control files elsewhere (INDEX=, CONTROL=,
INDEX=MEMORY) and lazy_expunge.

Each configuration runs an instance with the plugin and an oracle (Dovecot
without FTS) with storage of its own in the same configuration; every
change is made on both in the same order (FormatPair), so the UIDs agree.
Checked in each: every search of test_search_oracle.py in INBOX, searches
drawn from generated mail that makes the plugin read a message a second
time (big base64 attachments, attached messages' headers, HTML source),
COPY / EXPUNGE / RENAME of a parent folder with children, folders with
unusual names, DELETE and re-CREATE (no old index picked up), a restart,
and a log without errors or fts-sift warnings."""

import base64
import os
import random

import pytest

import fixtures
import html_mail
from dovetest import Dovecot, new_test_root, remove_test_root
from fixtures import with_dates
from test_mail_formats import FormatPair, _loose, _folder_checks
from test_search_oracle import CASES

USER = "alice"

# name -> Dovecot() keyword arguments; "{root}" is the instance's root.
# index: where INBOX's fts-sift directory must be (relative to the home
# unless it starts with "{root}"), or None where no index can exist
CONFIGS = {
    "maildir-gz": dict(mail_driver="maildir", storage={"compress": "gz"},
                       index="Maildir/fts-sift"),
    "mdbox-zstd": dict(mail_driver="mdbox", storage={"compress": "zstd"},
                       index="mdbox/mailboxes/INBOX/dbox-Mails/fts-sift"),
    "maildir-lz4": dict(mail_driver="maildir", storage={"compress": "lz4"},
                        index="Maildir/fts-sift", dates=False),
    "sdbox-attachments": dict(
        mail_driver="sdbox", storage={"attachment_dir": "{home}/attachments",
                                      "attachment_min_size": "1k"},
        index="sdbox/mailboxes/INBOX/dbox-Mails/fts-sift"),
    "mdbox-attachments-gz": dict(
        mail_driver="mdbox", storage={"attachment_dir": "{home}/attachments",
                                      "attachment_min_size": "1k", "compress": "gz"},
        index="mdbox/mailboxes/INBOX/dbox-Mails/fts-sift"),
    "maildir-layout-fs": dict(mail_driver="maildir", mail_options={"LAYOUT": "fs"},
                              index="Maildir/fts-sift", dates=False),
    "maildir-layout-index": dict(mail_driver="maildir", mail_options={"LAYOUT": "index"},
                                 index=None, dates=False),
    "mdbox-layout-index": dict(mail_driver="mdbox", mail_options={"LAYOUT": "index"},
                               index=None, dates=False),
    "maildir-dot-separator": dict(mail_driver="maildir", namespace_separator=".",
                                  index="Maildir/fts-sift", dates=False),
    "maildir-index-control": dict(
        mail_driver="maildir", mail_options={"INDEX": "{home}/mail-index",
                                             "CONTROL": "{home}/mail-control"},
        index="mail-index/fts-sift", dates=False),
    "maildir-index-memory": dict(mail_driver="maildir", mail_options={"INDEX": "MEMORY"},
                                 index=None, dates=False),
}

FOLDER_NAMES = ["Caf\u00e9 \u00fcber", "Sp ace", "A&B", "100% done", "\u65e5\u672c\u8a9e",
                "Deep/Er/Still/Deeper", "x*y", "Tab\u00e9/Sub \u00e5"]


def _fill(text, root):
    return text.replace("{root}", root)


def _instance(root, plugin, cfg):
    kw = {k: v for k, v in cfg.items() if k not in ("index", "dates")}
    kw["mail_options"] = {k: _fill(v, root) for k, v in kw.get("mail_options", {}).items()}
    kw["storage"] = {k: _fill(v, root) if isinstance(v, str) else v
                     for k, v in kw.get("storage", {}).items()}
    return Dovecot(root, None, plugin=plugin, **kw)


def _words(rnd, n):
    return " ".join("".join(rnd.choice("abcdefghijklmnoprstuvwy") for _ in range(
        rnd.randint(3, 9))) for _ in range(n))


def generated(seed, n):
    """[(key, raw, [criteria])]: messages whose words the plugin finds only
    through a second read or in externalized parts: big base64 text
    attachments (externalized by dbox's attachment storage), attached
    messages (their headers' addresses: TEXT), HTML parts."""
    rnd = random.Random(seed)
    out = []
    html = html_mail.build_messages(seed, n // 3)
    for i in range(n):
        body = "body%dword %s\n" % (i, _words(rnd, 30))
        att_text = "attach%dword %s attachtail%d\n" % (i, _words(rnd, rnd.randint(300, 1500)), i)
        att = ("Content-Type: text/plain; charset=us-ascii; name=\"notes%d.txt\"\n"
               "Content-Disposition: attachment; filename=\"notes%d.txt\"\n"
               "Content-Transfer-Encoding: base64\n\n" % (i, i)).encode() + \
            base64.encodebytes(att_text.encode())
        parts = [("Content-Type: text/plain\n\n" + body).encode(), att]
        queries = [("BODY", "body%dword" % i), ("BODY", "attach%dword" % i),
                   ("BODY", "attachtail%d" % i), ("TEXT", "attach%dword" % i),
                   ("BODY", "ttach%dwo" % i)]
        if i % 3 == 0:
            inner = ("From: Inner %d <inner%d.person@fwd.example>\n"
                     "To: target%d@fwd.example\nSubject: forwarded %d fwdsubj%d\n"
                     "\nforwarded body fwdword%d\n" % (i, i, i, i, i, i)).encode()
            parts.append(b"Content-Type: message/rfc822\n\n" + inner)
            queries += [("TEXT", "inner%d.person@fwd.example" % i),
                        ("TEXT", "target%d@fwd" % i), ("BODY", "fwdword%d" % i),
                        ("TEXT", "fwdsubj%d" % i), ("BODY", "fwdsubj%d" % i)]
        raw = ("From: Sender %d <s%d@example.org>\nTo: alice@example.test\n"
               "Subject: generated %d subj%dword\nDate: Tue, 4 Jun 2024 10:%02d:00 +0000\n"
               "Message-ID: <gen%d@example.org>\nMIME-Version: 1.0\n"
               "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n" % (
                   i, i, i, i, i % 60, i, i)).encode()
        for p in parts:
            raw += b"--b%d\n" % i + p + b"\n"
        raw += b"--b%d--\n" % i
        queries.append(("SUBJECT", "subj%dword" % i))
        out.append(("g%03d" % i, raw, queries))
    hq = html_mail.queries(html, seed, 4)
    hq = [q for qs in hq.values() for q in qs]
    for k, (key, raw, _info) in enumerate(html):
        out.append((key, raw, hq[k::len(html)]))
    return out


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def cfg(request):
    name = request.param
    conf = CONFIGS[name]
    root = new_test_root("storage-" + name)
    fts = _instance(os.path.join(root, "fts"), "sift", conf)
    oracle = _instance(os.path.join(root, "oracle"), "none", conf)
    failed = [False]
    try:
        fts.start()
        oracle.start()
        pair = FormatPair(fts, oracle)
        pair.name = name
        pair.conf = conf
        uids = {}
        for fx in fixtures.build_messages(big=os.environ.get("SIFT_TEST_BIG", "1") != "0"):
            uids[fx.key] = pair.both("append", USER, "INBOX", fx.raw, date=fx.date)
        assert None not in uids.values(), "APPEND returned no APPENDUID"
        pair.gen = generated(7, 24)
        for key, raw, _q in pair.gen:
            uids[key] = pair.both("append", USER, "INBOX", raw)
        pair.uids = uids
        pair.name_uids(USER, "INBOX", {u: k for k, u in uids.items()})
        fts.search(USER, "INBOX", "BODY", "warmupword")
        yield pair
    except BaseException:
        failed[0] = True
        raise
    finally:
        oracle.stop()
        fts.stop()
        remove_test_root(root, failed[0] or request.session.testsfailed > 0)


def _cases(dates):
    return with_dates(CASES) if dates else [
        pytest.param(c, k, id=cid) for cid, c, k in CASES]


@pytest.mark.parametrize("criteria,kw", with_dates(CASES))
def test_inbox_equals_oracle(cfg, criteria, kw, request):
    # the dated variants only where CONFIGS says (time)
    if "+" in request.node.callspec.id.split("-", 1)[-1] and \
            not cfg.conf.get("dates", True):
        pytest.skip("dated variants run on the compressed and attachment configurations")
    cfg.check(USER, "INBOX", criteria, **kw)


def _generated_checks(cfg, box, keys=None):
    bad, nonempty = [], 0
    for key, _raw, queries in cfg.gen:
        if keys is not None and key not in keys:
            continue
        b, n = fixtures.oracle_compare(cfg.fts, cfg.oracle, USER, box, queries)
        bad += b
        nonempty += n
    return bad, nonempty


def test_generated_second_reads(cfg):
    """Words only in big base64 attachments, attached messages' header
    addresses and HTML source: the plugin's own reads of the message
    must see what Dovecot sees (decompressed, attachments put back)."""
    bad, nonempty = _generated_checks(cfg, "INBOX")
    assert not bad, "%d differ:\n%s" % (len(bad), "\n".join(bad[:30]))
    assert nonempty > 100, nonempty
    assert not cfg.fts.log_problems(), cfg.fts.log_problems()[:10]


def test_index_location(cfg):
    """The index lies where the configuration keeps index files."""
    where = cfg.conf["index"]
    if where is None:
        return
    path = where.replace("{root}", cfg.fts.root) if where.startswith("{root}") \
        else os.path.join(cfg.fts.home(USER), where)
    assert os.path.exists(os.path.join(path, "iamglass")), "no index at %s" % path
