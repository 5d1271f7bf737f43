"""dovetest: throw-away loopback Dovecot 2.3 instances for fts-sift tests.

Used by the integration tests (tests/integration), the demo (tests/demo.sh)
and the benchmark script, so keep the public API stable:

    d = Dovecot(root, port, plugin="sift")        # or "none" / "xapian"
    d.start()
    d.append("alice", "INBOX", raw_bytes, date=...)
    c = d.imap("alice"); c.select("INBOX")
    d.uid_search(c, "BODY", "kselftest", "SINCE", "1-Jan-2020")
    oracle = Dovecot(root2, None, plugin="none", oracle_of=d); oracle.start()
    d.doveadm("index", "-u", "alice", "INBOX")
    d.stop()

An instance keeps everything under `root`: etc/ (dovecot.conf, passwd),
run/ (base_dir, master.pid), state/, log/dovecot.log, home/<user>/Maildir
and, for plugin="sift", modules/ (Dovecot's module directory as symlinks,
plus a copy of our freshly built plugin, so nothing is installed).

An oracle instance (oracle_of=other) serves the other instance's homes,
maildirs and passwd file with its own Dovecot index files (INDEX=<its
root>/index/<user>).  The UIDs come from the maildirs' dovecot-uidlist,
so both instances see the same messages under the same UIDs and the
oracle, running without FTS, gives the expected result of every SEARCH.

Runs as root (mail processes then run as `nobody`) or as an ordinary user
(everything runs as that user).

Shared and public folders (all optional, all copied by an oracle):

    d = Dovecot(root, None, users=("owner", "reader"), acl=True,
                public_dir="/x/public", virtual={"All": "*\nshared/*\n  all\n"},
                user_ids={"owner": 61001, "reader": 61002},
                access_group="siftshare")

acl=True loads the acl plugin (vfile ACLs, imap_acl) and adds a shared
namespace "shared/<owner>/" whose indexes stay in the owner's Maildir
(INDEXPVT in the reader's home; with mail_driver sdbox/mdbox/mbox, the
owner's storage of that format, INDEXPVT ~/shared-pvt/<owner>); public_dir adds a public namespace
"Public/" over that directory; virtual adds the virtual plugin and a
namespace "virtual/" with one virtual mailbox per entry (name ->
dovecot-virtual text, written into every user's ~/virtual).  user_ids
(root only) gives every user its own uid (and a primary gid of the same
number) instead of `nobody`; access_group (an existing group) is then
every mail process's extra group (mail_access_groups) and the group of
the homes, maildirs and the public directory, mode access_dir_mode
(0770, or 0o2770 for setgid directories).
"""

import contextlib
import datetime
import grp
import imaplib
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import dovecot_conf

# imaplib refuses a response line over 1,000,000 bytes; a SEARCH of a
# 300,000-message mailbox answers with about 2 MB on one line, and the
# refusal leaves the rest of it in the socket for the next command.
imaplib._MAXLINE = 256 * 1024 * 1024

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SIFT_SO = os.path.join(REPO, "plugin", ".libs", "lib21_fts_sift_plugin.so")
DOVECOT_MODULEDIR = "/usr/lib/dovecot/modules"
SETTINGS_SO_NAME = "lib21_fts_sift_settings.so"

PLUGINS = ("sift", "none", "xapian", "flatcurve")

# Lines of the Dovecot log that count as a problem (see log_problems()).
_PROBLEM_RE = re.compile(r"\b(Panic|Fatal|Error):")
# the plugin's own warnings ("fts-sift: ..."), or about loading it
_SIFT_WARNING_RE = re.compile(r"\bWarning:.*(\bfts[-_]sift:|lib21_fts_sift)", re.IGNORECASE)

# IMAP atom characters (RFC 3501 ATOM-CHAR, minus "]" to be safe).
_ATOM_RE = re.compile(r'^[!#$&\'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+$')


class DovecotError(Exception):
    """Starting, talking to or stopping an instance failed."""


def new_test_root(prefix):
    """A directory for a test's instances: under $SIFT_TEST_ROOT if set,
    else a new /tmp/fts-sift-<prefix>.*; readable by the mail processes."""
    root = os.environ.get("SIFT_TEST_ROOT")
    if root:
        root = os.path.join(root, prefix)
        os.makedirs(root, exist_ok=True)
    else:
        root = tempfile.mkdtemp(prefix="fts-sift-%s." % prefix)
    os.chmod(root, 0o755)
    return root


def remove_test_root(root, failed):
    """Remove a root made by new_test_root() unless a test failed, the
    caller gave SIFT_TEST_ROOT, or SIFT_TEST_KEEP=1."""
    if failed or os.environ.get("SIFT_TEST_KEEP") == "1" or \
            os.environ.get("SIFT_TEST_ROOT"):
        return
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def instance_pair(prefix, users, plugin_settings=None, failed=lambda: False):
    """An fts-sift instance and its oracle (Dovecot without FTS on the
    same maildirs) in a new test root; both stopped, and the root removed
    unless failed() says to keep it, however the block ends."""
    root = new_test_root(prefix)
    fts = Dovecot(os.path.join(root, "fts"), None, plugin="sift", users=users,
                  plugin_settings=plugin_settings)
    oracle = Dovecot(os.path.join(root, "oracle"), None, plugin="none", oracle_of=fts)
    try:
        fts.start()
        oracle.start()
        yield fts, oracle
    finally:
        oracle.stop()
        fts.stop()
        remove_test_root(root, failed())


