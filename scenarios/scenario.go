package scenarios

import "fmt"

// Scenario is a named experiment: base settings, matrix axes and
// expectations. The Go structs are the source of truth for the YAML.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Timescale multiplies every duration of the scenario (timeouts,
	// margins, gaps, backend lifetimes), so production values run in a
	// fraction of a second per trial. Timing-mode offsets are not scaled:
	// the natural race window is fixed in absolute time. Default 1.
	Timescale float64 `yaml:"timescale,omitempty"`
	// Seed makes request ids and jitter reproducible. Default 1.
	Seed   int64         `yaml:"seed,omitempty"`
	Base   Settings      `yaml:"base,omitempty"`
	Matrix Matrix        `yaml:"matrix,omitempty"`
	Expect []Expectation `yaml:"expect,omitempty"`

	// src is where the scenario was loaded from, to position problems
	// found after loading (OverrideProxyConfig).
	src source
}

// source is a loaded scenario's file name and its fields' positions.
type source struct {
	file string
	pos  map[string][2]int
}

// Proxy selects a proxy and how it runs.
type Proxy struct {
	// Name labels this proxy in cell ids, parameters and reports (default:
	// kind, version, config file and runtime, like "nginx-1.26@container"):
	// "before" and "after" for two copies of one configuration.
	Name string `yaml:"name,omitempty"`
	// Kind: go (embedded, default), nginx, haproxy, envoy.
	Kind string `yaml:"kind,omitempty"`
	// Version pins a version (container images; checked against the
	// binary for the process runtime when set).
	Version string `yaml:"version,omitempty"`
	// Runtime: embedded (kind go), process (default for the others), container.
	Runtime string `yaml:"runtime,omitempty"`
	// Image overrides the container image.
	Image string `yaml:"image,omitempty"`
	// Variant: explicit (default) or defaults (pooling and retry
	// directives left out, so the proxy's own defaults apply).
	Variant string `yaml:"variant,omitempty"`
	// Reuse is HAProxy's http-reuse mode: always (default) or safe.
	Reuse string `yaml:"reuse,omitempty"`
	// RequestBuffering (nginx, HAProxy): on — the proxy reads the whole
	// request body before it sends the request upstream (nginx
	// proxy_request_buffering on, HAProxy option http-buffer-request) —
	// or off, streaming it. Default: the proxy's own (nginx on, HAProxy
	// off).
	RequestBuffering string `yaml:"request_buffering,omitempty"`
	// Config is the user's own configuration file for kind nginx, haproxy,
	// envoy, caddy or apache, run instead of a rendered one. A relative path is relative
	// to the scenario file's directory (a built-in scenario's: the working
	// directory); loading makes it absolute. The file then decides the
	// proxy's idle timeout, retries and reuse: proxy_idle, margin, retry,
	// reuse and variant are errors beside it.
	Config string `yaml:"config,omitempty"`
	// Upstream names the nginx upstream, HAProxy backend, Envoy cluster,
	// Caddy reverse_proxy (site address, path matcher or upstream) or
	// Apache ProxyPass (path, URL or balancer) of Config under test
	// (default: the only one).
	Upstream string `yaml:"upstream,omitempty"`
	// Root is a directory that stands for "/" when Config's absolute
	// include paths are resolved (a copy of a machine's /etc). Relative
	// like Config.
	Root string `yaml:"root,omitempty"`
}

