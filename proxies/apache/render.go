package apache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// MaxTimeout is the longest idle or response timeout rendered.
const MaxTimeout = 24 * time.Hour

// LogPrefix starts every access line the rendered CustomLog writes, and
// ErrorPrefix every error log line, so ParseLog tells them from anything
// else on the streams.
const (
	LogPrefix   = "racelab-apache"
	ErrorPrefix = "racelab-apache-error"
)

// Unexpressed phrases: what a spec asks that Apache httpd cannot do.
const (
	// NoIdempotentRetry is why retry idempotent renders as off.
	NoIdempotentRetry = "retry idempotent: mod_proxy_http has no retry of a request that failed on a reused connection chosen by method; rendered as off"
	// AllIsPing is what retry all becomes.
	AllIsPing = "retry all: only ping= (Expect: 100-continue before the body, one more try on a new connection when the reused one fails first) exists, and only for requests with a body; a GET is not retried"
)

// subSecond says an idle timeout was rounded up to whole seconds.
func subSecond(idle time.Duration, ttl int) string {
	return fmt.Sprintf("idle timeout %v: ProxyPass ttl= takes whole seconds; rendered ttl=%d", idle, ttl)
}

// confData feeds the template. Every field is validated or derived from
// validated values.
type confData struct {
	Variant, Retry, IdleComment string
	Defaults                    bool
	Dir, ModulesDir             string
	User                        string
	Listen, Upstream            string
	LogPrefix, ErrorPrefix      string
	RequestIDHeader             string
	// Params are ProxyPass's key=value parameters.
	Params string
}

var confTmpl = template.Must(template.New(ConfigName).Option("missingkey=error").Parse(`# Apache httpd configuration rendered by racelab.
# variant {{.Variant}}, retry {{.Retry}}, upstream idle timeout {{.IdleComment}}.
# Nothing is read from the system's Apache configuration: every module is loaded here.
ServerRoot "{{.Dir}}"
PidFile "{{.Dir}}/apache2.pid"
DefaultRuntimeDir "{{.Dir}}/run"
DocumentRoot "{{.Dir}}/htdocs"
ServerName racelab.invalid
# No lock files: the child may run as another user than the 0700 directory's.
Mutex posixsem
{{- if .User}}

# The parent runs as root; httpd refuses to serve as root.
User {{.User}}
Group {{.User}}
{{- end}}

LoadModule mpm_event_module "{{.ModulesDir}}/mod_mpm_event.so"
LoadModule authn_core_module "{{.ModulesDir}}/mod_authn_core.so"
LoadModule authz_core_module "{{.ModulesDir}}/mod_authz_core.so"
LoadModule proxy_module "{{.ModulesDir}}/mod_proxy.so"
LoadModule proxy_http_module "{{.ModulesDir}}/mod_proxy_http.so"

# One child process: one connection pool. Two worker threads, because
# with one mod_proxy keeps a single cached connection with no ttl= at all
# (no connection pool list below two threads); max=1 keeps the pool at
# one connection.
StartServers 1
ServerLimit 1
ThreadLimit 2
ThreadsPerChild 2
MaxRequestWorkers 2
MinSpareThreads 1
MaxSpareThreads 4
MaxConnectionsPerChild 0

# Client side: never close the driver's connection during a run.
KeepAlive On
KeepAliveTimeout 75
MaxKeepAliveRequests 0

ErrorLog /dev/stderr
LogLevel warn
ErrorLogFormat "{{.ErrorPrefix}} [%l] [id %-{ {{- .RequestIDHeader}}}i] %M"
LogFormat "{{.LogPrefix}} id=\"%{ {{- .RequestIDHeader}}}i\" st=%>s method=%m uri=\"%U\" keepalives=%k us=%D" racelab
CustomLog /dev/stdout racelab

Listen {{.Listen}}
ProxyRequests Off
ProxyPass "/" "http://{{.Upstream}}/"{{if .Params}} {{.Params}}{{end}}
<Location "/">
    Require all granted
</Location>
`))

// Render renders spec into a bundle for dir: apache2.conf, the run and
// htdocs directories, and the arguments that run apache2 in the
// foreground or check the config (apache2 -t).
func (Adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Config != nil {
		b, err := renderUser(spec, dir)
		if err != nil {
			return nil, fmt.Errorf("render apache: %w", err)
		}
		return b, nil
	}
	b, err := render(spec, dir, os.Geteuid() == 0)
	if err != nil {
		return nil, fmt.Errorf("render apache: %w", err)
	}
	return b, nil
}

