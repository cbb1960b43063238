package guard

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/racelab/racelab/internal/proxyconf"
)

// nginx defaults and the versions that changed them.
const (
	nginxUpstreamIdleDefault = 60 * time.Second // upstream keepalive_timeout
	nginxBackendIdleDefault  = 75 * time.Second // http/server/location keepalive_timeout
)

var (
	// nginxPoolsByDefault is the first version that pools upstream
	// connections without a keepalive directive (keepalive 32 local) and
	// speaks HTTP/1.1 upstream by default.
	nginxPoolsByDefault = version{1, 29, 7}
	// nginxUpstreamTimeout is the first version with keepalive_timeout in
	// upstream blocks; before it pooled connections had no idle timer.
	nginxUpstreamTimeout = version{1, 15, 3}
)

// ReadNginx reads the upstream idle timeout of every upstream block in
// the http context of an nginx configuration, following includes: the
// upstream keepalive_timeout (nginx time syntax, a bare number is
// seconds; default 60 s), or no reuse at all where nginx does not pool.
// WithName picks one upstream; WithVersion tells which nginx runs it.
func ReadNginx(path string, opts ...ReadOption) ([]Value, error) {
	return readNginxProxy(newReadConfig(opts), path)
}

// ReadNginxBackend reads nginx's own keep-alive idle timeout, for nginx
// serving as the backend: keepalive_timeout in http, each server and each
// location that sets it (default 75 s; 0 turns keep-alive off).
func ReadNginxBackend(path string, opts ...ReadOption) ([]Value, error) {
	return readNginxBackend(newReadConfig(opts), path)
}

func nginxVersion(c *readConfig) (version, error) {
	if c.version == "" {
		return nil, nil
	}
	return parseVersion(c.version)
}

func readNginxProxy(c *readConfig, path string) ([]Value, error) {
	ver, err := nginxVersion(c)
	if err != nil {
		return nil, fmt.Errorf("read nginx: %w", err)
	}
	p := newNgxParser(c)
	// Upstream blocks live only in the http (or stream) context, so an
	// include inside a server or location cannot hold one; mime.types
	// holds only a types block.
	p.SkipMissing = func(f string, ctx []string) bool {
		return filepath.Base(f) == "mime.types" || slices.ContainsFunc(ctx, func(s string) bool {
			return s == "server" || s == "location"
		})
	}
	top, err := p.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("read nginx: %w", err)
	}
	root := &ngxDirective{Block: top}
	var vals []Value
	var streamOnly []string
	http11 := hasDirective(top, "proxy_http_version", "1.1")
	for _, h := range root.Find("http") {
		for _, u := range h.Find("upstream") {
			v, err := nginxUpstream(u, ver, http11)
			if err != nil {
				return nil, fmt.Errorf("read nginx: %w", err)
			}
			v.Notes = append(v.Notes, p.Notes...)
			vals = append(vals, v)
		}
	}
	for _, s := range root.Find("stream") {
		for _, u := range s.Find("upstream") {
			if len(u.Args) > 0 {
				streamOnly = append(streamOnly, u.Args[0])
			}
		}
	}
	if len(vals) == 0 {
		msg := "no upstream block in the http context"
		if len(streamOnly) > 0 {
			msg += fmt.Sprintf(" (stream upstreams %s proxy TCP, not HTTP)", strings.Join(streamOnly, ", "))
		}
		return nil, fmt.Errorf("read nginx: %s: %s; proxy_pass to an address has no pool before 1.29.7 — give --proxy-idle if it does", path, msg)
	}
	vals, err = pick(vals, c.name, "upstream")
	if err != nil {
		return nil, fmt.Errorf("read nginx: %w", err)
	}
	return vals, nil
}

// hasDirective reports a directive named name with first argument arg
// anywhere in the tree.
func hasDirective(ds []*ngxDirective, name, arg string) bool {
	for _, d := range ds {
		if d.Name == name && len(d.Args) > 0 && d.Args[0] == arg {
			return true
		}
		if hasDirective(d.Block, name, arg) {
			return true
		}
	}
	return false
}

