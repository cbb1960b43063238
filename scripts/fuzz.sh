#!/usr/bin/env bash
# Runs every fuzz target of the module for a while each: the targets are
# found by their declaration (func FuzzXxx(f *testing.F) in a _test.go
# file), so a new target is fuzzed without touching this script.
#
#   scripts/fuzz.sh                  # every target, 2s each (what CI runs)
#   scripts/fuzz.sh 5m               # every target, 5 minutes each
#   scripts/fuzz.sh 10m FuzzLoad     # targets whose name matches a regexp
#   scripts/fuzz.sh --list [REGEXP]  # list the targets and their packages
#
# A failing input is written by go test under the package's
# testdata/fuzz/<target>/ and stays there: commit it as a regression case
# once fixed. Exit 0 when every target passed, 1 otherwise.
#
# Go's fuzzer minimises each new interesting input for up to
# -fuzzminimizetime (60s by default) without reporting progress; on
# racelab's kilobyte-sized scenarios and configs that looked like a hang
# (golang/go#48820). It is bounded here (RACELAB_FUZZ_MINIMIZE, default
# 1s); a failing input is still written, minimised or not.
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
minimize="${RACELAB_FUZZ_MINIMIZE:-1s}"

# One "DIR NAME" line per target, sorted: declarations in test files
# outside testdata directories.
targets=$(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go' -not -path './vendor/*')
targets=$(printf '%s\n' "$targets" | grep -v '/testdata/' | sed 's|^\./||' |
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

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
failed=""
count=0
start=$(date +%s)
while read -r dir name; do
	count=$((count + 1))
	out="$log/$count.txt"
	t0=$(date +%s)
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "./$dir" >"$out" 2>&1; then
		status=ok
	else
		status=FAIL
		failed="$failed $dir:$name"
	fi
	execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -n 1 | cut -d' ' -f2)
	interesting=$(grep -oE 'new interesting: [0-9]+' "$out" | tail -n 1 | cut -d' ' -f3)
	printf '%-4s %-28s ./%-22s %3ss  execs %s, new interesting %s\n' \
		"$status" "$name" "$dir" "$(($(date +%s) - t0))" "${execs:-0}" "${interesting:-0}"
	if [ "$status" = FAIL ]; then
		sed 's/^/    /' "$out" >&2
	fi
done <<EOF
$targets
EOF
echo "fuzz: $count target(s), ${fuzztime} each, $(($(date +%s) - start))s in all"
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed" >&2
	exit 1
fi
