"""Progress of long indexing is Dovecot's own: `doveadm -v index` prints
"<done>/<total>" every 100 messages while fts-sift indexes them (through
Dovecot's precache loop), and the result equals Dovecot's own search."""

import os
import re
import subprocess

import pytest

from dovetest import instance_pair
from fixtures import T2020, simple

pytestmark = pytest.mark.skipif(os.environ.get("SIFT_TEST_BACKEND", "sift") == "none",
                                reason="needs the sift backend")

N = 350


def test_doveadm_verbose_index_shows_progress(request):
    with instance_pair("progress", ("pat",), plugin_settings={"fts_autoindex": "no"},
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        for n in range(N):
            fts.append("pat", "INBOX", simple("p%d@example.net" % n, "pat@example.test",
                                              "Item %d" % n, T2020,
                                              b"progress line %d kselftest\n" % n), date=T2020)
        p = subprocess.run(["doveadm", "-v", "-c", fts.conf_path, "index", "-u", "pat",
                            "INBOX"], capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        steps = re.findall(r"(\d+)/(\d+)", p.stdout)
        assert ("100", str(N)) in steps and ("300", str(N)) in steps, p.stdout
        assert (str(N), str(N)) in steps, p.stdout
        assert "Caching mails seq=1..%d" % N in p.stderr + fts.log_text(), p.stderr
        # the progress was fts-sift indexing: the index now holds every message
        rows = fts.doveadm_sift("-f", "json", "fts-sift", "status", "-u", "pat", "INBOX")
        assert '"documents":%d' % N in rows.stdout.replace(" ", ""), rows.stdout
        for crit in (("BODY", "selft"), ("BODY", "line 17"), ("SUBJECT", "Item 3")):
            assert fts.search("pat", "INBOX", *crit) == oracle.search("pat", "INBOX", *crit)
