package guard

import (
	"fmt"
	"strings"
	"time"

	"github.com/racelab/racelab/internal/proxyconf"
)

const (
	// haproxyPurgeDefault is HAProxy's default pool-purge-delay.
	haproxyPurgeDefault = 5 * time.Second
	// HAProxyPurgePeriods is how many pool-purge-delay periods the guard
	// takes as HAProxy's idle lifetime for a server connection. HAProxy has
	// no idle timer on server connections: every pool-purge-delay a task
	// closes idle connections above the estimated need, and the estimate
	// decays over two periods. On HAProxy 2.6.12 a lone idle connection
	// was closed 2 to 3.01 periods after its last use (1 s, 2 s and
	// 500 ms delays), so 3 periods bound the measured lifetime; the margin
	// covers a purge that runs late.
	HAProxyPurgePeriods = 3
)

// haSection and haLine are package proxyconf's HAProxy section and line.
type (
	haSection = proxyconf.Section
	haLine    = proxyconf.Line
)

// haTokens splits one line into words (HAProxy's quoting, also used for
// Apache).
func haTokens(line string) ([]string, error) { return proxyconf.HAProxyTokens(line) }

// ReadHAProxy reads the idle lifetime HAProxy gives server connections in
// every backend and listen section of a configuration (a file, or a
// directory whose *.cfg files load in name order). HAProxy has no idle
// timeout for server connections; see HAProxyPurgePeriods for the bound
// the guard uses. Backends that cannot reuse a connection (mode tcp,
// http-reuse never, option http-server-close or httpclose,
// pool-max-conn 0, pool-purge-delay 0) read as off. WithName picks one
// backend.
func ReadHAProxy(path string, opts ...ReadOption) ([]Value, error) {
	return readHAProxy(newReadConfig(opts), path)
}

func readHAProxy(c *readConfig, path string) ([]Value, error) {
	cfg, err := proxyconf.ParseHAProxy(c.fs, c.read, path)
	if err != nil {
		return nil, fmt.Errorf("read haproxy: %w", err)
	}
	vals, err := haproxyValues(cfg.Sections)
	if err != nil {
		return nil, fmt.Errorf("read haproxy: %w", err)
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("read haproxy: %s: no backend or listen section with a server", path)
	}
	return pickErr("read haproxy", vals, c.name, "backend")
}

// words is a section's lines that hold a keyword: blank, comment and
// conditional-block lines left out.
func words(s *haSection) []haLine {
	var out []haLine
	for _, l := range s.Lines {
		if len(l.Args) > 0 && !strings.HasPrefix(l.Args[0], ".") {
			out = append(out, l)
		}
	}
	return out
}

// haSettings are the settings that decide reuse, as a proxy sees them
// after inheriting from its defaults section.
type haSettings struct {
	mode, reuse    haSetting
	serverClose    haSetting
	purge, maxConn haSetting // default-server pool-purge-delay and pool-max-conn
}

type haSetting struct {
	val string
	pos string
}

func (s *haSettings) apply(l haLine) error {
	a := l.Args
	neg := a[0] == "no"
	if neg {
		a = a[1:]
	}
	switch {
	case len(a) >= 2 && a[0] == "mode" && !neg:
		s.mode = haSetting{a[1], l.Pos()}
	case len(a) >= 2 && a[0] == "http-reuse" && !neg:
		s.reuse = haSetting{a[1], l.Pos()}
	case len(a) >= 2 && a[0] == "option" && (a[1] == "http-server-close" || a[1] == "httpclose" || a[1] == "forceclose"):
		if neg {
			s.serverClose = haSetting{}
		} else {
			s.serverClose = haSetting{"option " + a[1], l.Pos()}
		}
	case len(a) >= 2 && a[0] == "option" && a[1] == "http-keep-alive" && !neg:
		s.serverClose = haSetting{}
	case a[0] == "default-server" && !neg:
		p, m, err := haServerParams(a[1:], l.Pos())
		if err != nil {
			return err
		}
		if p.val != "" {
			s.purge = p
		}
		if m.val != "" {
			s.maxConn = m
		}
	}
	return nil
}

// haServerParams finds pool-purge-delay and pool-max-conn in server
// keywords.
func haServerParams(args []string, pos string) (purge, maxConn haSetting, err error) {
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "pool-purge-delay", "pool-max-conn":
			if i+1 >= len(args) {
				return purge, maxConn, fmt.Errorf("%s: %s wants a value", pos, args[i])
			}
			if args[i] == "pool-purge-delay" {
				purge = haSetting{args[i+1], pos}
			} else {
				maxConn = haSetting{args[i+1], pos}
			}
			i++
		}
	}
	return purge, maxConn, nil
}

