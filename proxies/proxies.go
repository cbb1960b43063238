package proxies

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kind names a proxy implementation.
type Kind string

const (
	KindGo      Kind = "go"
	KindNginx   Kind = "nginx"
	KindHAProxy Kind = "haproxy"
	KindEnvoy   Kind = "envoy"
	KindVarnish Kind = "varnish"
	KindSquid   Kind = "squid"
	KindCaddy   Kind = "caddy"
	KindApache  Kind = "apache"
)

// IdleFloor is the shortest upstream idle timeout a proxy of kind k can
// honour (0: no floor above a millisecond); a scenario scaled below it
// runs that proxy at a larger timescale. Varnish's backend_idle_timeout
// stops at one second. Squid's server_idle_pconn_timeout takes whole
// seconds and Squid's timers count whole seconds of the clock and are
// checked once a second (measured on 5.7: a 1 s timeout closed a
// connection after 0.4 s and after 1.9 s, a 2 s one after 3.0 s, a 5 s
// one once later than 6.5 s), so a timeout shorter than 5 s is mostly
// noise.
func IdleFloor(k Kind) time.Duration {
	switch k {
	case KindVarnish:
		return time.Second
	case KindSquid:
		return 5 * time.Second
	}
	return 0
}

// Retry is a proxy's retry policy for a failed upstream connection.
type Retry string

const (
	// RetryOff never retries.
	RetryOff Retry = "off"
	// RetryIdempotent retries connection failures for GET, HEAD and OPTIONS only.
	RetryIdempotent Retry = "idempotent"
	// RetryAll retries connection failures for every method, POST included.
	RetryAll Retry = "all"
)

// Runtime is how a proxy runs.
type Runtime string

const (
	RuntimeEmbedded  Runtime = "embedded"  // in this process (kind go only)
	RuntimeProcess   Runtime = "process"   // a binary on PATH, own process group
	RuntimeContainer Runtime = "container" // a container with host networking
)

// Variant selects how much of the pooling and retry configuration the
// rendered config spells out.
type Variant string

const (
	// VariantExplicit renders every pooling, timeout and retry directive.
	VariantExplicit Variant = "explicit"
	// VariantDefaults leaves pooling and retry directives out, so the
	// proxy's own defaults apply: a version that changes a default shows.
	VariantDefaults Variant = "defaults"
)

// Spec is what a proxy must do, independent of how it runs.
type Spec struct {
	Kind Kind
	// Listen is the client-facing address, 127.0.0.1:port.
	Listen string
	// Upstream is the backend address, host:port.
	Upstream string
	// AdminListen is an admin address where the proxy has one (Envoy).
	AdminListen string
	// IdleTimeout is the upstream keep-alive idle timeout (0: the proxy's default).
	IdleTimeout time.Duration
	// ResponseTimeout bounds the wait for an upstream response (0: 5s).
	ResponseTimeout time.Duration
	Retry           Retry
	Variant         Variant
	// Reuse is HAProxy's http-reuse mode: "always" (default) or "safe".
	Reuse string
	// RequestBuffering is whether the proxy reads a request's whole body
	// before it sends the request upstream: "on", "off", or "" for the
	// proxy's default (nginx proxy_request_buffering, on by default;
	// HAProxy option http-buffer-request, off by default).
	RequestBuffering string
	// Config, when set, is the user's own configuration to run instead of
	// a rendered one: Listen and Upstream still apply (the route's
	// listener and the upstream under test point there); IdleTimeout,
	// Retry, Variant and Reuse are the file's own and are ignored.
	Config *UserConfig
}

// UserConfig is a user's proxy configuration to run.
type UserConfig struct {
	// Path is the main configuration file (HAProxy: or a directory of
	// *.cfg files).
	Path string
	// Root, when set, is the tree absolute include paths resolve in.
	Root string
	// Upstream is the nginx upstream or HAProxy backend under test; it
	// may be empty when the file has exactly one.
	Upstream string
	// Timescale multiplies the upstream idle settings of the upstream
	// under test (0 and 1: unchanged).
	Timescale float64
	// Closed is a loopback address nothing listens on, for every other
	// upstream (empty: 127.0.0.1:9, the discard port, closed on a host
	// without inetd).
	Closed string
}

// DefaultClosedAddr is where a user's configuration's other upstreams
// point when UserConfig.Closed is empty.
const DefaultClosedAddr = "127.0.0.1:9"

// Change is one change racelab made to a user's configuration.
type Change struct {
	Directive string `json:"directive"`
	// File and Line locate the original directive (empty and 0 for an
	// addition).
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Old is the directive as written ("" for an addition), New as
	// rewritten ("" for a removal).
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	Why string `json:"why,omitempty"`
	// AltersPooling marks a change that can change how connections are
	// pooled (worker or thread count).
	AltersPooling bool `json:"alters_pooling,omitempty"`
}

