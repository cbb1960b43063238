package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
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
		vals, err = parseCaddyfile(name, data)
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

// caddyNode is one line of a Caddyfile with its block.
type caddyNode struct {
	args     []string
	line     int
	children []*caddyNode
}

// parseCaddyfile reads a Caddyfile's reverse_proxy directives.
func parseCaddyfile(name string, data []byte) ([]Value, error) {
	top, err := caddyTree(name, data)
	if err != nil {
		return nil, err
	}
	snippet := func(n *caddyNode) bool {
		return strings.HasPrefix(n.args[0], "(") && strings.HasSuffix(n.args[0], ")")
	}
	var sites []*caddyNode
	rest := top
	if len(rest) > 0 && len(rest[0].args) == 0 {
		rest = rest[1:] // the global options block
	}
	if len(rest) > 0 && rest[0].children == nil {
		// One site without braces: its address, then its directives.
		sites = append(sites, &caddyNode{args: rest[0].args, line: rest[0].line, children: rest[1:]})
	} else {
		for _, n := range rest {
			if n.children != nil && len(n.args) > 0 && !snippet(n) {
				sites = append(sites, n)
			}
		}
	}
	var vals []Value
	for _, site := range sites {
		for _, rp := range findCaddy(site.children, "reverse_proxy") {
			v := Value{Source: fmt.Sprintf("%s:%d", name, rp.line),
				Name: "site " + strings.Join(site.args, " ") + " reverse_proxy " + strings.Join(caddyUpstreams(rp), " ")}
			setting, pos := "", ""
			http := true
			for _, ch := range rp.children {
				if len(ch.args) >= 2 && ch.args[0] == "transport" {
					http = ch.args[1] == "http"
					for _, t := range ch.children {
						if len(t.args) >= 1 && t.args[0] == "keepalive" {
							if len(t.args) != 2 {
								return nil, fmt.Errorf("%s:%d: keepalive takes one argument", name, t.line)
							}
							setting, pos = t.args[1], fmt.Sprintf("%s:%d", name, t.line)
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
func caddyUpstreams(rp *caddyNode) []string {
	var ups []string
	for _, a := range rp.args[1:] {
		if a == "{" || strings.HasPrefix(a, "@") || strings.HasPrefix(a, "/") || a == "*" {
			continue
		}
		ups = append(ups, a)
	}
	for _, ch := range rp.children {
		if len(ch.args) > 1 && ch.args[0] == "to" {
			ups = append(ups, ch.args[1:]...)
		}
	}
	return ups
}

// findCaddy finds the nodes named directive at any depth (inside route,
// handle and matcher blocks too).
func findCaddy(nodes []*caddyNode, directive string) []*caddyNode {
	var out []*caddyNode
	for _, n := range nodes {
		if len(n.args) > 0 && n.args[0] == directive {
			out = append(out, n)
			continue
		}
		out = append(out, findCaddy(n.children, directive)...)
	}
	return out
}

// caddyTree tokenizes a Caddyfile into lines and blocks: a line whose
// last token is a lone "{" opens a block that a lone "}" closes; quotes
// and backquotes group, # starts a comment at the start of a token, and
// a trailing backslash continues a line.
func caddyTree(name string, data []byte) ([]*caddyNode, error) {
	root := &caddyNode{}
	stack := []*caddyNode{root}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimRight(lines[i], "\r")
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimRight(lines[i], "\r")
		}
		toks, err := caddyTokens(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
		for len(toks) > 0 {
			parent := stack[len(stack)-1]
			if toks[0] == "}" {
				if len(stack) == 1 {
					return nil, fmt.Errorf("%s:%d: unexpected }", name, lineNo)
				}
				stack = stack[:len(stack)-1]
				toks = toks[1:]
				continue
			}
			n := &caddyNode{line: lineNo}
			j := 0
			for j < len(toks) && toks[j] != "{" && toks[j] != "}" {
				j++
			}
			n.args = toks[:j]
			parent.children = append(parent.children, n)
			toks = toks[j:]
			if len(toks) > 0 && toks[0] == "{" {
				n.children = []*caddyNode{}
				stack = append(stack, n)
				toks = toks[1:]
			}
		}
	}
	if len(stack) > 1 {
		return nil, fmt.Errorf("%s:%d: block not closed", name, stack[len(stack)-1].line)
	}
	return root.children, nil
}

// caddyTokens splits one line into tokens.
func caddyTokens(line string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case (ch == '"' || ch == '`') && !in:
			end := strings.IndexByte(line[i+1:], ch)
			if end < 0 {
				return nil, errors.New("unterminated quote")
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			in = true
		case ch == ' ' || ch == '\t':
			if in {
				toks = append(toks, cur.String())
				cur.Reset()
				in = false
			}
		case ch == '#' && !in:
			return toks, nil
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		toks = append(toks, cur.String())
	}
	return toks, nil
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