func nginxUpstream(u *ngxDirective, ver version, http11 bool) (Value, error) {
	if len(u.Args) != 1 || !u.HasBlock {
		return Value{}, fmt.Errorf("%s: upstream wants one name and a block", u.Pos())
	}
	v := Value{Source: u.Pos(), Name: "upstream " + u.Args[0]}
	ka, err := u.One("keepalive")
	if err != nil {
		return Value{}, err
	}
	kt, err := u.One("keepalive_timeout")
	if err != nil {
		return Value{}, err
	}
	if ka != nil {
		if len(ka.Args) < 1 || len(ka.Args) > 2 || (len(ka.Args) == 2 && ka.Args[1] != "local") {
			return Value{}, fmt.Errorf("%s: keepalive wants a connection count and optionally local", ka.Pos())
		}
		n, err := parseUint(ka.Args[0])
		if err != nil {
			return Value{}, fmt.Errorf("%s: keepalive %q: want a whole number of connections", ka.Pos(), ka.Args[0])
		}
		if n == 0 {
			v.State, v.Source = StateOff, ka.Pos()
			v.Explanation = "keepalive 0: no idle upstream connections are kept"
			return v, nil
		}
	}
	switch {
	case ka == nil && ver != nil && !ver.atLeast(nginxPoolsByDefault):
		v.State = StateOff
		v.Explanation = fmt.Sprintf("no keepalive directive: nginx %s opens a new upstream connection per request (pooling by default starts in 1.29.7)", ver)
		return v, nil
	case ka == nil && ver == nil:
		v.Notes = append(v.Notes, "no keepalive directive: nginx before 1.29.7 would not pool this upstream, 1.29.7 and later pool it by default (keepalive 32 local); checked as pooled; give the nginx version to be exact")
	case ka != nil && !http11 && (ver == nil || !ver.atLeast(nginxPoolsByDefault)):
		v.Notes = append(v.Notes, "no proxy_http_version 1.1 found: before 1.29.7 nginx then speaks HTTP/1.0 upstream and does not reuse connections; checked as pooled")
	}
	if ver != nil && !ver.atLeast(nginxUpstreamTimeout) {
		if kt != nil {
			return Value{}, fmt.Errorf("%s: keepalive_timeout in upstream needs nginx 1.15.3 or later (version %s given)", kt.Pos(), ver)
		}
		v.State = StateUnbounded
		v.Explanation = fmt.Sprintf("nginx %s has no upstream keepalive_timeout: pooled connections have no idle timer", ver)
		return v, nil
	}
	if kt == nil {
		v.State, v.Duration, v.Default = StateFinite, nginxUpstreamIdleDefault, true
		v.Explanation = "keepalive_timeout not set: nginx's upstream default 60s"
		return v, nil
	}
	if len(kt.Args) != 1 {
		return Value{}, fmt.Errorf("%s: upstream keepalive_timeout takes one time", kt.Pos())
	}
	d, err := parseNginxTime(kt.Args[0], true)
	if err != nil {
		return Value{}, fmt.Errorf("%s: keepalive_timeout %w", kt.Pos(), err)
	}
	v.Source = kt.Pos()
	if d == 0 {
		v.State = StateOff
		v.Explanation = "keepalive_timeout 0: idle upstream connections are closed at once"
		return v, nil
	}
	v.State, v.Duration = StateFinite, d
	v.Explanation = "keepalive_timeout " + kt.Args[0] + nginxUnitNote(kt.Args[0])
	return v, nil
}

func nginxUnitNote(arg string) string {
	if isNumber(arg) {
		return " (nginx reads a bare number as seconds)"
	}
	return ""
}

