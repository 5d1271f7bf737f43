"""A bad fts_sift_* value never stops mail: the log names the key, full-text
search is off for the user (searches fail under fts_enforced = yes, and are
Dovecot's own scan without it), but IMAP login and LMTP delivery go on.
A misspelled fts_sift_* key is warned about with the closest valid key.
Once fixed, every search equals Dovecot's own again."""

import imaplib
import os
import smtplib

import pytest

from dovetest import Dovecot, DovecotError, free_port, new_test_root, remove_test_root

pytestmark = pytest.mark.skipif(
    os.environ.get("SIFT_TEST_BACKEND", "sift") == "none" or
    not os.path.exists("/usr/lib/dovecot/lmtp"),
    reason="needs the sift backend and dovecot-lmtpd")

BAD = {"fts_sift_commit_batch": "lots", "fts_sift_comit_size": "1M"}
MSG = (b"From: Sender <sender@example.net>\r\nTo: kim@example.test\r\n"
       b"Subject: delivered %d\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
       b"Message-ID: <m%d@example.net>\r\n\r\nthe kselftest harness %d\r\n")


def _lmtp_conf(port):
    return ("protocols = imap lmtp\n"
            "service lmtp {\n  inet_listener lmtp {\n    address = 127.0.0.1\n"
            "    port = %d\n  }\n  unix_listener lmtp {\n    mode = 0600\n  }\n}\n"
            "lmtp_save_to_detail_mailbox = no\n" % port)


def _deliver(port, n):
    with smtplib.LMTP("127.0.0.1", port) as lmtp:
        refused = lmtp.sendmail("sender@example.net", ["kim"], MSG % (n, n, n))
    assert refused == {}, refused


def _make(root, name, settings, enforced="yes"):
    port = free_port()
    s = dict(settings)
    s["fts_enforced"] = enforced
    return Dovecot(os.path.join(root, name), None, plugin="sift", users=("kim",),
                   plugin_settings=s, extra_conf=_lmtp_conf(port)), port


@pytest.mark.parametrize("enforced", ["yes", "no"])
def test_bad_value_keeps_mail_flowing(request, enforced):
    root = new_test_root("misconfig-" + enforced)
    fts, port = _make(root, "fts", BAD, enforced)
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=fts)
    try:
        fts.start()
        oracle.start()
        for n in range(3):
            _deliver(port, n)            # LMTP accepts every message
        conn = fts.imap("kim")           # login works
        assert fts.select(conn, "INBOX") == 3
        log = fts.log_text()
        assert "Invalid fts_sift_commit_batch = 'lots'" in log, log[-3000:]
        assert "Unknown setting fts_sift_comit_size" in log and \
            "did you mean fts_sift_commit_size?" in log, log[-3000:]
        expected = oracle.search("kim", "INBOX", "BODY", "selft")
        assert len(expected) == 3
        if enforced == "yes":
            with pytest.raises(DovecotError):
                fts.uid_search(conn, "BODY", "selft")
        else:
            assert fts.uid_search(conn, "BODY", "selft") == expected
        conn.logout()

        # fixed: the same mail, every search equal to Dovecot's own
        fts.stop()
        fts.plugin_settings = {"fts_enforced": enforced}
        fts.start()
        _deliver(port, 3)
        for crit in (("BODY", "selft"), ("BODY", "harness"), ("SUBJECT", "delivered 2"),
                     ("NOT", "BODY", "kselftest"), ("FROM", "sender@example")):
            want = oracle.search("kim", "INBOX", *crit)
            assert fts.search("kim", "INBOX", *crit) == want, crit
        assert len(oracle.search("kim", "INBOX", "ALL")) == 4
    finally:
        oracle.stop()
        fts.stop()
        remove_test_root(root, request.session.testsfailed)