// Backend holds backend knobs beyond the keep-alive timeout.
type Backend struct {
	// Preset takes the keep-alive default of a runtime (node, gunicorn,
	// uvicorn, puma, puma7, tomcat, tomcat-server-xml, apache, nginx).
	Preset         string    `yaml:"preset,omitempty"`
	MaxRequests    int       `yaml:"max_requests,omitempty"`
	MaxLifetime    *Duration `yaml:"max_lifetime,omitempty"`
	ResponseDelay  *Duration `yaml:"response_delay,omitempty"`
	ResponseStatus int       `yaml:"response_status,omitempty"`
	// Down runs the cell against a backend that is not listening (a
	// negative control: failures must not be attributed to the race).
	Down bool `yaml:"down,omitempty"`
	// RestartEvery gracefully restarts the backend in the idle gap of
	// every Nth trial, just before the victim leaves: the unlucky moment of
	// a rolling restart, a residual race that survives a correct margin.
	RestartEvery int `yaml:"restart_every,omitempty"`
	// Runtime runs a real server instead of racelab's backend: node,
	// gunicorn, uvicorn, puma, tomcat, apache or nginx, answering every
	// request and logging its id. Its close cannot be forced: such a cell
	// runs the natural race (mode timing) around the idle close racelab
	// measures first.
	Runtime string `yaml:"runtime,omitempty"`
	// Version pins the runtime's version (checked against the one
	// installed).
	Version string `yaml:"version,omitempty"`
	// KeepAlive sets the runtime's keep-alive idle timeout (scaled, then
	// rounded up to the runtime's unit: whole seconds for gunicorn,
	// uvicorn and Puma); left out, the runtime's default applies.
	KeepAlive *Duration `yaml:"keepalive,omitempty"`
}

// Settings are one cell's values; the base holds defaults and every
// matrix axis overrides one field.
type Settings struct {
	Proxy Proxy `yaml:"proxy,omitempty"`
	// ProxyIdle is the proxy's upstream keep-alive idle timeout.
	ProxyIdle *Duration `yaml:"proxy_idle,omitempty"`
	// BackendKeepAlive is the backend's keep-alive idle timeout. Give it,
	// or Margin (backend_keepalive = proxy_idle + margin), not both.
	BackendKeepAlive *Duration `yaml:"backend_keepalive,omitempty"`
	Margin           *Duration `yaml:"margin,omitempty"`
	// Retry: off (default), idempotent, all.
	Retry string `yaml:"retry,omitempty"`
	// Method: GET (default), POST, or any token.
	Method string `yaml:"method,omitempty"`
	// Client: persistent (default) — one client connection to the proxy
	// — or fresh, a new client connection per request.
	Client string `yaml:"client,omitempty"`
	// Close: fin (default) or rst.
	Close string `yaml:"close,omitempty"`
	// Mode: deterministic (default) or timing.
	Mode string `yaml:"mode,omitempty"`
	// Fault (deterministic mode): close-on-reuse (default),
	// processed-then-dropped, or none: the backend's real keep-alive timer
	// and nothing forced, with the gap (default: the keep-alive minus half
	// the jitter) spread by jitter around it — the natural race.
	Fault string `yaml:"fault,omitempty"`
	// Gap (deterministic mode) is the idle gap between the priming
	// response and the victim request. Default: just past the backend's
	// keep-alive, while the proxy should still hold the connection when
	// the backend closes first (see Cell.Gap).
	Gap *Duration `yaml:"gap,omitempty"`
	// Offsets (timing mode) are absolute offsets from the backend's idle
	// deadline at which victims are sent, cycled over the trials.
	Offsets []Duration `yaml:"offsets,omitempty"`
	// Sweep (timing mode) generates Offsets: from, to, step.
	Sweep *Sweep `yaml:"sweep,omitempty"`
	// Jitter adds a uniform random [0, jitter) to every gap (seeded).
	Jitter *Duration `yaml:"jitter,omitempty"`
	// Trials per cell (default 20). With MaxTrials set, trials is the
	// minimum and the cell stops when the 95% interval is narrower than
	// ±TargetHalfWidth or MaxTrials is reached.
	Trials          int     `yaml:"trials,omitempty"`
	MaxTrials       int     `yaml:"max_trials,omitempty"`
	TargetHalfWidth float64 `yaml:"target_half_width,omitempty"`
	Backend         Backend `yaml:"backend,omitempty"`
	// Path is the network between the proxy and the backend: latency and
	// jitter (never scaled by the timescale). Default: loopback, no delay.
	Path *Path `yaml:"path,omitempty"`
	// Body sends the victim's request body slowly after its headers (a
	// method with a body, such as POST). Never scaled by the timescale.
	Body *Body `yaml:"body,omitempty"`
}

// Body is a victim request body sent slowly: Size bytes, at Rate bytes a
// second, or all at once after Delay. Give Rate or Delay, not both.
type Body struct {
	Size  int64     `yaml:"size"`
	Rate  int64     `yaml:"rate,omitempty"`
	Delay *Duration `yaml:"delay,omitempty"`
}

