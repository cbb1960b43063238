// Package apache is the proxies.Adapter for Apache httpd 2.4's
// mod_proxy_http, run as a plain process (Debian's apache2 binary) with a
// configuration of its own: ServerRoot, PidFile and runtime directory in
// the bundle directory, modules loaded from ModulesDir, nothing read from
// /etc/apache2 and no apache2ctl.
//
// Render turns a proxies.Spec into one apache2.conf that keeps exactly
// one pooled upstream connection: mpm_event with one child process
// (ServerLimit 1) and
//
//	ProxyPass "/" "http://UPSTREAM/" timeout=N retry=0 min=0 smax=0 max=1 ttl=IDLE
//
// The child runs two worker threads: with one, mod_proxy keeps a single
// cached connection outside any pool and ignores ttl= (as under prefork);
// with two it keeps a pool, and max=1 holds it at one connection
// (TestLiveOnePooledConnection checks both).
//
// Apache's ttl= takes whole seconds: an idle timeout that is not a whole
// number of seconds is rounded up and Bundle.Unexpressed says so (at a
// timescale of 1/20, a 10 s idle timeout is 500 ms and becomes ttl=1).
// Apache has no connection-failure retry chosen by method:
//
//	off         nothing (Apache's behaviour)
//	idempotent  cannot be expressed; rendered as off, and said so
//	all         ping=N: Expect: 100-continue before a request body, and
//	            one more try on a new connection when a reused one fails
//	            first; covers only requests with a body, said so
//
// Measured on 2.4.68, 2.4.69 and 2.4.71: ping= did not rescue a POST
// whose reused connection the backend closed.
//
// The defaults variant leaves max=, ttl= and ping= out.
//
// Apache logs to the process's stdout and stderr: a CustomLog line per
// request (request id, status, keep-alive count of the client
// connection) and the error log with its AH codes, "AH01102: error
// reading status line from remote server" for the race. With a
// persistent client connection Apache closes it without a response
// instead of answering 502. ParseLog turns both into proxies.Evidence.
//
// Requirements: Apache httpd 2.4 with mod_proxy_http and mpm_event, and
// www-data as the user the child runs as when started as root.
package apache
