#!/usr/bin/env bash
# Runs shard K of N of a racelab scenario: one CI job's share of the cells.
#
#   examples/ci/shard.sh SCENARIO K/N DIR [racelab run flags...]
#   examples/ci/shard.sh examples/ci/matrix.yaml 2/4 racelab-results --proxy nginx
#
# The results go to DIR/shard-K-of-N.jsonl. A shard checks only the
# expectations whose cells it holds, so its exit 1 (a verdict or a cell
# failed) does not fail the job: the merge step (merge.sh) checks every
# expectation and every cell on all shards together, and fails there.
# Exit 2 (a usage error, a proxy or image missing) fails the job here.
# RACELAB names the racelab binary (default: racelab on PATH).
set -euf
if [ "$#" -lt 3 ]; then
	echo "usage: $0 SCENARIO K/N DIR [racelab run flags...]" >&2
	exit 2
fi
scenario=$1
shard=$2
dir=$3
shift 3
racelab=${RACELAB:-racelab}
mkdir -p "$dir"
out="$dir/shard-${shard%%/*}-of-${shard#*/}.jsonl"
status=0
"$racelab" run "$scenario" --shard "$shard" --quiet -o "$out" "$@" || status=$?
case "$status" in
0) ;;
1) echo "racelab: shard $shard: a verdict or a cell failed here; the merge step decides, on all shards" >&2 ;;
*) exit "$status" ;;
esac
