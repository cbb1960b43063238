#!/bin/sh
# Regenerates triage/testdata/caddy from a real Caddy (Debian's caddy
# package) in front of gen/loopback-backend.py, everything on 127.0.0.1:
#   sh triage/testdata/gen/caddy.sh     (from the repository root)
# Per trial: a GET primes a pooled connection, then a POST on it meets
# close-on-reuse (Go's transport does not retry a POST: 502 "EOF"). Then
# the negative controls: a backend 500, a dead upstream (connection
# refused) and a slow one past response_header_timeout. want.txt lists
# what each request met.
set -euf
out="triage/testdata/caddy"
tmp=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport=$(port); dead=$(port); cport=$(port)
echo "backend $bport, dead $dead, caddy $cport" >&2
python3 triage/testdata/gen/loopback-backend.py "$bport" & bpid=$!
cat >"$tmp/Caddyfile" <<CADDY
{
	admin off
	auto_https off
}
http://127.0.0.1:$cport {
	bind 127.0.0.1
	log {
		output file $tmp/access.log
		format json
	}
	handle /dead/* {
		reverse_proxy 127.0.0.1:$dead
	}
	handle /slow/* {
		reverse_proxy 127.0.0.1:$bport {
			transport http {
				response_header_timeout 200ms
			}
		}
	}
	handle {
		reverse_proxy 127.0.0.1:$bport {
			transport http {
				keepalive 60s
				keepalive_idle_conns_per_host 1
				max_conns_per_host 1
			}
		}
	}
}
CADDY
caddy run --config "$tmp/Caddyfile" --adapter caddyfile 2>"$tmp/caddy.log" & cpid=$!
trap 'kill "$cpid" "$bpid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
base="http://127.0.0.1:$cport"
i=0
while [ "$i" -lt 50 ] && ! curl -sf -o /dev/null "$base/ready"; do sleep 0.1; i=$((i+1)); done
: >"$tmp/want.txt"
for n in 1 2 3 4 5 6; do
	curl -s -o /dev/null -m 5 "$base/r/$n-p"; echo "ok" >>"$tmp/want.txt"
	curl -s -o /dev/null -m 5 -X POST "$base/r/$n-v"; echo "race" >>"$tmp/want.txt"
done
for n in 1 2; do
	curl -s -o /dev/null -m 5 "$base/r/$n-500"; echo "backend_5xx" >>"$tmp/want.txt"
	curl -s -o /dev/null -m 5 "$base/dead/$n"; echo "other" >>"$tmp/want.txt"
	curl -s -o /dev/null -m 5 "$base/slow/$n"; echo "timeout" >>"$tmp/want.txt"
done
kill "$cpid"; wait "$cpid" 2>/dev/null || true
mkdir -p "$out"
cp "$tmp/access.log" "$out/access.log"
cp "$tmp/caddy.log" "$out/caddy.log"
cp "$tmp/want.txt" "$out/want.txt"
caddy version >"$out/version.txt"
