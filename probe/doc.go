// Package probe measures an HTTP/1.1 server's effective keep-alive idle
// timeout from outside, by what the server does rather than what its
// configuration says.
//
// One sample opens a fresh connection, sends one GET, reads the whole
// response, and then waits on the idle connection for the server to close
// it: a read that returns end of stream is a FIN, ECONNRESET is an RST.
// The sample is the time from the last byte of the response to that
// close, on the process's monotonic clock. Samples run at once, each on
// its own connection, so a measurement takes one idle timeout, not one
// per sample. A separate connection sends requests back to back to find
// the server's maximum requests per connection (a response with
// "Connection: close", or a close after a response), up to a bound.
//
// Measure only contacts loopback addresses (127.0.0.0/8, ::1, and the
// name localhost, which is never resolved): racelab never sends traffic
// anywhere else. Every wait is bounded: MaxWait for the idle close, and a
// response timeout for every exchange.
//
// A server that does not close the idle connection within MaxWait is a
// measurement result (Result.NeverClosed), not an error; so is a server
// that closes every connection after its response (Result.KeepAlive
// false). Errors are unusable targets: a host that is not loopback
// (ErrNotLoopback), a refused connection, or a peer that does not speak
// HTTP/1.1 (both Unreachable).
package probe
