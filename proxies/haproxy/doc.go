// Package haproxy is the proxies.Adapter for HAProxy.
//
// Render turns a proxies.Spec into one haproxy.cfg, run as
// "haproxy -W -db -f <dir>/haproxy.cfg" (master-worker, foreground) and
// checked with "haproxy -c -f <dir>/haproxy.cfg". The config keeps
// exactly one pooled server connection:
//
//	global    nbthread 1 (one thread, one idle pool); log stdout format raw
//	defaults  mode http; a racelab log-format (below); option dontlognull;
//	          timeout connect and server = Spec.ResponseTimeout (default 5s);
//	          timeout client and http-keep-alive = max(60s, 2×IdleTimeout),
//	          so a persistent client connection outlives the idle gaps
//	frontend  bind Spec.Listen; capture of the X-Racelab-Request-Id header
//	backend   http-reuse always (Spec.Reuse "" or "always") or safe;
//	          server s1 <Upstream> maxconn 1 pool-max-conn 1
//	          pool-purge-delay <IdleTimeout>
//
// and the retry policy:
//
//	off         retries 0, retry-on none
//	idempotent  retries 1, retry-on conn-failure empty-response response-timeout,
//	            http-request disable-l7-retry unless METH_GET || METH_OPTIONS
//	all         retries 1, retry-on conn-failure empty-response response-timeout
//
// The defaults variant leaves http-reuse, retries, retry-on, pool-max-conn
// and maxconn out, so HAProxy's own defaults apply (reuse safe, retry-on
// conn-failure, retries 3, unlimited idle pool); Spec.Retry and Spec.Reuse
// then change nothing. nbthread, logging, timeouts and pool-purge-delay
// stay.
//
// # Choices
//
// retry-on: of the keywords HAProxy 2.6 has, only empty-response catches
// a server that closes a reused connection without answering, for FIN and
// for RST alike; conn-failure (the default), response-timeout and
// junk-response each leave the victim with a 502 (TestLiveRetryOnKeywords).
// retry-on ignores the method: with policy all a POST is replayed and the
// backend runs it twice. disable-l7-retry keeps connection-failure retries
// (the request was never sent) and drops the rest. METH_GET matches GET
// and HEAD.
//
// retries 1: one more attempt. The failed connection is gone from the
// pool of one, so the retry opens a new server connection. An L7 retry
// goes out at once; a connection-failure retry waits min(timeout connect,
// 1s) first (a refused connection answers 503 SC after about 1s).
// option redispatch is left out: with a single server there is nowhere
// else to go.
//
// maxconn 1 on the server caps it at one request in flight, so a second
// concurrent request waits in the server queue for the one connection
// instead of opening another (pool-max-conn 1 alone bounds only idle
// connections). The wait shows in the log (Tw, queue counts); a request
// queued longer than timeout queue (unset: timeout connect, i.e. the
// response timeout) is answered 503 with termination state sQ. The driver
// sends one request at a time, so the queue stays empty in normal runs.
//
// # Idle timeout
//
// HAProxy has no per-connection idle timer for server connections.
// Spec.IdleTimeout maps onto the server's pool-purge-delay T (whole
// seconds as "Ns", otherwise milliseconds rounded up; 0 leaves HAProxy's
// default of 5s). A purge task runs every T and closes part of the idle
// connections in excess of the recently needed count. Measured on HAProxy
// 2.6.12 (MeasureIdleLifetime: backend response to HAProxy's close of the
// idle connection, trials spread over the phases of the purge period,
// loopback, 2-core machine):
//
//	T       trials  min      median   max
//	100ms   10      214ms    260ms    304ms
//	500ms   10      1.051s   1.277s   1.504s
//	2s      8       4.255s   5.191s   6.003s
//	5s      4       11.26s   13.13s   15.01s
//
// So the effective idle lifetime is between 2T and 3T (IdleLifetimeBounds),
// depending on where the last response falls in the purge period: not T.
// A backend keep-alive timeout that is safe for "pool-purge-delay T" must
// exceed 3T plus a margin. In a margin sweep around T (backend keep-alive
// = T + margin) the backend closes a connection HAProxy still holds at
// every margin below +T, and up to +2T depending on the purge phase.
//
// # Log and evidence
//
// Every request is logged to stdout as one line:
//
//	racelab-haproxy id="<id>" st=502 ts=SH-- rc=0 conn=3/3/0/0 queue=0/0
//	    t=0/0/0/-1/0 srv=be/s1 sport=57456 bytes=209 client=127.0.0.1:35010
//	    req="GET /r/<id> HTTP/1.1"
//
// (one line in reality). ParseAccessLine reads every field; ParseLog gives
// proxies.Evidence with the request id (header capture, or the id in a
// backends.PathPrefix path), the status, the termination state with cookie
// flags as Flags, and Attempts = retries + 1. sport is HAProxy's source
// port on the server connection, the peer port the backend saw, which
// names the connection the request went out on. Startup notices, warnings
// and alerts give no evidence.
//
// HAProxy writes no line at all for a request it drops with the client
// connection (below), so waiting for a line cannot tell "none" from "not
// yet". The rendered frontend answers SyncPath itself ("http-request
// return status 204", logged like any request, never forwarded) and the
// bundle names it in Bundle.SyncPath: HAProxy runs one thread and writes a
// stream's line to stdout as the stream ends, so a request sent to
// SyncPath after the client saw a victim's outcome is logged after the
// victim's line, if there is one (TestLiveSyncPath). The lab uses it as
// an evidence barrier instead of a timed wait. A user's configuration gets
// the same rule, first among its routing frontend's http-request rules (the
// rewrite runs it on one thread too). "http-request return" needs HAProxy
// 2.2 or later.
//
// # How the race surfaces (HAProxy 2.6.12, checked by the live tests)
//
// With http-reuse always and retry off, a request that the backend drops
// on a reused connection gets a 502 with termination state SH-- when it is
// the first request on its client connection. On a persistent client
// connection, HAProxy instead closes the client connection without a byte
// of response, and writes no log line for that request. With http-reuse
// safe the first request of every client connection opens its own server
// connection, so a client that opens a connection per request never meets
// a pooled connection. A retried request logs rc=1 (Attempts 2) and a
// 200: the only trace of the hidden retry besides the backend's view.
//
// # Running
//
// Stop with SIGTERM (StopSignal): sent to the master, it is a hard stop
// that ends the worker at once; SIGUSR1 (soft stop) would wait for
// in-flight requests up to the server timeout. For a short while after the
// worker is ready (tens of milliseconds, longer on a busy machine) the
// 2.6 master has no SIGTERM handler yet, so a stop then kills the master
// by the signal's default action; a runtime that signals the whole process
// group (package process does) ends the worker as well, which init then
// reaps as an orphan. process.Start to a ready listener takes about
// 70-140ms on a 2-core machine (BenchmarkStart, six runs of 20).
//
// A user's own configuration (Spec.Config) is rewritten rather than
// rendered, by package internal/proxyconf: every server of the backend
// under test points at Spec.Upstream, every other server at a closed
// loopback port, the frontend that routes to it binds Spec.Listen (other
// frontends are dropped), resolvers, peers, chroot, user and daemon go,
// one thread runs, and racelab's log-format replaces that frontend's own
// (HAProxy has one per proxy), with the request id read from a variable
// so the user's captures keep their slots. Bundle.Changes lists every
// change and Bundle.Route says where to send requests.
package haproxy
