#!/bin/sh
# Regenerates triage/testdata/haproxy from a real HAProxy (Debian's
# haproxy package) logging in the stock "option httplog" format, in front
# of gen/loopback-backend.py, everything on 127.0.0.1:
#   PATH=$PATH:/usr/sbin sh triage/testdata/gen/haproxy.sh   (from the repository root)
# Per trial, each request on a fresh client connection: a GET leaves a
# server connection in HAProxy's pool (http-reuse always), then a POST
# reuses it and meets close-on-reuse: 502, termination state SH--. Then
# the negative controls: a backend 500, a dead server (SC--) and a slow
# one past "timeout server" (504, sH--). want.txt lists what each request
# met.
set -euf
out="triage/testdata/haproxy"
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport=$(port); dead=$(port); hport=$(port)
python3 triage/testdata/gen/loopback-backend.py "$bport" & bpid=$!
cat >"$tmp/haproxy.cfg" <<CFG
global
	nbthread 1
	log stdout format raw local0
defaults
	mode http
	log global
	option httplog
	timeout connect 1s
	timeout client 10s
	timeout server 10s
	retries 0
frontend http-in
	bind 127.0.0.1:$hport
	use_backend dead if { path_beg /dead/ }
	use_backend slow if { path_beg /slow/ }
	default_backend api
backend api
	http-reuse always
	server srv1 127.0.0.1:$bport pool-max-conn 1
backend dead
	server srv1 127.0.0.1:$dead
backend slow
	timeout server 200ms
	server srv1 127.0.0.1:$bport
CFG
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>"$tmp/haproxy.err" & hpid=$!
trap 'kill "$hpid" "$bpid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
base="http://127.0.0.1:$hport"
i=0
while [ "$i" -lt 50 ] && ! curl -sf -o /dev/null "$base/ready"; do sleep 0.1; i=$((i+1)); done
: >"$tmp/want.txt"
for n in 1 2 3 4 5 6; do
	curl -s -o /dev/null -m 5 "$base/r/$n-p"; echo "ok" >>"$tmp/want.txt"
	sleep 0.2
	curl -s -o /dev/null -m 5 -X POST "$base/r/$n-v"; echo "race" >>"$tmp/want.txt"
done
for n in 1 2; do
	curl -s -o /dev/null -m 5 "$base/r/$n-500"; echo "backend_5xx" >>"$tmp/want.txt"
	curl -s -o /dev/null -m 5 "$base/dead/$n"; echo "other" >>"$tmp/want.txt"
	curl -s -o /dev/null -m 5 "$base/slow/$n"; echo "timeout" >>"$tmp/want.txt"
done
sleep 0.2
mkdir -p "$out"
cp "$tmp/haproxy.log" "$out/haproxy.log"
cp "$tmp/want.txt" "$out/want.txt"
haproxy -v | head -1 >"$out/version.txt"
