"""`make install` and `make uninstall` with DESTDIR: uninstall removes
every file install put there (the libtool archive is dropped at install,
after which libtool alone no longer knows the modules are ours)."""

import os
import subprocess

import pytest

from dovetest import REPO


def _files(root):
    out = []
    for dirpath, _dirnames, filenames in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, f), root) for f in filenames]
    return sorted(out)


def _make(*args):
    p = subprocess.run(["make", "-C", REPO] + list(args), capture_output=True, text=True)
    assert p.returncode == 0, "make %s: %s" % (" ".join(args), p.stderr[-2000:])


@pytest.mark.skipif(not os.path.exists(os.path.join(REPO, "Makefile")),
                    reason="needs a configured build tree")
def test_install_uninstall_destdir(tmp_path):
    dest = str(tmp_path / "dest")
    _make("install", "DESTDIR=" + dest)
    installed = _files(dest)
    modules = [f for f in installed if f.endswith(".so")]
    assert any(f.endswith("/lib21_fts_sift_plugin.so") for f in modules), installed
    assert not [f for f in installed if f.endswith(".la")], installed
    _make("uninstall", "DESTDIR=" + dest)
    left = _files(dest)
    assert left == [], "make uninstall left %s" % left
