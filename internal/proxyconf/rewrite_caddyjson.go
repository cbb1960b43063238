package proxyconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// CaddyJSONConfigName is the rewritten JSON config's name.
const CaddyJSONConfigName = "caddy.json"

// caddyJSONHost is the Host racelab sends when the route to the
// reverse_proxy under test matches hosts.
const caddyJSONHost = "racelab.invalid"

type jobj = map[string]any

// jsonLines maps each JSON pointer of data ("/apps/http") to the line
// its key or element starts on.
func jsonLines(data []byte) map[string]int {
	lines := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(data))
	lineAt := func() int { return 1 + bytes.Count(data[:dec.InputOffset()], []byte("\n")) }
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if _, ok := lines[path]; !ok {
			lines[path] = lineAt()
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				lines[path+"/"+key] = lineAt()
				if err := walk(path + "/" + key); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(fmt.Sprintf("%s/%d", path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	_ = walk("") // a syntax error was reported by the decode before
	return lines
}

type caddyJSONProxy struct {
	h       jobj
	server  string
	ptr     string
	path    string
	host    string
	strip   bool
	labels  []string
	name    string
	matcher string
	// hosts point at the host matchers on the way to it.
	hosts []jobj
}

type caddyJSONRewriter struct {
	in      Input
	file    string
	lines   map[string]int
	changes []Change
	hosts   []string
	under   *caddyJSONProxy
}

func (r *caddyJSONRewriter) pos(ptr string) (string, int) {
	for p := ptr; ; {
		if l, ok := r.lines[p]; ok {
			return r.file, l
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			return r.file, 1
		}
		p = p[:i]
	}
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 120 {
		return string(b[:117]) + "..."
	}
	return string(b)
}

func (r *caddyJSONRewriter) change(ptr string, old, nw any, why string) {
	f, l := r.pos(ptr)
	c := Change{Directive: ptr, File: f, Line: l, Why: why}
	if old != nil {
		c.Old = jsonText(old)
	}
	if nw != nil {
		c.New = jsonText(nw)
	}
	r.changes = append(r.changes, c)
}

func (r *caddyJSONRewriter) add(ptr string, nw any, why string) {
	r.changes = append(r.changes, Change{Directive: ptr, New: jsonText(nw), Why: why})
}

func rewriteCaddyJSON(in Input, data []byte) (*Result, error) {
	file := Display(in.Path)
	if in.Root != "" {
		if rel, ok := strings.CutPrefix(filepath.Clean(in.Path), filepath.Clean(in.Root)+"/"); ok {
			file = "/" + rel
		}
	}
	var root jobj
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	r := &caddyJSONRewriter{in: in, file: file, lines: jsonLines(data)}
	apps, _ := root["apps"].(jobj)
	http, _ := apps["http"].(jobj)
	servers, _ := http["servers"].(jobj)
	var cands []*caddyJSONProxy
	names := jsonKeys(servers)
	for _, name := range names {
		srv, _ := servers[name].(jobj)
		if srv == nil {
			continue
		}
		for _, l := range asList(srv["listen"]) {
			if s, ok := l.(string); ok {
				r.hosts = appendHost(r.hosts, s)
			}
		}
		ptr := "/apps/http/servers/" + name
		r.collect(srv["routes"], ptr+"/routes", name, "", "", false, nil, &cands)
	}
	r.collectHosts(root)
	var err error
	if r.under, err = r.pick(cands); err != nil {
		return nil, err
	}
	eff := r.effective()
	r.rewriteTop(root, apps, http, servers)
	r.scrub(root, "")
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	dir := filepath.Clean(in.Dir)
	conf := filepath.Join(dir, CaddyJSONConfigName)
	u := r.under
	upPath := u.path
	if u.strip {
		upPath = "/"
	}
	host := ""
	if len(u.hosts) > 0 {
		host = caddyJSONHost
	}
	var all []string
	for _, c := range cands {
		all = append(all, c.name)
	}
	return &Result{
		Main:         CaddyJSONConfigName,
		Files:        map[string]string{CaddyJSONConfigName: string(out) + "\n"},
		Dirs:         []string{"data", "logs", "config"},
		Args:         []string{"run", "--config", conf},
		ValidateArgs: []string{"validate", "--config", conf},
		Env:          CaddyEnv(dir),
		Changes:      r.changes,
		Route:        Route{Path: u.path, Host: host, UpstreamPath: upPath, Source: fmt.Sprintf("%s:%d", r.file, r.lines[u.ptr])},
		Upstream:     u.name,
		Upstreams:    all,
		Effective:    eff,
		Notes:        []string{"routes are matched in the config's order: racelab sends its requests under " + u.path + " and does not check that an earlier route catches them"},
	}, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// collectHosts adds every URL host and dial address of the config.
func (r *caddyJSONRewriter) collectHosts(v any) {
	switch t := v.(type) {
	case jobj:
		for k, e := range t {
			if s, ok := e.(string); ok && (k == "dial" || strings.Contains(s, "://")) {
				r.hosts = appendHost(r.hosts, s)
			}
			if k == "host" {
				for _, h := range asList(e) {
					if s, ok := h.(string); ok {
						r.hosts = appendHost(r.hosts, s)
					}
				}
			}
			r.collectHosts(e)
		}
	case []any:
		for _, e := range t {
			r.collectHosts(e)
		}
	}
}

// collect finds reverse_proxy handlers in routes, with the path and host
// matchers that reach them.
func (r *caddyJSONRewriter) collect(routes any, ptr, server, path, host string, strip bool, hostSets []jobj, out *[]*caddyJSONProxy) {
	for i, rt := range asList(routes) {
		route, _ := rt.(jobj)
		if route == nil {
			continue
		}
		rptr := fmt.Sprintf("%s/%d", ptr, i)
		p, h, m := path, host, ""
		hs := hostSets
		if sets := asList(route["match"]); len(sets) > 0 {
			set, _ := sets[0].(jobj)
			if _, ok := set["host"]; ok {
				hs = append(slices.Clone(hostSets), set)
			}
			if ps := asList(set["path"]); len(ps) == 1 {
				if s, ok := ps[0].(string); ok && strings.HasSuffix(s, "*") && strings.Count(s, "*") == 1 {
					p, m = strings.TrimSuffix(s, "*"), s
				}
			}
			if hs := asList(set["host"]); len(hs) > 0 {
				if s, ok := hs[0].(string); ok {
					h = plainHost(s)
				}
			}
		}
		st := strip
		for j, hv := range asList(route["handle"]) {
			hd, _ := hv.(jobj)
			hptr := fmt.Sprintf("%s/handle/%d", rptr, j)
			switch hd["handler"] {
			case "rewrite":
				if _, ok := hd["strip_path_prefix"]; ok {
					st = true
				}
			case "subroute":
				r.collect(hd["routes"], hptr+"/routes", server, p, h, st, hs, out)
			case "reverse_proxy":
				c := &caddyJSONProxy{h: hd, server: server, ptr: hptr, path: p, host: h, strip: st, matcher: m, hosts: hs}
				if c.path == "" {
					c.path = "/"
				}
				label := c.path + "*"
				c.name = server + " " + label
				c.labels = []string{server, label, c.name, c.path}
				if h != "" {
					c.labels = append(c.labels, h)
				}
				for _, u := range asList(hd["upstreams"]) {
					if um, ok := u.(jobj); ok {
						if d, ok := um["dial"].(string); ok {
							c.labels = append(c.labels, d)
						}
					}
				}
				*out = append(*out, c)
			}
		}
	}
}

func (r *caddyJSONRewriter) pick(cands []*caddyJSONProxy) (*caddyJSONProxy, error) {
	var names []string
	var hits []*caddyJSONProxy
	for _, c := range cands {
		f, l := r.pos(c.ptr)
		names = append(names, fmt.Sprintf("%s (%s:%d)", c.name, f, l))
		if r.in.Upstream == "" || slices.Contains(c.labels, r.in.Upstream) {
			hits = append(hits, c)
		}
	}
	switch {
	case len(cands) == 0:
		return nil, fmt.Errorf("%s: no reverse_proxy handler in apps.http", r.file)
	case len(hits) == 0:
		return nil, fmt.Errorf("%s: no reverse_proxy named %q (found: %s)", r.file, r.in.Upstream, strings.Join(names, ", "))
	case len(hits) > 1:
		return nil, fmt.Errorf("%s: %d reverse_proxy handlers (%s): name the one under test by its server, path matcher, host or upstream", r.file, len(hits), strings.Join(names, ", "))
	}
	return hits[0], nil
}

// rewriteTop rewrites admin, storage, logging and apps.
func (r *caddyJSONRewriter) rewriteTop(root, apps, http, servers jobj) {
	admin := jobj{"disabled": true, "config": jobj{"persist": false}}
	if old, ok := root["admin"]; ok {
		r.change("/admin", old, admin, "no admin endpoint, no autosave")
	} else {
		r.add("/admin", admin, "no admin endpoint (it would listen on localhost:2019), no autosave")
	}
	root["admin"] = admin
	storage := jobj{"module": "file_system", "root": r.path("data")}
	if old, ok := root["storage"]; ok {
		r.change("/storage", old, storage, "certificate storage goes into racelab's directory")
	} else {
		r.add("/storage", storage, "certificate storage goes into racelab's directory")
	}
	root["storage"] = storage
	logging, _ := root["logging"].(jobj)
	if logging == nil {
		logging = jobj{}
		root["logging"] = logging
	}
	if sink, ok := logging["sink"].(jobj); ok {
		r.rewriteWriter(sink, "/logging/sink")
	}
	logs, _ := logging["logs"].(jobj)
	if logs == nil {
		logs = jobj{}
		logging["logs"] = logs
	}
	for _, name := range jsonKeys(logs) {
		if l, ok := logs[name].(jobj); ok {
			r.rewriteWriter(l, "/logging/logs/"+name)
		}
	}
	ev := jobj{"writer": jobj{"output": "stderr"}, "encoder": jobj{"format": "json"}, "level": "DEBUG",
		"include": CaddyEvidenceLoggers}
	logs[EvidenceLogName] = ev
	r.add("/logging/logs/"+EvidenceLogName, ev, "racelab's evidence: access, error and reverse proxy lines as JSON on standard error")
	for _, name := range jsonKeys(apps) {
		if name != "http" {
			r.change("/apps/"+name, apps[name], nil, "racelab runs only the http app: certificates, ACME, PKI and other apps name or contact addresses of the user's")
			delete(apps, name)
		}
	}
	for _, k := range []string{"http_port", "https_port"} {
		if v, ok := http[k]; ok {
			r.change("/apps/http/"+k, v, nil, "racelab's server listens on its own loopback address")
			delete(http, k)
		}
	}
	if _, ok := http["grace_period"]; !ok {
		http["grace_period"] = "500ms"
		r.add("/apps/http/grace_period", "500ms", "Caddy otherwise waits for ever for racelab's open client connection when it stops")
	}
	for _, name := range jsonKeys(servers) {
		ptr := "/apps/http/servers/" + name
		if name != r.under.server {
			r.change(ptr, servers[name], nil, "only the server that routes to the reverse_proxy under test listens")
			delete(servers, name)
			continue
		}
		srv, _ := servers[name].(jobj)
		r.change(ptr+"/listen", srv["listen"], []string{r.in.Listen}, "racelab's loopback listener")
		srv["listen"] = []string{r.in.Listen}
		ah := jobj{"disable": true}
		r.change(ptr+"/automatic_https", srv["automatic_https"], ah, "racelab listens in plain HTTP: no certificates, no redirects")
		srv["automatic_https"] = ah
		for _, k := range []string{"tls_connection_policies", "listener_wrappers", "protocols"} {
			if v, ok := srv[k]; ok {
				r.change(ptr+"/"+k, v, nil, "racelab listens in plain HTTP/1.1")
				delete(srv, k)
			}
		}
		for _, set := range r.under.hosts {
			r.change(ptr+"/routes", set["host"], []string{caddyJSONHost}, "the host matcher on the way to the reverse_proxy under test: racelab sends Host "+caddyJSONHost+", so no name of the file is written")
			set["host"] = []string{caddyJSONHost}
		}
		logs, _ := srv["logs"].(jobj)
		if logs == nil {
			srv["logs"] = jobj{}
			r.add(ptr+"/logs", jobj{}, "access lines for racelab's evidence log")
		} else if ln, ok := logs["logger_names"].(jobj); ok {
			def := ""
			for _, k := range jsonKeys(ln) {
				if l := asList(ln[k]); len(l) > 0 && (def == "" || k == r.under.host) {
					def, _ = l[0].(string)
				}
			}
			nl := jobj{}
			if def != "" {
				nl["default_logger_name"] = def
			}
			r.change(ptr+"/logs", logs, nl, "loggers named by host: the site's host names are not written, so its logger is the default")
			srv["logs"] = nl
		}
		r.rewriteHandlers(srv, ptr)
	}
}

func (r *caddyJSONRewriter) path(rel string) string {
	return filepath.Join(filepath.Clean(r.in.Dir), rel)
}

// rewriteWriter moves a log's file into Dir and a network writer to
// discard.
func (r *caddyJSONRewriter) rewriteWriter(l jobj, ptr string) {
	w, _ := l["writer"].(jobj)
	if w == nil {
		return
	}
	switch w["output"] {
	case "stderr", "stdout", "discard":
	case "file":
		name, _ := w["filename"].(string)
		nw := jobj{"output": "file", "filename": r.path("logs/" + filepath.Base(name))}
		r.change(ptr+"/writer", w, nw, "log files go into racelab's directory; rolling options dropped")
		l["writer"] = nw
	default:
		nw := jobj{"output": "discard"}
		r.change(ptr+"/writer", w, nw, "a log output that sends to an address of the user's")
		l["writer"] = nw
	}
}

// rewriteHandlers rewrites every reverse_proxy handler under v.
func (r *caddyJSONRewriter) rewriteHandlers(v any, ptr string) {
	switch t := v.(type) {
	case jobj:
		if t["handler"] == "reverse_proxy" {
			r.rewriteProxy(t, ptr)
		}
		for _, k := range jsonKeys(t) {
			r.rewriteHandlers(t[k], ptr+"/"+k)
		}
	case []any:
		for i, e := range t {
			r.rewriteHandlers(e, fmt.Sprintf("%s/%d", ptr, i))
		}
	}
}

func (r *caddyJSONRewriter) rewriteProxy(h jobj, ptr string) {
	under := ptr == r.under.ptr
	addr, why := r.in.Closed, "not under test: a closed loopback port"
	if under {
		addr, why = r.in.Backend, "the reverse_proxy under test: racelab's backend"
	}
	ups := asList(h["upstreams"])
	nu := []any{}
	for range max(len(ups), 1) {
		nu = append(nu, jobj{"dial": addr})
	}
	r.change(ptr+"/upstreams", h["upstreams"], nu, why)
	h["upstreams"] = nu
	if v, ok := h["dynamic_upstreams"]; ok {
		r.change(ptr+"/dynamic_upstreams", v, nil, "dynamic upstreams resolve names (SRV, A) or ask a service: racelab never resolves a name of the file")
		delete(h, "dynamic_upstreams")
	}
	tr, _ := h["transport"].(jobj)
	if tr == nil {
		if !under || !r.in.scaled() {
			return
		}
		tr = jobj{"protocol": "http"}
		h["transport"] = tr
	}
	if tr["protocol"] != "http" {
		return
	}
	for _, k := range jsonKeys(tr) {
		switch k {
		case "tls", "resolver", "forward_proxy_url", "proxy_protocol", "local_address", "network_proxy":
			r.change(ptr+"/transport/"+k, tr[k], nil, "TLS, resolvers and proxies of the user's: racelab's backend speaks plain HTTP on loopback")
			delete(tr, k)
		}
	}
	if !under || !r.in.scaled() {
		return
	}
	ka, _ := tr["keep_alive"].(jobj)
	if ka == nil {
		ka = jobj{}
		tr["keep_alive"] = ka
	}
	d := caddyIdleDefault
	from := "Caddy's default keepalive 2m"
	if v, ok := ka["idle_timeout"]; ok {
		if t, err := jsonDuration(v); err == nil {
			d, from = t, "its idle_timeout"
		}
	}
	if d == 0 {
		return
	}
	nv := msText(r.in.scale(d))
	r.change(ptr+"/transport/keep_alive/idle_timeout", ka["idle_timeout"], nv, fmt.Sprintf("timescale %g of %s", r.in.Timescale, from))
	ka["idle_timeout"] = nv
}

// jsonDuration reads a Caddy JSON duration: a string, or nanoseconds.
func jsonDuration(v any) (time.Duration, error) {
	switch t := v.(type) {
	case string:
		return ParseCaddyDuration(t)
	case json.Number:
		n, err := t.Int64()
		if err != nil || n < 0 {
			return 0, fmt.Errorf("duration %s: want nanoseconds", t)
		}
		return time.Duration(n), nil
	}
	return 0, fmt.Errorf("duration %v: want a string or nanoseconds", v)
}

// scrub replaces every remaining host of the file in string values.
func (r *caddyJSONRewriter) scrub(v any, ptr string) {
	switch t := v.(type) {
	case jobj:
		for _, k := range jsonKeys(t) {
			if s, ok := t[k].(string); ok {
				if ns := scrubAddr(s, r.hosts, r.in.Closed); ns != s {
					r.change(ptr+"/"+k, s, ns, "it names a host or address of the user's: replaced by loopback")
					t[k] = ns
				}
				continue
			}
			r.scrub(t[k], ptr+"/"+k)
		}
	case []any:
		for i, e := range t {
			if s, ok := e.(string); ok {
				if ns := scrubAddr(s, r.hosts, r.in.Closed); ns != s {
					r.change(fmt.Sprintf("%s/%d", ptr, i), s, ns, "it names a host or address of the user's: replaced by loopback")
					t[i] = ns
				}
				continue
			}
			r.scrub(e, fmt.Sprintf("%s/%d", ptr, i))
		}
	}
}

func (r *caddyJSONRewriter) effective() []Setting {
	h := r.under.h
	ptr := r.under.ptr
	src := func(p string) string { f, l := r.pos(p); return fmt.Sprintf("%s:%d", f, l) }
	tr, _ := h["transport"].(jobj)
	ka, _ := tr["keep_alive"].(jobj)
	lb, _ := h["load_balancing"].(jobj)
	get := func(m jobj, key, p, name, def, note string) Setting {
		if v, ok := m[key]; ok {
			s := fmt.Sprint(v)
			if name == "idle_timeout" {
				if d, err := jsonDuration(v); err == nil {
					s = d.String()
				}
			}
			return Setting{Name: name, Value: s, Source: src(p + "/" + key), Note: note}
		}
		return Setting{Name: name, Value: def, Default: true, Note: note}
	}
	idle := get(ka, "idle_timeout", ptr+"/transport/keep_alive", "idle_timeout", "2m", "transport keep_alive.idle_timeout of the reverse_proxy under test")
	reuse := Setting{Name: "reuse", Value: "pooled", Default: true, Note: "Go's transport keeps idle upstream connections"}
	if en, ok := ka["enabled"].(bool); ok && !en {
		idle.Value = "off"
		reuse = Setting{Name: "reuse", Value: "off", Source: src(ptr + "/transport/keep_alive/enabled"), Note: "keep_alive disabled: nothing to race"}
	}
	retry := get(lb, "retries", ptr+"/load_balancing", "retry", "off", "Go's HTTP transport under Caddy retries a GET, HEAD or OPTIONS without a body once on a reused connection that died before answering, whatever load_balancing says")
	return []Setting{
		idle,
		get(ka, "max_idle_conns_per_host", ptr+"/transport/keep_alive", "pool_size", caddyPoolDefault, "keep_alive.max_idle_conns_per_host"),
		get(tr, "max_conns_per_host", ptr+"/transport", "max_conns_per_host", "0", "0: no limit"),
		reuse,
		retry,
		get(lb, "try_duration", ptr+"/load_balancing", "try_duration", "0", "load_balancing.try_duration"),
	}
}

// jsonKeys are m's keys, sorted.
func jsonKeys(m jobj) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
