// Package nginx is the proxies.Adapter for nginx.
//
// Render turns a proxies.Spec into one nginx.conf that keeps exactly one
// pooled upstream connection: one worker process, an upstream with
// max_conns=1 and (in the explicit variant) keepalive 1 with the spec's
// idle timeout, HTTP/1.1 and an empty Connection header towards the
// backend, and proxy_next_upstream set from the retry policy:
//
//	off         proxy_next_upstream off;
//	idempotent  proxy_next_upstream error timeout;
//	all         proxy_next_upstream error timeout non_idempotent;
//
// The defaults variant leaves the pooling and retry directives out, so
// the nginx version's own defaults apply (before 1.29.7: no upstream
// keep-alive at all, and retry "error timeout").
//
// nginx logs to the process's stdout and stderr: the access log is one
// JSON object per request (request id, status, $upstream_status and
// timings), the error log goes to stderr at level info. ParseLog turns
// both into proxies.Evidence; error lines are matched to a request by the
// request id in the request path (backends.PathPrefix).
//
// With nginx 1.22 the race surfaces as 502 with "upstream prematurely
// closed connection while reading response header from upstream" (the
// backend sent FIN) or "recv() failed (104: Connection reset by peer)"
// (RST). A request that failed on a cached connection is retried once more
// if proxy_next_upstream contains error, even with one server: then
// $upstream_status reads "502, 200".
//
// Requirements: nginx 1.19.5 or later (-e stderr; upstream keepalive_timeout
// exists since 1.15.3). Run a Bundle with package process, or in a
// container.
//
// A user's own configuration (Spec.Config) is rewritten rather than
// rendered, by package internal/proxyconf: the includes are flattened
// into one nginx.conf, every server of the upstream under test points at
// Spec.Upstream, every other address at a closed loopback port, the server
// whose location proxies to the upstream listens on Spec.Listen (other
// servers are dropped), paths move into the bundle directory, one worker
// runs, and racelab's JSON access log and error log go beside the
// user's. Bundle.Changes lists every change, Bundle.Route says where to
// send requests (Route.RequestPath) and with which Host, and
// Bundle.MapMessage turns nginx -t positions back into the user's file
// and line.
package nginx
