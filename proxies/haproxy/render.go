package haproxy

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// DefaultClientTimeout is the shortest client-side timeout rendered
// ("timeout client" and "timeout http-keep-alive"). It keeps a persistent
// client connection open across the driver's idle gaps; it grows to twice
// Spec.IdleTimeout when that is longer, so a gap around the idle timeout
// never closes the client side first.
const DefaultClientTimeout = 60 * time.Second

// DefaultRetries is the "retries" count rendered when the retry policy is
// idempotent or all: one more attempt, which with a single server and a
// pool of one lands on a new server connection.
const DefaultRetries = 1

// RetryOn is the "retry-on" list rendered for the idempotent and all
// policies. "empty-response" is the keyword that catches a server closing a
// reused connection without answering; "conn-failure" covers a refused
// connection; "response-timeout" a connection that died silently on the
// path. HAProxy's default, "conn-failure" alone, does not catch the race.
const RetryOn = "conn-failure empty-response response-timeout"

// CaptureLen is how many bytes of the request id header the access log
// keeps.
const CaptureLen = 128

// LogPrefix starts every access line HAProxy writes with the rendered
// log-format, so ParseLog tells them from startup notices.
const LogPrefix = "racelab-haproxy"

// SyncPath is the path the rendered frontend answers itself with a 204,
// never forwarding it: the evidence barrier of Bundle.SyncPath. HAProxy
// runs one thread and writes a stream's access line to stdout when the
// stream ends, so the line of a request sent after another request's
// outcome was seen comes after that request's line, if it has one.
const SyncPath = "/racelab-sync"

// logFormat is the access log line. Field by field:
//
//	id      the X-Racelab-Request-Id header (capture slot 0), quoted
//	st      status sent to the client (-1: none)
//	ts      termination state with cookie flags (%tsc, "SH--")
//	rc      retries (prefixed "+" after a redispatch)
//	conn    actconn/feconn/beconn/srv_conn (%ac/%fc/%bc/%sc)
//	queue   srv_queue/backend_queue (%sq/%bq)
//	t       TR/Tw/Tc/Tr/Ta in ms (-1: never reached)
//	srv     backend/server (<NOSRV> when none was picked)
//	sport   source port of the server connection (%bp), which names the
//	        pooled connection from the backend's side
//	bytes   bytes sent to the client
//	client  client address:port
//	req     the request line, quoted, last so it may hold anything
const logFormat = LogPrefix + ` id=%{+Q}[capture.req.hdr(0)] st=%ST ts=%tsc rc=%rc` +
	` conn=%ac/%fc/%bc/%sc queue=%sq/%bq t=%TR/%Tw/%Tc/%Tr/%Ta srv=%b/%s sport=%bp` +
	` bytes=%B client=%ci:%cp req=%{+Q}r`

// configParams is what the template sees. Every field is validated or
// computed by renderConfig; none is user text passed through.
type configParams struct {
	Variant        proxies.Variant
	Retry          proxies.Retry
	Explicit       bool
	LogFormat      string
	RequestIDHdr   string
	SyncPath       string
	CaptureLen     int
	Listen         string
	Upstream       string
	ConnectTimeout string
	ServerTimeout  string
	ClientTimeout  string
	PurgeDelay     string // empty: HAProxy's default (5s)
	Reuse          string
	// BufferRequest renders option http-buffer-request (request
	// buffering on); off is HAProxy's default.
	BufferRequest bool
	Retries       int
	RetryOn       string
	// DisableL7 renders "http-request disable-l7-retry" for methods other
	// than GET, HEAD and OPTIONS.
	DisableL7 bool
}

