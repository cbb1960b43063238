// Package caddy is the proxies.Adapter for Caddy 2.
//
// Render turns a proxies.Spec into Caddy's native JSON config (no
// Caddyfile adapter runs) with exactly one pooled upstream connection:
// reverse_proxy's http transport with keep_alive max_idle_conns_per_host
// 1 and max_conns_per_host 1 (the Caddyfile's keepalive_idle_conns_per_host
// 1 and max_conns_per_host 1), and the spec's idle timeout as
// keep_alive.idle_timeout (the Caddyfile's keepalive; Caddy's default is
// 2m). The retry policy maps to Caddy's load balancer retries:
//
//	off         no lb_retries (Caddy's default)
//	idempotent  lb_retries 1, lb_retry_match method GET HEAD OPTIONS
//	all         lb_retries 1, lb_retry_match every method
//
// Without lb_retry_match Caddy retries only GET after a connection was
// made. Under every policy, Go's HTTP transport inside Caddy retries a
// GET, HEAD or OPTIONS request with no body once by itself when a reused
// connection dies before any response byte: "retry off" cannot be
// expressed for those methods, and Bundle.Unexpressed says so. Measured
// on 2.6.2 and 2.11.9: under all, Caddy retries a POST with its body
// already consumed (no request buffering is rendered), and the retry ends
// in 502 too.
//
// The defaults variant leaves keep_alive, max_conns_per_host and
// load_balancing out, so the Caddy version's own defaults apply.
//
// Caddy logs JSON to stderr: access lines (logger http.log.access),
// error lines (http.log.error: "EOF" or "read: connection reset by peer"
// for the race) and, at debug, each upstream round trip of the
// reverse_proxy handler, so a failed attempt shows even when a retry hid
// it. ParseLog matches them to a request by the X-Racelab-Request-Id
// header Caddy logs, or by the id in the path.
//
// Requirements: Caddy 2.6 or later (lb_retries). Debian
// bookworm ships 2.6.2; a current release builds with go install
// github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9.
package caddy
