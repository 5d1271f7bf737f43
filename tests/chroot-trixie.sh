#!/bin/bash
# tests/chroot-trixie.sh: a Debian 13 ("trixie", Dovecot 2.4) system in a
# chroot, for running the suite, the demo and the benchmarks on 2.4 from a
# Debian 12 host.  Run as root.
#
#   bash tests/chroot-trixie.sh create     make it unless a complete one exists
#   bash tests/chroot-trixie.sh recreate   throw it away and make it again
#   bash tests/chroot-trixie.sh run CMD..  copy this tree into the chroot and
#                                          run CMD there, from the tree's root
#   bash tests/chroot-trixie.sh dir        print its directory
#
# The chroot lives in $SIFT_CHROOT (default /var/cache/fts-sift/trixie) and
# is kept between runs: "create" reuses it when its stamp file says it was
# finished with the same package list, and makes it anew otherwise (about
# four minutes: debootstrap --variant=minbase, then the packages below).
# The Debian mirror is the one the host's apt sources name.
#
# "run" copies the working tree (the files git knows of, and new ones it
# does not ignore; no build products) to <chroot>/build/<pid>/fts-sift, and
# when the tree has a ../shared directory beside it (corpora, notes; for a
# worktree one level deeper ../../shared, or $SIFT_SHARED) it is
# bound read-only at <chroot>/build/<pid>/shared, so relative paths the tests
# use work unchanged.  The copy is removed afterwards unless
# SIFT_CHROOT_KEEP=1.  SIFT_CHROOT_BIND="DIR ..." binds host directories at
# the same paths inside (read-write, for that run only).  The chroot shares the host's network namespace: a
# Dovecot started in it listens on the host's loopback, so tests pick free
# ports as always.
set -eu

DIR=${SIFT_CHROOT:-/var/cache/fts-sift/trixie}
SUITE=trixie
# Everything the suite, the demo and the benchmark need on 2.4.  A change
# of this list re-creates the chroot (the stamp holds it).
PKGS="dovecot-core dovecot-imapd dovecot-dev dovecot-flatcurve
dovecot-fts-xapian libxapian-dev libicu-dev autoconf automake libtool
pkg-config g++ make python3 python3-pytest python3-xapian valgrind zstd
time git ca-certificates"
STAMP_CONTENT="fts-sift chroot v1: $(echo $PKGS)"
STAMP=$DIR/.fts-sift-chroot

