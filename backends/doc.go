// Package backends is racelab's instrumented HTTP/1.1 backend: an
// in-process server that owns every connection, closes idle keep-alive
// connections on a precise timer, and reports everything it does to an
// Observer on the process's monotonic clock.
//
// A proxy in front of it reuses pooled keep-alive connections; when the
// backend closes one just as the proxy reuses it, the proxy fails the
// request (502, 503, or a dropped client connection) although the backend
// never saw an error. The backend makes that race happen on demand:
//
//   - Config.IdleTimeout closes a connection that has been idle that long
//     after its last response. The deadline is reported in an
//     EventIdleArmed event, so a driver in the same process can place a
//     request at an exact offset from it. Request bytes that arrive as the
//     timer fires are left unread, so the kernel turns the close into an
//     RST exactly as for a real server, and the close event counts them in
//     UnreadBytes and names the request they carried.
//   - Config.Fault closes a reused connection deterministically when a
//     chosen request arrives (close-on-reuse), or runs the handler and then
//     drops the connection without answering (processed-then-dropped).
//   - Config.CloseStyle picks FIN (Close) or RST (SO_LINGER 0, then Close)
//     for every close the backend initiates.
//   - MaxRequestsPerConn answers the Nth request with "Connection: close"
//     and closes (reason max-requests).
//   - MaxConnLifetime is counted from the accept. A response written once
//     the connection is that old carries "Connection: close" and the
//     connection closes after it; a connection that is idle (or has not
//     sent its first request) when its lifetime ends is closed then, on the
//     same precise timer as the idle timeout, and its idle-armed event
//     names the reason (max-lifetime) when that comes before the idle
//     deadline. A request in progress is never cut short.
//   - ResponseDelay models a slow handler (Close interrupts it, Shutdown
//     waits for it) and ResponseStatus a backend that itself fails, the
//     negative control.
//   - A request with "Connection: close" is answered and the connection
//     closed by the backend with reason client-asked-close, which is never
//     evidence of a race.
//
// Net/http's server cannot close a connection on reuse, send an RST, or
// report its idle deadlines, so the accept, read and write loop is the
// package's own; requests are parsed with net/http.ReadRequest and
// responses written by hand. Each response carries the request id
// (RequestIDHeader, taken from the request header or from the path after
// PathPrefix) and the backend connection id (ConnHeader).
//
// Every connection produces exactly one EventAccept first and exactly one
// EventClose last; each connection's goroutine reports its own events, so
// the accepts of connections made at once may reach the observer out of id
// order. A backend close is timed just before the close call that sends the
// FIN or RST. Request ids appear on request, handler, response and
// idle-armed events, on a close that a request caused (a fault, or a
// response that announced "Connection: close"), and on a close that left a
// request unread, when the id could be read from the unread bytes.
//
// Presets gives common runtimes' keep-alive defaults (Node.js, gunicorn,
// uvicorn, Puma, Tomcat, Apache httpd, nginx, Go).
//
// Idle deadlines are precise: the last 2ms before one are waited out in a
// blocking ppoll with a high-resolution timeout rather than on the Go
// runtime's timers, which fire up to a millisecond or two late (see
// WithPreciseTimers and BenchmarkIdleCloseLateness). A deadline that has
// passed wins over request bytes that are waiting, as in an event loop
// that runs due timers before I/O callbacks.
//
// On Linux the idle wait watches the socket without reading it and the
// precise timer is used; elsewhere the package still works, with the
// runtime's timer precision and UnreadBytes counting only bytes the process
// had already read.
package backends
