// Package varnish is the proxies.Adapter for Varnish Cache (varnishd).
//
// Render turns a proxies.Spec into one VCL file and a varnishd command
// line that keeps exactly one pooled backend connection: a backend with
// .max_connections = 1, every request passed (nothing is cached),
// -p backend_idle_timeout from the spec's idle timeout (Varnish's floor is
// one second; a shorter timeout runs as one second and the bundle's Notes
// say so) and one thread pool. varnishd runs in the foreground (-F)
// without a jail (-j none), so started as root it stays root instead of
// switching to the varnish users; its working directory (-n) is inside
// the bundle directory.
//
// Varnish keeps its log in shared memory: the bundle's Logger is
// varnishncsa on that working directory, printing one line per client
// request and one per backend fetch, with the request id header, the
// status, whether the backend connection was recycled ("open=reuse") and
// the first FetchError. The race surfaces as "HTC eof (-1)" on a recycled
// connection; the client gets 503 "Backend fetch failed" only when the
// request has a body Varnish streamed without caching.
//
// Retry policies map to what Varnish 7.1 has; Unexpressed (retry off) and
// Notes say what they
// cannot be:
//
//	off         not expressible: Varnish retries a request that failed on
//	            a recycled connection once by itself ("extrachance"),
//	            POST without a body included; the VCL switch for it
//	            (bereq.retry_connect) came after 7.1
//	idempotent  the built-in retry, as it is
//	all         the built-in retry with std.cache_req_body, so a POST
//	            with a body is replayable and replayed too
//
// The defaults variant leaves .max_connections and the pool parameters
// out. A user's own VCL is not run (Spec.Config is refused).
//
// Requirements: varnishd and varnishncsa 6.0 or later (VCL 4.1), and a C
// compiler for VCL (Debian's varnish package depends on one). Run a Bundle
// with package process (varnishncsa in the proxy's process group) or in a
// container (varnishncsa started there with exec).
package varnish