@contextlib.contextmanager
def separate_pair(prefix, make, failed=lambda: False):
    """An fts-sift instance and its oracle each with storage of its own
    (where the oracle can't read the instance's storage through index
    files of its own: dbox, mbox, compressed mail, ...), made by
    make(directory, plugin) in a new test root; both stopped, and the
    root removed unless the block raised or failed() says to keep it."""
    root = new_test_root(prefix)
    fts = make(os.path.join(root, "fts"), "sift")
    oracle = make(os.path.join(root, "oracle"), "none")
    raised = False
    try:
        fts.start()
        oracle.start()
        yield fts, oracle
    except BaseException:
        raised = True
        raise
    finally:
        oracle.stop()
        fts.stop()
        remove_test_root(root, raised or failed())


@contextlib.contextmanager
def mailbox_pair(request, prefix, user, messages, box="INBOX", date=None,
                 plugin_settings=None, index_timeout=None):
    """instance_pair() for one user (kept when a test of pytest's session
    failed), whose box gets messages (raw bytes) appended on the fts
    instance (the oracle reads the same maildir); with index_timeout,
    then indexed by doveadm index.  Yields (fts, oracle, since), since:
    the fts log's size before the appends (for log_problems())."""
    with instance_pair(prefix, (user,), plugin_settings=plugin_settings,
                       failed=lambda: request.session.testsfailed) as (fts, oracle):
        since = fts.log_size()
        for raw in messages:
            fts.append(user, box, raw, date=date)
        if index_timeout is not None:
            fts.doveadm("index", "-u", user, box, timeout=index_timeout)
        yield fts, oracle, since


def churn_round(conn, box, rnd, new_message, keep):
    """One round of a writer client on an IMAP connection: 1 to 5
    messages (new_message() each) appended to box; then, when box holds
    more than keep messages, 1 to 6 of them (rnd's pick) expunged.
    Leaves box selected; returns how many were expunged."""
    for _ in range(rnd.randint(1, 5)):
        typ, data = conn.append(box, None, None, new_message())
        assert typ == "OK", data
    typ, data = conn.select(box)
    assert typ == "OK", data
    typ, data = conn.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    if len(uids) <= keep:
        return 0
    gone = rnd.sample(uids, rnd.randint(1, 6))
    typ, data = conn.uid("STORE", ",".join(map(str, gone)),
                         "+FLAGS.SILENT", r"(\Deleted)")
    assert typ == "OK", data
    typ, data = conn.expunge()
    assert typ == "OK", data
    return len(gone)


def run_threads(threads, timeout, what="clients"):
    """Start the threads and join each with a timeout (seconds); assert
    that all finished."""
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), \
        "%s did not finish (joined for %.0f s each)" % (what, timeout)


def parse_uid_set(text):
    """"1:3,7" -> {1, 2, 3, 7}."""
    uids = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition(":")
        if lo.isdigit():
            uids.update(range(int(lo), int(hi if hi.isdigit() else lo) + 1))
    return uids


_next_port = None


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago.

    With SIFT_PORT_RANGE=LO-HI, one from that range: .ci/run gives the
    test suites it runs at the same time disjoint ranges below the
    kernel's ephemeral ports, so that no suite (nor any client
    connection's source port) takes a port another suite's instance was
    just given and has not bound yet."""
    global _next_port
    rng = os.environ.get("SIFT_PORT_RANGE", "")
    if rng:
        # In turn from a random start, as the kernel hands out ephemeral
        # ports: a port is given again only after the whole range (random
        # picks gave one port to two instances of a suite that were both
        # created before either started listening)
        lo, hi = (int(x) for x in rng.split("-", 1))
        if _next_port is None or not lo <= _next_port <= hi:
            _next_port = random.randint(lo, hi)
        for _ in range(hi - lo + 1):
            port = _next_port
            _next_port = lo if _next_port >= hi else _next_port + 1
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise DovecotError("no free port in SIFT_PORT_RANGE=%s" % rng)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_settings_module(plugin_so):
    """Dovecot 2.4: doveconf and the config process learn the plugin's
    settings only from its settings module in Dovecot's own
    modules/settings directory (a path compiled into Dovecot; mail_plugin_dir
    does not apply), so the one built beside plugin_so is installed there
    (root, as the tests run on a throw-away system or chroot).  Replaced
    atomically, and only when it differs."""
    src = os.path.join(os.path.dirname(plugin_so), SETTINGS_SO_NAME)
    if not os.path.isfile(src):
        raise DovecotError("the fts-sift settings module is missing: %s "
                           "(built by make on Dovecot 2.4)" % src)
    dst_dir = os.path.join(DOVECOT_MODULEDIR, "settings")
    dst = os.path.join(dst_dir, SETTINGS_SO_NAME)
    _wait_until_settled(src)
    with open(src, "rb") as f:
        data = f.read()
    try:
        with open(dst, "rb") as f:
            if f.read() == data:
                return
    except OSError:
        pass
    if os.geteuid() != 0:
        raise DovecotError("Dovecot 2.4 needs %s installed as %s: run as root "
                           "(or make install)" % (src, dst))
    os.makedirs(dst_dir, exist_ok=True)
    tmp = "%s.tmp%d" % (dst, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.rename(tmp, dst)


DEFAULT_SIFT_DOVEADM_SO = os.path.join(REPO, "plugin", ".libs",
                                       "lib21_doveadm_fts_sift_plugin.so")
DOVEADM_MODULEDIR = os.path.join(DOVECOT_MODULEDIR, "doveadm")


def sift_doveadm_so():
    """Path of the doveadm module under test ($SIFT_DOVEADM_SO or the
    build tree)."""
    return os.environ.get("SIFT_DOVEADM_SO") or DEFAULT_SIFT_DOVEADM_SO


def sift_plugin_so():
    """Path of the plugin under test ($SIFT_PLUGIN_SO or the build tree)."""
    return os.environ.get("SIFT_PLUGIN_SO") or DEFAULT_SIFT_SO


def imap_date(value):
    """An IMAP search date (d-Mon-yyyy) from a date/datetime/epoch/string."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    months = ("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split()
    return "%d-%s-%04d" % (value.day, months[value.month - 1], value.year)


