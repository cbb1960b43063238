// Package squid is the proxies.Adapter for Squid as a reverse proxy.
//
// Render turns a proxies.Spec into one squid.conf: an accelerator port
// (http_port … accel) in front of one origin server (cache_peer …
// originserver), nothing cached, server_idle_pconn_timeout
// from the spec's idle timeout (whole seconds, at least one; a rounded
// value is in the bundle's Unexpressed list). Squid runs in the foreground as one
// process (-N) under a service name of its own (-n), so the shared-memory
// segments it makes even with -N never meet another Squid's.
//
// The peer has no max-conn: with max-conn=1, Squid 5.7 answers every
// request meant for the pooled connection with 502 ERR_READ_ERROR without
// sending it (measured); racelab's driver sends one request at a time, so
// Squid keeps one pooled connection anyway (TestLiveOneUpstreamConnection).
//
// Started as root, Squid switches to its cache_effective_user (Debian:
// proxy) before it opens its logs by name; the bundle asks the runtime
// for output pipes that user may open (Bundle.SharedOutput), and the
// access log goes to /dev/stdout, cache.log to /dev/stderr. In a
// container Squid runs as proxy from the start (Bundle.ContainerUser),
// which makes the container's output pipes its own.
//
// Retry policies map to what Squid has:
//
//	off         forward_max_tries 1: no re-forwarding
//	idempotent  forward_max_tries 2: Squid re-forwards a request it may
//	            retry (no body, a safe method) once the reused connection
//	            fails
//	all         as idempotent, and not expressible beyond it: Squid never
//	            re-forwards a POST; it never sends one on a pooled
//	            connection either (server_pconn_for_nonretriable, default
//	            none), so a POST cannot meet the race: racelab classifies
//	            it not_reused. The bundle's Unexpressed list says so.
//
// The access log line carries the request id, status, result code,
// hierarchy code and error page: the race shows as 502 with
// ERR_ZERO_SIZE_OBJECT or ERR_READ_ERROR and HIER_NONE. The defaults
// variant leaves forward_max_tries out. A user's own
// squid.conf is not run (Spec.Config is refused).
//
// Requirements: Squid 4 or later (%err_detail, %>Hs).
package squid