die() { echo "chroot-trixie: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# The host's Debian mirror (deb822 .sources or one-line .list), falling back
# to deb.debian.org; the security archive likewise.
host_mirror() {
	local want=$1 uri
	uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		  /etc/apt/sources.list.d/*.sources 2>/dev/null |
	      grep -Eo 'https?://[^ ]+' | sed 's,/*$,,' |
	      grep -E "/${want}\$" | head -n 1 || true)
	echo "${uri:-http://deb.debian.org/$want}"
}

mounted() { mountpoint -q "$1" 2>/dev/null; }

# Whether anything is mounted at or below $1 (a bound ../shared must
# never be reached by rm -rf: it is on the same file system, so
# --one-file-system would not stop at it).
mounts_below() { awk -v d="$1" '$2 == d || index($2, d "/") == 1 {f = 1} END {exit !f}' /proc/mounts; }

mount_basics() {
	mounted "$DIR/proc" || mount -t proc proc "$DIR/proc"
	mounted "$DIR/dev" || mount --bind /dev "$DIR/dev"
	mkdir -p "$DIR/dev/shm"
	# resolv.conf for apt inside (the chroot shares the host's network)
	cp -L /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
}

umount_basics() {
	# only when no other "run" is still using the chroot
	if [ -z "$(ls -A "$DIR/build" 2>/dev/null)" ]; then
		! mounted "$DIR/dev" || umount "$DIR/dev" 2>/dev/null || umount -l "$DIR/dev" || true
		! mounted "$DIR/proc" || umount "$DIR/proc" || true
	fi
}

ready() { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_CONTENT" ]; }

create() {
	if ready; then
		echo "chroot-trixie: using $DIR (delete it or run 'recreate' to rebuild)"
		return 0
	fi
	local mirror security new=$DIR.new.$$
	mirror=$(host_mirror debian)
	security=$(host_mirror debian-security)
	echo "chroot-trixie: creating $DIR from $mirror (a few minutes)"
	command -v debootstrap >/dev/null ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null ||
		die "cannot install debootstrap"
	mkdir -p "$(dirname "$DIR")"
	! mounts_below "$new" || die "something is mounted under $new"
	rm -rf --one-file-system "$new"
	debootstrap --variant=minbase "$SUITE" "$new" "$mirror" >"$new.log" 2>&1 ||
		{ tail -n 20 "$new.log" >&2; die "debootstrap failed (log: $new.log)"; }
	cat >"$new/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
	# services are never started by package scripts inside the chroot
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod +x "$new/usr/sbin/policy-rc.d"
	local old=$DIR
	DIR=$new
	mount_basics
	# shellcheck disable=SC2086
	if ! chroot "$DIR" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
		sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $(echo $PKGS)" \
		>>"$new.log" 2>&1; then
		umount_basics
		tail -n 20 "$new.log" >&2
		die "installing packages failed (log: $new.log)"
	fi
	chroot "$DIR" apt-get clean >/dev/null 2>&1 || true
	umount_basics
	DIR=$old
	echo "$STAMP_CONTENT" >"$new/.fts-sift-chroot"
	if [ -d "$DIR" ]; then
		umount_basics
		! mounts_below "$DIR" || die "something is still mounted under $DIR; not removing it"
		rm -rf --one-file-system "$DIR"
	fi
	mv "$new" "$DIR"
	mv "$new.log" "$DIR.log"
	echo "chroot-trixie: ready: $(chroot "$DIR" dovecot --version 2>/dev/null)"
}

run() {
	[ $# -gt 0 ] || die "run: no command"
	ready || create
	local repo rc
	# global: the EXIT trap (cleanup) runs after run() has returned
	run_dir=$DIR/build/$$
	repo=$(cd "$(dirname "$0")/.." && pwd)
	rm -rf "$run_dir"
	mkdir -p "$run_dir/fts-sift"
	mount_basics
	cleanup() {
		if mounted "$run_dir/shared"; then umount "$run_dir/shared" || true; fi
		if mounts_below "$run_dir"; then
			echo "chroot-trixie: $run_dir still has a mount; left in place" >&2
			return
		fi
		if [ "${SIFT_CHROOT_KEEP:-0}" = 1 ]; then
			echo "chroot-trixie: kept $run_dir"
			mv "$run_dir" "$DIR/kept-$$" 2>/dev/null || true
		fi
		rm -rf --one-file-system "$run_dir"
		rmdir "$DIR/build" 2>/dev/null || true
		umount_basics
	}
	trap cleanup EXIT
	# the working tree without build products: what git tracks, plus new
	# files it does not ignore (so uncommitted work is tested too)
	(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
		 tar --null -T - -cf - 2>/dev/null) | tar -C "$run_dir/fts-sift" -xf -
	# ../shared beside the tree; for a worktree one level deeper (e.g.
	# /work/wt/NAME, whose ../shared does not exist) the ../../shared
	# beside its parent; or $SIFT_SHARED.  Bound as ../shared of the copy,
	# so the tree's relative paths resolve the same inside.
	local shared=${SIFT_SHARED:-}
	if [ -z "$shared" ]; then
		for shared in "$repo/../shared" "$repo/../../shared" ""; do
			[ -z "$shared" ] || [ ! -d "$shared" ] || break
		done
	fi
	if [ -n "$shared" ] && [ -d "$shared" ]; then
		mkdir -p "$run_dir/shared"
		mount --bind "$shared" "$run_dir/shared"
		mount -o remount,bind,ro "$run_dir/shared" || true
	fi
	set +e
	# In a mount namespace of its own, where the chroot's root is a mount
	# point (bound recursively onto itself, with proc, dev and shared):
	# tests that make private mounts (unshare --propagation private, as
	# the doveadm module's tests do, or a tmpfs) need "/" to be one, and
	# nothing mounted in there can reach the host's mounts.
	# SIFT_CHROOT_BIND: host directories (space-separated absolute paths)
	# bound read-write at the same path inside, in this run's namespace
	# only (e.g. the scale corpora and the oracle cache of bench.py).
	local d line
	# SIFT_* settings of the caller pass into the chroot one word each,
	# whatever their values hold (spaces included)
	local pass=()
	while IFS= read -r line; do
		pass+=("$line")
	done < <(env | grep -E '^SIFT_[A-Z_]+=' | grep -v '^SIFT_CHROOT' || true)
	for d in ${SIFT_CHROOT_BIND:-}; do
		case $d in /*) ;; *) die "SIFT_CHROOT_BIND: $d is not an absolute path" ;; esac
		[ -d "$d" ] || die "SIFT_CHROOT_BIND: $d is not a directory"
		mkdir -p "$DIR$d"
	done
	SIFT_BINDS=${SIFT_CHROOT_BIND:-} unshare --mount --propagation private sh -c \
		'mount --rbind "$0" "$0" &&
		 for d in $SIFT_BINDS; do mount --bind "$d" "$0$d" || exit 1; done &&
		 exec chroot "$0" "$@"' "$DIR" \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 CI="${CI:-}" TERM="${TERM:-dumb}" \
		${pass[@]+"${pass[@]}"} \
		sh -c 'cd "$0" && exec "$@"' "/build/$$/fts-sift" "$@"
	rc=$?
	set -e
	return $rc
}

case "${1:-create}" in
create) create ;;
recreate) rm -f "$STAMP"; create ;;
run) shift; run "$@" ;;
dir) echo "$DIR" ;;
*) die "usage: $0 create|recreate|run CMD...|dir" ;;
esac
