"""The plugin under storage configurations beyond the four plain formats
(test_mail_formats.py): compressed mail (2.3 zlib, 2.4 mail_compress),
mail encrypted at rest (mail_crypt with global keys, alone, compressed
and with attachment storage; with keys per user and folder), dbox single-instance attachment storage, other mailbox list layouts and
separators, index and control files elsewhere (INDEX=, CONTROL=,
INDEX=MEMORY) and lazy_expunge (maildir, mdbox, sdbox).

Each configuration runs an instance with the plugin and an oracle (Dovecot
without FTS) with storage of its own in the same configuration; every
change is made on both in the same order (storage_pair.py), so the UIDs
agree.
Checked in each: every search of test_search_oracle.py in INBOX, searches
drawn from generated mail that makes the plugin read a message a second
time (big base64 attachments, attached messages' headers, HTML source),
COPY / EXPUNGE / RENAME of a parent folder with children, folders with
unusual names, DELETE and re-CREATE (no old index picked up), a restart,
and a log without errors or fts-sift warnings; where CONFIGS says so,
random substrings of INBOX's mail (test_random_substrings) and, on
mail_crypt, that the mail is encrypted on disk and the index is not
(test_crypt_at_rest)."""

import base64
import os
import random
import re

import pytest

import fixtures
import html_mail
from dovetest import Dovecot, _quote_mailbox
from fixtures import with_dates
from storage_pair import USER, format_pair
from test_search_oracle import CASES
import test_random_queries as rq

GEN = "Gen"

# name -> Dovecot() keyword arguments, and: index, where INBOX's fts-sift
# directory must be (relative to the home; "GUID": counted, "MEMORY":
# none may exist); dates (default True): INBOX's searches also ANDed with
# dates; big: INBOX also holds the 10 MB message (where the plugin's
# reads of a message differ: compressed, externalized attachments; its
# copy is a temporary file, over 1 MB).
CONFIGS = {
    "maildir-gz": dict(mail_driver="maildir", storage={"compress": "gz"},
                       index="Maildir/fts-sift", big=True),
    "mdbox-zstd": dict(mail_driver="mdbox", storage={"compress": "zstd"},
                       index="mdbox/mailboxes/INBOX/dbox-Mails/fts-sift", dates=False),
    "maildir-lz4": dict(mail_driver="maildir", storage={"compress": "lz4"},
                        index="Maildir/fts-sift", dates=False, cases="sample"),
    "sdbox-attachments": dict(
        mail_driver="sdbox", storage={"attachment_dir": "{home}/attachments",
                                      "attachment_min_size": "1k"},
        index="sdbox/mailboxes/INBOX/dbox-Mails/fts-sift", dates=False),
    "mdbox-attachments-gz": dict(
        mail_driver="mdbox", storage={"attachment_dir": "{home}/attachments",
                                      "attachment_min_size": "1k", "compress": "gz"},
        index="mdbox/mailboxes/INBOX/dbox-Mails/fts-sift", big=True),
    "maildir-layout-fs": dict(mail_driver="maildir", mail_options={"LAYOUT": "fs"},
                              index="Maildir/fts-sift", dates=False, cases="sample"),
    # (directories named by the mailbox GUID: the index is counted, not
    # looked up)
    "maildir-layout-index": dict(mail_driver="maildir", mail_options={"LAYOUT": "index"},
                                 index="GUID", dates=False, cases="sample"),
    "mdbox-layout-index": dict(mail_driver="mdbox", mail_options={"LAYOUT": "index"},
                               index="GUID", dates=False, cases="sample"),
    "maildir-dot-separator": dict(mail_driver="maildir", namespace_separator=".",
                                  index="Maildir/fts-sift", dates=False, cases="sample"),
    "maildir-index-control": dict(
        mail_driver="maildir", mail_options={"INDEX": "{home}/mail-index",
                                             "CONTROL": "{home}/mail-control"},
        index="mail-index/.INBOX/fts-sift", dates=False, cases="sample"),
    # expunged mail is moved to Expunged (test_lazy_expunge; maildir++
    # allows no "." in a name)
    "maildir-lazy-expunge": dict(mail_driver="maildir", storage={"lazy_expunge": "Expunged"},
                                 index="Maildir/fts-sift", dates=False, cases="sample"),
    "mdbox-lazy-expunge": dict(mail_driver="mdbox", storage={"lazy_expunge": "Expunged"},
                               index="mdbox/mailboxes/INBOX/dbox-Mails/fts-sift", dates=False, cases="sample"),
    # (sdbox: one file per message, moved into Expunged's own directory)
    "sdbox-lazy-expunge": dict(mail_driver="sdbox", storage={"lazy_expunge": "Expunged"},
                               index="sdbox/mailboxes/INBOX/dbox-Mails/fts-sift", dates=False,
                               cases="sample"),
    # mail_crypt with global keys (storage crypt: an EC key pair per
    # instance, made by openssl; mail is written encrypted, version 2):
    # alone, with compression (zlib's stream under mail_crypt's) and
    # with attachment storage (the 10 MB message's copy to a temporary
    # file: maildir-gz, mdbox-attachments-gz); sdbox compressed with
    # bz2.  random: also test_random_substrings; at_rest:
    # test_crypt_at_rest; gen_n: generated messages in Gen (default 18:
    # the oracle decrypts every message for every search, 4 ms each)
    "maildir-crypt": dict(mail_driver="maildir", storage={"crypt": True},
                          index="Maildir/fts-sift", dates=False, random=True,
                          at_rest=True, gen_n=9),
    "mdbox-crypt-zstd": dict(mail_driver="mdbox", storage={"crypt": True, "compress": "zstd"},
                             index="mdbox/mailboxes/INBOX/dbox-Mails/fts-sift",
                             cases="sample", at_rest=True, gen_n=9),
    "sdbox-crypt-attachments": dict(
        mail_driver="sdbox", storage={"crypt": True, "attachment_dir": "{home}/attachments",
                                      "attachment_min_size": "1k"},
        index="sdbox/mailboxes/INBOX/dbox-Mails/fts-sift", dates=False, cases="sample",
        random=True, at_rest=True, gen_n=9),
    # mail_crypt with keys per user and per folder made by Dovecot (no
    # global keys): a COPY or RENAME moves mail between folder keys
    "maildir-crypt-user-keys": dict(mail_driver="maildir", storage={"crypt": "user"},
                                    index="Maildir/fts-sift", dates=False, cases="sample",
                                    random=True, at_rest=True, gen_n=9),
    "sdbox-bz2": dict(mail_driver="sdbox", storage={"compress": "bz2"},
                      index="sdbox/mailboxes/INBOX/dbox-Mails/fts-sift", dates=False,
                      random=True),
    # no index files: the fts plugin leaves the namespace alone (searches
    # are Dovecot's own); fts-sift says so in the log
    "maildir-index-memory": dict(mail_driver="maildir", mail_options={"INDEX": "MEMORY"},
                                 index="MEMORY", dates=False, cases="sample"),
}

