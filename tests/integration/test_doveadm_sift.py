"""The doveadm module (lib21_doveadm_fts_sift_plugin.so): `doveadm
fts-sift status|check|remove|stale` with -f json and -f table, and
Dovecot's own `doveadm fts tokenize` / `fts expand`, which crashed
(SIGSEGV) for sift users before the module wrapped them.

doveadm loads its modules from one fixed directory, so these tests run
doveadm in a private mount namespace (Dovecot.doveadm_sift, root only)."""

import json
import os

import pytest

from dovetest import instance_pair
from fixtures import T2020, T2024, simple

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="doveadm_sift needs root"),
    pytest.mark.skipif(os.environ.get("SIFT_TEST_BACKEND", "sift") == "none",
                       reason="needs the sift backend"),
]

WORDS = ["quokka marsupial", "wombat burrow", "quokka island", "numbat termite",
         "bilby desert", "quokka selfie"]


def _note(n, words, date):
    return simple("Doveadm Test <dv%d@example.net>" % n, "fay@example.test",
                  "Note %d" % n, date, ("Entry %d. %s\n" % (n, words)).encode())


@pytest.fixture(scope="module")
def inst(request):
    with instance_pair("doveadm-sift", ("fay",),
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        uids = [fts.append("fay", "INBOX", _note(n, w, T2020 if n % 2 else T2024),
                           date=T2020) for n, w in enumerate(WORDS, 1)]
        fts.create_mailbox("fay", "Empty")
        fts.doveadm("index", "-u", "fay", "INBOX")
        yield fts, oracle, uids


def _json(p):
    return json.loads(p.stdout) if p.stdout.strip() else []


def _check_equal(fts, oracle, *crit):
    expected = oracle.search("fay", "INBOX", *crit)
    got = fts.search("fay", "INBOX", *crit)
    assert got == expected, (crit, got, expected)
    return expected


def test_tokenize_and_expand_exit_0(inst):
    fts, _, _ = inst
    p = fts.doveadm_sift("fts", "tokenize", "-u", "fay", "Hello Wörld, kselftest-v5.10 東京")
    assert p.returncode == 0, p
    tokens = p.stdout.split()
    # fts-sift's own tokens: normalized (upper case, as Dovecot compares),
    # dotted runs kept whole, CJK segmented
    assert "HELLO" in tokens and "V5.10" in tokens and "東京" in tokens, tokens
    p = fts.doveadm_sift("fts", "expand", "-u", "fay", "body", "quokka", "or", "subject", "x")
    assert p.returncode == 0
    assert "quokka" in p.stdout and "SUBJECT" in p.stdout.upper(), p.stdout


def test_status_json_and_table(inst):
    fts, _, uids = inst
    rows = {r["mailbox"]: r for r in _json(fts.doveadm_sift("-f", "json", "fts-sift", "status",
                                                            "-u", "fay"))}
    inbox = rows["INBOX"]
    assert inbox["state"] == "ok", inbox
    assert int(inbox["documents"]) == len(uids)
    assert int(inbox["last_uid"]) == max(uids) == int(inbox["mailbox_last_uid"])
    parts = sum(int(inbox[k]) for k in ("xapian_size", "terms_size", "opaque_size",
                                         "gaps_size"))
    assert 0 < parts <= int(inbox["size"])
    assert int(inbox["terms_size"]) > 0 and int(inbox["xapian_size"]) > 0
    assert inbox["format"] and "icu" in inbox["text_engine"]
    assert rows["Empty"]["state"] == "missing", rows["Empty"]
    table = fts.doveadm_sift("-f", "table", "fts-sift", "status", "-u", "fay", "INBOX").stdout
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["mailbox", "state", "documents"], lines
    assert lines[1].split()[:3] == ["INBOX", "ok", str(len(uids))], lines


def test_status_counts_expunged(inst):
    fts, oracle, uids = inst
    fts.expunge("fay", "INBOX", [uids[0]])
    _check_equal(fts, oracle, "BODY", "quokka")
    inbox = _json(fts.doveadm_sift("-f", "json", "fts-sift", "status", "-u", "fay", "INBOX"))[0]
    assert int(inbox["expunged"]) == 1, inbox
    assert int(inbox["reclaimable"]) > 0, inbox
    fts.doveadm("fts", "optimize", "-u", "fay")
    inbox = _json(fts.doveadm_sift("-f", "json", "fts-sift", "status", "-u", "fay", "INBOX"))[0]
    assert int(inbox["expunged"]) == 0 and int(inbox["reclaimable"]) == 0, inbox
    assert int(inbox["documents"]) == len(uids) - 1, inbox


def test_stale_lists_missing_and_behind(inst):
    fts, _, _ = inst
    rows = _json(fts.doveadm_sift("-f", "json", "fts-sift", "stale", "-u", "fay"))
    states = {r["mailbox"]: r["state"] for r in rows}
    assert states == {"Empty": "missing"}, rows
    table = fts.doveadm_sift("-f", "table", "fts-sift", "stale", "-u", "fay").stdout
    assert any(l.split()[:2] == ["Empty", "missing"] for l in table.splitlines()), table


def test_check_ok_then_damaged_then_remove(inst):
    fts, oracle, _ = inst
    p = fts.doveadm_sift("-f", "json", "fts-sift", "check", "-u", "fay", "INBOX")
    assert p.returncode == 0
    assert _json(p)[0]["result"] == "ok", p.stdout
    rows = _json(fts.doveadm_sift("-f", "json", "fts-sift", "status", "-u", "fay", "INBOX"))
    assert rows[0]["state"] == "ok"
    idx = [d for d, _, _ in os.walk(fts.maildir("fay")) if d.endswith("/fts-sift")]
    idx = [d for d in idx if "/.Empty/" not in d]
    assert len(idx) == 1, idx
    # a byte changed in the middle of each side file (sift-record.c's
    # checksums): check names the file, and is ok again once restored
    side = [n for n in ("terms", "opaque", "gaps")
            if os.path.getsize(os.path.join(idx[0], n)) > 32]
    assert "terms" in side and "opaque" in side, side
    for name in side:
        path = os.path.join(idx[0], name)
        with open(path, "rb") as f:
            orig = f.read()
        pos = len(orig) // 2
        with open(path, "r+b") as f:
            f.seek(pos)
            f.write(bytes([orig[pos] ^ 0x55]))
        try:
            p = fts.doveadm_sift("-f", "json", "fts-sift", "check", "-u", "fay", "INBOX",
                                 check=False)
            assert p.returncode != 0, p
            row = _json(p)[0]
            assert row["result"] == "damaged" and name in row["detail"], (name, row)
        finally:
            with open(path, "r+b") as f:
                f.write(orig)
        p = fts.doveadm_sift("-f", "json", "fts-sift", "check", "-u", "fay", "INBOX")
        assert _json(p)[0]["result"] == "ok", (name, p.stdout)
    # truncate a Xapian table of the index
    # the largest table (postlist, termlist-less: a few blocks)
    table = max((os.path.join(idx[0], n) for n in os.listdir(idx[0]) if n.endswith(".glass")),
                key=os.path.getsize)
    size = os.path.getsize(table)
    assert size >= 8192, (table, size)
    with open(table, "r+b") as f:
        f.truncate(size // 2)
    p = fts.doveadm_sift("-f", "json", "fts-sift", "check", "-u", "fay", "INBOX", check=False)
    assert p.returncode != 0, p
    row = _json(p)[0]
    assert row["result"] == "damaged" and row["detail"], row
    p = fts.doveadm_sift("-f", "table", "fts-sift", "check", "-u", "fay", "INBOX", check=False)
    assert p.returncode != 0 and "damaged" in p.stdout, p
    # remove it; the next search reindexes and answers like Dovecot
    p = fts.doveadm_sift("-f", "json", "fts-sift", "remove", "-u", "fay", "INBOX")
    assert _json(p)[0]["result"] == "removed", p.stdout
    assert not os.path.exists(idx[0])
    stale = {r["mailbox"]: r["state"] for r in _json(fts.doveadm_sift(
        "-f", "json", "fts-sift", "stale", "-u", "fay"))}
    assert stale == {"INBOX": "missing", "Empty": "missing"}, stale
    _check_equal(fts, oracle, "BODY", "quokka")
    _check_equal(fts, oracle, "NOT", "BODY", "wombat")
    table = fts.doveadm_sift("-f", "table", "fts-sift", "remove", "-u", "fay", "Empty").stdout
    assert "no index" in table, table


def test_module_exports_only_entry_points():
    import subprocess
    from dovetest import sift_doveadm_so
    out = subprocess.run(["nm", "-D", "--defined-only", sift_doveadm_so()], check=True,
                         capture_output=True, text=True).stdout
    names = {l.split()[2] for l in out.splitlines() if len(l.split()) == 3}
    assert names == {"doveadm_fts_sift_plugin_init", "doveadm_fts_sift_plugin_deinit",
                     "doveadm_fts_sift_plugin_version"}, sorted(names)[:20]