def _internaldate(date):
    """APPEND date-time argument from None/epoch/datetime/string."""
    if date is None:
        return None
    if isinstance(date, str):
        return date if date.startswith('"') else '"%s"' % date
    if isinstance(date, datetime.datetime) and date.tzinfo is None:
        date = date.replace(tzinfo=datetime.timezone.utc)
    return imaplib.Time2Internaldate(date)


def search_arg_bytes(arg):
    """One SEARCH argument on the wire.

    str: sent as an atom when it is one (keys, atoms such as "v5.10"),
    "(" / ")" as list delimiters, otherwise as a quoted string, or as a
    LITERAL+ literal when it is not 7-bit ASCII or cannot be quoted.
    bytes: always a literal.  int: a number.
    """
    if isinstance(arg, int):
        return str(arg).encode()
    if isinstance(arg, bytes):
        return b"{%d+}\r\n" % len(arg) + arg
    if not isinstance(arg, str):
        raise TypeError("search argument must be str, bytes or int: %r" % (arg,))
    if _ATOM_RE.match(arg) or arg in ("(", ")"):
        return arg.encode()
    if arg.isascii() and not any(ch in arg for ch in "\r\n\0\"\\"):
        return b'"' + arg.encode() + b'"'
    return search_arg_bytes(arg.encode("utf-8"))


def search_command_bytes(criteria, charset=None):
    """The argument bytes of a SEARCH command for `criteria`.

    Adds CHARSET UTF-8 when any argument is not ASCII (unless charset is
    given: "" means none).  "(" and ")" are joined without the spaces
    IMAP does not allow inside parentheses.
    """
    if charset is None:
        non_ascii = any((isinstance(a, bytes) and not a.isascii()) or
                        (isinstance(a, str) and not a.isascii())
                        for a in criteria)
        charset = "UTF-8" if non_ascii else ""
    parts = []
    if charset:
        parts += [b"CHARSET", charset.encode()]
    out = b""
    prev = None
    for piece in parts + [search_arg_bytes(a) for a in criteria]:
        if out and prev != b"(" and piece != b")":
            out += b" "
        out += piece
        prev = piece
    return out


def parse_search_response(data):
    """UIDs from imaplib's untagged SEARCH data (a list of byte strings)."""
    uids = []
    for chunk in data:
        if chunk is None:
            continue
        if isinstance(chunk, tuple):
            chunk = b" ".join(c for c in chunk if isinstance(c, bytes))
        uids.extend(int(x) for x in chunk.split() if x.isdigit())
    return sorted(set(uids))


# The users' mail location per storage driver.  Only maildir keeps all
# of a mailbox's state in its files, so that an oracle (oracle_of) can
# read the same mail through index files of its own; the others keep
# flags, UIDs (dbox) or the message map (mdbox) in their index files.
MAIL_PATHS = {
    "maildir": "~/Maildir",
    "sdbox": "~/sdbox",
    "mdbox": "~/mdbox",
    "mbox": "~/mbox:INBOX=~/mbox/inbox",
}


