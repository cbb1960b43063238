package nginx

import (
	_ "embed"
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

// ConfigName is the configuration file in a rendered bundle.
const ConfigName = "nginx.conf"

// Limits of rendered durations.
const (
	// MaxTimeout is the longest idle or response timeout rendered; nginx
	// keeps timers in milliseconds.
	MaxTimeout = 24 * time.Hour
	// maxConnectTimeout is nginx's documented ceiling for
	// proxy_connect_timeout.
	maxConnectTimeout = 75 * time.Second
)

//go:embed nginx.conf.tmpl
var confText string

var confTmpl = template.Must(template.New(ConfigName).Option("missingkey=error").Parse(confText))

// tempDirs are the five *_temp_path directories inside the bundle.
var tempDirs = []string{
	"temp/client_body",
	"temp/proxy",
	"temp/fastcgi",
	"temp/uwsgi",
	"temp/scgi",
}

// requestIDVar is the nginx variable holding backends.RequestIDHeader.
var requestIDVar = "http_" + strings.ToLower(strings.ReplaceAll(backends.RequestIDHeader, "-", "_"))

// confData feeds nginx.conf.tmpl. Every field is validated or derived
// from validated values before rendering.
type confData struct {
	Variant, Retry, IdleComment string
	Defaults                    bool
	User                        string

	PID, Lock                                                   string
	ClientBodyTemp, ProxyTemp, FastCGITemp, UWSGITemp, SCGITemp string

	RequestIDVar string
	Listen       string
	Upstream     string

	IdleTimeout     string // "" leaves nginx's default
	ResponseTimeout string
	ConnectTimeout  string
	NextUpstream    string
	// RequestBuffering is proxy_request_buffering's value ("": not
	// rendered, nginx's default on).
	RequestBuffering string
}

// Render renders spec into a bundle for dir: nginx.conf, the temp
// directories, and the arguments that run or check nginx on them. When
// this process runs as root, the config also says "user root;": nginx
// would otherwise run its worker as nobody, which cannot enter the 0700
// directory the runtimes create, and a request body or response spilled
// to a temp file would fail.
//
// With spec.Config set, Render runs the user's own configuration instead:
// see renderUser.
func (Adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Config != nil {
		b, err := renderUser(spec, dir, os.Geteuid() == 0)
		if err != nil {
			return nil, fmt.Errorf("render nginx: %w", err)
		}
		return b, nil
	}
	b, err := render(spec, dir, os.Geteuid() == 0)
	if err != nil {
		return nil, fmt.Errorf("render nginx: %w", err)
	}
	return b, nil
}

func render(spec proxies.Spec, dir string, root bool) (*proxies.Bundle, error) {
	data, err := newConfData(spec, dir, root)
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
		Dirs:         append([]string(nil), tempDirs...),
		Args:         []string{"-p", dir + "/", "-c", conf, "-e", "stderr", "-g", "daemon off;"},
		ValidateArgs: []string{"-t", "-p", dir + "/", "-c", conf, "-e", "stderr"},
	}, nil
}

// newConfData validates spec and dir and reports every problem at once.
func newConfData(spec proxies.Spec, dir string, root bool) (confData, error) {
	var errs []error
	if err := spec.Validate(); err != nil {
		errs = append(errs, err)
	}
	if spec.Kind != "" && spec.Kind != proxies.KindNginx {
		errs = append(errs, fmt.Errorf("spec kind %q is not nginx", spec.Kind))
	}
	listen, err := listenAddr(spec.Listen)
	if err != nil {
		errs = append(errs, err)
	}
	upstream, err := upstreamAddr(spec.Upstream)
	if err != nil {
		errs = append(errs, err)
	}
	if err := checkDir(dir); err != nil {
		errs = append(errs, err)
	}
	d := confData{
		Variant:      string(spec.Variant),
		Retry:        string(spec.Retry),
		Defaults:     spec.Variant == proxies.VariantDefaults,
		RequestIDVar: requestIDVar,
		Listen:       listen,
		Upstream:     upstream,
	}
	switch spec.RequestBuffering {
	case "", "on", "off":
		d.RequestBuffering = spec.RequestBuffering
	default:
		errs = append(errs, fmt.Errorf("request buffering %q: want on or off", spec.RequestBuffering))
	}
	if d.Variant == "" {
		d.Variant = string(proxies.VariantExplicit)
	}
	if root {
		d.User = "root"
	}
	switch {
	case d.Defaults:
		d.IdleComment = "not rendered"
	case spec.IdleTimeout == 0:
		d.IdleComment = "nginx default (60s)"
	default:
		d.IdleTimeout, err = msec("idle timeout", spec.IdleTimeout)
		if err != nil {
			errs = append(errs, err)
		}
		d.IdleComment = d.IdleTimeout
	}
	rt := spec.ResponseTimeout
	if rt == 0 {
		rt = proxies.DefaultResponseTimeout
	}
	if d.ResponseTimeout, err = msec("response timeout", rt); err != nil {
		errs = append(errs, err)
	}
	d.ConnectTimeout, _ = msec("connect timeout", min(rt, maxConnectTimeout))
	switch spec.Retry {
	case proxies.RetryOff:
		d.NextUpstream = "off"
	case proxies.RetryIdempotent:
		d.NextUpstream = "error timeout"
	case proxies.RetryAll:
		d.NextUpstream = "error timeout non_idempotent"
	}
	if len(errs) > 0 {
		return confData{}, errors.Join(errs...)
	}

	dir = filepath.Clean(dir)
	d.PID = quote(filepath.Join(dir, "nginx.pid"))
	d.Lock = quote(filepath.Join(dir, "nginx.lock"))
	temps := []*string{&d.ClientBodyTemp, &d.ProxyTemp, &d.FastCGITemp, &d.UWSGITemp, &d.SCGITemp}
	for i, t := range temps {
		*t = quote(filepath.Join(dir, tempDirs[i]))
	}
	return d, nil
}

// checkDir accepts an absolute directory whose path nginx reads back
// unchanged inside double quotes.
func checkDir(dir string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
		return fmt.Errorf("dir %q: want an absolute path below /", dir)
	}
	if i := strings.IndexFunc(dir, func(r rune) bool {
		return r < 0x20 || r == 0x7f || strings.ContainsRune(`"'\${};#`, r)
	}); i >= 0 {
		return fmt.Errorf("dir %q: character %q cannot appear in an nginx path", dir, dir[i])
	}
	return nil
}

// quote wraps a path checked by checkDir in double quotes.
func quote(path string) string { return `"` + path + `"` }

// msec renders d in whole milliseconds, the unit nginx's timers use.
func msec(what string, d time.Duration) (string, error) {
	switch {
	case d <= 0:
		return "", fmt.Errorf("%s %v: must be positive", what, d)
	case d%time.Millisecond != 0:
		return "", fmt.Errorf("%s %v: nginx takes whole milliseconds", what, d)
	case d > MaxTimeout:
		return "", fmt.Errorf("%s %v: longer than %v", what, d, MaxTimeout)
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms", nil
}

// listenAddr accepts an IP literal and a port from 1 to 65535.
func listenAddr(s string) (string, error) {
	a, err := proxies.ParseAddr("listen", s, false)
	return a.String(), err
}

// upstreamAddr accepts an IP literal or a host name, and a port from 1 to
// 65535.
func upstreamAddr(s string) (string, error) {
	a, err := proxies.ParseAddr("upstream", s, true)
	return a.String(), err
}