# (index 5 is the parent renamed with its child at 6; 1 is deleted and
# created again)
FOLDER_NAMES = ["Caf\u00e9 \u00fcber", "Sp ace", "A&B", "100% done", "\u65e5\u672c\u8a9e",
                "Deep", "Deep/Er/Still/Deeper", "x*y", "Tab\u00e9/Sub \u00e5"]


def _fill(text, root):
    return text.replace("{root}", root)


def _instance(root, plugin, cfg):
    kw = {k: v for k, v in cfg.items()
          if k not in ("index", "dates", "big", "cases", "random", "at_rest", "gen_n")}
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


# searches of test_random_substrings (where CONFIGS says random)
RANDOM_N = int(os.environ.get("SIFT_STORAGE_RANDOM_N", "100"))
# SIFT_STORAGE_ALL_CASES=1: every case, with dates, in every configuration
ALL_CASES = os.environ.get("SIFT_STORAGE_ALL_CASES") == "1"
# the folder test: not on mdbox-zstd and maildir-lz4, where only the codec
# differs from maildir-gz, nor on sdbox-attachments (mdbox-attachments-gz
# has the attachment storage, test_mail_formats sdbox's folder operations)
FOLDERS_NOT_ON = ("mdbox-zstd", "maildir-lz4", "sdbox-attachments",
                  # (time: the folders on mail_crypt in mdbox-crypt-zstd,
                  # sdbox's with compression in test_mail_formats)
                  "maildir-crypt", "sdbox-crypt-attachments", "sdbox-bz2")


def _case_selected(name, n):
    """Which test_search_oracle cases run in configuration name (time):
    the dated variants (odd n) only where CONFIGS says dates, every eighth
    case only where it says cases="sample" (the layouts and index
    locations, where the index's place differs, not what the plugin
    reads); all with SIFT_STORAGE_ALL_CASES=1."""
    conf = CONFIGS[name]
    if ALL_CASES:
        return True
    if n % 2 == 1 and not conf.get("dates", True):
        return False
    return conf.get("cases") != "sample" or n % 8 == 0


