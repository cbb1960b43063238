package squid

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

// LogPrefix starts every access line Squid writes with the rendered
// logformat, so ParseLog tells them from cache.log messages.
const LogPrefix = "racelab-squid"

// DefaultIdleTimeout is Squid's own server_idle_pconn_timeout.
const DefaultIdleTimeout = time.Minute

// DefaultClientTimeout is the shortest client_idle_pconn_timeout
// rendered: it keeps a persistent client connection open across the
// driver's idle gaps, and grows to twice Spec.IdleTimeout.
const DefaultClientTimeout = 60 * time.Second

// Tries are the forward_max_tries rendered per retry policy: off allows
// one attempt; idempotent and all one more, which with one peer and a pool
// of one lands on a new connection.
const (
	TriesOff   = 1
	TriesRetry = 2
)

// NoteRetryAll says what Squid does instead of retrying a POST.
const NoteRetryAll = "retry all: Squid never re-forwards a request it cannot retry (a POST, a request with a body); it keeps such requests off pooled connections instead (server_pconn_for_nonretriable, default none), so they cannot meet the race"

// logFormat is the access log line. Field by field:
//
//	id     the X-Racelab-Request-Id header
//	st     status sent to the client ("-" for none)
//	code   Squid's result code (TCP_MISS, TCP_MISS_ABORTED)
//	hier   how the request was forwarded (FIRSTUP_PARENT, HIER_NONE)
//	sport  Squid's local port on the last server connection, the peer
//	       port the backend sees
//	err    error page and detail (ERR_ZERO_SIZE_OBJECT/WITH_SERVER)
//	req    method and URL
const logFormat = LogPrefix + ` id=%{` + backends.RequestIDHeader + `}>h st=%>Hs code=%Ss hier=%Sh sport=%<lp` +
	` err=%err_code/%err_detail req="%rm %ru"`

type confParams struct {
	Variant        proxies.Variant
	Retry          proxies.Retry
	Explicit       bool
	Listen         string
	Host           string
	Port           string
	LogFormat      string
	IdleTimeout    int // seconds; 0: Squid's default
	ClientTimeout  int
	ConnectTimeout int
	ReadTimeout    int
	Tries          int
}

var confTmpl = template.Must(template.New(ConfigFile).Parse(`# Rendered by racelab: variant {{.Variant}}, {{if .Explicit}}retry {{.Retry}}{{else}}pooling and retries left to Squid's defaults{{end}}.
# A reverse proxy (accelerator) in front of one origin server. No max-conn
# option: in Squid 5.7 a limit of 1 fails every request on the pooled connection
# (ERR_READ_ERROR before a byte is sent); sequential requests keep one
# pooled connection without it.
http_port {{.Listen}} accel defaultsite=racelab no-vhost
cache_peer {{.Host}} parent {{.Port}} 0 no-query no-digest originserver name=upstream connect-timeout={{.ConnectTimeout}}
never_direct allow all
http_access allow all
# Nothing is cached: every request goes to the backend.
cache deny all
cache_mem 8 MB
pid_filename none
coredump_dir none
cache_log /dev/stderr
logformat racelab {{.LogFormat}}
access_log stdio:/dev/stdout racelab
buffered_logs off
read_timeout {{.ReadTimeout}} seconds
forward_timeout {{.ReadTimeout}} seconds
client_idle_pconn_timeout {{.ClientTimeout}} seconds
{{- if .IdleTimeout}}
server_idle_pconn_timeout {{.IdleTimeout}} seconds
{{- end}}
{{- if .Explicit}}
forward_max_tries {{.Tries}}
retry_on_error off
{{- end}}
shutdown_lifetime 0 seconds
# No ICMP pinger: it measures round trips racelab does not use, and it runs
# in a session of its own, out of Squid's process group, so a racelab
# killed with SIGKILL would leave it behind.
pinger_enable off
`))

func render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Kind != "" && spec.Kind != proxies.KindSquid {
		return nil, fmt.Errorf("spec kind %q: want %q", spec.Kind, proxies.KindSquid)
	}
	if !filepath.IsAbs(dir) || strings.ContainsAny(dir, " \t\r\n\"'#") {
		return nil, fmt.Errorf("dir %q: want an absolute path without spaces or quotes", dir)
	}
	listen, up, err := spec.Addrs()
	if err != nil {
		return nil, err
	}
	resp := spec.Response()
	p := confParams{
		Variant:        spec.Variant,
		Retry:          spec.Retry,
		Explicit:       spec.Variant != proxies.VariantDefaults,
		Listen:         listen.String(),
		Host:           up.Host,
		Port:           strconv.Itoa(int(up.Port)),
		LogFormat:      logFormat,
		ClientTimeout:  seconds(max(DefaultClientTimeout, 2*spec.IdleTimeout)),
		ConnectTimeout: seconds(resp),
		ReadTimeout:    seconds(resp),
		Tries:          TriesRetry,
	}
	if p.Variant == "" {
		p.Variant = proxies.VariantExplicit
	}
	var notes []string
	if spec.IdleTimeout > 0 {
		p.IdleTimeout = seconds(spec.IdleTimeout)
		if ran := time.Duration(p.IdleTimeout) * time.Second; ran != spec.IdleTimeout {
			notes = append(notes, fmt.Sprintf("idle timeout %s: Squid's server_idle_pconn_timeout takes whole seconds, it ran as %s", spec.IdleTimeout, ran))
		}
	}
	if p.Explicit {
		switch spec.Retry {
		case proxies.RetryOff:
			p.Tries = TriesOff
		case proxies.RetryAll:
			notes = append(notes, NoteRetryAll)
		}
	}
	var b strings.Builder
	if err := confTmpl.Execute(&b, p); err != nil {
		return nil, err
	}
	path := dir + "/" + ConfigFile
	service := ServiceName(dir)
	return &proxies.Bundle{
		Dir:          dir,
		Files:        map[string]string{ConfigFile: b.String()},
		Args:         []string{"-N", "-f", path, "-n", service},
		ValidateArgs: []string{"-k", "parse", "-f", path, "-n", service},
		SharedOutput: true,
		// In a container, Squid runs as its own user from the start:
		// the output pipes are then its own.
		ContainerUser: "proxy",
		Unexpressed:   notes,
	}, nil
}

// ServiceName is the Squid service name (-n) for a bundle directory:
// letters and digits of its base name, at most 32. Squid names its
// shared-memory segments after it, so two Squids with different service
// names never share them.
func ServiceName(dir string) string {
	var b strings.Builder
	for _, r := range filepath.Base(dir) {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) > 32 {
		s = s[len(s)-32:]
	}
	if s == "" {
		s = "racelab"
	}
	return s
}

// seconds rounds d up to whole seconds, at least 1: Squid's timeouts take
// whole seconds, and 0 would mean something else.
func seconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}