func readNginxBackend(c *readConfig, path string) ([]Value, error) {
	p := newNgxParser(c)
	p.SkipMissing = func(f string, _ []string) bool { return filepath.Base(f) == "mime.types" }
	top, err := p.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("read nginx backend: %w", err)
	}
	https := (&ngxDirective{Block: top}).Find("http")
	if len(https) != 1 {
		return nil, fmt.Errorf("read nginx backend: %s: want one http block, found %d", path, len(https))
	}
	h := https[0]
	base := Value{State: StateFinite, Duration: nginxBackendIdleDefault, Default: true,
		Source: h.Pos(), Explanation: "keepalive_timeout not set: nginx's default 75s"}
	if kt, err := h.One("keepalive_timeout"); err != nil {
		return nil, fmt.Errorf("read nginx backend: %w", err)
	} else if kt != nil {
		if base, err = nginxKeepalive(kt); err != nil {
			return nil, fmt.Errorf("read nginx backend: %w", err)
		}
	}
	servers := h.Find("server")
	if len(servers) == 0 {
		base.Notes = p.Notes
		return pickErr("read nginx backend", []Value{base}, c.name, "server")
	}
	var vals []Value
	for _, s := range servers {
		sv := base
		if kt, err := s.One("keepalive_timeout"); err != nil {
			return nil, fmt.Errorf("read nginx backend: %w", err)
		} else if kt != nil {
			if sv, err = nginxKeepalive(kt); err != nil {
				return nil, fmt.Errorf("read nginx backend: %w", err)
			}
		}
		sv.Name = "server " + serverName(s)
		sv.Notes = p.Notes
		vals = append(vals, sv)
		locs, err := nginxLocations(s, sv)
		if err != nil {
			return nil, fmt.Errorf("read nginx backend: %w", err)
		}
		vals = append(vals, locs...)
	}
	return pickErr("read nginx backend", vals, c.name, "server")
}

// nginxLocations returns a value for every location that sets its own
// keepalive_timeout, nested locations included.
func nginxLocations(d *ngxDirective, inherited Value) ([]Value, error) {
	var out []Value
	for _, l := range d.Find("location") {
		lv := inherited
		kt, err := l.One("keepalive_timeout")
		if err != nil {
			return nil, err
		}
		if kt != nil {
			if lv, err = nginxKeepalive(kt); err != nil {
				return nil, err
			}
			lv.Name = inherited.Name + " location " + strings.Join(l.Args, " ")
			lv.Notes = inherited.Notes
			out = append(out, lv)
		}
		nested, err := nginxLocations(l, lv)
		if err != nil {
			return nil, err
		}
		out = append(out, nested...)
	}
	return out, nil
}

func nginxKeepalive(kt *ngxDirective) (Value, error) {
	if len(kt.Args) < 1 || len(kt.Args) > 2 {
		return Value{}, fmt.Errorf("%s: keepalive_timeout takes a timeout and an optional header timeout", kt.Pos())
	}
	d, err := parseNginxTime(kt.Args[0], true)
	if err != nil {
		return Value{}, fmt.Errorf("%s: keepalive_timeout %w", kt.Pos(), err)
	}
	if d == 0 {
		return Value{State: StateOff, Source: kt.Pos(), Explanation: "keepalive_timeout 0: keep-alive disabled"}, nil
	}
	return Value{State: StateFinite, Duration: d, Source: kt.Pos(),
		Explanation: "keepalive_timeout " + kt.Args[0] + nginxUnitNote(kt.Args[0])}, nil
}

func serverName(s *ngxDirective) string {
	for _, name := range []string{"server_name", "listen"} {
		for _, d := range s.Find(name) {
			if len(d.Args) > 0 && d.Args[0] != "" && d.Args[0] != `""` {
				return d.Args[0]
			}
		}
	}
	return "at " + s.Pos()
}

// ngxDirective is the nginx directive of package proxyconf.
type ngxDirective = proxyconf.Directive

// newNgxParser is the shared nginx parser reading through c.
func newNgxParser(c *readConfig) *proxyconf.NginxParser {
	return &proxyconf.NginxParser{FS: c.fs, Read: c.read, Root: c.root}
}

func isNotExist(err error) bool { return proxyconf.IsNotExist(err) }

func pickErr(prefix string, vals []Value, name, what string) ([]Value, error) {
	out, err := pick(vals, name, what)
	if err != nil {
		return nil, errors.New(prefix + ": " + err.Error())
	}
	return out, nil
}
