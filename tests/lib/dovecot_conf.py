"""dovecot_conf: dovecot.conf text for the Dovecot version the tests run on.

Dovecot 2.4 changed the configuration syntax almost everywhere (no
plugin { } section, mail_driver/mail_path instead of mail_location,
mail_plugins { } lists, fts <driver> { } filters, acl_driver,
boolean lists such as fts_header_excludes { Received = yes }, ...).  The
test harness (dovetest.py), the demo and the benchmarks describe what they
want in version-neutral terms and one of two renderers writes it:

    conf = syntax()                  # Syntax23() or Syntax24(), from `dovecot --version`
    conf.settings({"fts": "sift", "fts_enforced": "yes",
                   "fts_header_excludes": "Received X-*",
                   "fts_decoder": "decode2text", "acl": "vfile", ...})

settings() takes the 2.3 plugin { } keys everybody knows and renders them
for its version:

  fts = <driver>            2.3 plugin { fts = x }; 2.4 fts <driver> { }
                            (+ the mandatory language block)
  fts_enforced = yes        2.4: fts_search_add_missing = yes and
                            fts_search_read_fallback = no (what the suite
                            runs with); "body" = add_missing only
  fts_autoindex             both
  fts_header_excludes,      space-separated names; 2.4: boolean lists
  fts_header_includes
  fts_decoder = <service>   2.4: fts_decoder_driver = script,
                            fts_decoder_script_socket_path = <service>
  fts_tika = <url>          2.4: fts_decoder_driver = tika,
                            fts_decoder_tika_url = <url>
  fts_xapian = "partial=3 full=20 verbose=0"   2.4: fts xapian { partial = 3 ... }
  acl = vfile               2.4: acl_driver = vfile
  acl_shared_dict = file:P  2.4: acl_sharing_map { dict file { path = P } }
  anything else             2.3: inside plugin { }; 2.4: a top-level key
                            (fts_sift_*, fts_flatcurve_*, ...)

script_service(name, script) renders a script service (a decoder), with
the internal user spelled as its version wants.

A test that needs a setting of one version only passes it in extra_conf
after checking `syntax().version`.
"""

import functools
import re
import subprocess


