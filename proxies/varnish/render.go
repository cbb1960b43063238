package varnish

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

// ReadyPath is the path the rendered VCL answers itself with a 204, never
// fetching it: the runtime's probe that varnishncsa reads the log
// (proxies.Logger.ReadyPath).
const ReadyPath = "/racelab-ready"

// LogPrefix starts every line varnishncsa writes with the rendered
// format, so ParseLog tells them from anything else.
const LogPrefix = "racelab-varnish"

// DefaultClientTimeout is the shortest client idle timeout rendered
// (timeout_idle): it keeps a persistent client connection open across the
// driver's idle gaps, and grows to twice Spec.IdleTimeout.
const DefaultClientTimeout = 60 * time.Second

// DefaultIdleTimeout is Varnish's own backend_idle_timeout.
const DefaultIdleTimeout = 60 * time.Second

// BodyCacheLimit is the request body std.cache_req_body keeps for the
// retry policy all, so a POST can be sent again.
const BodyCacheLimit = "1MB"

// Notes for the retry policies Varnish 7.1 cannot express. The built-in
// retry lives in vbe_dir_gethdrs (bin/varnishd/cache/cache_backend.c): a
// request that fails on a recycled backend connection is sent once more
// on a new one, unless its body was streamed and not cached; the VCL
// switch for it (bereq.retry_connect) is not in 7.1.
const (
	NoteRetryOff        = "retry off: Varnish 7.1 retries a request that failed on a recycled backend connection once, by itself (\"extrachance\"), for every method whose body is not streamed uncached; only a POST with a body fails"
	NoteRetryIdempotent = "retry idempotent runs Varnish 7.1's built-in retry of a recycled backend connection, which also replays a POST or PUT without a body; a request with an uncached body is never retried"
	NoteRetryAll        = "retry all runs Varnish 7.1's built-in retry of a recycled backend connection with request bodies cached (std.cache_req_body), so a POST with a body is replayed too"
)

// logFormat is varnishncsa's line, one per client request (side=c) and
// one per backend fetch (side=b). Field by field:
//
//	side  c or b (%{Varnish:side}x)
//	id    the X-Racelab-Request-Id header of the request or bereq
//	st    status sent to the client (c) or received from the backend,
//	      503 when Varnish made it up after a failed fetch (b)
//	open  how the first backend connection was got: reuse or connect
//	sport Varnish's local port on that connection, the peer port the
//	      backend sees
//	err   the first FetchError ("HTC eof (-1)": the backend closed a
//	      recycled connection without an answer)
//	req   method and URL
const logFormat = LogPrefix + ` side=%{Varnish:side}x id=%{` + backends.RequestIDHeader + `}i st=%s` +
	` open=%{VSL:BackendOpen[7]}x sport=%{VSL:BackendOpen[6]}x err="%{VSL:FetchError}x" req="%m %U"`

type vclParams struct {
	Variant        proxies.Variant
	Retry          proxies.Retry
	Explicit       bool
	CacheBody      bool
	BodyLimit      string
	ReadyPath      string
	Host           string
	Port           string
	ConnectTimeout string
	FetchTimeout   string
}

var vclTmpl = template.Must(template.New(VCLFile).Parse(`vcl 4.1;
# Rendered by racelab: variant {{.Variant}}, {{if .Explicit}}retry {{.Retry}}{{else}}pooling left to Varnish's defaults{{end}}.
{{- if .CacheBody}}

import std;
{{- end}}

backend upstream {
    .host = "{{.Host}}";
    .port = "{{.Port}}";
{{- if .Explicit}}
    # Exactly one backend connection, pooled between requests.
    .max_connections = 1;
{{- end}}
    .connect_timeout = {{.ConnectTimeout}};
    .first_byte_timeout = {{.FetchTimeout}};
    .between_bytes_timeout = {{.FetchTimeout}};
}

sub vcl_recv {
    # racelab's log reader probe: answered here, logged, never fetched.
    if (req.url == "{{.ReadyPath}}") {
        return (synth(204));
    }
{{- if .CacheBody}}
    # Keep request bodies, so the built-in retry can send a POST again.
    std.cache_req_body({{.BodyLimit}});
{{- end}}
    # Nothing is cached: every request goes to the backend.
    return (pass);
}
`))

func render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Kind != "" && spec.Kind != proxies.KindVarnish {
		return nil, fmt.Errorf("spec kind %q: want %q", spec.Kind, proxies.KindVarnish)
	}
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("dir %q: want an absolute path", dir)
	}
	listen, up, err := spec.Addrs()
	if err != nil {
		return nil, err
	}
	resp := spec.Response()
	p := vclParams{
		Variant:        spec.Variant,
		Retry:          spec.Retry,
		Explicit:       spec.Variant != proxies.VariantDefaults,
		BodyLimit:      BodyCacheLimit,
		ReadyPath:      ReadyPath,
		Host:           up.Host,
		Port:           strconv.Itoa(int(up.Port)),
		ConnectTimeout: vclDuration(resp),
		FetchTimeout:   vclDuration(resp),
	}
	if p.Variant == "" {
		p.Variant = proxies.VariantExplicit
	}
	var notes, unexpressed []string
	switch {
	case !p.Explicit:
	case spec.Retry == proxies.RetryOff:
		unexpressed = append(unexpressed, NoteRetryOff)
	case spec.Retry == proxies.RetryIdempotent:
		notes = append(notes, NoteRetryIdempotent)
	case spec.Retry == proxies.RetryAll:
		p.CacheBody = true
		notes = append(notes, NoteRetryAll)
	}
	var vcl strings.Builder
	if err := vclTmpl.Execute(&vcl, p); err != nil {
		return nil, err
	}

	work := dir + "/" + WorkDir
	vclPath := dir + "/" + VCLFile
	args := []string{
		"-F",         // foreground: racelab owns the process
		"-j", "none", // no jail: run as the invoking user, root included
		"-n", work,
		"-a", listen.String(),
		"-f", vclPath,
		"-T", "none", // no management port
		"-s", "malloc,16m",
		"-p", "auto_restart=off",
		"-p", "vsl_space=4M",
		"-p", "thread_pools=1",
		"-p", "thread_pool_min=10",
		"-p", "thread_pool_max=100",
		"-p", "timeout_idle=" + paramSeconds(max(DefaultClientTimeout, 2*spec.IdleTimeout)),
	}
	if spec.IdleTimeout > 0 {
		idle := spec.IdleTimeout
		if floor := proxies.IdleFloor(proxies.KindVarnish); idle < floor {
			notes = append(notes, fmt.Sprintf("proxy idle %s is below Varnish's backend_idle_timeout minimum: it ran as %s", idle, floor))
			idle = floor
		}
		args = append(args, "-p", "backend_idle_timeout="+paramSeconds(idle))
	}
	return &proxies.Bundle{
		Dir:          dir,
		Files:        map[string]string{VCLFile: vcl.String()},
		Args:         args,
		ValidateArgs: []string{"-C", "-j", "none", "-n", work, "-f", vclPath},
		Logger: &proxies.Logger{
			Binary:    LoggerBinary,
			Args:      []string{"-n", work, "-c", "-b", "-t", "10", "-F", logFormat},
			ReadyPath: ReadyPath,
		},
		Notes:       notes,
		Unexpressed: unexpressed,
	}, nil
}

// vclDuration renders d as a VCL duration: whole seconds as "5s", else
// milliseconds rounded up ("250ms").
func vclDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10) + "ms"
}

// paramSeconds renders d as a varnishd parameter in seconds, to the
// millisecond ("1.5", "60").
func paramSeconds(d time.Duration) string {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
}
