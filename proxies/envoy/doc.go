// Package envoy is the Envoy adapter: it renders a proxies.Spec into an
// Envoy v3 bootstrap, checks that bootstrap against Envoy's own schema
// without an Envoy binary, reads Envoy's version and turns its access-log
// lines into evidence.
//
// # The rendered bootstrap
//
// RenderBootstrap writes YAML from Go structs (never from concatenated
// text): an admin endpoint on Spec.AdminListen (required), one static
// listener on Spec.Listen with an HTTP connection manager, a JSON access
// log on stdout (AccessLogFormat), and one STATIC cluster with the single
// endpoint Spec.Upstream. In the explicit variant the cluster allows one
// connection (circuit_breakers max_connections 1), speaks HTTP/1.1 through
// envoy.extensions.upstreams.http.v3.HttpProtocolOptions and sets
// common_http_protocol_options.idle_timeout to Spec.IdleTimeout (left out
// when 0: Envoy's default is one hour). The retry policy (retry_on
// "reset,connect-failure", one retry) sits on no route (off), on a route
// that matches :method GET, HEAD or OPTIONS ahead of a catch-all route
// without retries (idempotent), or on the only route (all). The defaults
// variant leaves out the circuit breaker, the protocol options and every
// retry policy. Envoy runs with --concurrency 1 (one worker, one pool),
// --disable-hot-restart and --file-flush-interval-msec 50, so access-log
// lines reach stdout within about 50 ms instead of Envoy's 10 s.
//
// # A team's own bootstrap
//
// With Spec.Config set, Render runs the user's bootstrap (YAML or JSON)
// through RenderUserConfig instead of rendering one. It changes only what
// must change, and lists every change with the field path, the line in the
// user's file, the old and new value and why:
//
//   - every endpoint of the cluster under test points at racelab's backend,
//     every other endpoint at a closed loopback port; STRICT_DNS and
//     LOGICAL_DNS clusters become STATIC and lose their DNS resolvers, and
//     endpoint hostnames go, so no name from the file is ever resolved;
//   - TLS to upstreams and on downstream filter chains is removed; the
//     listener that routes to the cluster keeps only that filter chain,
//     without its match (SNI or port criteria would not match racelab's
//     plain loopback connections);
//   - listeners bind the loopback addresses given (the routed one
//     Spec.Listen, others 127.0.0.1:0), admin binds Spec.AdminListen, and
//     file access logs move under the bundle directory; racelab's own
//     stdout access log is added to every HTTP connection manager beside
//     the user's;
//   - Envoy runs with --concurrency 1 (listed as altering pooling: Envoy
//     keeps a pool per worker);
//   - a timescale scales the idle timeout of the cluster under test, and
//     nothing else;
//   - any other socket address left in the file (a bind config, a sink)
//     becomes 127.0.0.1:0.
//
// Retry policies, circuit breakers, protocol options, health checks and
// timeouts stay the file's own; the bundle's Effective settings report them
// for the cluster under test, and its Route is a Host header and path prefix
// that the route configuration sends to that cluster. A bootstrap with
// dynamic_resources, RDS or an EDS cluster under test is refused: racelab
// could not rewrite what a management server would send.
//
// # What is checked offline
//
// ValidateBootstrap needs no Envoy. It checks a bootstrap, rendered here or
// written by hand, against the Envoy API schema linked into racelab from
// github.com/envoyproxy/go-control-plane/envoy (the version in go.mod):
//
//   - YAML is turned into JSON the way Envoy's loader does it (a scalar's
//     type comes from its text; keys tagged !ignore are dropped), with
//     duplicate keys, several documents and runaway aliases refused;
//   - the JSON is parsed strictly into envoy.config.bootstrap.v3.Bootstrap:
//     unknown fields, wrong JSON types, unknown enum names, malformed
//     durations and type URLs of unknown types are errors;
//   - every message's protoc-gen-validate rules run (required fields,
//     ranges, lengths, defined enum values), inside every Any as well: each
//     Any is unpacked into its registered type and walked;
//   - negative durations are refused, as Envoy refuses them;
//   - every safe_regex compiles (Go's regexp shares RE2's syntax);
//   - each typed config suits its slot: a network filter, an HTTP filter,
//     an access logger, upstream protocol options under their own name;
//   - listener and cluster names are unique, every route names a static
//     cluster (unless clusters are discovered), and STATIC endpoints are IP
//     addresses.
//
// Each problem carries its line and column in the input and its field path
// with Envoy's field names.
//
// # What needs a live Envoy
//
// Only a real binary (`envoy --mode validate`, or running it) checks what
// lives in Envoy's C++ code rather than its schema: the command operators
// inside access-log formats, extension-specific checks in each factory,
// the bare "!" YAML tag, enum names written in another case (Envoy accepts
// "static", the offline check wants "STATIC"), fields that the target
// Envoy version predates (the offline schema is the linked one, not the
// binary's), extensions racelab does not link (reported as unresolvable),
// and whether the ports can be bound. Behaviour — one pooled connection,
// the idle timeout, the retries, the shape of the access-log lines — shows
// only when Envoy runs. Live tests in this package do all of that through
// the process runtime when `envoy` is on PATH, and skip otherwise.
//
// # Evidence
//
// ParseLog reads the access-log JSON objects: the request id (from the
// X-Racelab-Request-Id header, or from the /r/<id> path), the status, the
// response flags (UC: the upstream connection closed under the request),
// the response code details
// (upstream_reset_before_response_started{connection_termination}), the
// upstream attempt count (2 after a retry) and the upstream transport
// failure reason. Envoy's own log lines carry no evidence.
package envoy
