package proxyconf

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Input is what Rewrite needs: the user's configuration, the upstream
// under test, and the values racelab substitutes.
type Input struct {
	// Kind is "nginx", "haproxy", "caddy", "apache", "varnish" or "squid".
	Kind string
	// Path is the main configuration file (HAProxy: a file or a
	// directory of *.cfg files; Varnish: a VCL file, or a file with a
	// varnishd command line, -f and -p, such as a systemd unit or
	// /etc/default/varnish).
	Path string
	// Root, when set, is the tree absolute include paths resolve in.
	Root string
	// Upstream is the nginx upstream or HAProxy backend under test; it may
	// be empty when the configuration has exactly one.
	Upstream string
	// FS reads the configuration; nil reads the host's files.
	FS FS

	// Backend is racelab's backend, 127.0.0.1:port: every server of the
	// upstream under test points here.
	Backend string
	// Closed is a loopback address nothing listens on: every other
	// server, upstream and address in the file points here.
	Closed string
	// Listen is the loopback address the listener that routes to the
	// upstream under test binds.
	Listen string
	// Dir is the absolute directory the files are written to; pid, log,
	// temp and socket paths move into it.
	Dir string
	// Timescale multiplies the upstream idle settings of the upstream
	// under test (0 and 1: unchanged).
	Timescale float64
	// LogFormat is racelab's evidence log format: for nginx the format
	// strings of a log_format directive (racelab's log format name is
	// added), for HAProxy a log-format string in which
	// RequestIDFetch stands for the request id.
	LogFormat string
	// ErrorLogFormat is, for Apache, racelab's ErrorLogFormat string.
	ErrorLogFormat string
	// RequestIDHeader is the header carrying racelab's request id.
	RequestIDHeader string
	// RunAsRoot says the proxy starts as root: nginx then keeps its
	// workers as root ("user root;") so they can enter Dir.
	RunAsRoot bool
	// SyncPath, for HAProxy, is a path the routing frontend answers
	// itself with a 204, logged and never forwarded: the evidence barrier
	// of proxies.Bundle.SyncPath. Empty: none.
	SyncPath string
	// ReadyPath, for Varnish, is a path the rewritten VCL answers itself
	// with a 204, never fetched: the log reader's readiness probe
	// (proxies.Logger.ReadyPath). Empty: none.
	ReadyPath string
}

// RequestIDFetch is the sample fetch expression that holds the request
// id in a rewritten HAProxy configuration; Input.LogFormat uses it.
const RequestIDFetch = "var(txn.racelab_id)"

// EvidenceLogName is the nginx log_format name of racelab's access log.
const EvidenceLogName = "racelab_evidence"

// Result is a rewritten configuration.
type Result struct {
	// Main is the main configuration file, relative to Input.Dir.
	Main string
	// Files maps paths relative to Input.Dir to their content.
	Files map[string]string
	// Dirs lists directories relative to Input.Dir that must exist.
	Dirs []string
	// Args run the proxy on the files; ValidateArgs check them.
	Args, ValidateArgs []string
	// Env is added to the proxy's environment ("KEY=value"), for the run
	// and the check alike.
	Env []string
	// Changes are every change made to the user's configuration, in file
	// order.
	Changes []Change
	// Route is the request that reaches the upstream under test.
	Route Route
	// Upstream is the upstream or backend under test; Upstreams all of
	// them.
	Upstream  string
	Upstreams []string
	// Effective are the configuration's own settings for the upstream
	// under test.
	Effective []Setting
	// Origins maps each file in Files to the "file:line" every line of it
	// comes from ("" for lines racelab wrote).
	Origins map[string][]string
	// Notes say what was read loosely (a skipped missing include).
	Notes []string
	// SyncPath is Input.SyncPath when the rewrite answers it.
	SyncPath string
}

// Change is one change to the user's configuration.
type Change struct {
	Directive string
	// File and Line locate the original directive ("" and 0 for an
	// addition).
	File string
	Line int
	// Old is the directive as written ("" for an addition), New as
	// rewritten ("" for a removal).
	Old, New, Why string
	// AltersPooling marks a change that can change how connections are
	// pooled.
	AltersPooling bool
}

// Pos is "file:line", or "(added)".
func (c Change) Pos() string {
	if c.File == "" {
		return "(added)"
	}
	return fmt.Sprintf("%s:%d", c.File, c.Line)
}

