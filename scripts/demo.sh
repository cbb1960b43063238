#!/usr/bin/env bash
# Builds racelab and runs its demo: the keep-alive 502, its fix, and the
# retry boundary, on nginx when installed, else on the embedded Go proxy.
# Extra arguments go to `racelab demo` (e.g. --proxy go).
set -euf
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_go
mkdir -p bin
go build -o bin/racelab ./cmd/racelab

exec bin/racelab demo "$@"
