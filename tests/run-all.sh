#!/bin/bash
# fts-sift: the whole test suite.  Run as root from the repository root on
# Debian 12 (what CI runs, through .ci/run):
#
#     bash tests/run-all.sh
#
# 1. installs the build and test dependencies from apt (when root),
# 2. builds the plugin and the unit tests,
# 3. runs the unit tests (wrapper, text pipeline, query translation), each
#    also under valgrind (errors or definite leaks fail it),
# 4. runs the integration tests: a real Dovecot on 127.0.0.1 with the
#    plugin, checked against Dovecot without it (tests/integration),
# 5. ends with one line "N passed, M failed".
#
# Environment: SIFT_SKIP_APT=1 skips step 1; SIFT_NO_VALGRIND=1 skips the
# valgrind runs; extra arguments go to pytest.
set -u
cd "$(dirname "$0")/.."
TOP=$(pwd)
LOG=$TOP/tests/run-all.log
: > "$LOG"
passed=0
failed=0

note() { printf '== %s\n' "$*"; }
fail_hard() { printf 'run-all: %s (see %s)\n' "$*" "$LOG" >&2; echo "0 passed, 1 failed"; exit 1; }

DEPS="dovecot-core dovecot-imapd dovecot-lmtpd dovecot-dev libxapian-dev libicu-dev
autoconf automake libtool pkg-config g++ make python3 python3-pytest
valgrind zstd python3-xapian poppler-utils unzip"
# the clang Debian's "clang" stands for (14 on Debian 12, 19 on 13), with
# its libFuzzer runtime
CLANG_N=$(apt-cache depends clang 2>/dev/null | grep -o 'clang-[0-9][0-9]*' | head -n 1)
CLANG_N=${CLANG_N#clang-}
if [ -z "$CLANG_N" ]; then
	# no package lists yet: the release's default
	case $(. /etc/os-release 2>/dev/null; echo "${VERSION_ID:-}") in
	12) CLANG_N=14 ;;
	*) CLANG_N=19 ;;
	esac