// String is "file:line directive: old -> new (why)".
func (c Change) String() string {
	old, nw := c.Old, c.New
	if old == "" {
		old = "(none)"
	}
	if nw == "" {
		nw = "(removed)"
	}
	s := fmt.Sprintf("%s %s: %s -> %s (%s)", c.Pos(), c.Directive, old, nw, c.Why)
	if c.AltersPooling {
		s += " [alters pooling]"
	}
	return s
}

// Route is the request that reaches the upstream under test.
type Route struct {
	// Path is a path prefix to send requests under (requests go to Path
	// followed by racelab's own path); Host the Host header ("" when any
	// host routes there).
	Path, Host string
	// UpstreamPath is the prefix the backend sees in place of Path (they
	// differ when proxy_pass carries a URI).
	UpstreamPath string
	// Source is the "file:line" of the location or rule that routes.
	Source string
}

// Setting is one effective setting for the upstream under test.
type Setting struct {
	Name, Value string
	// Source is the "file:line" it comes from ("" for a default).
	Source  string
	Default bool
	Note    string
}

// Rewrite reads the configuration in, rewrites it for racelab and
// returns the files, the changes, the route and the effective settings.
func Rewrite(in Input) (*Result, error) {
	if err := in.check(); err != nil {
		return nil, fmt.Errorf("rewrite %s: %w", in.Kind, err)
	}
	var res *Result
	var err error
	switch in.Kind {
	case "nginx":
		res, err = rewriteNginx(in)
	case "haproxy":
		res, err = rewriteHAProxy(in)
	case "caddy":
		res, err = rewriteCaddy(in)
	case "apache":
		res, err = rewriteApache(in)
	case "varnish":
		res, err = rewriteVarnish(in)
	case "squid":
		res, err = rewriteSquid(in)
	default:
		err = fmt.Errorf("kind %q: want nginx, haproxy, caddy, apache, varnish or squid", in.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("rewrite %s: %w", in.Kind, err)
	}
	return res, nil
}

func (in Input) check() error {
	var errs []error
	for _, a := range []struct{ what, addr string }{{"backend", in.Backend}, {"closed", in.Closed}, {"listen", in.Listen}} {
		ap, err := netip.ParseAddrPort(a.addr)
		if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
			errs = append(errs, fmt.Errorf("%s address %q: want a loopback IP and a port", a.what, a.addr))
		}
	}
	if !filepath.IsAbs(in.Dir) || filepath.Clean(in.Dir) == "/" || strings.ContainsAny(in.Dir, "\"'\\${};# \t\r\n") {
		errs = append(errs, fmt.Errorf("dir %q: want an absolute path below / without quotes, spaces or ${};#", in.Dir))
	}
	if in.Timescale < 0 || in.Timescale > 1000 {
		errs = append(errs, fmt.Errorf("timescale %v: want 0 (none) or a positive factor up to 1000", in.Timescale))
	}
	if in.Path == "" {
		errs = append(errs, errors.New("no configuration path"))
	}
	if p := in.ReadyPath; p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n{}\"'#\\")) {
		errs = append(errs, fmt.Errorf("ready path %q: want an absolute URL path without spaces, braces, quotes or #", p))
	}
	if p := in.SyncPath; p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n{}\"'#\\")) {
		errs = append(errs, fmt.Errorf("sync path %q: want an absolute URL path without spaces, braces, quotes or #", p))
	}
	if in.LogFormat == "" || in.RequestIDHeader == "" {
		errs = append(errs, errors.New("no evidence log format or request id header"))
	}
	return errors.Join(errs...)
}

// scaled reports whether a timescale applies.
func (in Input) scaled() bool { return in.Timescale > 0 && in.Timescale != 1 }

// scale multiplies d by the timescale, at least one millisecond.
func (in Input) scale(d time.Duration) time.Duration {
	s := time.Duration(float64(d) * in.Timescale).Round(time.Millisecond)
	return max(s, time.Millisecond)
}

// pickUpstream resolves the name under test among names.
func pickUpstream(names []string, want, what string) (string, error) {
	if len(names) == 0 {
		return "", fmt.Errorf("no %s in the configuration", what)
	}
	if want == "" {
		if len(names) == 1 {
			return names[0], nil
		}
		return "", fmt.Errorf("%d %ss (%s): name the one under test", len(names), what, strings.Join(names, ", "))
	}
	if slices.Contains(names, want) {
		return want, nil
	}
	return "", fmt.Errorf("no %s named %q (found: %s)", what, want, strings.Join(names, ", "))
}

// msText renders d in milliseconds, which nginx and HAProxy both read.
func msText(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