var configTmpl = template.Must(template.New(ConfigFile).Parse(`# Rendered by racelab: variant {{.Variant}}, {{if .Explicit}}retry {{.Retry}}, reuse {{.Reuse}}{{else}}pooling and retries left to HAProxy's defaults{{end}}.
global
    # One thread: one idle connection pool.
    nbthread 1
    # Bounds memory whatever the file descriptor limit is.
    maxconn 256
    log stdout format raw daemon

defaults
    mode http
    log global
    # A connection that sends nothing (a readiness probe) leaves no line.
    option dontlognull
    log-format "{{.LogFormat}}"
    timeout connect {{.ConnectTimeout}}
    timeout server {{.ServerTimeout}}
    timeout client {{.ClientTimeout}}
    timeout http-keep-alive {{.ClientTimeout}}

frontend fe
    bind {{.Listen}}
    capture request header {{.RequestIDHdr}} len {{.CaptureLen}}
    # racelab's evidence barrier: answered here, logged, never forwarded.
    http-request return status 204 if { path {{.SyncPath}} }
    default_backend be

backend be
{{- if .BufferRequest}}
    option http-buffer-request
{{- end}}
{{- if .Explicit}}
    http-reuse {{.Reuse}}
    retries {{.Retries}}
    retry-on {{.RetryOn}}
{{- if .DisableL7}}
    http-request disable-l7-retry unless METH_GET || METH_OPTIONS
{{- end}}
{{- end}}
    server s1 {{.Upstream}}{{if .Explicit}} maxconn 1 pool-max-conn 1{{end}}{{if .PurgeDelay}} pool-purge-delay {{.PurgeDelay}}{{end}}
`))

func renderConfig(spec proxies.Spec, dir string) (string, error) {
	if err := spec.Validate(); err != nil {
		return "", err
	}
	if spec.Kind != "" && spec.Kind != proxies.KindHAProxy {
		return "", fmt.Errorf("spec kind %q: want %q", spec.Kind, proxies.KindHAProxy)
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("dir %q: want an absolute path", dir)
	}
	if _, err := proxies.ParseAddr("listen", spec.Listen, false); err != nil {
		return "", err
	}
	if _, err := proxies.ParseAddr("upstream", spec.Upstream, true); err != nil {
		return "", err
	}
	respTimeout := spec.ResponseTimeout
	if respTimeout == 0 {
		respTimeout = proxies.DefaultResponseTimeout
	}
	client := max(DefaultClientTimeout, 2*spec.IdleTimeout)
	p := configParams{
		Variant:        spec.Variant,
		Retry:          spec.Retry,
		Explicit:       spec.Variant != proxies.VariantDefaults,
		LogFormat:      logFormat,
		RequestIDHdr:   backends.RequestIDHeader,
		SyncPath:       SyncPath,
		CaptureLen:     CaptureLen,
		Listen:         spec.Listen,
		Upstream:       spec.Upstream,
		ConnectTimeout: duration(respTimeout),
		ServerTimeout:  duration(respTimeout),
		ClientTimeout:  duration(client),
		Reuse:          spec.Reuse,
		RetryOn:        "none",
	}
	if p.Variant == "" {
		p.Variant = proxies.VariantExplicit
	}
	if p.Reuse == "" {
		p.Reuse = "always"
	}
	switch spec.RequestBuffering {
	case "on":
		p.BufferRequest = true
	case "", "off":
	default:
		return "", fmt.Errorf("request buffering %q: want on or off", spec.RequestBuffering)
	}
	if spec.IdleTimeout > 0 {
		p.PurgeDelay = duration(spec.IdleTimeout)
	}
	switch spec.Retry {
	case proxies.RetryIdempotent:
		p.Retries, p.RetryOn, p.DisableL7 = DefaultRetries, RetryOn, true
	case proxies.RetryAll:
		p.Retries, p.RetryOn = DefaultRetries, RetryOn
	}
	var b strings.Builder
	if err := configTmpl.Execute(&b, p); err != nil {
		return "", err
	}
	return b.String(), nil
}

// duration renders d in HAProxy's time format: whole seconds as "5s",
// anything else in milliseconds rounded up, so a short timeout never
// becomes 0 (which HAProxy reads as "none" or "never").
func duration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return strconv.FormatInt(int64(ms), 10) + "ms"
}
