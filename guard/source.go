package guard

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/racelab/racelab/internal/proxyconf"
)

// Size limits keep a reader bounded on any input.
const (
	maxFileSize  = proxyconf.MaxFileSize // one config file
	maxTotalSize = 64 << 20              // all files of one source, includes too
	maxFiles     = 1024                  // files of one source
	maxDepth     = 16                    // nested includes
)

// ReadOption tunes a reader.
type ReadOption func(*readConfig)

type readConfig struct {
	name    string
	version string
	root    string
	input   io.Reader
	fs      fileSystem
}

// WithName picks one of several values in a source: the nginx upstream,
// the HAProxy backend, the Envoy cluster, the Tomcat connector port, the
// nginx or Apache virtual host (server name). Without it every value is
// returned.
func WithName(name string) ReadOption { return func(c *readConfig) { c.name = name } }

// WithVersion gives the version of the software the source configures,
// for defaults that changed between versions: nginx 1.29.7 pools upstream
// connections without a keepalive directive, Puma 7.0 raised
// persistent_timeout to 65 s.
func WithVersion(v string) ReadOption { return func(c *readConfig) { c.version = v } }

// WithRoot resolves absolute include paths under dir, so a config tree
// checked out from an image or a repository (dir/etc/nginx/...) reads as
// it would on the host.
func WithRoot(dir string) ReadOption { return func(c *readConfig) { c.root = dir } }

// withFS replaces the file system, for tests.
func withFS(fs fileSystem) ReadOption { return func(c *readConfig) { c.fs = fs } }

// WithInput is what the path "-" reads (standard input in the CLI).
func WithInput(r io.Reader) ReadOption { return func(c *readConfig) { c.input = r } }

func newReadConfig(opts []ReadOption) *readConfig {
	c := &readConfig{}
	for _, o := range opts {
		o(c)
	}
	if c.fs == nil {
		c.fs = osFS{}
	}
	return c
}

// launchKinds are the backend kinds read from command lines (and, for
// node, from source) where one file can hold several servers, picked by
// name.
var launchKinds = []string{"node", "gunicorn", "uvicorn", "puma"}

// ProxyKinds are the proxy source kinds ReadProxy takes.
var ProxyKinds = []string{"nginx", "haproxy", "envoy", "alb-json", "caddy", "apache", "varnish", "squid"}

// BackendKinds are the backend source kinds ReadBackend takes.
var BackendKinds = []string{"node", "gunicorn", "uvicorn", "puma", "tomcat", "apache", "nginx", "env"}

// ReadProxy reads a proxy's upstream idle timeouts from spec, written
// KIND:PATH: nginx:/etc/nginx/nginx.conf, haproxy:haproxy.cfg,
// envoy:bootstrap.yaml, alb-json:attributes.json, caddy:Caddyfile (or
// Caddy's JSON config), apache:/etc/apache2/apache2.conf (ProxyPass ttl=),
// varnish:varnish.service (or a VCL file, a compose file, a Kubernetes
// manifest), squid:squid.conf. PATH "-" reads the
// input given WithInput.
func ReadProxy(spec string, opts ...ReadOption) ([]Value, error) {
	kind, path, err := splitSpec(spec, ProxyKinds)
	if err != nil {
		return nil, err
	}
	c := newReadConfig(opts)
	if kind == "varnish" {
		// varnish:compose.yaml#cache picks a command line by name.
		if file, name, ok := strings.Cut(path, "#"); ok {
			if name == "" || (c.name != "" && c.name != name) {
				return nil, fmt.Errorf("source %q: want KIND:PATH#NAME with one name", spec)
			}
			path, c.name = file, name
		}
	}
	if err := c.supports(kind, []string{"nginx", "haproxy", "envoy", "caddy", "apache", "varnish"}, []string{"nginx"}); err != nil {
		return nil, err
	}
	switch kind {
	case "caddy":
		return readCaddy(c, path)
	case "apache":
		return readApacheProxy(c, path)
	case "nginx":
		return readNginxProxy(c, path)
	case "haproxy":
		return readHAProxy(c, path)
	case "envoy":
		return withData(c, path, func(name string, data []byte) ([]Value, error) { return parseEnvoy(c, name, data) })
	case "varnish":
		return readVarnish(c, path)
	case "squid":
		return readSquid(c, path)
	default: // alb-json
		return withData(c, path, func(name string, data []byte) ([]Value, error) { return parseALB(name, data) })
	}
}

