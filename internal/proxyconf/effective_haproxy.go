package proxyconf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// defaultsChain returns the defaults sections s inherits from, the
// nearest last: the named one of "from NAME", or the last defaults
// section above it; a defaults section's own "from" is followed.
func (r *haRewriter) defaultsChain(s *Section) ([]*Section, error) {
	var chain []*Section
	cur := s
	for range 32 {
		var base *Section
		if cur.From != "" {
			for _, d := range r.cfg.Sections {
				if d == cur {
					break
				}
				if d.Kind == "defaults" && d.Name == cur.From {
					base = d
				}
			}
			if base == nil {
				return nil, fmt.Errorf("%s: %s %s from %q: no defaults section of that name above", cur.Pos(), cur.Kind, cur.Name, cur.From)
			}
		} else if cur.Kind != "defaults" {
			for _, d := range r.cfg.Sections {
				if d == cur {
					break
				}
				if d.Kind == "defaults" {
					base = d
				}
			}
		}
		if base == nil {
			return chain, nil
		}
		chain = append([]*Section{base}, chain...)
		cur = base
	}
	return nil, fmt.Errorf("%s: defaults inherit too deep", s.Pos())
}

// lineKey is what a later line of the same key overrides.
func lineKey(l Line) string {
	a := l.Args
	if len(a) > 0 && (a[0] == "no" || a[0] == "default") {
		a = a[1:]
	}
	if len(a) == 0 {
		return ""
	}
	switch a[0] {
	case "option":
		if len(a) > 1 {
			if a[1] == "http-server-close" || a[1] == "httpclose" || a[1] == "http-keep-alive" {
				return "option close-mode"
			}
			return "option " + a[1]
		}
	case "timeout":
		if len(a) > 1 {
			return "timeout " + a[1]
		}
	}
	return a[0]
}

// lookup returns the last line with key in the defaults chain and s.
func lookup(chain []*Section, s *Section, key string) (Line, bool) {
	var found Line
	ok := false
	for _, sec := range append(slices.Clone(chain), s) {
		for _, l := range sec.Lines {
			if lineKey(l) == key {
				found, ok = l, true
			}
		}
	}
	return found, ok
}

func haSetting(name string, l Line, ok bool, skip int, def, note string) Setting {
	if !ok {
		return Setting{Name: name, Value: def, Default: true, Note: note}
	}
	v := strings.Join(l.Args[skip:], " ")
	if l.Args[0] == "no" {
		v = "off (" + HAProxyJoin(l.Args) + ")"
	}
	return Setting{Name: name, Value: v, Source: l.Pos(), Note: note}
}

// serverParam finds a server parameter: on the server line, else the last
// default-server line above it in the backend, else in the defaults chain.
func serverParam(chain []*Section, s *Section, server Line, name string) (string, string) {
	if v := paramValue(server.Args, name); v != "" {
		return v, server.Pos()
	}
	val, pos := "", ""
	for _, sec := range append(slices.Clone(chain), s) {
		for _, l := range sec.Lines {
			if sec == s && l.Line >= server.Line && l.File == server.File {
				break
			}
			if l.Keyword() == "default-server" {
				if v := paramValue(l.Args, name); v != "" {
					val, pos = v, l.Pos()
				}
			}
		}
	}
	return val, pos
}

func (r *haRewriter) underSection() *Section {
	for _, s := range r.cfg.Sections {
		if (s.Kind == "backend" || s.Kind == "listen") && s.Name == r.under {
			return s
		}
	}
	return nil
}

// inheritedPurge is pool-purge-delay from default-server lines of the
// defaults the backend under test inherits.
func (r *haRewriter) inheritedPurge() string {
	s := r.underSection()
	chain, _ := r.defaultsChain(s)
	v := ""
	for _, d := range chain {
		for _, l := range d.Lines {
			if l.Keyword() == "default-server" {
				if p := paramValue(l.Args, "pool-purge-delay"); p != "" {
					v = p
				}
			}
		}
	}
	return v
}