func haproxyValues(secs []*haSection) ([]Value, error) {
	named := map[string]*haSettings{}
	var last *haSettings
	var vals []Value
	for _, s := range secs {
		var base haSettings
		if s.From != "" {
			d, ok := named[s.From]
			if !ok {
				return nil, fmt.Errorf("%s: %s %s from %q: no defaults section of that name above", s.Pos(), s.Kind, s.Name, s.From)
			}
			base = *d
		} else if last != nil && s.Kind != "defaults" {
			base = *last
		}
		switch s.Kind {
		case "defaults":
			d := base
			for _, l := range words(s) {
				if err := d.apply(l); err != nil {
					return nil, err
				}
			}
			last = &d
			if s.Name != "" {
				named[s.Name] = &d
			}
		case "backend", "listen":
			v, ok, err := haproxyBackend(s, base)
			if err != nil {
				return nil, err
			}
			if ok {
				vals = append(vals, v)
			}
		}
	}
	return vals, nil
}

func haproxyBackend(s *haSection, set haSettings) (Value, bool, error) {
	// A default-server line applies to the servers declared after it.
	type server struct{ purge, maxConn haSetting }
	var servers []server
	for _, l := range words(s) {
		if err := set.apply(l); err != nil {
			return Value{}, false, err
		}
		if a := l.Args; a[0] == "server" || a[0] == "server-template" {
			p, m, err := haServerParams(a, l.Pos())
			if err != nil {
				return Value{}, false, err
			}
			if p.val == "" {
				p = set.purge
			}
			if m.val == "" {
				m = set.maxConn
			}
			servers = append(servers, server{purge: p, maxConn: m})
		}
	}
	if len(servers) == 0 {
		return Value{}, false, nil
	}
	v := Value{Source: s.Pos(), Name: s.Kind + " " + s.Name}
	mode := set.mode.val
	switch {
	case mode == "" || mode == "tcp":
		v.State = StateOff
		v.Explanation = "mode tcp (HAProxy's default mode): each client connection has its own server connection, none is pooled"
		if set.mode.pos != "" {
			v.Source = set.mode.pos
		}
		return v, true, nil
	case mode != "http":
		return Value{}, false, fmt.Errorf("%s: mode %q: want http or tcp", set.mode.pos, mode)
	}
	switch set.reuse.val {
	case "never":
		v.State, v.Source = StateOff, set.reuse.pos
		v.Explanation = "http-reuse never: idle server connections are not shared between requests"
		return v, true, nil
	case "", "safe", "aggressive", "always":
	default:
		return Value{}, false, fmt.Errorf("%s: http-reuse %q: want never, safe, aggressive or always", set.reuse.pos, set.reuse.val)
	}
	if set.serverClose.val != "" {
		v.State, v.Source = StateOff, set.serverClose.pos
		v.Explanation = set.serverClose.val + ": the server connection closes after each response"
		return v, true, nil
	}
	var longest time.Duration
	var from haSetting
	pooled := 0
	for _, sv := range servers {
		purge, maxConn := sv.purge, sv.maxConn
		if maxConn.val != "" {
			n, err := parseUint(strings.TrimPrefix(maxConn.val, "-"))
			if err != nil {
				return Value{}, false, fmt.Errorf("%s: pool-max-conn %q: want a whole number, -1 for no limit", maxConn.pos, maxConn.val)
			}
			if n == 0 {
				continue // keeps no idle connection
			}
		}
		d := haproxyPurgeDefault
		if purge.val != "" {
			var err error
			if d, err = parseHAProxyTime(purge.val); err != nil {
				return Value{}, false, fmt.Errorf("%s: pool-purge-delay %w", purge.pos, err)
			}
			if d == 0 {
				continue // keeps no idle connection
			}
		}
		pooled++
		if d > longest {
			longest, from = d, purge
		}
	}
	if pooled == 0 {
		v.State = StateOff
		v.Explanation = "every server keeps no idle connection (pool-max-conn 0 or pool-purge-delay 0)"
		return v, true, nil
	}
	v.State, v.Duration = StateFinite, time.Duration(HAProxyPurgePeriods)*longest
	delay := "pool-purge-delay not set: HAProxy's default 5s"
	if from.val != "" {
		v.Source = from.pos
		delay = "pool-purge-delay " + from.val
		if isNumber(from.val) {
			delay += " (HAProxy reads a bare number as milliseconds)"
		}
	} else {
		v.Default = true
	}
	v.Explanation = fmt.Sprintf("%s; HAProxy has no idle timer for server connections, a purge every period closes surplus idle ones and a lone one is gone within %d periods: %d x %s",
		delay, HAProxyPurgePeriods, HAProxyPurgePeriods, FormatMS(longest))
	v.Notes = append(v.Notes,
		"an estimate, not a timer: under steady traffic over several connections an idle connection the estimated need keeps can live longer; http-reuse never rules the race out, retry-on with care for non-idempotent requests absorbs it",
		"timeout http-keep-alive is the client side and plays no part here")
	return v, true, nil
}