func render(spec proxies.Spec, dir string, root bool) (*proxies.Bundle, error) {
	data, unexpressed, err := newConfData(spec, dir, root)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	if err := confTmpl.Execute(&sb, data); err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	conf := filepath.Join(dir, ConfigName)
	return &proxies.Bundle{
		Dir:          dir,
		Files:        map[string]string{ConfigName: sb.String()},
		Dirs:         []string{"run", "htdocs"},
		Args:         []string{"-d", dir, "-f", conf, "-DFOREGROUND"},
		ValidateArgs: []string{"-t", "-d", dir, "-f", conf},
		Unexpressed:  unexpressed,
	}, nil
}

// newConfData validates spec and dir, reporting every problem at once.
func newConfData(spec proxies.Spec, dir string, root bool) (confData, []string, error) {
	var errs []error
	if err := spec.Validate(); err != nil {
		errs = append(errs, err)
	}
	if spec.Kind != "" && spec.Kind != proxies.KindApache {
		errs = append(errs, fmt.Errorf("spec kind %q is not apache", spec.Kind))
	}
	listen, upstream, err := spec.Addrs()
	if err != nil {
		errs = append(errs, err)
	}
	if err := checkDir(dir); err != nil {
		errs = append(errs, err)
	}
	rt := spec.Response()
	if spec.IdleTimeout > MaxTimeout || rt > MaxTimeout {
		errs = append(errs, fmt.Errorf("timeouts longer than %v", MaxTimeout))
	}
	if len(errs) > 0 {
		return confData{}, nil, errors.Join(errs...)
	}
	d := confData{
		Variant:         string(spec.Variant),
		Retry:           string(spec.Retry),
		Defaults:        spec.Variant == proxies.VariantDefaults,
		Dir:             filepath.Clean(dir),
		ModulesDir:      ModulesDir,
		Listen:          listen.String(),
		Upstream:        upstream.String(),
		LogPrefix:       LogPrefix,
		ErrorPrefix:     ErrorPrefix,
		RequestIDHeader: backends.RequestIDHeader,
	}
	if d.Variant == "" {
		d.Variant = string(proxies.VariantExplicit)
	}
	if root {
		d.User = "www-data"
	}
	var unexpressed []string
	// timeout= bounds the wait for the backend's response; retry=0 keeps
	// a worker that failed to connect from answering 503 for 60 s.
	params := []string{"timeout=" + strconv.Itoa(seconds(rt)), "retry=0"}
	switch {
	case d.Defaults:
		d.IdleComment = "not rendered"
	case spec.IdleTimeout == 0:
		d.IdleComment = "Apache default (none: kept until the backend closes it)"
	default:
		ttl := seconds(spec.IdleTimeout)
		if time.Duration(ttl)*time.Second != spec.IdleTimeout {
			unexpressed = append(unexpressed, subSecond(spec.IdleTimeout, ttl))
		}
		d.IdleComment = strconv.Itoa(ttl) + "s"
	}
	if !d.Defaults {
		params = append(params, "min=0", "smax=0", "max=1")
		if spec.IdleTimeout > 0 {
			params = append(params, "ttl="+strconv.Itoa(seconds(spec.IdleTimeout)))
		}
		switch spec.Retry {
		case proxies.RetryIdempotent:
			unexpressed = append(unexpressed, NoIdempotentRetry)
		case proxies.RetryAll:
			unexpressed = append(unexpressed, AllIsPing)
			params = append(params, "ping="+strconv.Itoa(seconds(rt)))
		}
	}
	d.Params = strings.Join(params, " ")
	return d, unexpressed, nil
}

// seconds is d in whole seconds, rounded up, at least 1: what Apache's
// ttl=, timeout= and ping= take.
func seconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// checkDir accepts an absolute directory whose path Apache reads back
// unchanged inside double quotes.
func checkDir(dir string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
		return fmt.Errorf("dir %q: want an absolute path below /", dir)
	}
	if i := strings.IndexFunc(dir, func(r rune) bool {
		return r < 0x20 || r == 0x7f || strings.ContainsRune(`"\$%`, r)
	}); i >= 0 {
		return fmt.Errorf("dir %q: character %q cannot appear in an Apache path", dir, dir[i])
	}
	return nil
}
