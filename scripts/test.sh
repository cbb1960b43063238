#!/usr/bin/env bash
# Runs racelab's whole test suite: formatting, vet, and every package's tests
# with the race detector, against real nginx and HAProxy (installed from
# Debian packages when missing) and real containers built with no registry.
set -euf
cd "$(dirname "$0")/.."
. scripts/lib.sh
# Each phase's header says when it began (minutes:seconds since the start),
# so a slow run shows where its time went.
phase() {
	printf '== %s (at %d:%02d)\n' "$1" $((SECONDS / 60)) $((SECONDS % 60))
}
need_go
PATH="$PATH:/usr/sbin:/usr/local/sbin"
export PATH
need_packages nginx nginx-light haproxy haproxy debootstrap debootstrap chromium chromium tshark tshark \
	varnishd varnish varnishncsa varnish squid squid caddy caddy apache2 apache2 \
	node nodejs gunicorn gunicorn puma puma /usr/share/tomcat10/bin/catalina.sh tomcat10
# uvicorn has no command of its own here: Debian's python3 must import it.
/usr/bin/python3 -c 'import uvicorn' 2>/dev/null ||
	need_packages racelab-no-such-command python3-uvicorn

# The proxy images (three Debian suites, no registry) build in the
# background from here on, all three at once, while everything else is
# compiled and checked: a cold build takes minutes, most of them waiting
# on the Debian archive and dpkg. A test that needs an image waits for this
# build's lock and then reuses the image; with the images present this
# only checks them.
imagelog=$(mktemp)
imagepid=
bindir=
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
	bindir=$(mktemp -d)
	go build -o "$bindir/racelab" ./cmd/racelab
	"$bindir/racelab" images build >"$imagelog" 2>&1 &
	imagepid=$!
fi
# An early exit stops the build (racelab removes its half-built root
# filesystem on SIGTERM) and waits for it: nothing is left running.
stop_images() {
	if [ -n "$imagepid" ]; then
		kill -TERM "$imagepid" 2>/dev/null || true
		wait "$imagepid" 2>/dev/null || true
	fi
	rm -f "$imagelog"
	if [ -n "$bindir" ]; then
		rm -rf "$bindir"
	fi
}
trap stop_images EXIT

# The current Caddy beside Debian's, for the version ladder: built from the
# Go module proxy into the directory racelab looks in for a proxy binary at
# a version of its own (about 4 minutes once, cached afterwards), beside
# vet and staticcheck.
CADDY_VERSION=2.11.9
caddydir="$(go env GOPATH)/racelab-caddy/$CADDY_VERSION"
caddypid=
if ! "$caddydir/caddy" build-info 2>/dev/null | grep -q "caddyserver/caddy/v2[[:space:]]*v$CADDY_VERSION"; then
	phase "building caddy $CADDY_VERSION into $caddydir (in the background)"
	GOBIN="$caddydir" go install "github.com/caddyserver/caddy/v2/cmd/caddy@v$CADDY_VERSION" &
	caddypid=$!
fi

# testcontainers-go: no reaper image can be pulled here, and inside a
# container the engine is reached on loopback.
export TESTCONTAINERS_RYUK_DISABLED=true
if [ -f /.dockerenv ]; then
	export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
fi

phase gofmt
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
phase "go vet"
go vet ./...
phase staticcheck
# Pinned, built from the Go module proxy into the module cache's bin dir.
STATICCHECK_VERSION=0.8.2
gobin="$(go env GOPATH)/bin"
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -qF "($STATICCHECK_VERSION)"; then
	go install "honnef.co/go/tools/cmd/staticcheck@v$STATICCHECK_VERSION"
fi
"$gobin/staticcheck" ./...
# The tests spend most of their time waiting on idle gaps and timers; the
# fuzz targets run beside them on one fuzzing process at the lowest CPU
# priority, so a test's timer never waits behind a fuzzer for a core.
phase "go test -race, and every fuzz target (${RACELAB_FUZZTIME:-2s} each; longer runs: scripts/fuzz.sh 5m) beside it"
if [ -n "$caddypid" ]; then
	wait "$caddypid"
fi
fuzzlog=$(mktemp)
RACELAB_FUZZ_WORKERS=1 nice -n 19 scripts/fuzz.sh "${RACELAB_FUZZTIME:-2s}" >"$fuzzlog" 2>&1 &
fuzzpid=$!
testrc=0
# Three tests at once per package on two cores: the tests spend most of
# their time waiting on idle gaps, timers and container starts (the load
# stays near 1 at two). Four was tried and dropped: the scaled timings of
# the proxy tests measured the machine's load instead (Varnish cells missed
# their start timeout while gcc compiled their VCL, fix cells saw late
# timers).
go test -race -count=1 -parallel 3 -timeout 20m ./... || testrc=$?
if [ -n "$imagepid" ]; then
	imagerc=0
	wait "$imagepid" || imagerc=$?
	imagepid=
	phase "images (exit $imagerc)"
	cat "$imagelog"
fi
rm -f "$imagelog"
fuzzrc=0
wait "$fuzzpid" || fuzzrc=$?
phase fuzz
cat "$fuzzlog"
rm -f "$fuzzlog"
phase "end: tests exit $testrc, fuzzing exit $fuzzrc"
if [ "$testrc" -ne 0 ] || [ "$fuzzrc" -ne 0 ]; then
	echo "tests exit $testrc, fuzzing exit $fuzzrc" >&2
	exit 1
fi