@functools.lru_cache(maxsize=None)
def dovecot_version():
    """(major, minor, patch) of the installed `dovecot`."""
    out = subprocess.run(["dovecot", "--version"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL).stdout
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", out.strip())
    if not m:
        raise RuntimeError("cannot tell the Dovecot version from %r" % out)
    return tuple(int(x) for x in m.groups())


def _words(value):
    return [w for w in re.split(r"[\s,]+", value or "") if w]


class Syntax23:
    """Dovecot 2.3 (Debian 12)."""
    version = 23
    # what an oracle needs to see the same mail without FTS
    features = ()

    def header(self):
        return ""

    def logging(self, log_path):
        return "log_path = %s\nmail_debug = yes\n" % log_path

    def auth(self, passwd_path):
        return """\
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%n %s
}
userdb {
  driver = passwd-file
  args = username_format=%%n %s
}
""" % (passwd_path, passwd_path)

    def imap_listener(self, port):
        return """\
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
""" % port

    # Paths may hold {user} (the session user), and inside a shared
    # namespace {owner_home} / {owner_user} (the mailbox owner's).
    def _expand(self, text, in_namespace):
        # 2.3: in a shared namespace's location the owner's variables are
        # written %%h / %%u (expanded per owner, later)
        return (text.replace("{owner_home}", "%%h").replace("{owner_user}", "%%u")
                .replace("{user}", "%u").replace("{home}", "%h"))

    def _location(self, driver, path, index=None, index_private=None, ns=False):
        loc = "%s:%s" % (driver, path)
        if index:
            loc += ":INDEX=%s" % index
        if index_private:
            loc += ":INDEXPVT=%s" % index_private
        return self._expand(loc, ns)

    def mail_location(self, driver, path, index=None, options=None):
        """options: {"LAYOUT": "fs"|"index", "INDEX": path|"MEMORY",
        "CONTROL": path} (2.3 location keys; see Syntax24 for 2.4)."""
        loc = self._location(driver, path, index)
        for k, v in (options or {}).items():
            loc += ":%s=%s" % (k, self._expand(v, False))
        return "mail_location = %s\n" % loc

    def storage(self, compress=None, attachment_dir=None,
                attachment_min_size=None, lazy_expunge=None, crypt_keys=None,
                crypt_user_keys=False, crypt_acl=False):
        """Storage features, version-neutral: compress (a method: gz,
        zstd, lz4, bz2: new mail is written compressed), attachment_dir
        (dbox single-instance attachment storage, with
        attachment_min_size), lazy_expunge (the mailbox expunged mail is
        moved to), crypt_keys (mail_crypt with global keys: a
        (private key PEM path, public key PEM path) pair; new mail is
        written encrypted, format version 2), crypt_user_keys (mail_crypt
        with no global keys: Dovecot makes a P-256 key pair per user and
        a key per folder, kept in the mailbox attributes; mail written
        encrypted, version 2), crypt_acl (the mail_crypt_acl plugin too:
        a SETACL gives the grantee the folder's key, encrypted with the
        grantee's public key; needs the acl plugin).  Returns (mail
        plugins, plugin settings, top-level configuration text)."""
        plugins, settings, text = [], {}, ""
        if compress:
            plugins.append("zlib")
            settings["zlib_save"] = compress
        if crypt_user_keys:
            plugins.append("mail_crypt")
            settings["mail_crypt_curve"] = "prime256v1"
            settings["mail_crypt_save_version"] = "2"
            # (the keys are mailbox attributes)
            text += "mail_attribute_dict = file:%h/dovecot-attributes\n"
        if crypt_keys:
            plugins.append("mail_crypt")
            settings["mail_crypt_global_private_key"] = "<%s" % crypt_keys[0]
            settings["mail_crypt_global_public_key"] = "<%s" % crypt_keys[1]
            settings["mail_crypt_save_version"] = "2"
        if crypt_acl:
            plugins.append("mail_crypt_acl")
        if attachment_dir:
            text += "mail_attachment_dir = %s\n" % self._expand(attachment_dir, False)
            if attachment_min_size:
                text += "mail_attachment_min_size = %s\n" % attachment_min_size
        if lazy_expunge:
            plugins.append("lazy_expunge")
            settings["lazy_expunge"] = lazy_expunge
        return plugins, settings, text

    def _ns_prefix(self, prefix):
        return self._expand(prefix, True)

    def _ns_mail_lines(self, driver, path, index, index_private):
        return ["location = %s" % self._location(
            driver, path, index, index_private, ns=True)]

    def namespace(self, name, prefix, driver=None, path=None, index=None,
                  index_private=None, type="private", inbox=False,
                  subscriptions=True, list_="yes", separator="/"):
        """A namespace block; what differs between versions is in
        _ns_prefix() and _ns_mail_lines()."""
        lines = ["namespace %s {" % name, "  type = %s" % type,
                 "  separator = %s" % separator,
                 "  prefix = %s" % self._ns_prefix(prefix)]
        if inbox:
            lines.append("  inbox = yes")
        if driver:
            lines += ["  " + x for x in self._ns_mail_lines(
                driver, path, index, index_private)]
        if not subscriptions:
            lines.append("  subscriptions = no")
        if list_ != "yes":
            lines.append("  list = %s" % list_)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def mail_plugins(self, plugins, protocol=None):
        if not plugins:
            return ""
        line = "mail_plugins = $mail_plugins %s" % " ".join(plugins)
        if protocol:
            return "protocol %s {\n  %s\n}\n" % (protocol, line)
        return line + "\n"

    # the user Dovecot's internal services run as
    internal_user = "$default_internal_user"

    def script_service(self, name, script):
        """A script service (fts decoder): unix socket <name> in base_dir,
        run as the internal user."""
        return ("service %s {\n  executable = script %s\n"
                "  user = %s\n"
                "  unix_listener %s {\n    mode = 0666\n  }\n}\n"
                % (name, script, self.internal_user, name))

    def settings(self, settings):
        """plugin { } with every setting (see the module doc)."""
        if not settings:
            return ""
        lines = ["plugin {"]
        lines += ["  %s = %s" % (k, v) for k, v in settings.items()]
        lines.append("}")
        return "\n".join(lines) + "\n"


class Syntax24(Syntax23):
    """Dovecot 2.4 (Debian 13)."""
    version = 24
    internal_user = "$SET:default_internal_user"

    def header(self):
        return "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"

    def logging(self, log_path):
        # mail_debug is gone: debug logging is an event filter; the mail
        # category gives Dovecot's own lines ("Opened mail because"),
        # fts and fts-sift (a child of fts) the plugins'
        return ("log_path = %s\nlog_debug = category=mail OR category=fts "
                "OR category=fts-sift\n" % log_path)

    def auth(self, passwd_path):
        return """\
auth_allow_cleartext = yes
auth_mechanisms = plain login
auth_username_format = %%{user | username}
passdb passwd-file {
  passwd_file_path = %s
}
userdb passwd-file {
  passwd_file_path = %s
}
""" % (passwd_path, passwd_path)

    def imap_listener(self, port):
        return """\
service imap-login {
  inet_listener imap {
    listen = 127.0.0.1
    port = %d
  }
  inet_listener imaps {
    port = 0
  }
}
""" % port

    def _expand(self, text, in_namespace):
        return (text.replace("{owner_home}", "%{owner_home}")
                .replace("{owner_user}", "%{owner_user}")
                .replace("{user}", "%{user}").replace("{home}", "%{home}"))

    def _mail_lines(self, driver, path, index=None, index_private=None, ns=False):
        # (a 2.3 location's ":INBOX=<path>" is a setting of its own)
        path, _, inbox = path.partition(":INBOX=")
        lines = ["mail_driver = %s" % driver, "mail_path = %s" % self._expand(path, ns)]
        if inbox:
            lines.append("mail_inbox_path = %s" % self._expand(inbox, ns))
        if index:
            lines.append("mail_index_path = %s" % self._expand(index, ns))
        if index_private:
            lines.append("mail_index_private_path = %s" % self._expand(index_private, ns))
        return lines

    # 2.3 location keys -> 2.4 settings
    _OPTION_SETTINGS = {"LAYOUT": "mailbox_list_layout", "INDEX": "mail_index_path",
                        "CONTROL": "mail_control_path"}

    def mail_location(self, driver, path, index=None, options=None):
        lines = self._mail_lines(driver, path, index)
        for k, v in (options or {}).items():
            v = self._expand(v, False)
            if k == "LAYOUT":
                v = v.lower()
            lines.append("%s = %s" % (self._OPTION_SETTINGS[k], v))
        return "\n".join(lines) + "\n"

    def storage(self, compress=None, attachment_dir=None,
                attachment_min_size=None, lazy_expunge=None, crypt_keys=None,
                crypt_user_keys=False, crypt_acl=False):
        plugins, settings, text = [], {}, ""
        if compress:
            plugins.append("mail_compress")
            text += "mail_compress_write_method = %s\n" % compress
        if crypt_user_keys:
            plugins.append("mail_crypt")
            text += ("crypt_user_key_curve = prime256v1\n"
                     "mail_attribute {\n  dict file {\n"
                     "    path = %{home}/dovecot-attributes\n  }\n}\n")
        if crypt_keys:
            # (2.4 writes format version 2 by default:
            # crypt_write_algorithm = aes-256-gcm-sha256)
            plugins.append("mail_crypt")
            text += ("crypt_global_public_key_file = %s\n"
                     "crypt_global_private_key main {\n"
                     "  crypt_private_key_file = %s\n}\n" % (crypt_keys[1], crypt_keys[0]))
        if crypt_acl:
            plugins.append("mail_crypt_acl")
        if attachment_dir:
            text += "mail_ext_attachment_path = %s\n" % self._expand(attachment_dir, False)
            if attachment_min_size:
                text += "mail_ext_attachment_min_size = %s\n" % attachment_min_size
            # (2.3's mail_attachment_fs; 2.4 wants it spelled out)
            text += "mail_ext_attachment {\n  fs posix {\n  }\n}\n"
        if lazy_expunge:
            plugins.append("lazy_expunge")
            text += "lazy_expunge_mailbox = %s\n" % lazy_expunge
        return plugins, settings, text

    def _ns_prefix(self, prefix):
        # the owner in a shared prefix is $user in 2.4
        return prefix.replace("{owner_user}", "$user")

    def _ns_mail_lines(self, driver, path, index, index_private):
        return self._mail_lines(driver, path, index, index_private, ns=True)

    def mail_plugins(self, plugins, protocol=None):
        if not plugins:
            return ""
        body = "mail_plugins {\n%s}\n" % "".join("  %s = yes\n" % p for p in plugins)
        if protocol:
            body = "protocol %s {\n%s}\n" % (
                protocol, "".join("  " + l + "\n" for l in body.splitlines()))
        return body

    @staticmethod
    def _bool_list(name, value):
        items = _words(value)
        return "%s {\n%s}\n" % (name, "".join(
            '  "%s" = yes\n' % i for i in items))

    def settings(self, settings):
        settings = dict(settings)
        out = []
        driver = settings.pop("fts", None)
        enforced = settings.pop("fts_enforced", None)
        xapian = settings.pop("fts_xapian", None)
        if driver:
            block = ["fts %s {" % driver]
            if driver == "xapian" and xapian:
                for w in _words(xapian):
                    k, _, v = w.partition("=")
                    if k in ("partial", "verbose", "lowmemory", "maxthreads"):
                        block.append("  %s = %s" % (k, v))
            block.append("}")
            out += block
            # 2.4 wants a language even for backends that ignore it
            out += ["language en {", "  default = yes", "}"]
        if enforced is not None:
            if enforced in ("yes", "true"):
                out += ["fts_search_add_missing = yes", "fts_search_read_fallback = no"]
            elif enforced == "body":
                out += ["fts_search_add_missing = body-search-only"]
        for key in ("fts_header_excludes", "fts_header_includes"):
            if key in settings:
                out.append(self._bool_list(key, settings.pop(key)).rstrip("\n"))
        decoder = settings.pop("fts_decoder", None)
        tika = settings.pop("fts_tika", None)
        if decoder:
            out += ["fts_decoder_driver = script",
                    "fts_decoder_script_socket_path = %s" % decoder]
        elif tika:
            out += ["fts_decoder_driver = tika",
                    "fts_decoder_tika_url = %s" % tika]
        acl = settings.pop("acl", None)
        if acl:
            out.append("acl_driver = %s" % acl)
        shared = settings.pop("acl_shared_dict", None)
        if shared:
            kind, _, path = shared.partition(":")
            out += ["acl_sharing_map {", "  dict %s {" % kind,
                    "    path = %s" % path, "  }", "}"]
        for k, v in settings.items():
            out.append("%s = %s" % (k, v))
        return "\n".join(out) + ("\n" if out else "")


def syntax():
    """The renderer for the installed Dovecot."""
    return Syntax24() if dovecot_version() >= (2, 4) else Syntax23()