// Route is the request that reaches the upstream under test in a user's
// configuration.
type Route struct {
	// Path is the prefix to send requests under; Host the Host header to
	// send ("" when any host routes there).
	Path string `json:"path"`
	Host string `json:"host,omitempty"`
	// UpstreamPath is the prefix the backend sees in place of Path.
	UpstreamPath string `json:"upstream_path,omitempty"`
	// Source is the "file:line" of the location or rule that routes.
	Source string `json:"source,omitempty"`
}

// RequestPath is the path of request id under the route: Path joined
// with the backends' "/r/<id>" form, so the id stays readable in logs.
func (r Route) RequestPath(id string) string {
	p := r.Path
	if p == "" {
		p = "/"
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p + "r/" + id
}

// Setting is one setting of a user's configuration for the upstream
// under test.
type Setting struct {
	Value string `json:"value"`
	// Source is the "file:line" it comes from ("" for a default).
	Source  string `json:"source,omitempty"`
	Default bool   `json:"default,omitempty"`
	Note    string `json:"note,omitempty"`
}

// DefaultResponseTimeout applies when Spec.ResponseTimeout is 0.
const DefaultResponseTimeout = 5 * time.Second

// Addrs checks the listen and upstream addresses the way an adapter
// writes them into a configuration (ParseAddr; the upstream may be a host
// name), reporting both problems at once.
func (s Spec) Addrs() (listen, upstream Addr, err error) {
	listen, lerr := ParseAddr("listen", s.Listen, false)
	upstream, uerr := ParseAddr("upstream", s.Upstream, true)
	return listen, upstream, errors.Join(lerr, uerr)
}

// Response is the spec's response timeout, DefaultResponseTimeout when
// it is 0.
func (s Spec) Response() time.Duration {
	if s.ResponseTimeout == 0 {
		return DefaultResponseTimeout
	}
	return s.ResponseTimeout
}

// Validate reports a spec that no adapter can render.
func (s Spec) Validate() error {
	if s.Listen == "" || s.Upstream == "" {
		return fmt.Errorf("spec: listen and upstream addresses are required")
	}
	switch s.Retry {
	case RetryOff, RetryIdempotent, RetryAll:
	default:
		return fmt.Errorf("spec: retry %q: want off, idempotent or all", s.Retry)
	}
	switch s.Variant {
	case "", VariantExplicit, VariantDefaults:
	default:
		return fmt.Errorf("spec: variant %q: want explicit or defaults", s.Variant)
	}
	switch s.Reuse {
	case "", "always", "safe":
	default:
		return fmt.Errorf("spec: reuse %q: want always or safe", s.Reuse)
	}
	if s.IdleTimeout < 0 || s.ResponseTimeout < 0 {
		return fmt.Errorf("spec: timeouts must not be negative")
	}
	return nil
}

// Bundle is a rendered configuration: files to write into a directory and
// the arguments that run the proxy binary on them. Rendering is separate
// from running, so any runtime (process, container) runs any bundle.
type Bundle struct {
	// Dir is the directory the bundle was rendered for; paths inside the
	// files are absolute paths under it.
	Dir string
	// Files maps a path relative to Dir to its content.
	Files map[string]string
	// Dirs lists directories relative to Dir that must exist (mode 0700).
	Dirs []string
	// Args are the arguments after the binary name.
	Args []string
	// ValidateArgs make the binary check the configuration and exit.
	ValidateArgs []string
	// Env, when set, is added to the environment of the process runtime's
	// proxy and check ("KEY=value"; Caddy: its home and config directories
	// inside Dir). A container has its own environment and ignores it.
	Env []string
	// SyncPath, when set, is a request path the configuration answers
	// itself, never forwarding it, and logs like any other request. It is
	// an evidence barrier: the proxy writes a request's evidence as one
	// line on one ordered stream, as the request ends, so once the line of
	// a request sent to SyncPath has been read, so has the line of every
	// request whose outcome the client had seen before sending it, and a
	// request with no line by then has none coming.
	SyncPath string
	// Unexpressed lists, one phrase each, what the spec asks that this
	// proxy cannot do, so a cell says so instead of pretending ("retry
	// off: ..."). The lab puts them in the cell's note.
	Unexpressed []string

	// Logger, when set, is a log reader the runtime starts beside the
	// proxy once it accepts connections, in the proxy's process group (or
	// container): Varnish keeps its log in shared memory, which
	// varnishncsa reads. Its output lines are evidence like the proxy's.
	Logger *Logger
	// SharedOutput says the proxy reopens its standard output and error by
	// name (/dev/stdout) after dropping root privileges (Squid): the
	// runtime makes those pipes writable by the proxy's user.
	SharedOutput bool
	// ContainerUser, when set, is the image's user a container runs the
	// proxy as, instead of racelab's own uid (Squid: "proxy", so the
	// container's output pipes are its own); the bundle's directories are
	// then readable by every user. The process runtime ignores it.
	ContainerUser string
	// Notes say what of the spec the rendered configuration could not
	// express, in the proxy's own terms ("retry off: Varnish 7.1 retries a
	// recycled backend connection once by itself"); a run puts them in the
	// cell's note instead of pretending the policy ran.
	Notes []string

	// For a user's configuration (Spec.Config): every change racelab
	// made to it, the request route to the upstream under test, and the
	// configuration's own settings for it (idle_timeout, retry, reuse,
	// pool_size, workers, ...).
	Changes   []Change
	Route     Route
	Effective map[string]Setting
	// Origins maps a rendered file to the original "file:line" of each
	// of its lines, for MapMessage.
	Origins map[string][]string
}

// Logger is a log reader run beside a proxy.
type Logger struct {
	// Binary is the executable name, looked up on PATH or in the image.
	Binary string
	Args   []string
	// ReadyPath is a path the configuration answers itself: the runtime
	// sends requests there, each with its own request id header, until the
	// logger has written a line naming one, so no request goes unread.
	ReadyPath string
}

// MapMessage rewrites "DIR/FILE:N" positions of rendered files in msg (a
// validator's or the proxy's message) into the original file and line of
// a user's configuration, keeping the rendered position in parentheses.
func (b *Bundle) MapMessage(msg string) string {
	for name, origins := range b.Origins {
		full := b.Dir + "/" + name
		msg = positionsAsColon(msg, full)
		// A position with no origin (a closing brace Caddy names) stays
		// as it is, and the search goes on after it.
		for from := 0; ; {
			i := strings.Index(msg[from:], full+":")
			if i < 0 {
				break
			}
			i += from
			j := i + len(full) + 1
			k := j
			for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
				k++
			}
			n, err := strconv.Atoi(msg[j:k])
			if err != nil || n < 1 || n > len(origins) || origins[n-1] == "" {
				from = j
				continue
			}
			rep := origins[n-1] + " (rendered " + name + ":" + msg[j:k] + ")"
			msg = msg[:i] + rep + msg[k:]
			from = i + len(rep)
		}
	}
	return msg
}

