package proxyconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// CaddyConfigName is the rewritten Caddyfile's name.
const CaddyConfigName = "Caddyfile"

// caddyIdleDefault is Caddy's upstream keepalive when the http transport
// sets none; caddyPoolDefault its keepalive_idle_conns_per_host.
const (
	caddyIdleDefault = 2 * time.Minute
	caddyPoolDefault = "32"
)

// CaddyEvidenceLoggers are the loggers racelab's evidence log includes:
// access and error lines of every site, and the reverse proxy's round
// trips (at debug).
var CaddyEvidenceLoggers = []string{"http.log.access", "http.log.error", "http.handlers.reverse_proxy"}

// caddyGlobalKept are global options kept as written (log and servers are
// rewritten); every other one is dropped with a reason.
var caddyGlobalKept = map[string]bool{"debug": true, "grace_period": true, "shutdown_delay": true, "order": true}

// caddyNoCerts are global options about certificates, ACME, DNS and
// storage: racelab listens in plain HTTP and Caddy must ask no one.
var caddyNoCerts = map[string]bool{"email": true, "acme_ca": true, "acme_ca_root": true, "acme_dns": true,
	"acme_eab": true, "cert_issuer": true, "on_demand_tls": true, "local_certs": true, "skip_install_trust": true,
	"key_type": true, "ocsp_stapling": true, "ocsp_interval": true, "preferred_chains": true, "pki": true,
	"default_sni": true, "fallback_sni": true, "renew_interval": true, "cert_lifetime": true,
	"storage": true, "storage_clean_interval": true, "storage_check": true, "auto_https": true, "cert_issuers": true}

// caddyUpstreamDirectives are site directives whose arguments (after a
// matcher) and "to" lines are upstream addresses.
var caddyUpstreamDirectives = map[string]bool{"reverse_proxy": true, "forward_auth": true, "php_fastcgi": true}

type caddyRP struct {
	d, site *Directive
	path    string // the path prefix that reaches it ("" none found)
	strip   bool
	source  string
	name    string
	labels  []string
	why     string // why it cannot be the route
	errors  bool   // inside handle_errors
}

type caddyRewriter struct {
	in      Input
	under   *caddyRP
	changes []Change
	hosts   []string // every host the file names, for the final check
	sites   map[*Directive]bool
}

// isCaddyJSON tells Caddy's native JSON config from a Caddyfile.
func isCaddyJSON(path string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return true
	}
	t := bytes.TrimSpace(data)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

func rewriteCaddy(in Input) (*Result, error) {
	fsys := in.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	data, err := fsys.ReadFile(in.Path)
	if err != nil {
		return nil, err
	}
	if isCaddyJSON(in.Path, data) {
		return rewriteCaddyJSON(in, data)
	}
	p := &CaddyfileParser{FS: fsys, Root: in.Root}
	top, err := p.Parse(in.Path)
	if err != nil {
		return nil, err
	}
	if in.Root != "" {
		trimRoot(top, filepath.Clean(in.Root))
	}
	global, sites, err := CaddySites(top)
	if err != nil {
		return nil, err
	}
	r := &caddyRewriter{in: in, sites: map[*Directive]bool{}}
	var rps []*caddyRP
	for _, s := range sites {
		r.sites[s] = true
		for _, a := range siteAddrs(s) {
			r.hosts = appendHost(r.hosts, a)
		}
		rps = append(rps, r.collect(s, s.Block, "", "", false, false)...)
	}
	if r.under, err = pickCaddy(in, rps); err != nil {
		return nil, err
	}
	eff := r.effective()
	out := []*Directive{r.rewriteGlobal(global)}
	for _, s := range sites {
		if s != r.under.site {
			r.record(s, nil, "only the site that routes to the reverse_proxy under test listens: racelab sends its requests there", false)
			continue
		}
		out = append(out, r.rewriteSite(s))
	}
	r.scrub(out[1:])
	if global != nil {
		r.scrub(out[0].Block)
	}
	text, origins := EmitCaddyfile(out)
	header := "# Caddyfile rewritten by racelab from " + in.Path + "; every change is listed in the run's facts.\n"
	dir := filepath.Clean(in.Dir)
	conf := filepath.Join(dir, CaddyConfigName)
	under := r.under
	host := ""
	if a := siteAddrs(under.site); len(a) > 0 {
		host = plainHost(a[0])
	}
	upPath := under.path
	if under.strip {
		upPath = "/"
	}
	var names []string
	for _, rp := range rps {
		if !rp.errors {
			names = append(names, rp.name)
		}
	}
	return &Result{
		Main:         CaddyConfigName,
		Files:        map[string]string{CaddyConfigName: header + text},
		Origins:      map[string][]string{CaddyConfigName: append([]string{""}, origins...)},
		Dirs:         []string{"data", "logs", "config"},
		Args:         []string{"run", "--config", conf, "--adapter", "caddyfile"},
		ValidateArgs: []string{"validate", "--config", conf, "--adapter", "caddyfile"},
		Env:          CaddyEnv(dir),
		Changes:      r.changes,
		Route:        Route{Path: under.path, Host: host, UpstreamPath: upPath, Source: under.source},
		Upstream:     under.name,
		Upstreams:    names,
		Effective:    eff,
		Notes: []string{"Caddy's Caddyfile (2.6) cannot turn off its config autosave: racelab points HOME and XDG_CONFIG_HOME into its directory, so the autosave stays there",
			"handle blocks are matched by Caddy's own order (most specific path first): racelab sends its requests under " + under.path + " and does not check that no other handle shadows it"},
	}, nil
}

