// Package appserver runs real application servers — Node.js, gunicorn,
// uvicorn, Puma, Tomcat, Apache httpd and nginx — as racelab backends.
//
// Each runtime gets a tiny application rendered into a fresh 0700
// temporary directory: it answers every request with 200 and writes one
// line per request carrying the request path ("racelab-request
// /r/<id>"), so executions stay countable from the server's own log. The
// server listens on a loopback port probed free, with its keep-alive idle
// timeout set from Spec.KeepAlive, or left at the runtime's default when
// that is zero.
//
// Servers run through package process, as racelab's external proxies do:
// their own process group, racelab's owner mark on the directory, the
// keeper that kills the group if racelab dies, and Stop by process group
// id (TERM, then KILL) on every path.
//
// The close of an idle connection cannot be forced on a real runtime:
// what a runtime does with its setting is measured (package probe), not
// assumed. Runtimes lists the documented defaults and how each setting
// is spelled; docs/runtimes.md has the measured values.
package appserver
