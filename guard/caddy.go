package guard

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/racelab/racelab/internal/proxyconf"
)

// caddyIdleDefault is Caddy's upstream keep-alive idle timeout when the
// http transport sets no keepalive (reverse_proxy's default transport).
const caddyIdleDefault = 2 * time.Minute

// readCaddy reads Caddy's upstream idle timeouts: a Caddyfile, or Caddy's
// native JSON config (a file that parses as a JSON object). Every
// reverse_proxy gives one value: its http transport's keepalive (a Go
// duration, or with a d suffix for days; "off" turns pooling off),
// default 2m. WithName picks by site address or upstream.
func readCaddy(c *readConfig, path string) ([]Value, error) {
	data, err := c.read(path)
	if err != nil {
		return nil, fmt.Errorf("read caddy: %w", err)
	}
	name := display(path)
	var probe map[string]json.RawMessage
	var vals []Value
	if json.Unmarshal(data, &probe) == nil {
		vals, err = parseCaddyJSON(name, data)
	} else {
		vals, err = parseCaddyfile(c, path, data)
	}
	if err != nil {
		return nil, fmt.Errorf("read caddy: %w", err)
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("read caddy: %s: no reverse_proxy", name)
	}
	return pickErr("read caddy", vals, c.name, "reverse_proxy")
}

// parseCaddyDuration reads Caddy's duration syntax: Go's (a unit is
// required) plus "d" for days.
func parseCaddyDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && !strings.ContainsAny(days, "hmsuµn") {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || f < 0 || f > float64(maxDuration/(24*time.Hour)) {
			return 0, fmt.Errorf("%q: want a duration like 2m, 90s or 1d", s)
		}
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxDuration {
		return 0, fmt.Errorf("%q: want a duration with a unit, like 2m or 90s (Caddy rejects a bare number)", s)
	}
	return d, nil
}

// caddyKeepalive turns a keepalive setting into a value.
func caddyKeepalive(v Value, setting, pos string) (Value, error) {
	switch {
	case setting == "":
		v.State, v.Duration, v.Default = StateFinite, caddyIdleDefault, true
		v.Explanation = "no keepalive in the http transport: Caddy's default 2m"
	case setting == "off":
		v.State, v.Source = StateOff, pos
		v.Explanation = "keepalive off: a new upstream connection for every request"
	default:
		d, err := parseCaddyDuration(setting)
		if err != nil {
			return Value{}, fmt.Errorf("%s: keepalive %w", pos, err)
		}
		if d == 0 {
			// Go's Transport reads IdleConnTimeout 0 as no limit.
			v.State, v.Source = StateUnbounded, pos
			v.Explanation = "keepalive " + setting + ": no idle limit (Go's IdleConnTimeout 0)"
			return v, nil
		}
		v.State, v.Duration, v.Source = StateFinite, d, pos
		v.Explanation = "keepalive " + setting
	}
	v.Notes = append(v.Notes, "Go's HTTP transport under Caddy retries a GET, HEAD or OPTIONS without a body once on a reused connection that died before answering, whatever lb_retries says")
	return v, nil
}

// parseCaddyfile reads a Caddyfile's reverse_proxy directives, with the
// runner's parser: what it imports (snippets, files and globs, absolute
// paths under the root) is read where it is imported, and each value's
// source is the file and line that set it. Standard input imports no
// files.
func parseCaddyfile(c *readConfig, path string, data []byte) ([]Value, error) {
	fsys := c.fs
	if path == "-" {
		path, fsys = display(path), oneFile{name: display(path), data: data}
	}
	p := &proxyconf.CaddyfileParser{FS: fsys, Root: c.root}
	top, err := p.Parse(path)
	if err != nil {
		return nil, err
	}
	_, sites, err := proxyconf.CaddySites(top)
	if err != nil {
		return nil, err
	}
	var vals []Value
	for _, site := range sites {
		for _, rp := range findCaddy(site.Block, "reverse_proxy") {
			v := Value{Source: rp.Pos(),
				Name: "site " + strings.Join(append([]string{site.Name}, site.Args...), " ") + " reverse_proxy " + strings.Join(caddyUpstreams(rp), " ")}
			setting, pos := "", ""
			http := true
			for _, ch := range rp.Block {
				if ch.Name == "transport" && len(ch.Args) >= 1 {
					http = ch.Args[0] == "http"
					for _, t := range ch.Block {
						if t.Name == "keepalive" {
							if len(t.Args) != 1 {
								return nil, fmt.Errorf("%s: keepalive takes one argument", t.Pos())
							}
							setting, pos = t.Args[0], t.Pos()
						}
					}
				}
			}
			if !http {
				continue
			}
			v, err := caddyKeepalive(v, setting, pos)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
		}
	}
	return vals, nil
}

