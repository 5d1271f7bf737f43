"""The module exports only the entry points Dovecot looks up.

Dovecot dlopen()s every plugin of a process with RTLD_GLOBAL, so a
function exported by one module can be bound in place of another module's
function of the same name.  plugin/fts-sift.map keeps everything but the
four entry points local; this checks the built module's dynamic symbol
table (what `nm -D` shows), so a change to the link line or a new
non-static symbol that escapes is caught."""

import os
import subprocess

from dovecot_conf import syntax
from dovetest import SETTINGS_SO_NAME
from dovetest import sift_plugin_so as plugin_so

ENTRY_POINTS = {
    "fts_sift_plugin_init",
    "fts_sift_plugin_deinit",
    "fts_sift_plugin_version",
    "fts_sift_plugin_dependencies",
}


def defined_dynamic_symbols(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            names.add(parts[2])
    return names


def test_only_entry_points_exported():
    names = defined_dynamic_symbols(plugin_so())
    assert names == ENTRY_POINTS, (
        "unexpected exports: %s; missing: %s" %
        (sorted(names - ENTRY_POINTS)[:20], sorted(ENTRY_POINTS - names)))


def test_module_needs_no_sift_symbol_from_outside():
    # every sift_* the module uses is its own (resolved inside the module,
    # never left undefined for another module to satisfy)
    out = subprocess.run(["nm", "-D", "--undefined-only", plugin_so()],
                         check=True, capture_output=True, text=True).stdout
    undefined = [l.split()[-1] for l in out.splitlines() if l.strip()]
    assert not [n for n in undefined if n.startswith(("sift_", "fts_sift"))]


if syntax().version >= 24:
    def test_settings_module_exports_only_its_infos():
        """Dovecot 2.4's settings module (plugin/fts-sift-settings.map)."""
        path = os.path.join(os.path.dirname(plugin_so()), SETTINGS_SO_NAME)
        names = defined_dynamic_symbols(path)
        assert names == {"fts_sift_settings_set_infos", "fts_sift_settings_version"}, names