fi
DEPS="$DEPS clang-$CLANG_N libclang-rt-$CLANG_N-dev"
if [ "${SIFT_SKIP_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ]; then
	note "installing dependencies (apt)"
	missing=$(dpkg-query -W -f='${Package} ${Status}\n' $DEPS 2>/dev/null |
		  awk '$4 != "installed" {print $1}')
	for p in $DEPS; do
		dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$(echo $missing)" ]; then
		export DEBIAN_FRONTEND=noninteractive
		(apt-get update -q && apt-get install -y -q $missing) >>"$LOG" 2>&1 ||
			fail_hard "apt-get install failed"
	fi
	# the packaged dovecot must not be running on the test ports; tests
	# use their own instances, nothing else is touched
fi

# Debian's python3 (python3-pytest is installed for it), even when another
# python3 comes first in PATH
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

note "building"
if [ ! -f configure ] || [ configure.ac -nt configure ]; then
	autoreconf -fi >>"$LOG" 2>&1 || fail_hard "autoreconf failed"
fi
if [ ! -f Makefile ]; then
	./configure >>"$LOG" 2>&1 || fail_hard "configure failed"
fi
make -j"$(nproc)" >>"$LOG" 2>&1 || fail_hard "make failed"
# the unit test programs: Makefile.am's check_PROGRAMS (one list)
UNIT_TESTS=$(make -s print-unit-tests 2>>"$LOG") || fail_hard "listing unit tests failed"
UNIT_COUNT=$(echo $UNIT_TESTS | wc -w)
make -j"$(nproc)" $UNIT_TESTS >>"$LOG" 2>&1 || fail_hard "building unit tests failed"

note "unit tests"
for t in $UNIT_TESTS; do
	out=$("$t" 2>&1)
	rc=$?
	echo "$out" >>"$LOG"
	# Dovecot's lib-test prints "name .... : ok|FAILED" per test
	p=$(echo "$out" | grep -c ': ok$')
	f=$(echo "$out" | grep -c ': FAILED$')
	if [ $rc != 0 ] && [ "$f" = 0 ]; then f=1; fi
	echo "$t: $p passed, $f failed"
	passed=$((passed + p)); failed=$((failed + f))
	if [ "${SIFT_NO_VALGRIND:-0}" != 1 ]; then
		if valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
			--error-exitcode=213 "$t" >>"$LOG" 2>&1; then
			echo "$t under valgrind: clean"
			passed=$((passed + 1))
		else
			echo "$t under valgrind: errors or leaks (see $LOG)"
			failed=$((failed + 1))
		fi
	fi
done

note "unit tests with AddressSanitizer and UndefinedBehaviorSanitizer"
# (built apart in tests/unit/san by "make sanitize-check"; a finding
# aborts the test program; leaks are valgrind's part above)
out=$(make sanitize-check 2>&1)
rc=$?
echo "$out" >>"$LOG"
p=$(echo "$out" | grep -c '^0 / [0-9]* tests failed$')
if [ $rc = 0 ] && [ "$p" = "$UNIT_COUNT" ]; then
	echo "unit tests under ASan+UBSan: clean ($UNIT_COUNT programs)"
	passed=$((passed + 1))
else
	echo "unit tests under ASan+UBSan: failed (see $LOG)"
	failed=$((failed + 1))
fi

note "fuzzing (libFuzzer, ${SIFT_FUZZ_SECS:-30} s per harness)"
# the text pipeline and planner, and the side-file readers; a longer
# run: make fuzz-check FUZZ_SECS=1800
if command -v "clang-$CLANG_N" >/dev/null; then
	# the clang installed above, whatever configure found (the demo may
	# have configured the tree before it was installed)
	out=$(make fuzz-check FUZZ_SECS="${SIFT_FUZZ_SECS:-30}" \
		FUZZ_CC="clang-$CLANG_N" FUZZ_CXX="clang++-$CLANG_N" 2>&1)
	rc=$?
	echo "$out" >>"$LOG"
	runs=$(echo "$out" | grep -o '^Done [0-9]* runs' | awk '{s += $2} END {print s + 0}')
	if [ $rc = 0 ]; then
		echo "fuzzing: $runs inputs, no finding"
		passed=$((passed + 1))
	else
		echo "fuzzing: a finding or a build failure (see $LOG, tests/fuzz/build/)"
		failed=$((failed + 1))
	fi
else
	echo "fuzzing: clang-$CLANG_N is not installed (apt: clang-$CLANG_N libclang-rt-$CLANG_N-dev)"
	failed=$((failed + 1))
fi

note "integration tests (real Dovecot on 127.0.0.1)"
junit=$(mktemp /tmp/fts-sift-junit.XXXXXX.xml)
"$PY" -m pytest -q -p no:cacheprovider --junitxml="$junit" tests/integration "$@" 2>&1 | tee -a "$LOG"
if [ -s "$junit" ]; then
	read -r ip if <<<"$("$PY" - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
# the slowest files, for whoever has to make the suite quicker (stderr:
# shown and logged, not parsed)
per_file = {}
for case in root.iter("testcase"):
    parts = case.get("classname", "?").split(".")
    name = next((p for p in parts if p.startswith("test_")), parts[-1])
    per_file[name] = per_file.get(name, 0.0) + float(case.get("time") or 0)
top = sorted(per_file.items(), key=lambda kv: -kv[1])[:15]
sys.stderr.write("slowest test files (s): %s\n" % ", ".join("%s %.0f" % kv for kv in top))
# a skipped check is not a pass
print(tests - bad - skipped, bad + skipped)
PY
)"
	passed=$((passed + ip)); failed=$((failed + if))
else
	echo "pytest produced no report"
	failed=$((failed + 1))
fi
rm -f "$junit"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