// positionsAsColon rewrites the positions of full that Varnish's compiler
// ("'FILE' Line N") and Squid ("FILE line N", "FILE(N)") print into
// "FILE:N".
func positionsAsColon(msg, full string) string {
	for _, p := range []struct{ before, after string }{{"'" + full + "' Line ", ""}, {full + " line ", ""}, {full + "(", ")"}} {
		for from := 0; ; {
			i := strings.Index(msg[from:], p.before)
			if i < 0 {
				break
			}
			i += from
			j := i + len(p.before)
			k := j
			for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
				k++
			}
			if k == j || !strings.HasPrefix(msg[k:], p.after) {
				from = j
				continue
			}
			msg = msg[:i] + full + ":" + msg[j:k] + msg[k+len(p.after):]
			from = i + len(full) + 1
		}
	}
	return msg
}

// Adapter knows one proxy: how to render its config, check it, read its
// version and parse its logs. Adapters are stateless values.
type Adapter interface {
	Kind() Kind
	// Binary is the executable name, looked up on PATH or in an image.
	Binary() string
	// Render renders spec for the directory dir.
	Render(spec Spec, dir string) (*Bundle, error)
	// VersionArgs print the version; ParseVersion reads it from the
	// combined output.
	VersionArgs() []string
	ParseVersion(output string) (string, error)
	// ParseLog turns one line of the proxy's stdout or stderr into
	// evidence; ok is false for lines that carry none.
	ParseLog(line string) (ev Evidence, ok bool)
	// StopSignal asks the proxy to stop (the runtime escalates to KILL).
	StopSignal() os.Signal
	// Image is the official image reference for a version, for registries
	// that have it ("nginx:1.26").
	Image(version string) string
}

// VersionFallback is an Adapter whose version command may not know the
// version (a Caddy built with go install prints "unknown"): when
// ParseVersion fails on its output, the runtime runs FallbackVersionArgs
// and parses that output instead.
type VersionFallback interface {
	FallbackVersionArgs() []string
}

// Rendered is an Instance that runs a rendered Bundle (the process and
// container runtimes): its route, changes and effective settings tell
// what a user's configuration became.
type Rendered interface {
	Instance
	Bundle() *Bundle
}

// Instance is a running proxy, whatever the runtime.
type Instance interface {
	// Addr is the client-facing address.
	Addr() string
	// Version is the proxy's own version string ("1.22.1").
	Version() string
	// Evidence holds what the proxy logged, by request id.
	Evidence() *EvidenceLog
	// Info is manifest facts: binary path, image id, pid, config dir.
	Info() map[string]string
	// Stop stops the proxy and waits for it; idempotent.
	Stop(ctx context.Context) error
}