// effective reads the settings of the backend under test.
func (r *haRewriter) effective() ([]Setting, error) {
	s := r.underSection()
	chain, err := r.defaultsChain(s)
	if err != nil {
		return nil, err
	}
	get := func(name, key string, skip int, def, note string) Setting {
		l, ok := lookup(chain, s, key)
		return haSetting(name, l, ok, skip, def, note)
	}
	var first Line
	servers := 0
	checks := false
	for _, l := range s.Lines {
		if k := l.Keyword(); (k == "server" || k == "server-template") && l.Args[0] != "no" {
			if servers == 0 {
				first = l
			}
			servers++
			checks = checks || slices.Contains(l.Args, "check")
		}
	}
	out := []Setting{
		get("mode", "mode", 1, "tcp", "HTTP pooling needs mode http"),
		get("reuse", "http-reuse", 1, "safe", "http-reuse: safe keeps a client's first request off pooled connections, unless retry-on lists conn-failure, empty-response and response-timeout (the request is then retry-safe and may reuse: measured by racelab on examples/byoc/haproxy)"),
	}
	// A server line with no name ("server" alone: haproxy -c rejects it)
	// names no server here rather than failing.
	name := ""
	if len(first.Args) > 1 {
		name = first.Args[1]
	}
	purge, purgePos := serverParam(chain, s, first, "pool-purge-delay")
	idle := Setting{Name: "idle_timeout", Value: purge, Source: purgePos,
		Note: "pool-purge-delay of server " + name + ": HAProxy has no idle timer; a lone idle connection lives 2-3 purge periods"}
	if purge == "" {
		idle.Value, idle.Default = "5s", true
	}
	maxc, maxcPos := serverParam(chain, s, first, "pool-max-conn")
	pool := Setting{Name: "pool_size", Value: maxc, Source: maxcPos, Note: "pool-max-conn of server " + name + " (-1: no limit)"}
	if maxc == "" {
		pool.Value, pool.Default = "-1", true
	}
	retries := get("retries", "retries", 1, "3", "attempts after the first")
	retryOn := get("retry", "retry-on", 1, "conn-failure", "retry-on: conn-failure alone does not catch a pooled connection the server closed; empty-response or all-retryable-errors do, for every method")
	out = append(out, idle, pool, retryOn, retries,
		get("redispatch", "option redispatch", 1, "off", "a retry may go to another server"),
		get("close_mode", "option close-mode", 1, "keep-alive", "option http-server-close or httpclose turn server-side pooling off"),
		get("timeout_server", "timeout server", 2, "none", ""))
	for _, l := range s.Lines {
		if len(l.Args) >= 2 && l.Args[0] == "http-request" && l.Args[1] == "disable-l7-retry" {
			out = append(out, Setting{Name: "disable_l7_retry", Value: HAProxyJoin(l.Args[2:]), Source: l.Pos()})
		}
	}
	nb := Setting{Name: "workers", Value: "one thread per CPU", Default: true, Note: "nbthread: each thread has its own pool; racelab runs one"}
	for _, g := range r.cfg.Sections {
		if g.Kind == "global" {
			for _, l := range g.Lines {
				if l.Keyword() == "nbthread" && len(l.Args) > 1 {
					nb.Value, nb.Source, nb.Default = l.Args[1], l.Pos(), false
				}
			}
		}
	}
	hc := get("health_checks", "option httpchk", 1, "tcp connect", "health checks open their own connections to the backend")
	if !checks {
		hc = Setting{Name: "health_checks", Value: "none (no server has check)", Default: true}
	}
	out = append(out, nb, hc, Setting{Name: "servers", Value: strconv.Itoa(servers), Source: s.Pos(),
		Note: "servers in backend " + r.under + ", all pointed at racelab's backend"})
	return out, nil
}

// findRoute finds the frontend or listen section that sends requests to
// the backend under test, and the request that gets there.
func (r *haRewriter) findRoute() (Route, error) {
	var why []string
	for _, s := range r.cfg.Sections {
		if s.Kind != "frontend" && s.Kind != "listen" {
			continue
		}
		if s.Kind == "listen" && s.Name == r.under && hasServers(s) {
			r.route = s
			return Route{Path: "/", UpstreamPath: "/", Source: s.Pos()}, nil
		}
		router := newHARouter(s)
		type rule struct {
			line  Line
			conds [][]haTerm
			neg   bool
		}
		var rules []rule
		var def *Line
		for i, l := range s.Lines {
			switch {
			case len(l.Args) >= 2 && l.Args[0] == "use_backend":
				ru := rule{line: l}
				if len(l.Args) >= 4 && (l.Args[2] == "if" || l.Args[2] == "unless") {
					c, err := haCond(l.Args[3:])
					if err != nil {
						return Route{}, fmt.Errorf("%s: %w", l.Pos(), err)
					}
					ru.conds, ru.neg = c, l.Args[2] == "unless"
				}
				rules = append(rules, ru)
			case len(l.Args) == 2 && l.Args[0] == "default_backend":
				def = &s.Lines[i]
			}
		}
		matches := func(ru rule, req haReq) (bool, bool) {
			if ru.conds == nil {
				return true, true
			}
			m, k := router.eval(ru.conds, probeReq(req))
			if ru.neg {
				m = !m
			}
			return m, k
		}
		earlierMiss := func(n int, req haReq) (string, bool) {
			for _, ru := range rules[:n] {
				if m, _ := matches(ru, req); m {
					return ru.line.Pos(), false
				}
			}
			return "", true
		}
		for i, ru := range rules {
			if ru.line.Args[1] != r.under {
				continue
			}
			req := haReq{path: "/"}
			ok := true
			if ru.conds != nil && !ru.neg {
				req, ok = router.build(ru.conds)
			}
			if m, _ := matches(ru, req); !ok || !m {
				why = append(why, ru.line.Pos()+": no path_beg or host ACL racelab can satisfy")
				continue
			}
			if at, miss := earlierMiss(i, req); !miss {
				why = append(why, fmt.Sprintf("%s: requests to %s%s go to the rule at %s first", ru.line.Pos(), req.host, req.path, at))
				continue
			}
			r.route = s
			return Route{Path: req.path, Host: req.host, UpstreamPath: req.path, Source: ru.line.Pos()}, nil
		}
		if def != nil && def.Args[1] == r.under {
			req := haReq{path: "/"}
			if at, miss := earlierMiss(len(rules), req); !miss {
				why = append(why, fmt.Sprintf("%s: requests to / go to the rule at %s", def.Pos(), at))
				continue
			}
			r.route = s
			return Route{Path: "/", UpstreamPath: "/", Source: def.Pos()}, nil
		}
	}
	msg := fmt.Sprintf("%s: no listener routes to backend %s: no frontend has a use_backend or default_backend for it", r.in.Path, r.under)
	if len(why) > 0 {
		msg += " (" + strings.Join(why, "; ") + ")"
	}
	return Route{}, fmt.Errorf("%s", msg)
}