class Dovecot:
    """One Dovecot instance on 127.0.0.1:<port> with everything under root."""
    # the users' mail storage (set before start(); the benchmark converts
    # its maildir to sdbox/mdbox and restarts with these changed)
    mail_driver = "maildir"
    mail_path = "~/Maildir"

    def __init__(self, root, port, plugin="sift", users=("alice", "bob"),
                 plugin_settings=None, extra_conf="", oracle_of=None,
                 acl=False, public_dir=None, virtual=None, user_ids=None,
                 access_group=None, access_dir_mode=0o770, mail_driver=None,
                 mail_path=None, mail_options=None, storage=None,
                 namespace_separator=None, userdb_fields=None):
        if plugin not in PLUGINS:
            raise ValueError("plugin must be one of %s, not %r" % (PLUGINS, plugin))
        self.root = os.path.abspath(root)
        self.port = int(port) if port else free_port()
        self.plugin = plugin
        self.oracle_of = oracle_of
        self.users = tuple(oracle_of.users if oracle_of is not None else users)
        src = oracle_of if oracle_of is not None else None
        self.acl = src.acl if src else bool(acl)
        self.public_dir = src.public_dir if src else (
            os.path.abspath(public_dir) if public_dir else None)
        self.virtual = dict(src.virtual if src else (virtual or {}))
        self.user_ids = dict(src.user_ids if src else (user_ids or {}))
        self.access_group = src.access_group if src else access_group
        self.access_dir_mode = src.access_dir_mode if src else access_dir_mode
        if (self.user_ids or self.access_group) and os.geteuid() != 0:
            raise ValueError("user_ids/access_group need root")
        self.plugin_settings = dict(plugin_settings or {})
        self.extra_conf = extra_conf
        # user -> the passwd-file's extra fields for that user
        # ("userdb_<setting>=<value> ...", Dovecot's per-user settings);
        # an oracle reads the same passwd file
        self.userdb_fields = dict(userdb_fields or {})
        if mail_driver is not None:
            # sdbox, mdbox or mbox instead of maildir (an oracle of such an
            # instance can't share its storage: see MAIL_PATHS)
            if mail_driver not in MAIL_PATHS:
                raise ValueError("mail_driver must be one of %s" % sorted(MAIL_PATHS))
            self.mail_driver = mail_driver
            self.mail_path = MAIL_PATHS[mail_driver]
        if mail_path is not None:
            self.mail_path = mail_path
        # Storage configuration beyond the driver (dovecot_conf renders
        # each for its version): mail_options, location keys such as
        # {"LAYOUT": "fs", "INDEX": "MEMORY", "CONTROL": "<path>"} (paths
        # may hold {user}); storage, dovecot_conf.Syntax23.storage()'s
        # arguments (compress=, attachment_dir=, attachment_min_size=,
        # lazy_expunge=; crypt=True for mail_crypt with global keys of
        # the instance's own, crypt="user" for keys per user and folder
        # made by Dovecot, crypt_acl=True for mail_crypt_acl besides);
        # namespace_separator, the inbox namespace's
        # separator (default "/")
        self.mail_options = dict(mail_options or {})
        self.storage = dict(storage or {})
        self.namespace_separator = namespace_separator
        self.etc_dir = os.path.join(self.root, "etc")
        self.base_dir = os.path.join(self.root, "run")
        self.state_dir = os.path.join(self.root, "state")
        self.log_dir = os.path.join(self.root, "log")
        self.module_dir = os.path.join(self.root, "modules")
        self.conf_path = os.path.join(self.etc_dir, "dovecot.conf")
        self.log_path = os.path.join(self.log_dir, "dovecot.log")
        self.pid_path = os.path.join(self.base_dir, "master.pid")
        # storage={"crypt": True}: mail_crypt with global keys, an EC key
        # pair of this instance's own made by openssl in etc/ at start()
        # storage={"crypt": "user"}: keys per user and per folder, made by
        # Dovecot
        if self.storage.get("crypt") == "user":
            self.storage.pop("crypt")
            self.storage["crypt_user_keys"] = True
        if self.storage.pop("crypt", False):
            self.storage["crypt_keys"] = (
                os.path.join(self.etc_dir, "crypt-private.pem"),
                os.path.join(self.etc_dir, "crypt-public.pem"))
        if oracle_of is not None:
            # same homes and passwd file; own Dovecot index files
            self.home_root = oracle_of.home_root
            self.passwd_path = oracle_of.passwd_path
            self.index_root = os.path.join(self.root, "index")
            self.acl_dict_dir = oracle_of.acl_dict_dir
        else:
            self.home_root = os.path.join(self.root, "home")
            self.passwd_path = os.path.join(self.etc_dir, "passwd")
            self.index_root = None
            # shared by an oracle: the list of shared mailboxes is
            # written by SETACL on either instance
            self.acl_dict_dir = os.path.join(self.root, "acl-dict")
        self.instance_name = "dovetest-%s-%d" % (plugin, self.port)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = pw.pw_uid, pw.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        self._conns = {}
        self._pid = None
        # the installed Dovecot's config syntax (dovecot_conf.Syntax2x)
        self.syntax = dovecot_conf.syntax()

    # ---- paths -------------------------------------------------------
    def home(self, user):
        return os.path.join(self.home_root, user)

    def maildir(self, user):
        return os.path.join(self.home(user), "Maildir")

    @staticmethod
    def password(user):
        return user + "pw"

    def user_uid_gid(self, user):
        """(uid, primary gid) the user's mail processes run as."""
        if user in self.user_ids:
            return self.user_ids[user], self.user_ids[user]
        return self.mail_uid, self.mail_gid

    def _access_gid(self):
        return grp.getgrnam(self.access_group).gr_gid if self.access_group else None

    # ---- configuration ------------------------------------------------
    # The text is rendered by dovecot_conf for the installed Dovecot's
    # syntax (2.3 or 2.4); settings are given in 2.3's plugin { } terms.
    def fts_settings(self):
        """The version-neutral settings of this instance (dovecot_conf)."""
        if self.plugin == "none":
            settings = {}
        elif self.plugin == "xapian":
            settings = {"fts": "xapian", "fts_xapian": "partial=3 full=20 verbose=0",
                        "fts_autoindex": "yes", "fts_enforced": "yes"}
        elif self.plugin == "flatcurve":
            settings = {"fts": "flatcurve", "fts_autoindex": "yes", "fts_enforced": "yes"}
        else:
            # fts-sift tokenizes by itself: no fts_languages /
            # fts_tokenizers (2.4 still wants a language block, which
            # dovecot_conf writes)
            settings = {"fts": "sift", "fts_autoindex": "yes", "fts_enforced": "yes"}
        if self.acl:
            settings["acl"] = "vfile"
            settings["acl_shared_dict"] = "file:%s/shared-mailboxes.db" % self.acl_dict_dir
        settings.update(self.syntax.storage(**self.storage)[1])
        settings.update(self.plugin_settings)
        return settings

    def config_text(self):
        """The dovecot.conf this instance runs with."""
        syn = self.syntax
        mail_plugins = {"none": [], "sift": ["fts", "fts_sift"],
                        "xapian": ["fts", "fts_xapian"],
                        "flatcurve": ["fts", "fts_flatcurve"]}[self.plugin]
        storage_plugins, _, storage_text = syn.storage(**self.storage)
        mail_plugins = storage_plugins + mail_plugins
        if self.virtual:
            mail_plugins = ["virtual"] + mail_plugins
        if self.acl:
            mail_plugins = ["acl"] + mail_plugins
        conf = syn.header()
        conf += """\
# generated by tests/lib/dovetest.py - throw-away test instance
instance_name = {inst}
base_dir = {base}
state_dir = {state}
""".format(inst=self.instance_name, base=self.base_dir, state=self.state_dir)
        conf += syn.logging(self.log_path)
        conf += """\
protocols = imap
listen = 127.0.0.1
ssl = no
first_valid_uid = 1
first_valid_gid = 1
service indexer-worker {
  vsz_limit = 1G
}
"""
        conf += syn.imap_listener(self.port)
        conf += syn.auth(self.passwd_path)
        conf += syn.mail_location(
            self.mail_driver, self.mail_path,
            index=("%s/{user}" % self.index_root) if self.index_root else None,
            options=self.mail_options)
        conf += storage_text
        conf += """\
# throw-away mail: no fsync per delivered message (20 ms -> 1 ms per APPEND)
mail_fsync = never
"""
        if self.namespace_separator:
            conf += syn.namespace("inbox", "", inbox=True,
                                  separator=self.namespace_separator)
        else:
            conf += syn.namespace("inbox", "", inbox=True)
        conf += self._namespaces_conf()
        if self.plugin == "sift":
            conf += "mail_plugin_dir = %s\n" % self.module_dir
        conf += syn.mail_plugins(mail_plugins)
        if self.acl:
            conf += syn.mail_plugins(["imap_acl"], protocol="imap")
        if self.access_group:
            conf += "mail_access_groups = %s\n" % self.access_group
        if self.acl and self.user_ids:
            # a user's process looks up the owner of shared/<owner>/ in
            # the userdb; with per-user uids the socket must allow that
            conf += ("service auth {\n  unix_listener auth-userdb {\n"
                     "    mode = 0777\n  }\n}\n")
        conf += syn.settings(self.fts_settings())
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            conf += "default_internal_user = %s\ndefault_login_user = %s\n" % (me, me)
            conf += "default_internal_group = %s\n" % group
            for svc in ("anvil", "imap-login", "pop3-login", "submission-login",
                        "imap-urlauth-login"):
                conf += "service %s {\n  chroot =\n}\n" % svc
        if self.extra_conf:
            conf += "\n# extra_conf\n" + self.extra_conf.rstrip("\n") + "\n"
        return conf

    def _namespaces_conf(self):
        """The shared, public and virtual namespaces (see the module doc).
        An oracle keeps its own Dovecot indexes under its root."""
        syn = self.syntax
        conf = ""
        idx = self.index_root
        if self.acl:
            if idx:
                conf += syn.namespace(
                    "shared", "shared/{owner_user}/", "maildir", "{owner_home}/Maildir",
                    index="%s/{owner_user}" % idx,
                    index_private="%s/pvt/{user}/shared/{owner_user}" % idx,
                    type="shared", subscriptions=False, list_="children")
            elif self.mail_driver != "maildir":
                # the owners' storage in this instance's format (an
                # oracle of it has storage of its own: separate_pair());
                # the reader's private indexes (\Seen) in its home
                conf += syn.namespace(
                    "shared", "shared/{owner_user}/", self.mail_driver,
                    self.mail_path.replace("~", "{owner_home}"),
                    index_private="~/shared-pvt/{owner_user}",
                    type="shared", subscriptions=False, list_="children")
            else:
                conf += syn.namespace(
                    "shared", "shared/{owner_user}/", "maildir", "{owner_home}/Maildir",
                    index_private="~/Maildir/shared/{owner_user}",
                    type="shared", subscriptions=False, list_="children")
        if self.public_dir:
            if idx:
                conf += syn.namespace(
                    "public", "Public/", "maildir", self.public_dir,
                    index="%s/public" % idx, index_private="%s/pvt/{user}/public" % idx,
                    type="public", subscriptions=False, list_="children")
            else:
                conf += syn.namespace(
                    "public", "Public/", "maildir", self.public_dir,
                    index_private="~/Maildir/public",
                    type="public", subscriptions=False, list_="children")
        if self.virtual:
            conf += syn.namespace(
                "virtual", "virtual/", "virtual", "~/virtual",
                index=("%s/virtual/{user}" % idx) if idx else None,
                subscriptions=False, list_="children")
        return conf

    def _make_module_dir(self):
        so = sift_plugin_so()
        if not os.path.isfile(so):
            raise DovecotError(
                "fts-sift plugin not found at %s (build it: autoreconf -fi && "
                "./configure && make; or set SIFT_PLUGIN_SO)" % so)
        if os.path.isdir(self.module_dir):
            shutil.rmtree(self.module_dir)
        os.makedirs(self.module_dir)
        for name in sorted(os.listdir(DOVECOT_MODULEDIR)):
            if name == "lib21_fts_sift_plugin.so":
                continue
            os.symlink(os.path.join(DOVECOT_MODULEDIR, name),
                       os.path.join(self.module_dir, name))
        # a copy, not a symlink: a rebuild in the work tree while the
        # instance runs must not change (or truncate) the loaded plugin;
        # and never copy a .so the linker is still writing
        _wait_until_settled(so)
        shutil.copy2(so, os.path.join(self.module_dir, "lib21_fts_sift_plugin.so"))
        if self.syntax.version >= 24:
            install_settings_module(so)

    @staticmethod
    def _make_crypt_keys(private, public):
        """mail_crypt's global key pair (EC P-256, PEM, pkey format), made
        once: a restart must keep the key the stored mail was encrypted
        with."""
        if os.path.exists(private) and os.path.exists(public):
            return
        key = subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey",
                              "-noout"], check=True, capture_output=True).stdout
        subprocess.run(["openssl", "pkey", "-out", private], input=key, check=True,
                       capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", private, "-pubout", "-out", public],
                       check=True, capture_output=True)
        os.chmod(private, 0o600)

    def _chown_tree(self, path, user=None):
        if os.geteuid() != 0:
            return
        uid, gid = self.user_uid_gid(user) if user else (self.mail_uid, self.mail_gid)
        if self.access_group:
            gid = self._access_gid()
        os.chown(path, uid, gid)
        for dirpath, dirnames, filenames in os.walk(path):
            for n in dirnames + filenames:
                os.lchown(os.path.join(dirpath, n), uid, gid)

    def _prepare(self):
        for d in (self.root, self.etc_dir, self.base_dir, self.state_dir, self.log_dir):
            os.makedirs(d, exist_ok=True)
        # mail processes (nobody) must be able to reach homes, passwd and logs
        for d in (self.root, self.etc_dir):
            os.chmod(d, 0o755)
        if self.oracle_of is None:
            os.makedirs(self.home_root, exist_ok=True)
            os.chmod(self.home_root, 0o755)
            with open(self.passwd_path, "w") as f:
                for u in self.users:
                    uid, gid = self.user_uid_gid(u)
                    f.write("%s:{PLAIN}%s:%d:%d::%s::%s\n" % (
                        u, self.password(u), uid, gid, self.home(u),
                        self.userdb_fields.get(u, "")))
            for u in self.users:
                os.makedirs(self.home(u), exist_ok=True)
                for name, text in self.virtual.items():
                    vdir = os.path.join(self.home(u), "virtual", name)
                    os.makedirs(vdir, exist_ok=True)
                    with open(os.path.join(vdir, "dovecot-virtual"), "w") as f:
                        f.write(text)
                self._chown_tree(self.home(u), u)
                if self.access_group:
                    # other users' processes reach the owner's Maildir
                    # through the home: group access (0770: no setgid, so
                    # the plugin's own group handling is what is tested;
                    # 0o2770: what sites do)
                    os.makedirs(self.maildir(u), exist_ok=True)
                    self._chown_tree(self.home(u), u)
                    for d in (self.home(u), self.maildir(u)):
                        os.chmod(d, self.access_dir_mode)
            if self.acl:
                os.makedirs(self.acl_dict_dir, exist_ok=True)
                os.chmod(self.acl_dict_dir, 0o777)
            if self.public_dir:
                os.makedirs(self.public_dir, exist_ok=True)
                if self.access_group and os.geteuid() == 0:
                    os.chown(self.public_dir, 0, self._access_gid())
                    os.chmod(self.public_dir, self.access_dir_mode)
                else:
                    self._chown_tree(self.public_dir)
        else:
            os.makedirs(self.index_root, exist_ok=True)
            self._chown_tree(self.index_root)
            if self.user_ids:
                # every user's process creates its own index dirs here,
                # and reads the owners' (setgid: they inherit the group)
                dirs = [self.index_root] + [os.path.join(self.index_root, sub)
                                            for sub in ("virtual", "pvt", "public")]
                for d in dirs:
                    os.makedirs(d, exist_ok=True)
                    if self.access_group:
                        os.chown(d, 0, self._access_gid())
                    os.chmod(d, 0o2777)
        if self.storage.get("crypt_keys"):
            self._make_crypt_keys(*self.storage["crypt_keys"])
        if self.plugin == "sift":
            self._make_module_dir()
        with open(self.conf_path, "w") as f:
            f.write(self.config_text())

    # ---- lifecycle ----------------------------------------------------
    def _master_pid(self):
        try:
            with open(self.pid_path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @staticmethod
    def _alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _port_open(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self, timeout=30):
        """Write the config and start `dovecot -c`; wait for the IMAP port."""
        # a leftover master of this very instance (same base_dir) goes first
        old = self._master_pid()
        if old and self._alive(old):
            self._pid = old
            self.stop()
        self._prepare()
        check = subprocess.run(["doveconf", "-c", self.conf_path, "-n"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if check.returncode != 0:
            raise DovecotError("doveconf rejects %s:\n%s" % (self.conf_path, check.stderr))
        with open(os.path.join(self.log_dir, "doveconf-n.txt"), "w") as f:
            f.write(check.stdout)
        # dovecot keeps stderr open: never give it our pipes
        with open(os.path.join(self.log_dir, "master-stdio.log"), "ab") as out:
            rc = subprocess.call(["dovecot", "-c", self.conf_path],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        if rc != 0:
            raise DovecotError("dovecot -c %s exited %d\n%s" % (
                self.conf_path, rc, self._failure_text()))
        deadline = time.time() + timeout
        while time.time() < deadline:
            self._pid = self._master_pid()
            if self._port_open():
                return self
            if self._pid and not self._alive(self._pid):
                break
            time.sleep(0.1)
        pid = self._master_pid()
        if pid and self._alive(pid):
            self._pid = pid
            self.stop()
        raise DovecotError("dovecot did not listen on 127.0.0.1:%d\n%s" % (
            self.port, self._failure_text()))

    def _failure_text(self, lines=40):
        text = ""
        for p in (os.path.join(self.log_dir, "master-stdio.log"), self.log_path):
            try:
                with open(p, errors="replace") as f:
                    tail = f.read().splitlines()[-lines:]
                text += "--- tail of %s\n%s\n" % (p, "\n".join(tail))
            except OSError:
                pass
        return text

    def close_connections(self):
        """Log out the IMAP sessions cached by search()/append()."""
        for c in list(self._conns.values()):
            try:
                c.logout()
            except Exception:
                pass
        self._conns.clear()

    def stop(self, timeout=20):
        """Stop the master (by its pid) and wait until it is gone."""
        self.close_connections()
        pid = self._pid or self._master_pid()
        if not pid or not self._alive(pid):
            self._pid = None
            return
        children = _child_pids(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + timeout
        while time.time() < deadline and self._alive(pid):
            time.sleep(0.05)
        if self._alive(pid):
            os.kill(pid, signal.SIGKILL)
            while self._alive(pid):
                time.sleep(0.05)
        # A worker busy in a long job (an indexer-worker in the middle of a
        # big message) outlives its master; end this instance's own
        # children, by pid, once they had a few seconds to exit.
        deadline = time.time() + 5
        while time.time() < deadline and any(self._alive(c) for c in children):
            time.sleep(0.05)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = [c for c in children if _child_of_instance(c, self.instance_name)]
            if not left:
                break
            for c in left:
                try:
                    os.kill(c, sig)
                except ProcessLookupError:
                    pass
            time.sleep(2)
        self._pid = None

    def running(self):
        pid = self._pid or self._master_pid()
        return bool(pid and self._alive(pid))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- IMAP ---------------------------------------------------------
    def imap(self, user, timeout=900):
        """A new, logged-in imaplib connection (caller closes it)."""
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=timeout)
        conn.login(user, self.password(user))
        return conn

    def _conn(self, user):
        conn = self._conns.get(user)
        if conn is not None:
            try:
                conn.noop()
                return conn
            except Exception:
                self._conns.pop(user, None)
        conn = self.imap(user)
        self._conns[user] = conn
        return conn

    def uid_search(self, conn, *criteria, charset=None):
        """UID SEARCH on the selected mailbox; sorted UIDs.  Raises on NO/BAD.

        Criteria are IMAP tokens: keys and atoms as str ("BODY", "OR",
        "SINCE", "1-Jan-2020", "(" ...), values as str (quoted, or sent as a
        literal when non-ASCII) or bytes (always a literal).  Non-ASCII
        input adds CHARSET UTF-8."""
        args = search_command_bytes(criteria, charset)
        try:
            typ, data = conn.uid("SEARCH", args)
        except imaplib.IMAP4.error as e:
            raise DovecotError("UID SEARCH %s failed: %s" % (args[:300], e)) from None
        if typ != "OK":
            raise DovecotError("UID SEARCH %s -> %s %s" % (args[:300], typ, data))
        return parse_search_response(data)

    def select(self, conn, mailbox="INBOX", readonly=False):
        typ, data = conn.select(_quote_mailbox(mailbox), readonly=readonly)
        if typ != "OK":
            raise DovecotError("SELECT %s -> %s %s" % (mailbox, typ, data))
        return int(data[0])

    def search(self, user, mailbox, *criteria, charset=None):
        """Convenience: open/select on a cached connection, then uid_search."""
        conn = self._conn(user)
        self.select(conn, mailbox, readonly=True)
        return self.uid_search(conn, *criteria, charset=charset)

    def create_mailbox(self, user, mailbox):
        conn = self._conn(user)
        typ, data = conn.create(_quote_mailbox(mailbox))
        if typ != "OK" and b"exists" not in b" ".join(d for d in data if d):
            raise DovecotError("CREATE %s -> %s %s" % (mailbox, typ, data))

    def append(self, user, mailbox, raw_bytes, date=None, flags=None, create=True):
        """APPEND raw_bytes (bare LF is sent as CRLF) to mailbox, creating it
        if needed (unless create=False).  date: internal date (epoch,
        datetime or IMAP string).  Returns the new UID (from APPENDUID)."""
        if isinstance(raw_bytes, str):
            raw_bytes = raw_bytes.encode("utf-8")
        conn = self._conn(user)
        if create and mailbox.upper() != "INBOX":
            self.create_mailbox(user, mailbox)
        typ, data = conn.append(_quote_mailbox(mailbox), flags, _internaldate(date), raw_bytes)
        if typ != "OK":
            raise DovecotError("APPEND to %s -> %s %s" % (mailbox, typ, data))
        m = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        return int(m.group(1)) if m else None

    def expunge(self, user, mailbox, uids):
        """Flag uids \\Deleted in mailbox and EXPUNGE them over IMAP."""
        conn = self.imap(user)
        try:
            typ, data = conn.select(_quote_mailbox(mailbox))
            if typ != "OK":
                raise DovecotError("SELECT %s -> %s %s" % (mailbox, typ, data))
            typ, data = conn.uid("STORE", ",".join(map(str, uids)), "+FLAGS.SILENT",
                                 r"(\Deleted)")
            if typ != "OK":
                raise DovecotError("STORE -> %s %s" % (typ, data))
            typ, data = conn.expunge()
            if typ != "OK":
                raise DovecotError("EXPUNGE -> %s %s" % (typ, data))
        finally:
            conn.logout()

    # ---- doveadm ------------------------------------------------------
    def doveadm(self, *args, check=True, timeout=600, input=None):
        """Run `doveadm -c <conf> args...`; CompletedProcess (text)."""
        cmd = ["doveadm", "-c", self.conf_path] + [str(a) for a in args]
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout,
                               input=input, text=not isinstance(input, bytes))
        except subprocess.TimeoutExpired as e:
            raise DovecotError("timeout after %ss: %s" % (timeout, " ".join(cmd))) from e
        if isinstance(input, bytes):
            p = subprocess.CompletedProcess(p.args, p.returncode,
                                            p.stdout.decode("utf-8", "replace"),
                                            p.stderr.decode("utf-8", "replace"))
        if check and p.returncode != 0:
            raise DovecotError("%s exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def doveadm_sift(self, *args, check=True, timeout=600):
        """`doveadm -c <conf> args...` with the build's doveadm module
        (fts-sift subcommands, tokenize/expand for sift users) loaded.

        doveadm loads its modules from a fixed directory; the module is
        never installed there: doveadm runs in a private mount namespace
        (root only) where a copy of that directory plus our module is
        bind-mounted over it, so no other doveadm on the machine sees it."""
        if os.geteuid() != 0:
            raise DovecotError("doveadm_sift needs root (a mount namespace)")
        mod_dir = os.path.join(self.root, "doveadm-modules")
        if not os.path.isdir(mod_dir):
            so = sift_doveadm_so()
            if not os.path.isfile(so):
                raise DovecotError("fts-sift doveadm module not found at %s" % so)
            os.makedirs(mod_dir)
            for name in sorted(os.listdir(DOVEADM_MODULEDIR)):
                if name.endswith(".so") and "fts_sift" not in name:
                    shutil.copy2(os.path.join(DOVEADM_MODULEDIR, name), mod_dir)
            _wait_until_settled(so)
            shutil.copy2(so, os.path.join(mod_dir, os.path.basename(so)))
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount --bind "$0" "$1" && shift && exec doveadm "$@"',
               mod_dir, DOVEADM_MODULEDIR, "-c", self.conf_path] + [str(a) for a in args]
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)
        except subprocess.TimeoutExpired as e:
            raise DovecotError("timeout after %ss: doveadm %s" % (timeout, " ".join(args))) from e
        if check and p.returncode != 0:
            raise DovecotError("doveadm %s exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(map(str, args)), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def doveadm_search_uids(self, user, mailbox, *query, timeout=600):
        """UIDs from `doveadm search -u user mailbox <mailbox> <query...>`."""
        p = self.doveadm("search", "-u", user, "mailbox", mailbox, *query, timeout=timeout)
        uids = []
        for line in p.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                uids.append(int(parts[1]))
        return sorted(uids)

    def fts_lookup_all(self, user, *args):
        """`doveadm fts lookup -u user <args...>` as {mailbox: (definite,
        maybe)}, sets of UIDs.  The output is "<mailbox>: <uid set>" (or
        "no results"), optionally followed by " - maybe: <uid set>"."""
        p = self.doveadm("fts", "lookup", "-u", user, *args)
        out, name = {}, None
        for line in p.stdout.splitlines():
            if line.startswith(" - maybe: ") and name is not None:
                out[name][1].update(parse_uid_set(line[len(" - maybe: "):]))
                continue
            name, sep, rest = line.rpartition(": ")
            if not sep:
                name = None
                continue
            out[name] = (set() if rest.strip() == "no results"
                         else parse_uid_set(rest), set())
        return out

    def fts_lookup(self, user, mailbox, *query):
        """(definite, maybe) UIDs of `doveadm fts lookup` in one mailbox."""
        return self.fts_lookup_all(user, "mailbox", mailbox, *query).get(
            mailbox, (set(), set()))

    # ---- logs ---------------------------------------------------------
    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, since=0, expect=None, timeout=10.0):
        """The log from byte offset `since`.  With `expect` (a regex), wait
        up to `timeout` seconds for it to appear first: mail processes send
        their lines to Dovecot's log process, which writes them a moment
        after the IMAP reply that followed them was sent."""
        deadline = time.time() + timeout
        while True:
            text = self.log_text().encode("utf-8", "replace")[since:] \
                .decode("utf-8", "replace")
            if expect is None or re.search(expect, text) \
                    or time.time() >= deadline:
                return text
            time.sleep(0.05)

    def log_problems(self, since=0):
        """Log lines at Panic/Fatal/Error level, and warnings mentioning sift
        (from byte offset `since`)."""
        text = self.log_text()
        if since:
            text = text.encode("utf-8", "replace")[since:].decode("utf-8", "replace")
        return [line for line in text.splitlines()
                if _PROBLEM_RE.search(line) or _SIFT_WARNING_RE.search(line)]


def _wait_until_settled(path, quiet=2.0, limit=120.0):
    """Wait until path has not changed for `quiet` seconds (a build that is
    writing it has finished), at most `limit` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline:
        st = os.stat(path)
        age = time.time() - st.st_mtime
        if age >= quiet:
            return
        time.sleep(quiet - age + 0.1)


def _child_pids(ppid):
    """PIDs whose parent is ppid (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ..."; comm may contain spaces
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            out.append(int(name))
    return out


def _child_of_instance(pid, instance_name):
    """True if pid still runs a process of this Dovecot instance (its
    title names the instance), so a recycled pid is never signalled."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return (instance_name + "/").encode() in cmdline


def _quote_mailbox(name):
    if _ATOM_RE.match(name):
        return name
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')