// Label names a body compactly: "1048576B@262144Bps", "1024B+50ms".
func (b Body) Label() string {
	switch {
	case b.Rate > 0:
		return fmt.Sprintf("%dB@%dBps", b.Size, b.Rate)
	case b.Delay != nil:
		return fmt.Sprintf("%dB+%s", b.Size, b.Delay)
	}
	return fmt.Sprintf("%dB", b.Size)
}

// Path is the network path between the proxy and the backend.
type Path struct {
	// Latency is the one-way delay, the same in both directions: data,
	// FIN and RST each arrive this much later, in order.
	Latency *Duration `yaml:"latency,omitempty"`
	// Jitter spreads each segment's delay over latency ± jitter (seeded;
	// order is kept).
	Jitter *Duration `yaml:"jitter,omitempty"`
}

// Sweep is a range of timing-mode offsets.
type Sweep struct {
	From Duration `yaml:"from"`
	To   Duration `yaml:"to"`
	Step Duration `yaml:"step"`
	// AroundLatency widens the sweep by the cell's path latency on both
	// sides (from - latency to to + latency), with the step grown so that
	// the number of offsets stays that of from..to: with latency the race
	// window is about [-latency, +latency + the proxy's lag] around the
	// backend's idle deadline.
	AroundLatency bool `yaml:"around_latency,omitempty"`
}

// Matrix axes: every combination of the listed values becomes a cell.
// Axes expand in the order of the fields below, the first slowest.
type Matrix struct {
	Proxy            []Proxy    `yaml:"proxy,omitempty"`
	ProxyIdle        []Duration `yaml:"proxy_idle,omitempty"`
	BackendKeepAlive []Duration `yaml:"backend_keepalive,omitempty"`
	Margin           []Duration `yaml:"margin,omitempty"`
	Retry            []string   `yaml:"retry,omitempty"`
	Method           []string   `yaml:"method,omitempty"`
	Client           []string   `yaml:"client,omitempty"`
	Close            []string   `yaml:"close,omitempty"`
	Mode             []string   `yaml:"mode,omitempty"`
	Fault            []string   `yaml:"fault,omitempty"`
	Preset           []string   `yaml:"preset,omitempty"`
	// Backend replaces base.backend per cell: residual-race knobs such as
	// max_requests or restart_every.
	Backend []Backend `yaml:"backend,omitempty"`
	// Latency replaces path.latency per cell: [0ms, 1ms, 5ms, 20ms].
	Latency []Duration `yaml:"latency,omitempty"`
	// Body replaces base.body per cell.
	Body []Body `yaml:"body,omitempty"`
}

// Expectation is a verdict a run is gated on: for every cell that matches
// Where, the measured value must satisfy the condition.
type Expectation struct {
	// Name labels the expectation in messages and JUnit.
	Name string `yaml:"name,omitempty"`
	// Where selects cells by parameter: "retry: off", "margin: <0",
	// "method: [GET, HEAD]", "kind: ![varnish, squid]" (every kind but
	// those). Empty selects every cell.
	Where map[string]string `yaml:"where,omitempty"`
	// FailureRate is a condition on the failure rate: "0", ">0", "<=0.05",
	// "==1".
	FailureRate string `yaml:"failure_rate,omitempty"`
	// Attributed is a condition on the share of failures attributed to
	// the race ("==1": every failure has evidence).
	Attributed string `yaml:"attributed,omitempty"`
	// Duplicates is a condition on the count of duplicate executions.
	Duplicates string `yaml:"duplicates,omitempty"`
	// HiddenRetries is a condition on the count of hidden retries.
	HiddenRetries string `yaml:"hidden_retries,omitempty"`
	// NotReused is a condition on the count of victims the proxy did not
	// send on its pooled connection (outcome not_reused): "0" asserts the
	// race could happen at all.
	NotReused string `yaml:"not_reused,omitempty"`
	// Optional skips the expectation, instead of failing it, when no cell
	// matches (a scenario run on a proxy its selector does not name).
	Optional bool `yaml:"optional,omitempty"`
}