// caddyUpstreams lists a reverse_proxy's upstreams: its arguments
// (a matcher first is skipped) and its to lines.
func caddyUpstreams(rp *proxyconf.Directive) []string {
	var ups []string
	for _, a := range rp.Args {
		if a == "{" || strings.HasPrefix(a, "@") || strings.HasPrefix(a, "/") || a == "*" {
			continue
		}
		ups = append(ups, a)
	}
	for _, ch := range rp.Block {
		if ch.Name == "to" {
			ups = append(ups, ch.Args...)
		}
	}
	return ups
}

// oneFile is a file system holding one file (standard input's text): it
// has nothing to import.
type oneFile struct {
	name string
	data []byte
}

func (f oneFile) ReadFile(name string) ([]byte, error) {
	if name == f.name {
		return f.data, nil
	}
	return nil, fmt.Errorf("%s: %s imports %s: a Caddyfile read from standard input imports no files", name, f.name, name)
}

func (f oneFile) Glob(string) ([]string, error) { return nil, nil }

func (f oneFile) IsDir(string) bool { return false }

// findCaddy finds the nodes named directive at any depth (inside route,
// handle and matcher blocks too).
func findCaddy(nodes []*proxyconf.Directive, directive string) []*proxyconf.Directive {
	var out []*proxyconf.Directive
	for _, n := range nodes {
		if n.Name == directive {
			out = append(out, n)
			continue
		}
		out = append(out, findCaddy(n.Block, directive)...)
	}
	return out
}

// parseCaddyJSON reads the reverse_proxy handlers of Caddy's native JSON
// config, at any depth of its routes.
func parseCaddyJSON(name string, data []byte) ([]Value, error) {
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var vals []Value
	var walk func(v any, where string) error
	walk = func(v any, where string) error {
		switch t := v.(type) {
		case map[string]any:
			if t["handler"] == "reverse_proxy" {
				val, err := caddyJSONValue(name, where, t)
				if err != nil {
					return err
				}
				if val != nil {
					vals = append(vals, *val)
				}
			}
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if err := walk(t[k], where+"."+k); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range t {
				if err := walk(e, fmt.Sprintf("%s[%d]", where, i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	return vals, nil
}

// caddyJSONValue is one reverse_proxy handler's value (nil for a
// transport other than http).
func caddyJSONValue(name, where string, h map[string]any) (*Value, error) {
	var dials []string
	if ups, ok := h["upstreams"].([]any); ok {
		for _, u := range ups {
			if m, ok := u.(map[string]any); ok {
				if d, ok := m["dial"].(string); ok {
					dials = append(dials, d)
				}
			}
		}
	}
	where = strings.TrimPrefix(where, ".")
	v := Value{Source: name + " " + where, Name: "reverse_proxy " + strings.Join(dials, " ")}
	setting := ""
	if tr, ok := h["transport"].(map[string]any); ok {
		if p, ok := tr["protocol"].(string); ok && p != "http" {
			return nil, nil
		}
		if ka, ok := tr["keep_alive"].(map[string]any); ok {
			if en, ok := ka["enabled"].(bool); ok && !en {
				setting = "off"
			} else if it, ok := ka["idle_timeout"]; ok {
				switch x := it.(type) {
				case string:
					setting = x
				case float64: // nanoseconds
					if x < 0 || x > float64(maxDuration) {
						return nil, fmt.Errorf("%s: keep_alive.idle_timeout %v: out of range", v.Source, x)
					}
					setting = time.Duration(x).String()
				default:
					return nil, fmt.Errorf("%s: keep_alive.idle_timeout: want a duration string or nanoseconds", v.Source)
				}
			}
		}
	}
	val, err := caddyKeepalive(v, setting, v.Source)
	if err != nil {
		return nil, err
	}
	return &val, nil
}