def pytest_generate_tests(metafunc):
    """Each test gets exactly the configurations (and cases) it runs in,
    so nothing is generated only to be skipped; cfg is module-scoped, so
    pytest groups the tests by configuration and starts each pair once."""
    if "cfg" not in metafunc.fixturenames:
        return
    test = metafunc.function.__name__
    names = sorted(CONFIGS)
    if test == "test_inbox_equals_oracle":
        metafunc.parametrize("cfg,n,criteria,kw", [
            pytest.param(c, i, *p.values, id="%s-%s" % (c, p.id))
            for c in names for i, p in enumerate(with_dates(CASES))
            if _case_selected(c, i)], indirect=["cfg"], scope="module")
        return
    if test == "test_folders_copy_expunge_rename_delete_restart" and not ALL_CASES:
        names = [c for c in names if c not in FOLDERS_NOT_ON]
    elif test == "test_random_substrings":
        names = [c for c in names if CONFIGS[c].get("random")]
    elif test == "test_crypt_at_rest":
        names = [c for c in names if CONFIGS[c].get("at_rest")]
    elif test == "test_lazy_expunge":
        names = [c for c in names
                 if "lazy_expunge" in CONFIGS[c].get("storage", {})]
    metafunc.parametrize("cfg", names, indirect=True, scope="module")


def _fill_gen(pair):
    """The generated mail in a folder of its own (searches there read
    fewer messages on the oracle than in INBOX, with its big ones)."""
    pair.gen = generated(7, pair.conf.get("gen_n", 18))
    pair.gen_uids = {}
    for key, raw, _q in pair.gen:
        pair.gen_uids[key] = pair.both("append", USER, GEN, raw)


@pytest.fixture(scope="module")
def cfg(request):
    """The pair (storage_pair.py) in one configuration: pair.name,
    pair.conf; pair.gen: the generated mail, in GEN."""
    name = request.param
    conf = CONFIGS[name]
    yield from format_pair(
        request, "storage-" + name,
        lambda path, plugin: _instance(path, plugin, conf),
        big=conf.get("big", False), attrs={"name": name, "conf": conf},
        fill=_fill_gen)


def test_inbox_equals_oracle(cfg, n, criteria, kw):
    """The test_search_oracle.py cases in INBOX (which of them in which
    configuration: _case_selected())."""
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
    bad, nonempty = _generated_checks(cfg, GEN)
    assert not bad, "%d differ:\n%s" % (len(bad), "\n".join(bad[:30]))
    assert nonempty > 100 * cfg.conf.get("gen_n", 18) // 18, nonempty
    assert not cfg.fts.log_problems(), cfg.fts.log_problems()[:10]


def test_index_location(cfg):
    """The index lies where the configuration keeps index files."""
    where = cfg.conf["index"]
    if where == "GUID":
        # INBOX and Gen
        assert len(_index_dirs(cfg.fts)) == 2, _index_dirs(cfg.fts)
        return
    if where == "MEMORY":
        assert "fts-sift: Namespace '' keeps no index files" in cfg.fts.log_text()
        assert _index_dirs(cfg.fts) == []
        return
    path = where.replace("{root}", cfg.fts.root) if where.startswith("{root}") \
        else os.path.join(cfg.fts.home(USER), where)
    assert os.path.exists(os.path.join(path, "iamglass")), "no index at %s" % path


