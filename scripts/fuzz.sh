#!/usr/bin/env bash
# Runs every fuzz target of the module for a while each. Targets are found
# by their declaration (func FuzzXxx(f *testing.F) in a _test.go file), so
# a new one is fuzzed without touching this script.
#
#   scripts/fuzz.sh                  # every target, 2s each (what CI runs)
#   scripts/fuzz.sh 5m               # every target, 5 minutes each
#   scripts/fuzz.sh 10m FuzzLoad     # the targets whose name matches a regexp
#   scripts/fuzz.sh 20000x FuzzRead  # a number of executions instead of a time
#   scripts/fuzz.sh --list [REGEXP]  # list the targets and their packages
#
# A failing input is written under the package's testdata/fuzz/<target>/
# and stays there: once fixed, commit it as a regression case (plain go
# test runs it). Exit 0 when every target passed, 1 otherwise.
#
# Each package's instrumented test binary is built once and runs each of
# its targets (go test -fuzz would link it again per target), from the
# package directory and with go test's corpus cache.
#
# Go's fuzzer minimises every new interesting input for up to
# -fuzzminimizetime (60s by default) and reports no progress meanwhile:
# on racelab's kilobyte-sized scenarios and configs that looks like a
# hang (golang/go#48820). RACELAB_FUZZ_MINIMIZE bounds it: 0 (no
# minimising, the default for runs of 10s or less: every execution
# explores) or a time (1s otherwise). A failing input is written either
# way. RACELAB_FUZZ_TIMEOUT bounds each target's run (-test.timeout: 1m
# for short runs, none for long ones).
#
# RACELAB_FUZZ_WORKERS sets the fuzzing processes per target (-parallel;
# every CPU by default); the test script runs one, beside the tests.
#
# Go 1.26's fuzz coordinator can fail a run that ends by -fuzztime with a
# bare "context deadline exceeded" and no failing input (golang/go#75804,
# fixed in Go 1.27). That exact outcome is reported as "ok*", not as a
# failure; anything else that fails, fails.
set -euf
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_go

list=false
fuzztime="${1:-2s}"
match="${2:-.}"
if [ "${1:-}" = "--list" ]; then
	list=true
	match="${2:-.}"
fi
# Short runs (CI): no minimising; a target stuck in one input fails after
# a minute instead of holding the pipeline; and the corpus is the seeds
# and testdata only, not the inputs earlier runs found (go test keeps
# those in its cache, and re-running a corpus that only grows would eat a
# short run's time). Long runs build on, and add to, go test's cache.
case "$fuzztime" in
*x | *ms | [0-9]s | 10s | [0-9].*s)
	minimize="${RACELAB_FUZZ_MINIMIZE:-0}"
	timeout="${RACELAB_FUZZ_TIMEOUT:-1m}"
	fresh=true
	;;
*)
	minimize="${RACELAB_FUZZ_MINIMIZE:-1s}"
	timeout="${RACELAB_FUZZ_TIMEOUT:-0}"
	fresh=false
	;;
esac

# One "DIR NAME" line per target, sorted: declarations in test files
# outside testdata directories.
files=$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go' -not -path './vendor/*')
targets=$(printf '%s\n' "$files" | grep -v '/testdata/' | sed 's|^\./||' |
	xargs grep -HoE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' |
	sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*$|\1 \2|; s|^[^/ ]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*$|. \1|' |
	sort -u | while read -r dir name; do
		if printf '%s\n' "$name" | grep -qE -- "$match"; then
			printf '%s %s\n' "$dir" "$name"
		fi
	done)
if [ -z "$targets" ]; then
	echo "fuzz: no target matches $match" >&2
	exit 1
fi
if $list; then
	printf '%s\n' "$targets"
	exit 0
fi

module=$(go list -m)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache="$(go env GOCACHE)/fuzz"
if $fresh; then
	cache="$work/corpus"
fi
root=$(pwd)
failed=""
count=0
start=$(date +%s)
built=""
while read -r dir name; do
	count=$((count + 1))
	bin="$work/$(printf '%s' "$dir" | tr '/.' '__').test"
	out="$work/$count.txt"
	t0=$(date +%s)
	if [ "$built" != "$dir" ]; then
		# No vet (the test script runs go vet) and no symbol tables: half
		# the link time; stack traces keep their function names.
		if ! go test -c -fuzz . -vet=off -ldflags='-s -w' -o "$bin" "./$dir" >"$out" 2>&1; then
			printf 'FAIL %-28s ./%-22s build\n' "$name" "$dir"
			sed 's/^/    /' "$out" >&2
			failed="$failed $dir:$name"
			continue
		fi
		built=$dir
	fi
	importpath=$module
	[ "$dir" = . ] || importpath="$module/$dir"
	status=ok
	if ! (cd "$root/$dir" && "$bin" -test.run '^$' -test.fuzz "^${name}\$" \
		-test.parallel "${RACELAB_FUZZ_WORKERS:-$(getconf _NPROCESSORS_ONLN)}" \
		-test.fuzztime "$fuzztime" -test.fuzzminimizetime "$minimize" \
		-test.fuzzcachedir "$cache/$importpath" -test.timeout "$timeout") >"$out" 2>&1; then
		status=FAIL
		# golang/go#75804: the coordinator's own deadline, nothing else.
		if grep -qx '    context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out" &&
			[ "$(grep -c -- '--- FAIL' "$out")" = 1 ]; then
			status='ok*'
		fi
	fi
	execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -n 1 | cut -d' ' -f2)
	interesting=$(grep -oE 'new interesting: [0-9]+' "$out" | tail -n 1 | cut -d' ' -f3)
	printf '%-4s %-28s ./%-22s %3ss  execs %s, new interesting %s\n' \
		"$status" "$name" "$dir" "$(($(date +%s) - t0))" "${execs:-0}" "${interesting:-0}"
	if [ "$status" = FAIL ]; then
		sed 's/^/    /' "$out" >&2
		failed="$failed $dir:$name"
	fi
done <<EOF
$targets
EOF
echo "fuzz: $count target(s), ${fuzztime} each (minimising ${minimize}), $(($(date +%s) - start))s in all"
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed" >&2
	exit 1
fi