// CaddySites splits a parsed Caddyfile into its global options block (nil
// when it has none) and its sites: each an address line and its block, or
// the one site of a file without braces, whose directives follow its
// address.
func CaddySites(top []*Directive) (global *Directive, sites []*Directive, err error) {
	if len(top) > 0 && top[0].Name == "" && top[0].HasBlock {
		global, top = top[0], top[1:]
	}
	if len(top) > 0 && !top[0].HasBlock {
		site := &Directive{Name: top[0].Name, Args: top[0].Args, File: top[0].File, Line: top[0].Line, HasBlock: true, Block: top[1:]}
		return global, []*Directive{site}, nil
	}
	for _, s := range top {
		if !s.HasBlock || s.Name == "" {
			return nil, nil, fmt.Errorf("%s: want a site block (addresses and a block)", s.Pos())
		}
		sites = append(sites, s)
	}
	return global, sites, nil
}

// CaddyEnv is the environment a Caddy running a rewritten Caddyfile gets:
// its home, config and data directories inside dir, so its autosave and
// certificate storage stay there.
func CaddyEnv(dir string) []string {
	return []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "XDG_DATA_HOME=" + filepath.Join(dir, "data")}
}

// siteAddrs are a site block's addresses, commas dropped.
func siteAddrs(s *Directive) []string {
	var out []string
	for _, a := range append([]string{s.Name}, s.Args...) {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// isMatcher reports a matcher token: *, a path, or a named matcher.
func isMatcher(tok string) bool {
	return tok == "*" || strings.HasPrefix(tok, "/") || strings.HasPrefix(tok, "@")
}

// upstreamArgs splits an upstream directive's arguments into its matcher
// ("" none) and its upstreams.
func upstreamArgs(d *Directive) (string, []string) {
	if len(d.Args) > 0 && isMatcher(d.Args[0]) {
		return d.Args[0], d.Args[1:]
	}
	return "", d.Args
}

// matcherPath turns a matcher token of site into a path prefix: "*" and
// "" are "/", "/api/*" is "/api/", a named matcher must be one path.
func matcherPath(site *Directive, m string) (string, string) {
	switch {
	case m == "" || m == "*":
		return "/", ""
	case strings.HasPrefix(m, "/"):
		if !strings.HasSuffix(m, "*") || strings.Count(m, "*") != 1 {
			return "", fmt.Sprintf("matcher %s is not a path prefix (/path/*)", m)
		}
		return strings.TrimSuffix(m, "*"), ""
	}
	for _, d := range site.Block {
		if d.Name != m {
			continue
		}
		var path []string
		if !d.HasBlock && d.Arg(0) == "path" {
			path = d.Args[1:]
		}
		if d.HasBlock && len(d.Block) == 1 && d.Block[0].Name == "path" {
			path = d.Block[0].Args
		}
		if len(path) != 1 {
			return "", fmt.Sprintf("matcher %s (%s) is not one path prefix", m, d.Pos())
		}
		return matcherPath(site, path[0])
	}
	return "", fmt.Sprintf("matcher %s is not defined in the site", m)
}

// collect finds the upstream directives of site in ds, with the path
// prefix that reaches each.
func (r *caddyRewriter) collect(site *Directive, ds []*Directive, path, source string, strip, inErrors bool) []*caddyRP {
	var out []*caddyRP
	for _, d := range ds {
		switch {
		case caddyUpstreamDirectives[d.Name]:
			_, ups := upstreamArgs(d)
			for _, u := range ups {
				r.hosts = appendHost(r.hosts, u)
			}
			for _, c := range d.Block {
				if c.Name == "to" || c.Name == "dynamic" {
					args := c.Args
					if c.Name == "dynamic" && len(args) > 0 {
						args = args[1:] // the module: srv, a, multi
					}
					for _, u := range args {
						r.hosts = appendHost(r.hosts, u)
					}
				}
			}
			if d.Name != "reverse_proxy" {
				continue
			}
			rp := &caddyRP{d: d, site: site, path: path, strip: strip, source: source, errors: inErrors}
			m, _ := upstreamArgs(d)
			if m != "" {
				p, why := matcherPath(site, m)
				if why != "" {
					rp.why = d.Pos() + ": " + why
				} else if p != "/" || path == "" {
					rp.path, rp.source = p, d.Pos()
				}
			}
			if rp.path == "" && rp.why == "" {
				rp.path = "/"
			}
			if rp.source == "" {
				rp.source = d.Pos()
			}
			addrs := siteAddrs(site)
			label := "*"
			if m != "" {
				label = m
			} else if path != "" && path != "/" {
				label = path + "*"
			}
			rp.name = strings.Join(addrs, ",") + " " + label
			rp.labels = append(append(slices.Clone(addrs), label, rp.name), ups...)
			for _, a := range addrs {
				if _, rest, ok := strings.Cut(a, "://"); ok {
					rp.labels = append(rp.labels, rest)
				}
			}
			for _, c := range d.Block {
				if c.Name == "to" {
					rp.labels = append(rp.labels, c.Args...)
				}
			}
			out = append(out, rp)
		case d.Name == "handle" || d.Name == "handle_path" || d.Name == "route":
			p, src, st := path, source, strip
			if d.Name == "handle_path" {
				st = true
			}
			if m := d.Arg(0); m != "" {
				mp, why := matcherPath(site, m)
				if why != "" {
					for _, rp := range r.collect(site, d.Block, "", "", st, inErrors) {
						rp.why = d.Pos() + ": " + why
						out = append(out, rp)
					}
					continue
				}
				if mp != "/" || p == "" {
					p, src = mp, d.Pos()
				}
			}
			out = append(out, r.collect(site, d.Block, p, src, st, inErrors)...)
		case d.HasBlock:
			out = append(out, r.collect(site, d.Block, path, source, strip, inErrors || d.Name == "handle_errors")...)
		}
	}
	return out
}

// pickCaddy picks the reverse_proxy under test: the only one, or the one
// whose site address, path matcher, name or upstream is in.Upstream.
func pickCaddy(in Input, rps []*caddyRP) (*caddyRP, error) {
	var names []string
	var cands []*caddyRP
	all := 0
	for _, rp := range rps {
		if rp.errors {
			continue
		}
		all++
		names = append(names, rp.name+" ("+rp.d.Pos()+")")
		if in.Upstream == "" || slices.Contains(rp.labels, in.Upstream) {
			cands = append(cands, rp)
		}
	}
	switch {
	case all == 0:
		return nil, fmt.Errorf("%s: no reverse_proxy in the configuration", in.Path)
	case len(cands) == 0:
		return nil, fmt.Errorf("%s: no reverse_proxy named %q (found: %s)", in.Path, in.Upstream, strings.Join(names, ", "))
	case len(cands) > 1 && in.Upstream == "":
		return nil, fmt.Errorf("%s: %d reverse_proxy directives (%s): name the one under test by its site address, path matcher or upstream", in.Path, len(cands), strings.Join(names, ", "))
	case len(cands) > 1:
		return nil, fmt.Errorf("%s: %q names %d reverse_proxy directives (%s): name the one under test by its site and path", in.Path, in.Upstream, len(cands), strings.Join(names, ", "))
	}
	if cands[0].why != "" {
		return nil, fmt.Errorf("no listener routes to reverse_proxy %s: %s", cands[0].name, cands[0].why)
	}
	return cands[0], nil
}

func (r *caddyRewriter) record(d, nw *Directive, why string, pooling bool) {
	c := Change{Directive: d.Name, File: d.File, Line: d.Line, Old: caddyText(d), Why: why, AltersPooling: pooling}
	if r.sites[d] {
		c.Directive = "site"
	}
	if nw != nil {
		c.New = caddyText(nw)
	}
	r.changes = append(r.changes, c)
}

func (r *caddyRewriter) added(d *Directive, why string) {
	r.changes = append(r.changes, Change{Directive: d.Name, New: caddyText(d), Why: why})
}

func (r *caddyRewriter) path(rel string) string { return filepath.Join(filepath.Clean(r.in.Dir), rel) }

func cdir(name string, args ...string) *Directive { return &Directive{Name: name, Args: args} }

func blockDir(name string, args []string, block ...*Directive) *Directive {
	return &Directive{Name: name, Args: args, HasBlock: true, Block: block}
}

// rewriteGlobal builds the global options block: racelab's own, then the
// user's that are kept.
func (r *caddyRewriter) rewriteGlobal(g *Directive) *Directive {
	out := &Directive{HasBlock: true}
	own := []*Directive{cdir("admin", "off"), cdir("auto_https", "off"),
		blockDir("storage", []string{"file_system"}, cdir("root", r.path("data"))),
		blockDir("log", []string{EvidenceLogName}, cdir("output", "stderr"), cdir("format", "json"), cdir("level", "DEBUG"),
			cdir("include", CaddyEvidenceLoggers...))}
	whys := []string{"no admin endpoint: it would listen on localhost:2019",
		"racelab listens in plain HTTP: no certificates, no ACME, no redirects",
		"certificate storage goes into racelab's directory",
		"racelab's evidence: access, error and reverse proxy lines as JSON on standard error"}
	for i, d := range own {
		r.added(d, whys[i])
	}
	out.Block = own
	grace := false
	if g != nil {
		out.File, out.Line = g.File, g.Line
		for _, d := range g.Block {
			switch {
			case caddyGlobalKept[d.Name]:
				grace = grace || d.Name == "grace_period"
				out.Block = append(out.Block, d)
			case d.Name == "log":
				if len(d.Args) > 0 && d.Args[0] == EvidenceLogName {
					r.record(d, nil, "the name of racelab's evidence log", false)
					continue
				}
				out.Block = append(out.Block, r.rewriteLog(d))
			case d.Name == "servers":
				if len(d.Args) > 0 {
					r.record(d, nil, "server options for a listener address of the user's: racelab's site has its own", false)
					continue
				}
				d.Block = r.dropIn(d.Block, map[string]string{"listener_wrappers": "listener wrappers (proxy protocol, TLS) change what racelab's client must speak"})
				out.Block = append(out.Block, d)
			case d.Name == "admin" || d.Name == "persist_config":
				r.record(d, nil, "racelab turns the admin endpoint off", false)
			case caddyNoCerts[d.Name]:
				r.record(d, nil, "racelab listens in plain HTTP: certificates, ACME, DNS challenges and their storage are dropped, so Caddy asks no one", false)
			case d.Name == "http_port" || d.Name == "https_port" || d.Name == "default_bind":
				r.record(d, nil, "racelab's site listens on its own loopback address", false)
			default:
				r.record(d, nil, "a global option racelab's rewriter does not know: dropped, so it cannot name an address", false)
			}
		}
	}
	if !grace {
		d := cdir("grace_period", "500ms")
		r.added(d, "Caddy otherwise waits for ever for racelab's open client connection when it stops")
		out.Block = append(out.Block, d)
	}
	return out
}

// dropIn drops the directives of ds named in why.
func (r *caddyRewriter) dropIn(ds []*Directive, why map[string]string) []*Directive {
	var out []*Directive
	for _, d := range ds {
		if w, ok := why[d.Name]; ok {
			r.record(d, nil, w, false)
			continue
		}
		out = append(out, d)
	}
	return out
}

// rewriteLog moves a log's file output into Dir and drops network
// outputs.
func (r *caddyRewriter) rewriteLog(d *Directive) *Directive {
	var block []*Directive
	for _, c := range d.Block {
		if c.Name != "output" {
			block = append(block, c)
			continue
		}
		switch c.Arg(0) {
		case "stderr", "stdout", "discard":
			block = append(block, c)
		case "file":
			nc := &Directive{Name: "output", Args: []string{"file", r.path("logs/" + filepath.Base(c.Arg(1)))}, File: c.File, Line: c.Line}
			r.record(c, nc, "log files go into racelab's directory; rolling options dropped", false)
			block = append(block, nc)
		default:
			nc := &Directive{Name: "output", Args: []string{"discard"}, File: c.File, Line: c.Line}
			r.record(c, nc, "a log output that sends to an address of the user's", false)
			block = append(block, nc)
		}
	}
	d.Block = block
	return d
}

// rewriteSite rewrites the site under test: racelab's address, a loopback
// bind, and its directives.
func (r *caddyRewriter) rewriteSite(s *Directive) *Directive {
	port := r.in.Listen[strings.LastIndex(r.in.Listen, ":")+1:]
	ns := &Directive{Name: "http://:" + port, File: s.File, Line: s.Line, HasBlock: true}
	r.record(s, &Directive{Name: ns.Name, HasBlock: true}, "racelab's loopback listener in plain HTTP (bound to 127.0.0.1 below); the site's host names no longer match requests, so any Host reaches it", false)
	bind := cdir("bind", addrIP(r.in.Listen))
	r.added(bind, "racelab's loopback listener")
	block := []*Directive{bind}
	hasLog := false
	for _, d := range s.Block {
		switch d.Name {
		case "bind":
			r.record(d, nil, "one listener: racelab's", false)
			continue
		case "log":
			hasLog = true
		}
		block = append(block, d)
	}
	ns.Block = r.rewriteBlock(block)
	if !hasLog {
		d := blockDir("log", nil, cdir("output", "discard"))
		r.added(d, "access lines for racelab's evidence log (which includes http.log.access); the site logged none")
		ns.Block = append(ns.Block, d)
	}
	return ns
}

func (r *caddyRewriter) rewriteBlock(ds []*Directive) []*Directive {
	var out []*Directive
	for _, d := range ds {
		switch {
		case d.Name == "tls":
			r.record(d, nil, "racelab listens in plain HTTP: certificates, ACME and DNS challenges are dropped", false)
		case d.Name == "acme_server" || d.Name == "tracing":
			r.record(d, nil, "it talks to addresses of the user's", false)
		case d.Name == "log":
			out = append(out, r.rewriteLog(d))
		case caddyUpstreamDirectives[d.Name]:
			out = append(out, r.rewriteUpstreams(d))
		case d.HasBlock && !strings.HasPrefix(d.Name, "@"):
			d.Block = r.rewriteBlock(d.Block)
			out = append(out, d)
		default:
			out = append(out, d)
		}
	}
	return out
}

// target maps one upstream address to racelab's: the backend for the
// reverse_proxy under test, the closed port for every other.
func (r *caddyRewriter) target(u string, under bool) (string, string) {
	if !under {
		return r.in.Closed, "not under test: a closed loopback port"
	}
	why := "the reverse_proxy under test: racelab's backend"
	switch {
	case strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "h2c://") || strings.HasPrefix(u, "h2://"):
		why += ", in plain HTTP/1.1"
	case strings.Contains(u, "{"):
		why = "a placeholder could name any address: " + why
	}
	return r.in.Backend, why
}

// rewriteUpstreams points an upstream directive at racelab's backend (the
// reverse_proxy under test) or the closed port.
func (r *caddyRewriter) rewriteUpstreams(d *Directive) *Directive {
	under := d == r.under.d
	m, ups := upstreamArgs(d)
	nd := &Directive{Name: d.Name, File: d.File, Line: d.Line, HasBlock: d.HasBlock}
	if m != "" {
		nd.Args = append(nd.Args, m)
	}
	why := ""
	for _, u := range ups {
		t, w := r.target(u, under)
		nd.Args, why = append(nd.Args, t), w
	}
	if len(ups) > 0 {
		r.record(d, nd, why, false)
	}
	static := len(ups)
	var transport *Directive
	for _, c := range d.Block {
		switch c.Name {
		case "to":
			nc := &Directive{Name: "to", File: c.File, Line: c.Line}
			for _, u := range c.Args {
				t, w := r.target(u, under)
				nc.Args, why = append(nc.Args, t), w
			}
			static += len(c.Args)
			r.record(c, nc, why, false)
			nd.Block = append(nd.Block, nc)
		case "dynamic":
			r.record(c, nil, "dynamic upstreams resolve names (SRV, A) or ask a service: racelab never resolves a name of the file", false)
		case "transport":
			if nc := r.rewriteTransport(c, under); nc != nil {
				transport = nc
				nd.Block = append(nd.Block, nc)
			}
		case "fail_duration":
			if under && r.in.scaled() {
				if t, err := ParseCaddyDuration(c.Arg(0)); err == nil && t > 0 {
					nc := &Directive{Name: c.Name, Args: []string{msText(r.in.scale(t))}, File: c.File, Line: c.Line}
					r.record(c, nc, fmt.Sprintf("timescale %g: a failure counts against the upstream for the scaled time, as the race's failures come closer together", r.in.Timescale), false)
					nd.Block = append(nd.Block, nc)
					continue
				}
			}
			nd.Block = append(nd.Block, c)
		default:
			if c.HasBlock {
				c.Block = r.rewriteBlock(c.Block)
			}
			nd.Block = append(nd.Block, c)
		}
	}
	if static == 0 {
		t, w := r.target("", under)
		to := cdir("to", t)
		r.added(to, w+" (the directive had only dynamic upstreams)")
		nd.Block = append(nd.Block, to)
		nd.HasBlock = true
	}
	if under && transport == nil && r.in.scaled() && d.Name == "reverse_proxy" {
		ka := cdir("keepalive", msText(r.in.scale(caddyIdleDefault)))
		t := blockDir("transport", []string{"http"}, ka)
		r.added(t, fmt.Sprintf("timescale %g of Caddy's default upstream keepalive 2m", r.in.Timescale))
		nd.Block = append(nd.Block, t)
		nd.HasBlock = true
	}
	return nd
}

// rewriteTransport drops a transport's TLS, resolvers and proxies and
// scales the keepalive of the one under test.
func (r *caddyRewriter) rewriteTransport(t *Directive, under bool) *Directive {
	if t.Arg(0) != "http" {
		return t // fastcgi to the closed port: no TLS to drop
	}
	nt := &Directive{Name: t.Name, Args: t.Args, File: t.File, Line: t.Line, HasBlock: true}
	hasKA := false
	for _, c := range t.Block {
		switch {
		case c.Name == "tls" || strings.HasPrefix(c.Name, "tls_"):
			r.record(c, nil, "racelab's backend speaks plain HTTP: TLS to the upstream is dropped", false)
		case c.Name == "resolvers" || c.Name == "forward_proxy_url" || c.Name == "local_address":
			r.record(c, nil, "it names addresses of the user's: racelab never resolves or contacts them", false)
		case c.Name == "proxy_protocol":
			r.record(c, nil, "racelab's backend does not read a PROXY protocol header", false)
		case c.Name == "versions" && under && !slices.Contains(c.Args, "1.1"):
			nc := &Directive{Name: c.Name, Args: []string{"1.1"}, File: c.File, Line: c.Line}
			r.record(c, nc, "racelab's backend speaks HTTP/1.1, where the keep-alive race lives", false)
			nt.Block = append(nt.Block, nc)
		case c.Name == "keepalive" && under:
			hasKA = true
			d, err := ParseCaddyDuration(c.Arg(0))
			if !r.in.scaled() || err != nil || d == 0 {
				nt.Block = append(nt.Block, c)
				continue
			}
			nc := &Directive{Name: c.Name, Args: []string{msText(r.in.scale(d))}, File: c.File, Line: c.Line}
			r.record(c, nc, fmt.Sprintf("timescale %g", r.in.Timescale), false)
			nt.Block = append(nt.Block, nc)
		default:
			nt.Block = append(nt.Block, c)
		}
	}
	if under && !hasKA && r.in.scaled() {
		ka := cdir("keepalive", msText(r.in.scale(caddyIdleDefault)))
		r.added(ka, fmt.Sprintf("timescale %g of Caddy's default upstream keepalive 2m", r.in.Timescale))
		nt.Block = append(nt.Block, ka)
	}
	return nt
}

// scrub replaces, in every token that remains, a host the file names
// elsewhere (an upstream, a site address) or a non-loopback IPv4 address
// (not a network: 10.0.0.0/8 is an access rule) by loopback: a header
// value or matcher is not contacted, but no name of the user's file is
// written. host:port becomes the closed port.
func (r *caddyRewriter) scrub(ds []*Directive) {
	for _, d := range ds {
		if d.File == "" {
			continue
		}
		old := caddyText(d)
		changed := false
		for _, t := range append([]*string{&d.Name}, argPtrs(d)...) {
			a := *t
			if na := r.scrubToken(a); na != a {
				*t, changed = na, true
			}
		}
		if changed {
			nd := &Directive{Name: d.Name, Args: d.Args, HasBlock: d.HasBlock}
			c := Change{Directive: d.Name, File: d.File, Line: d.Line, Old: old, New: caddyText(nd),
				Why: "it names a host or address of the user's: replaced by loopback, so no name of the file is written"}
			r.changes = append(r.changes, c)
		}
		r.scrub(d.Block)
	}
}

func (r *caddyRewriter) scrubToken(a string) string { return scrubAddr(a, r.hosts, r.in.Closed) }