def mutf7(name):
    """An IMAP mailbox name in modified UTF-7 (RFC 3501 5.1.3)."""
    out, run = [], []

    def flush():
        if run:
            b = base64.b64encode("".join(run).encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            run.clear()
    for ch in name:
        if " " <= ch <= "~":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def _index_dirs(inst):
    """Every fts-sift directory of the user's (home and index roots)."""
    out = []
    for dirpath, dirnames, _files in os.walk(inst.home(USER)):
        if "fts-sift" in dirnames:
            out.append(os.path.join(dirpath, "fts-sift"))
            dirnames.remove("fts-sift")
    return sorted(out)


def _folder_queries(cfg, keys):
    return [(k, q) for k, _raw, qs in cfg.gen if k in keys for q in qs[:2]]


def test_folders_copy_expunge_rename_delete_restart(cfg):
    """Folders with unusual names (UTF-8, spaces, &, %, *, deep
    hierarchies): COPY generated mail there and search each; EXPUNGE some;
    RENAME a parent with children and search the children under the new
    name; DELETE a folder and create it again with other mail (its old
    index must not answer); restart; every search equals the oracle, one
    index directory per indexed mailbox remains, and the log is clean.
    (Time: not on mdbox-zstd and maildir-lz4, where only the codec differs
    from maildir-gz, nor on sdbox-attachments: mdbox-attachments-gz has
    the attachment storage, test_mail_formats sdbox's folder operations:
    FOLDERS_NOT_ON.)"""
    sep = cfg.fts.namespace_separator or "/"
    names = [n.replace("/", sep) for n in FOLDER_NAMES]
    inv = cfg.gen_uids
    keys = [k for k, _r, _q in cfg.gen]
    bad = []

    def compare(box, pairs):
        b, n = fixtures.oracle_compare(cfg.fts, cfg.oracle, USER, box,
                                       [q for _k, q in pairs])
        bad.extend("%s: %s" % (box, x) for x in b)
        return n

    for i, name in enumerate(names):
        box = mutf7(name)
        cfg.both("create_mailbox", USER, box)
        chosen = keys[i::3]
        uids = ",".join(str(inv[k]) for k in chosen)
        cfg.imap_both(USER, "COPY", uids, _quote_mailbox(box), source=GEN)
        n = compare(box, _folder_queries(cfg, chosen))
        assert n > 0, "nothing found in %s" % name
        # words of messages not copied there
        compare(box, _folder_queries(cfg, keys[(i + 1) % 3::3])[:3])
    assert not bad, "\n".join(bad[:30])

    # EXPUNGE half of one folder
    box = mutf7(names[0])
    all_uids = cfg.oracle.search(USER, box, "ALL")
    cfg.both("expunge", USER, box, all_uids[::2])
    compare(box, _folder_queries(cfg, keys[0::3]))

    # RENAME a parent with a child (Deep -> "Ren & Co <sep> 100% Tiefe ü")
    parent = names[5]
    new_parent = "Ren & Co%s100%% Tiefe \u00fc" % sep
    cfg.imap_both(USER, "RENAME", _quote_mailbox(mutf7(parent)),
                  _quote_mailbox(mutf7(new_parent)))
    names[5] = new_parent
    names[6] = new_parent + names[6][len(parent):]
    compare(mutf7(names[5]), _folder_queries(cfg, keys[5::3]))
    compare(mutf7(names[6]), _folder_queries(cfg, keys[6::3]))

    # DELETE a folder and create it again under its name with other mail
    gone = mutf7(names[1])
    cfg.imap_both(USER, "DELETE", _quote_mailbox(gone))
    cfg.both("create_mailbox", USER, gone)
    cfg.both("append", USER, gone, b"From: z@example.org\nSubject: again\n\nagainword\n")
    compare(gone, [(None, ("BODY", "againword"))] + _folder_queries(cfg, keys[1::3]))

    for inst in (cfg.fts, cfg.oracle):
        inst.stop()
        inst.start()
    for i, name in enumerate(names):
        if name != names[1]:
            compare(mutf7(name), _folder_queries(cfg, keys[i::3])[:8])
    compare(gone, [(None, ("BODY", "againword"))] + _folder_queries(cfg, keys[1::3])[:8])
    assert not bad, "%d differ:\n%s" % (len(bad), "\n".join(bad[:30]))
    assert not cfg.fts.log_problems(), cfg.fts.log_problems()[:10]
    # one index per mailbox that has mail: INBOX, Gen and the folders (a parent
    # of a deeper folder only exists as a name: no mail, no index), and
    # none of a deleted mailbox (lazy_expunge's may have one)
    if cfg.conf["index"] not in (None, "MEMORY"):
        dirs = _index_dirs(cfg.fts)
        want = 2 + len(names)
        if "lazy_expunge" in cfg.conf.get("storage", {}):
            assert want <= len(dirs) <= want + 1, "\n".join(dirs)
        else:
            assert len(dirs) == want, "\n".join(dirs)


def test_lazy_expunge(cfg):
    """lazy_expunge: EXPUNGE moves the messages to the lazy_expunge
    mailbox; searches in the folder and there equal the oracle (the
    moved messages are found there, no more in the folder), also after a
    second EXPUNGE into the now indexed mailbox and a restart."""
    trash = cfg.conf["storage"]["lazy_expunge"]
    box = "LazySrc"
    keys = [k for k, _r, _q in cfg.gen]
    inv = cfg.gen_uids
    cfg.both("create_mailbox", USER, box)
    cfg.imap_both(USER, "COPY", ",".join(str(inv[k]) for k in keys), box, source=GEN)
    queries = [q for _k, q in _folder_queries(cfg, keys)]
    bad = []

    def compare(where):
        b, n = fixtures.oracle_compare(cfg.fts, cfg.oracle, USER, where, queries)
        bad.extend("%s: %s" % (where, x) for x in b)
        return n

    compare(box)
    all_uids = cfg.oracle.search(USER, box, "ALL")
    cfg.both("expunge", USER, box, all_uids[::2])
    assert cfg.oracle.search(USER, trash, "ALL"), "nothing moved to %s" % trash
    assert compare(trash) > 0
    compare(box)
    cfg.both("expunge", USER, box, all_uids[1::4])
    compare(trash)
    compare(box)
    for inst in (cfg.fts, cfg.oracle):
        inst.stop()
        inst.start()
    compare(trash)
    compare(box)
    assert not bad, "%d differ:\n%s" % (len(bad), "\n".join(bad[:30]))
    assert not cfg.fts.log_problems(), cfg.fts.log_problems()[:10]


def _random_criteria(seed, n):
    """n random searches over INBOX's fixtures: test_random_queries.py's
    substrings of the decoded subject, sender, recipient and body text
    (any length, so words, pieces of words and phrases across spaces, in
    changed case, some under NOT, some ANDed with a date), and every
    fourth two of them under OR."""
    qs = [crit for _key, crit in rq._random_queries(seed, n)]
    rnd = random.Random(seed)
    out = []
    for i, crit in enumerate(qs):
        if i % 4 == 3:
            other = rnd.choice(qs)
            out.append(("OR", "(") + tuple(crit) + (")", "(") + tuple(other) + (")",))
        else:
            out.append(tuple(crit))
    return out


def test_random_substrings(cfg):
    """Random substrings of INBOX's mail (charsets, encoded words,
    quoted-printable and base64 bodies, attachments: the fixtures) as
    BODY/TEXT/SUBJECT/FROM/TO, NOT, OR and dates: the plugin reads the
    mail through the storage's decompression/decryption/attachment
    storage and must answer as the oracle does."""
    queries = _random_criteria(31, RANDOM_N)
    bad, nonempty = fixtures.oracle_compare(cfg.fts, cfg.oracle, USER, "INBOX", queries)
    assert not bad, "%d of %d differ:\n%s" % (len(bad), len(queries), "\n".join(bad[:30]))
    assert nonempty >= len(queries) // 2, (nonempty, len(queries))
    assert not cfg.fts.log_problems(), cfg.fts.log_problems()[:10]


def _files_under(path, skip=("fts-sift",)):
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for n in filenames:
            yield os.path.join(dirpath, n)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_crypt_at_rest(cfg):
    """mail_crypt: the stored mail is encrypted (every message file
    starts with mail_crypt's "CRYPTED" header and holds no word of the
    generated mail), while the fts-sift index is not: the words are in
    it in plain text, as the README tells admins.  (And a search finds
    them: test_generated_second_reads.)"""
    home = cfg.fts.home(USER)
    words = [b"subj%dword" % i for i in range(cfg.conf.get("gen_n", 18))]
    mail_files = [f for f in _files_under(home, ("fts-sift", "attachments"))
                  if re.search(r"/(cur|new)/|/[um]\.\d+$", f)]
    # (maildir: a file a message; sdbox: u.<uid>; mdbox: m.<n>, many a file)
    assert mail_files, home
    for f in mail_files:
        data = _read(f)
        # (dbox: after the file's and the message's dbox headers)
        assert data.startswith(b"CRYPTED") or b"\nCRYPTED\x03" in data, f
        assert not any(w in data or w.upper() in data for w in words), f
    index = b"".join(_read(f) for d in _index_dirs(cfg.fts) for f in _files_under(d, ()))
    plain = [w for w in words if w.upper() in index]
    assert len(plain) == len(words), "not in the index in plain text: %s" % (
        sorted(set(words) - set(plain)))
    if cfg.conf["storage"]["crypt"] == "user":
        # keys per folder: INBOX's and Gen's private keys (each encrypted
        # with the user's key) in the attributes, no global key
        attrs = _read(os.path.join(home, "dovecot-attributes"))
        folders = set(re.findall(
            rb"^priv/([0-9a-f]{32})/vendor/vendor\.dovecot/pvt/crypt/privkeys/", attrs, re.M))
        assert len(folders) >= 2, attrs[:2000]
