#!/bin/bash
# Build, install, use and remove the Debian package in a fresh Debian 12
# (Dovecot 2.3) or Debian 13 (Dovecot 2.4) chroot (as root):
#
#     bash tests/pkg/chroot-verify.sh [CHROOT_DIR]
#     SIFT_PKG_SUITE=trixie bash tests/pkg/chroot-verify.sh [CHROOT_DIR]
#
# 1. debootstrap --variant=minbase bookworm (default) or trixie (unless
#    CHROOT_DIR already holds one), with the host's apt mirror,
# 2. installs the build dependencies there and runs dpkg-buildpackage
#    -us -uc -b on a copy of this tree (git ls-files),
# 3. lintian on the .deb (errors fail),
# 4. apt installs the .deb (which pulls dovecot-core), enables the
#    example configuration /etc/dovecot/conf.d/90-fts-sift.conf, saves
#    two messages for a user, indexes them and searches: doveadm search
#    must find exactly the matching message and doveadm fts lookup (the
#    backend's own answer) must hold it; doveadm fts-sift status shows
#    the index,
# 5. apt-get remove: no file of the package's modules may be left.
# Ends with "chroot-verify: OK" or exits non-zero.
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=${SIFT_PKG_SUITE:-bookworm}
CH=${1:-/tmp/fts-sift-chroot-$SUITE}
# the first mirror an active line names (Debian's own sources files carry
# a commented-out snapshot.debian.org URL first, which debootstrap can't use)
MIRROR=${SIFT_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
	grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]*debian/?' | grep -v security | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
say() { printf '== %s\n' "$*"; }

if [ ! -x "$CH/usr/bin/apt-get" ]; then
	say "debootstrap $SUITE into $CH ($MIRROR)"
	debootstrap --variant=minbase "$SUITE" "$CH" "$MIRROR"
fi
cleanup() {
	chroot "$CH" doveadm stop >/dev/null 2>&1 || true
	umount "$CH/proc" 2>/dev/null || true
	umount "$CH/dev/pts" 2>/dev/null || true
}
trap cleanup EXIT
mountpoint -q "$CH/proc" || mount -t proc proc "$CH/proc"
in_ch() { chroot "$CH" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

say "copy the tree (git ls-files)"
rm -rf "$CH/build" && mkdir -p "$CH/build/dovecot-fts-sift"
(cd "$TOP" && git ls-files -z | xargs -0 tar -cf -) | tar -xf - -C "$CH/build/dovecot-fts-sift"

say "build dependencies (debian/control's Build-Depends)"
cp /etc/resolv.conf "$CH/etc/resolv.conf" 2>/dev/null || true
in_ch apt-get update -q
in_ch apt-get install -y -q --no-install-recommends build-essential lintian
in_ch apt-get build-dep -y -q --no-install-recommends /build/dovecot-fts-sift

say "dpkg-buildpackage"
in_ch sh -c 'cd /build/dovecot-fts-sift && dpkg-buildpackage -us -uc -b'
DEB=$(cd "$CH/build" && ls dovecot-fts-sift_*.deb)
in_ch dpkg-deb -I "/build/$DEB" | grep Depends

say "lintian"
in_ch lintian --fail-on error "/build/$DEB"

say "apt install"
# a chroot used before: no trace of an earlier install or of the test user
in_ch sh -c 'dpkg -s dovecot-fts-sift >/dev/null 2>&1 && apt-get purge -y -q dovecot-fts-sift || true'
rm -f "$CH/etc/dovecot/conf.d/99-sifttest.conf"
in_ch apt-get install -y -q "/build/$DEB"
in_ch dpkg -L dovecot-fts-sift > "$CH/build/files.txt"
grep -q 'lib21_fts_sift_plugin.so$' "$CH/build/files.txt"
grep -q 'lib21_doveadm_fts_sift_plugin.so$' "$CH/build/files.txt"
# inactive as installed: doveconf shows no fts plugin
if in_ch doveconf -h mail_plugins | grep -q fts_sift; then
	echo "example config is active before it is enabled"; exit 1
fi

say "enable the example config and search"
in_ch sed -i -e 's/^#\([^#]\)/\1/' -e 's/^  #fts_sift/  fts_sift/' /etc/dovecot/conf.d/90-fts-sift.conf
in_ch sh -c 'id sifttest >/dev/null 2>&1 || useradd -m sifttest'
# a chroot used before: start from an empty mailbox
rm -rf "$CH/home/sifttest/Maildir"
# no listeners (no fixed ports taken on the host): only the services
# doveadm needs (auth for the userdb lookup)
if in_ch dovecot --version | grep -q "^2\.4"; then
	# Dovecot 2.4 (Debian's default is mbox with INBOX in /var/mail)
	cat > "$CH/etc/dovecot/conf.d/99-sifttest.conf" <<'CONF'
mail_driver = maildir
mail_path = %{home}/Maildir
mail_inbox_path =
protocols =
CONF
else
	cat > "$CH/etc/dovecot/conf.d/99-sifttest.conf" <<'CONF'
mail_location = maildir:~/Maildir
protocols =
CONF
fi
in_ch doveconf -h mail_plugins
in_ch dovecot
printf 'From: a@example.org\nSubject: one\n\nthe kselftest harness\n' | in_ch doveadm save -u sifttest
printf 'From: b@example.org\nSubject: two\n\nsomething else\n' | in_ch doveadm save -u sifttest
in_ch doveadm index -u sifttest INBOX
found=$(in_ch doveadm search -u sifttest mailbox INBOX body selft | awk '{print $2}')
[ "$found" = 1 ] || { echo "search found '$found', expected UID 1"; exit 1; }
in_ch doveadm fts lookup -u sifttest mailbox INBOX body selft | tee "$CH/build/lookup.txt"
grep -q '^INBOX: 1$' "$CH/build/lookup.txt"
in_ch doveadm -f table fts-sift status -u sifttest
in_ch doveadm fts tokenize -u sifttest "hello kselftest"

say "apt-get remove"
in_ch doveadm stop
rm -f "$CH/etc/dovecot/conf.d/99-sifttest.conf"
in_ch apt-get remove -y -q dovecot-fts-sift
left=""
while read -r f; do
	[ -f "$CH$f" ] && left="$left $f"
done < "$CH/build/files.txt"
echo "left after remove:${left:- nothing}"
case "$left" in
	*.so*) echo "modules left behind"; exit 1;;
esac
in_ch apt-get purge -y -q dovecot-fts-sift
[ ! -e "$CH/etc/dovecot/conf.d/90-fts-sift.conf" ]
echo "chroot-verify: OK"
