#!/bin/sh
# Regenerates the nginx fixtures of package triage from real racelab runs:
#   sh triage/testdata/gen/generate.sh NAME...   (NAME: nginx-race, nginx-controls, nginx-timing)
# run from the repository root with nginx on PATH. Each run keeps its
# proxies' directories (--keep) under a private TMPDIR; the cells' stock
# access and error logs are concatenated, in cell order (one cell at a
# time: --parallel 1), into triage/testdata/NAME/{access,error}.log beside
# the run's results.jsonl.
set -euf
for name in "$@"; do
	out="triage/testdata/$name"
	tmp=$(mktemp -d)
	mkdir -p "$out"
	TMPDIR="$tmp" go run ./cmd/racelab run "triage/testdata/gen/$name.yaml" \
		--keep --quiet --parallel 1 -o "$out/results.jsonl" >"$tmp/run.out" 2>&1 || true
	: >"$out/access.log"
	: >"$out/error.log"
	find "$tmp" -mindepth 1 -maxdepth 1 -name 'racelab-nginx-*' -printf '%T@ %p\n' | sort -n |
		while read -r _ d; do
			cat "$d/logs/access.log" >>"$out/access.log"
			cat "$d/logs/error.log" >>"$out/error.log"
		done
	rm -rf "$tmp"
done
