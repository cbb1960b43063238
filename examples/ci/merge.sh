#!/usr/bin/env bash
# Merges the shards of one run into one HTML report and one JUnit file,
# and fails unless every cell of the scenario is there, ran to the end,
# and every expectation holds on all of them.
#
#   examples/ci/merge.sh SCENARIO SHARD_DIR OUT_DIR
#   examples/ci/merge.sh examples/ci/matrix.yaml racelab-results racelab-report
#
# Writes OUT_DIR/report.html and OUT_DIR/junit.xml, prints the merged
# table, and exits 0 when all is well, 1 on a violated expectation or a
# missing or failed cell, 2 on a usage error. The reports are written in
# every case they can be, for the job to upload.
# RACELAB names the racelab binary (default: racelab on PATH).
set -euf
if [ "$#" -ne 3 ]; then
	echo "usage: $0 SCENARIO SHARD_DIR OUT_DIR" >&2
	exit 2
fi
scenario=$1
in=$2
out=$3
racelab=${RACELAB:-racelab}
shards=$(find "$in" -name '*.jsonl' -type f | sort)
if [ -z "$shards" ]; then
	echo "racelab: no shard results (*.jsonl) under $in" >&2
	exit 1
fi
mkdir -p "$out"
set --
while IFS= read -r f; do
	set -- "$@" "$f"
done <<LIST
$shards
LIST

# The table (and what failed) once, in the job log; the two files after,
# with the same verdicts.
status=0
"$racelab" report "$@" --scenario "$scenario" --complete || status=$?
for f in html:report.html junit:junit.xml; do
	code=0
	"$racelab" report "$@" --scenario "$scenario" --complete --format "${f%%:*}" -o "$out/${f#*:}" 2>"$out/.stderr" || code=$?
	if [ "$code" != "$status" ] || [ "$code" -gt 1 ]; then
		cat "$out/.stderr" >&2
	fi
	if [ "$code" -gt "$status" ]; then
		status=$code
	fi
done
rm -f "$out/.stderr"
exit "$status"
