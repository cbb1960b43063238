// Package guard asserts the keep-alive parity rule between an HTTP/1.1
// proxy and its backend:
//
//	backend_keepalive >= proxy_idle + margin
//
// When the backend's keep-alive idle timeout is the shorter one, the
// backend can close a pooled connection at the instant the proxy reuses
// it, and the proxy answers 502 (or 503, or drops the client) while the
// backend logs nothing. The rule, checked at build time against the
// image's configuration and at deploy time against the live load
// balancer, keeps that from regressing silently.
//
// # Values and sources
//
// A Value is one idle limit with its source and an explanation of how it
// was read. It is finite (a duration), unbounded (no idle timer), or off
// (no keep-alive, or no connection reuse: nothing to race on). Readers
// extract values from the files teams already have:
//
//   - proxies: ReadNginx (upstream keepalive_timeout, following includes),
//     ReadHAProxy (no idle timer: a bound derived from pool-purge-delay),
//     ReadEnvoy (cluster idle_timeout), ReadALB (the JSON of
//     `aws elbv2 describe-load-balancer-attributes`);
//   - backends: ReadNode, ReadGunicorn, ReadUvicorn, ReadPuma, ReadTomcat,
//     ReadApache, ReadNginxBackend, ReadEnv.
//
// ReadBackend's node source is JSON, or JavaScript or TypeScript read for
// keepAliveTimeout and headersTimeout assignments and createServer
// options; its gunicorn, uvicorn and Puma sources are also the command
// lines of a compose file, Kubernetes manifests, a Procfile or a shell
// script (split and expanded as a shell would, without running one).
// Several servers or command lines that disagree are an error unless one
// is picked by name (WithName, or KIND:PATH#NAME).
//
// Values can also be measured rather than read: Command's
// --backend-from probe:URL times a live backend with package probe, and
// --proxy-from probe:KIND[:PATH] a proxy through a ProxyProber (the lab's).
//
// ReadProxy and ReadBackend take the same sources written KIND:PATH.
// Units are explicit everywhere: each reader reads a number the way its
// software does (nginx and Apache: seconds; HAProxy, Tomcat, Node.js:
// milliseconds; Envoy: a duration string), explicit durations must carry
// a unit, and a missing, non-numeric, negative or mismatched value is an
// error, never a pass. A setting that is absent takes the software's
// documented default, marked Value.Default.
//
// # Checking
//
// Check and CheckValues judge one pair; CheckAll judges every pair of two
// sources. Results print every duration in milliseconds. Package
// guardtest wraps the check as a test assertion.
//
// Command is the `racelab guard` subcommand: explicit values or sources,
// text or JSON output, exit status 0 pass, 1 fail, 2 unusable input, and
// --verify, which runs the lab (a Verifier) on each pair and fails when
// the lab contradicts the verdict.
//
// Parity makes the race rare, not impossible: a backend also closes
// connections after a number of requests, at a maximum lifetime, when a
// worker recycles and during deploys. Retrying connection failures for
// idempotent requests covers the rest; non-idempotent requests must not
// be retried blindly.
package guard
