#!/bin/sh
# Build fts-flatcurve (the external Dovecot 2.3 plugin, e.g. 1.0.5) from a
# source tree for the benchmark only, and make a module directory that
# bench.py's flatcurve engines use on Dovecot 2.3 (mail_plugin_dir).
# Nothing of flatcurve is part of this repository: get its source yourself,
# e.g. git archive v1.0.5 of github.com/slusarz/dovecot-fts-flatcurve.
#
#   sh tests/bench/build-flatcurve.sh SRC_DIR [OUT_DIR]
#
# OUT_DIR (default $SIFT_FLATCURVE_DIR or /var/cache/fts-sift/peers) gets:
#   build/     a copy of SRC_DIR, configured and built there
#   modules/   symlinks to every module of the installed Dovecot, plus
#              lib21_fts_flatcurve_plugin.so (a copy)
#   VERSION    what was built ($FLATCURVE_VERSION, else git describe of
#              SRC_DIR if it is a checkout, else the configure.ac version),
#              the Dovecot and Xapian versions
# Needs dovecot-dev, libxapian-dev, autoconf, automake, libtool, make, g++.
set -eu

src=${1:?usage: build-flatcurve.sh SRC_DIR [OUT_DIR]}
out=${2:-${SIFT_FLATCURVE_DIR:-/var/cache/fts-sift/peers}}
dovecot_lib=/usr/lib/dovecot
dovecot_modules=$dovecot_lib/modules

[ -f "$src/configure.ac" ] || { echo "no configure.ac in $src" >&2; exit 2; }
[ -f "$dovecot_lib/dovecot-config" ] ||
	{ echo "no $dovecot_lib/dovecot-config: install dovecot-dev" >&2; exit 2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$(cd "$src" && pwd)
if [ "$src" = "$out/build" ]; then
	echo "SRC_DIR must not be $out/build (it is replaced)" >&2
	exit 2
fi

# build in a copy: the source tree stays as it was fetched
rm -rf "$out/build"
mkdir -p "$out/build"
(cd "$src" && tar -cf - --exclude=.git .) | (cd "$out/build" && tar -xf -)
cd "$out/build"
if [ -x ./autogen.sh ]; then
	./autogen.sh >autogen.log 2>&1 || { cat autogen.log >&2; exit 1; }
else
	autoreconf -fi >autogen.log 2>&1 || { cat autogen.log >&2; exit 1; }
fi
./configure --with-dovecot="$dovecot_lib" >configure.log 2>&1 ||
	{ tail -30 configure.log >&2; exit 1; }
make -j2 >make.log 2>&1 || { tail -40 make.log >&2; exit 1; }

so=$(find . -name lib21_fts_flatcurve_plugin.so -path '*/.libs/*' | head -1)
[ -n "$so" ] || { echo "lib21_fts_flatcurve_plugin.so was not built" >&2; exit 1; }

# a module dir = the installed Dovecot's modules + flatcurve (Dovecot 2.3
# loads every mail plugin from the one mail_plugin_dir)
rm -rf "$out/modules.new"
mkdir "$out/modules.new"
for m in "$dovecot_modules"/*; do
	ln -s "$m" "$out/modules.new/$(basename "$m")"
done
rm -f "$out/modules.new/lib21_fts_flatcurve_plugin.so"
cp "$so" "$out/modules.new/lib21_fts_flatcurve_plugin.so"
rm -rf "$out/modules"
mv "$out/modules.new" "$out/modules"

version=${FLATCURVE_VERSION:-}
[ -n "$version" ] || version=$(git -C "$src" describe --tags --always 2>/dev/null ||
	sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$src/configure.ac")
{
	echo "flatcurve $version"
	echo "dovecot $(dpkg-query -W -f '${Version}' dovecot-core 2>/dev/null || echo '?')"
	echo "xapian $(xapian-config --version 2>/dev/null | awk '{print $NF}')"
	echo "built $(date -u +%Y-%m-%dT%H:%MZ) from $src"
} >"$out/VERSION"
cat "$out/VERSION"
echo "module: $out/modules/lib21_fts_flatcurve_plugin.so"
