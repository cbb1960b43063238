// Package goproxy is the embedded proxy: Go's net/http/httputil.ReverseProxy
// running in the racelab process with exactly one pooled upstream
// connection. It needs no install, so every scenario can run anywhere.
//
// The race surfaces as a 502 with the error handler's "http: proxy error:
// EOF" (FIN) or "read: connection reset by peer" (RST). Go's Transport
// retries replayable requests (GET, HEAD, OPTIONS, TRACE without a body) on
// a reused connection by itself; see Start for how the off, idempotent and
// all retry policies map onto that.
package goproxy