// ReadBackend reads a backend's keep-alive idle timeouts from spec,
// written KIND:PATH: gunicorn:gunicorn.conf.py, tomcat:conf/server.xml,
// env:app.env#KEEPALIVE_TIMEOUT_MS. PATH "-" reads the input given
// WithInput.
func ReadBackend(spec string, opts ...ReadOption) ([]Value, error) {
	kind, path, err := splitSpec(spec, BackendKinds)
	if err != nil {
		return nil, err
	}
	c := newReadConfig(opts)
	if slices.Contains(launchKinds, kind) {
		// node:server.js#server2, gunicorn:compose.yaml#web
		if file, name, ok := strings.Cut(path, "#"); ok {
			if name == "" || (c.name != "" && c.name != name) {
				return nil, fmt.Errorf("source %q: want KIND:PATH#NAME with one name", spec)
			}
			path, c.name = file, name
		}
	}
	if err := c.supports(kind, append([]string{"tomcat", "nginx", "apache"}, launchKinds...), []string{"puma"}); err != nil {
		return nil, err
	}
	switch kind {
	case "nginx":
		return readNginxBackend(c, path)
	case "apache":
		return readApache(c, path)
	case "env":
		file, name, ok := strings.Cut(path, "#")
		if !ok || name == "" {
			return nil, fmt.Errorf("read env: %q: want env:FILE#VARIABLE", spec)
		}
		return withData(c, file, func(src string, data []byte) ([]Value, error) { return parseEnv(src, name, data) })
	}
	parse := map[string]func(string, []byte) ([]Value, error){
		"node":     func(p string, d []byte) ([]Value, error) { return parseNodeSource(c, p, d) },
		"gunicorn": parseGunicorn,
		"uvicorn":  parseUvicorn,
		"puma":     func(p string, d []byte) ([]Value, error) { return parsePuma(c, p, d) },
		"tomcat":   func(p string, d []byte) ([]Value, error) { return parseTomcat(c, p, d) },
	}[kind]
	return withData(c, path, func(name string, data []byte) ([]Value, error) {
		if kind != "node" && kind != "tomcat" {
			if format := launchFormat(name, data); format != "" {
				return readLaunches(c, kind, format, name, data)
			}
			if c.name != "" {
				return nil, fmt.Errorf("source %s: %s has a single value, nothing to pick by name %q (names pick a compose service, a Kubernetes container or a Procfile process)", kind, name, c.name)
			}
		}
		return parse(name, data)
	})
}

// supports rejects a name or a version the kind has no use for, rather
// than ignoring it.
func (c *readConfig) supports(kind string, named, versioned []string) error {
	if c.name != "" && !slices.Contains(named, kind) {
		return fmt.Errorf("source %s: has a single value, nothing to pick by name %q", kind, c.name)
	}
	if c.version != "" && !slices.Contains(versioned, kind) {
		return fmt.Errorf("source %s: no default depends on a version", kind)
	}
	return nil
}

func splitSpec(spec string, kinds []string) (kind, path string, err error) {
	kind, path, ok := strings.Cut(spec, ":")
	if kind == "alb" {
		kind = "alb-json"
	}
	if !ok || path == "" || !slices.Contains(kinds, kind) {
		return "", "", fmt.Errorf("source %q: want KIND:PATH with KIND one of %s", spec, strings.Join(kinds, ", "))
	}
	return kind, path, nil
}

// withData reads path (or the input for "-") and parses it under the
// name values report as their source.
func withData(c *readConfig, path string, parse func(name string, data []byte) ([]Value, error)) ([]Value, error) {
	data, err := c.read(path)
	if err != nil {
		return nil, err
	}
	return parse(display(path), data)
}

// display is how a path shows in sources: standard input is "stdin".
func display(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// read reads one whole source file, bounded in size.
func (c *readConfig) read(path string) ([]byte, error) {
	if path != "-" {
		return c.fs.ReadFile(path)
	}
	if c.input == nil {
		return nil, errors.New("read -: no input to read from")
	}
	data, err := io.ReadAll(io.LimitReader(c.input, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read -: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("read -: larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// fileSystem is what readers that follow includes need (the parsers'
// own: one implementation for the guard and the runner); tests and fuzz
// targets use an in-memory one.
type fileSystem = proxyconf.FS

type osFS = proxyconf.OSFS

// hasMeta reports glob metacharacters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[`) }

// version is a dotted version, compared numerically.
type version []int

func parseVersion(s string) (version, error) {
	parts := strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".")
	v := make(version, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("version %q: want numbers separated by dots, like 1.29.7", s)
		}
		v = append(v, n)
	}
	return v, nil
}

// atLeast reports v >= w; missing components count as zero.
func (v version) atLeast(w version) bool {
	for i := 0; i < max(len(v), len(w)); i++ {
		a, b := 0, 0
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return a > b
		}
	}
	return true
}

// pick keeps the values named name, or all of them when name is empty;
// naming one that does not exist is an error listing the ones that do.
// A value named "upstream app" matches "app" or "upstream app"; a nested
// name ("server a.example location /api") matches its outer name too.
func pick(vals []Value, name, what string) ([]Value, error) {
	if name == "" {
		return vals, nil
	}
	var out []Value
	var names []string
	for _, v := range vals {
		if nameMatches(v.Name, name) {
			out = append(out, v)
		}
		names = append(names, v.Name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s named %q (found: %s)", what, name, strings.Join(names, ", "))
	}
	return out, nil
}

func nameMatches(full, name string) bool {
	if full == name || strings.HasPrefix(full, name+" ") {
		return true
	}
	_, id, ok := strings.Cut(full, " ")
	return ok && (id == name || strings.HasPrefix(id, name+" "))
}

// String prints the version dotted.
func (v version) String() string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}
