package proxyconf

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NginxConfigName is the rewritten nginx configuration's file name.
const NginxConfigName = "nginx.conf"

// nginxTempPaths are the five *_temp_path directives and their
// directories inside Dir.
var nginxTempPaths = [][2]string{
	{"client_body_temp_path", "temp/client_body"},
	{"proxy_temp_path", "temp/proxy"},
	{"fastcgi_temp_path", "temp/fastcgi"},
	{"uwsgi_temp_path", "temp/uwsgi"},
	{"scgi_temp_path", "temp/scgi"},
}

// nginxPass are the directives that send requests to an address.
var nginxPass = map[string]bool{"proxy_pass": true, "fastcgi_pass": true, "uwsgi_pass": true,
	"scgi_pass": true, "grpc_pass": true, "memcached_pass": true}

// nginxOpaque are blocks whose entries are data, not directives.
var nginxOpaque = map[string]bool{"map": true, "geo": true, "types": true, "split_clients": true,
	"match": true, "charset_map": true}

type ngxRewriter struct {
	in        Input
	under     string
	upstreams map[string]bool
	changes   []Change
	route     *ngxRoute
}

// ngxRoute is the location that routes to the upstream under test.
type ngxRoute struct {
	server *Directive
	chain  []*Directive // http, server, location...
	loc    *Directive
	route  Route
}

func rewriteNginx(in Input) (*Result, error) {
	p := &NginxParser{FS: in.FS, Root: in.Root,
		SkipMissing: func(f string, _ []string) bool { return filepath.Base(f) == "mime.types" }}
	top, err := p.Parse(in.Path)
	if err != nil {
		return nil, err
	}
	if in.Root != "" {
		trimRoot(top, filepath.Clean(in.Root))
	}
	main := &Directive{Block: top}
	https := main.Find("http")
	if len(https) != 1 {
		return nil, fmt.Errorf("%s: want one http block, found %d", in.Path, len(https))
	}
	http := https[0]
	r := &ngxRewriter{in: in, upstreams: map[string]bool{}}
	var names []string
	for _, u := range http.Find("upstream") {
		if len(u.Args) != 1 || !u.HasBlock {
			return nil, fmt.Errorf("%s: upstream wants one name and a block", u.Pos())
		}
		names = append(names, u.Args[0])
		r.upstreams[u.Args[0]] = true
	}
	if r.under, err = pickUpstream(names, in.Upstream, "upstream"); err != nil {
		return nil, fmt.Errorf("%s: %w", in.Path, err)
	}
	if r.route, err = r.findRoute(http); err != nil {
		return nil, err
	}
	eff, err := r.effective(main, http)
	if err != nil {
		return nil, err
	}
	top = r.rewriteMain(top)
	text, origins := EmitNginx(top)
	header := "# nginx configuration rewritten by racelab from " + in.Path + "; every change is listed in the run's facts.\n"
	dir := filepath.Clean(in.Dir)
	conf := filepath.Join(dir, NginxConfigName)
	res := &Result{
		Main:         NginxConfigName,
		Files:        map[string]string{NginxConfigName: header + text},
		Origins:      map[string][]string{NginxConfigName: append([]string{""}, origins...)},
		Dirs:         []string{"logs"},
		Args:         []string{"-p", dir + "/", "-c", conf, "-e", "stderr", "-g", "daemon off;"},
		ValidateArgs: []string{"-t", "-p", dir + "/", "-c", conf, "-e", "stderr"},
		Changes:      r.changes,
		Route:        r.route.route,
		Upstream:     r.under,
		Upstreams:    names,
		Effective:    eff,
		Notes:        p.Notes,
	}
	for _, t := range nginxTempPaths {
		res.Dirs = append(res.Dirs, t[1])
	}
	return res, nil
}

// trimRoot shows files under root by their path inside the tree.
func trimRoot(ds []*Directive, root string) {
	for _, d := range ds {
		if rel, ok := strings.CutPrefix(d.File, root+"/"); ok {
			d.File = "/" + rel
		}
		trimRoot(d.Block, root)
	}
}

// directiveText renders a directive as one line (a block as "{ ... }").
func directiveText(d *Directive) string {
	var b strings.Builder
	b.WriteString(d.Name)
	for _, a := range d.Args {
		b.WriteByte(' ')
		b.WriteString(NginxQuote(a))
	}
	if d.HasBlock {
		b.WriteString(" { ... }")
	} else {
		b.WriteByte(';')
	}
	return b.String()
}

func (r *ngxRewriter) record(d *Directive, nw *Directive, why string, pooling bool) {
	c := Change{Directive: d.Name, File: d.File, Line: d.Line, Old: directiveText(d), Why: why, AltersPooling: pooling}
	if nw != nil {
		c.New = directiveText(nw)
	}
	r.changes = append(r.changes, c)
}

func (r *ngxRewriter) added(d *Directive, why string) {
	r.changes = append(r.changes, Change{Directive: d.Name, New: directiveText(d), Why: why})
}

func (r *ngxRewriter) path(rel string) string { return filepath.Join(filepath.Clean(r.in.Dir), rel) }

func (r *ngxRewriter) errorLog() *Directive {
	return &Directive{Name: "error_log", Args: []string{"stderr", "info"}}
}

func (r *ngxRewriter) evidenceLog() *Directive {
	return &Directive{Name: "access_log", Args: []string{"/dev/stdout", EvidenceLogName}}
}

// rewriteMain rewrites the main context.
func (r *ngxRewriter) rewriteMain(top []*Directive) []*Directive {
	var out []*Directive
	seen := map[string]bool{}
	for _, d := range top {
		seen[d.Name] = true
		switch d.Name {
		case "user":
			if r.in.RunAsRoot {
				nd := &Directive{Name: "user", Args: []string{"root"}, File: d.File, Line: d.Line}
				r.record(d, nd, "the master runs as root: workers stay root so they can enter racelab's 0700 directory", false)
				out = append(out, nd)
			} else {
				r.record(d, nil, "racelab runs nginx unprivileged: it cannot switch users", false)
			}
		case "daemon":
			r.record(d, nil, "racelab runs nginx in the foreground (-g 'daemon off;')", false)
		case "pid", "lock_file":
			nd := &Directive{Name: d.Name, Args: []string{r.path("nginx." + strings.TrimSuffix(d.Name, "_file"))}, File: d.File, Line: d.Line}
			r.record(d, nd, "runtime files go into racelab's directory", false)
			out = append(out, nd)
		case "worker_processes":
			if d.Arg(0) == "1" {
				out = append(out, d)
				continue
			}
			nd := &Directive{Name: d.Name, Args: []string{"1"}, File: d.File, Line: d.Line}
			r.record(d, nd, "pools are per worker: with several workers a request may land on a worker whose pool is empty, so racelab runs one", true)
			out = append(out, nd)
		case "error_log":
			out = append(out, r.rewriteErrorLog(d)...)
		case "stream", "mail":
			r.record(d, nil, "racelab tests HTTP upstreams; a "+d.Name+" block listens on and connects to addresses of its own", false)
		case "http":
			d.Block = r.rewriteHTTP(d)
			out = append(out, d)
		default:
			out = append(out, d)
		}
	}
	var pre []*Directive
	if r.in.RunAsRoot && !seen["user"] {
		d := &Directive{Name: "user", Args: []string{"root"}}
		r.added(d, "the master runs as root: workers stay root so they can enter racelab's 0700 directory")
		pre = append(pre, d)
	}
	if !seen["pid"] {
		d := &Directive{Name: "pid", Args: []string{r.path("nginx.pid")}}
		r.added(d, "nginx's compiled-in pid path is outside racelab's directory")
		pre = append(pre, d)
	}
	el := r.errorLog()
	r.added(el, "racelab's evidence: upstream errors on standard error")
	pre = append(pre, el)
	return append(pre, out...)
}

// rewriteErrorLog moves an error log into Dir and drops syslog targets.
func (r *ngxRewriter) rewriteErrorLog(d *Directive) []*Directive {
	target := d.Arg(0)
	switch {
	case target == "stderr" || strings.HasPrefix(target, "memory:") || target == "/dev/stderr" || target == "/dev/null":
		return []*Directive{d}
	case strings.HasPrefix(target, "syslog:"):
		r.record(d, nil, "a syslog target sends to an address of the user's", false)
		return nil
	}
	nd := &Directive{Name: d.Name, Args: append([]string{r.path("logs/" + filepath.Base(target))}, d.Args[1:]...), File: d.File, Line: d.Line}
	r.record(d, nd, "log files go into racelab's directory", false)
	return []*Directive{nd}
}

// rewriteAccessLog moves an access log into Dir; off and syslog targets
// are dropped (racelab's log goes beside it).
func (r *ngxRewriter) rewriteAccessLog(d *Directive) []*Directive {
	target := d.Arg(0)
	switch {
	case target == "off":
		r.record(d, nil, "access_log off would also silence racelab's evidence log at this level", false)
		return nil
	case strings.HasPrefix(target, "syslog:"):
		r.record(d, nil, "a syslog target sends to an address of the user's", false)
		return nil
	case target == "/dev/stdout" || target == "/dev/stderr" || target == "/dev/null" || strings.Contains(target, "$"):
		return []*Directive{d}
	}
	nd := &Directive{Name: d.Name, Args: append([]string{r.path("logs/" + filepath.Base(target))}, d.Args[1:]...), File: d.File, Line: d.Line}
	r.record(d, nd, "log files go into racelab's directory", false)
	return []*Directive{nd}
}

func (r *ngxRewriter) rewriteHTTP(http *Directive) []*Directive {
	var out []*Directive
	for _, t := range nginxTempPaths {
		d := &Directive{Name: t[0], Args: []string{r.path(t[1])}}
		r.added(d, "temp files go into racelab's directory")
		out = append(out, d)
	}
	lf := &Directive{Name: "log_format", Args: append([]string{EvidenceLogName, "escape=json"}, r.in.LogFormat)}
	r.added(lf, "racelab's evidence log format")
	out = append(out, lf)
	out = append(out, r.rewriteBlock(http.Block, "http")...)
	return out
}

// rewriteBlock rewrites the directives of one block inside http; ctx is
// the block's name.
func (r *ngxRewriter) rewriteBlock(ds []*Directive, ctx string) []*Directive {
	var out []*Directive
	hasAccess, hasError := ctx == "http", false
	for _, d := range ds {
		switch {
		case d.Name == "server" && d.HasBlock && ctx == "http":
			if d != r.route.server {
				r.record(d, nil, "only the server that routes to upstream "+r.under+" listens: racelab sends its requests there", false)
				continue
			}
			d.Block = r.rewriteServer(d)
			out = append(out, d)
		case d.Name == "upstream" && d.HasBlock:
			d.Block = r.rewriteUpstream(d)
			out = append(out, d)
		case strings.HasSuffix(d.Name, "_temp_path"):
			r.record(d, nil, "temp files go into racelab's directory (set in http)", false)
		case d.Name == "resolver":
			r.record(d, nil, "no name from the user's configuration is resolved", false)
		case strings.HasPrefix(d.Name, "ssl_") || d.Name == "ssl" || strings.HasPrefix(d.Name, "proxy_ssl_") ||
			strings.HasPrefix(d.Name, "grpc_ssl_") || strings.HasPrefix(d.Name, "quic_") || d.Name == "http3" || d.Name == "http2":
			r.record(d, nil, "racelab listens and connects in plain HTTP/1.1: TLS settings, certificates and OCSP fetches are dropped", false)
		case strings.HasSuffix(d.Name, "_bind") && d.Name != "proxy_bind_dynamic":
			r.record(d, nil, "binding to a source address of the user's host", false)
		case nginxPass[d.Name]:
			out = append(out, r.rewritePass(d))
		case d.Name == "access_log":
			hasAccess = true
			out = append(out, r.rewriteAccessLog(d)...)
		case d.Name == "error_log":
			hasError = true
			out = append(out, r.rewriteErrorLog(d)...)
		case d.HasBlock && !nginxOpaque[d.Name]:
			d.Block = r.rewriteBlock(d.Block, d.Name)
			out = append(out, d)
		default:
			out = append(out, d)
		}
	}
	if hasAccess {
		d := r.evidenceLog()
		r.added(d, "racelab's evidence log, beside the user's ("+ctx+" level)")
		out = append(out, d)
	}
	if hasError {
		d := r.errorLog()
		r.added(d, "racelab's evidence: upstream errors on standard error ("+ctx+" level)")
		out = append(out, d)
	}
	return out
}

// rewriteServer gives the routing server one listener, racelab's.
func (r *ngxRewriter) rewriteServer(s *Directive) []*Directive {
	var rest []*Directive
	var first *Directive
	for _, d := range s.Block {
		if d.Name != "listen" {
			rest = append(rest, d)
			continue
		}
		if first == nil {
			first = &Directive{Name: "listen", Args: []string{r.in.Listen}, File: d.File, Line: d.Line}
			r.record(d, first, "racelab's loopback listener; listen options (ssl, http2, proxy_protocol, socket options) dropped", false)
			continue
		}
		r.record(d, nil, "one listener: racelab's", false)
	}
	if first == nil {
		first = &Directive{Name: "listen", Args: []string{r.in.Listen}}
		r.added(first, "racelab's loopback listener (the server had none: nginx's default port)")
	}
	return append([]*Directive{first}, r.rewriteBlock(rest, "server")...)
}

// rewriteUpstream points servers at racelab's backend (the upstream under
// test) or at the closed port, and scales idle settings.
func (r *ngxRewriter) rewriteUpstream(u *Directive) []*Directive {
	name := u.Arg(0)
	var out []*Directive
	for _, d := range u.Block {
		switch {
		case d.Name == "server" && len(d.Args) > 0:
			addr, why := r.in.Closed, "upstream "+name+" is not under test: a closed loopback port"
			if name == r.under {
				addr, why = r.in.Backend, "upstream under test: racelab's backend"
			}
			nd := &Directive{Name: "server", Args: []string{addr}, File: d.File, Line: d.Line}
			for _, a := range d.Args[1:] {
				if a == "resolve" || strings.HasPrefix(a, "service=") || strings.HasPrefix(a, "route=") {
					why += "; " + a + " dropped (needs a resolver)"
					continue
				}
				nd.Args = append(nd.Args, a)
			}
			if name == r.under && r.in.scaled() {
				why += r.scaleFailTimeout(nd)
			}
			if slices.Contains(d.Args, "backup") && name == r.under {
				why += "; the backup server points at the backend too"
			}
			r.record(d, nd, why, false)
			out = append(out, nd)
		case d.Name == "resolver" || d.Name == "resolver_timeout":
			r.record(d, nil, "no name from the user's configuration is resolved", false)
		case (d.Name == "keepalive_timeout" || d.Name == "keepalive_time") && name == r.under && r.in.scaled():
			t, err := ParseNginxTime(d.Arg(0), true)
			if err != nil {
				out = append(out, d)
				continue
			}
			nd := &Directive{Name: d.Name, Args: []string{msText(r.in.scale(t))}, File: d.File, Line: d.Line}
			r.record(d, nd, fmt.Sprintf("timescale %g", r.in.Timescale), false)
			out = append(out, nd)
		default:
			out = append(out, d)
		}
	}
	if name == r.under && r.in.scaled() && len(u.Find("keepalive_timeout")) == 0 {
		d := &Directive{Name: "keepalive_timeout", Args: []string{msText(r.in.scale(nginxUpstreamIdleDefault))}}
		r.added(d, fmt.Sprintf("timescale %g of nginx's default upstream keepalive_timeout 60s", r.in.Timescale))
		out = append(out, d)
	}
	return out
}

// nginxFailTimeoutDefault is nginx's fail_timeout when a server line sets
// none: a server that failed max_fails times (default 1) within it is
// skipped for as long again.
const nginxFailTimeoutDefault = 10 * time.Second

// scaleFailTimeout scales server line s's fail_timeout (nginx's default
// when it has none) by the timescale, as the upstream's idle timeout is:
// the race's 502s count as failed attempts, and an unscaled 10s would keep
// an upstream with several servers "down" for a thousand scaled seconds.
// nginx reads fail_timeout in whole seconds, so it rounds up to one at
// least. A server with max_fails=0 keeps no failure count and is left as
// it is. It returns the note for the change, or "".
func (r *ngxRewriter) scaleFailTimeout(s *Directive) string {
	at, given := -1, nginxFailTimeoutDefault
	for i, a := range s.Args {
		switch {
		case a == "max_fails=0":
			return ""
		case strings.HasPrefix(a, "fail_timeout="):
			t, err := ParseNginxTime(strings.TrimPrefix(a, "fail_timeout="), true)
			if err != nil {
				return "" // nginx -t reports it
			}
			at, given = i, t
		}
	}
	if given == 0 {
		return ""
	}
	scaled := max(time.Duration(math.Ceil(float64(r.in.scale(given))/float64(time.Second)))*time.Second, time.Second)
	arg := "fail_timeout=" + strconv.FormatInt(int64(scaled/time.Second), 10) + "s"
	from := "its fail_timeout " + given.String()
	if at < 0 {
		s.Args = append(s.Args, arg)
		from = "nginx's default fail_timeout 10s"
	} else {
		s.Args[at] = arg
	}
	return fmt.Sprintf("; %s at timescale %g, in whole seconds as nginx reads it: %s", from, r.in.Timescale, arg)
}

// passTarget splits a *_pass argument: its scheme (with "://"), host and
// the rest (port and URI).
func passTarget(name, arg string) (scheme, host, rest string) {
	if name == "proxy_pass" || name == "grpc_pass" {
		if i := strings.Index(arg, "://"); i >= 0 {
			scheme, arg = arg[:i+3], arg[i+3:]
		}
	}
	if strings.HasPrefix(arg, "unix:") {
		return scheme, arg, ""
	}
	end := strings.IndexAny(arg, "/?")
	if end < 0 {
		end = len(arg)
	}
	hostport := arg[:end]
	rest = arg[end:]
	host = hostport
	if strings.HasPrefix(hostport, "[") {
		if i := strings.Index(hostport, "]"); i >= 0 {
			host, rest = hostport[:i+1], hostport[i+1:]+rest
		}
	} else if i := strings.LastIndex(hostport, ":"); i >= 0 {
		host, rest = hostport[:i], hostport[i:]+rest
	}
	return scheme, host, rest
}

// rewritePass keeps passes to upstream blocks and points every other
// address, literal or variable, at the closed port.
func (r *ngxRewriter) rewritePass(d *Directive) *Directive {
	scheme, host, rest := passTarget(d.Name, d.Arg(0))
	if r.upstreams[host] && !strings.Contains(rest, "$") {
		if host == r.under && scheme == "https://" {
			nd := &Directive{Name: d.Name, Args: []string{"http://" + host + rest}, File: d.File, Line: d.Line}
			r.record(d, nd, "racelab's backend speaks plain HTTP", false)
			return nd
		}
		return d
	}
	why := "an address of the user's: a closed loopback port"
	if strings.Contains(d.Arg(0), "$") {
		why = "a target built from variables could name any address: a closed loopback port"
	}
	if strings.HasPrefix(host, "unix:") {
		rest = ""
	}
	// Keep the URI part (path rewriting) but not a port or variables.
	uri := ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 && !strings.Contains(rest, "$") {
		uri = rest[i:]
	}
	nd := &Directive{Name: d.Name, Args: []string{scheme + r.in.Closed + uri}, File: d.File, Line: d.Line}
	r.record(d, nd, why, false)
	return nd
}

// findRoute finds the location that proxies to the upstream under test:
// a prefix location whose proxy_pass names it, that nginx selects for a
// request under its path; the shortest such path wins.
func (r *ngxRewriter) findRoute(http *Directive) (*ngxRoute, error) {
	var best *ngxRoute
	var why []string
	for _, s := range http.Find("server") {
		if !s.HasBlock {
			continue
		}
		if len(s.Find("return")) > 0 {
			continue
		}
		var walk func(chain []*Directive, block *Directive)
		walk = func(chain []*Directive, block *Directive) {
			for _, l := range block.Find("location") {
				c := append(slices.Clone(chain), l)
				walk(c, l)
				cand, reason := r.routeOf(s, c, l)
				if reason != "" {
					why = append(why, reason)
				}
				if cand != nil && (best == nil || len(cand.route.Path) < len(best.route.Path)) {
					best = cand
				}
			}
		}
		walk([]*Directive{http, s}, s)
	}
	if best == nil {
		msg := fmt.Sprintf("%s: no listener routes to upstream %s: no prefix location of a server proxy_passes to it", r.in.Path, r.under)
		if len(why) > 0 {
			msg += " (" + strings.Join(why, "; ") + ")"
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return best, nil
}

// routeOf returns the route through location l, or why l does not route.
func (r *ngxRewriter) routeOf(s *Directive, chain []*Directive, l *Directive) (*ngxRoute, string) {
	var pass *Directive
	for _, d := range l.Block {
		if d.Name == "proxy_pass" {
			pass = d
		}
	}
	if pass == nil {
		return nil, ""
	}
	scheme, host, rest := passTarget("proxy_pass", pass.Arg(0))
	if host != r.under || (scheme != "http://" && scheme != "https://") {
		return nil, ""
	}
	if len(l.Find("return")) > 0 {
		return nil, fmt.Sprintf("%s: location returns before it proxies", l.Pos())
	}
	var path string
	switch {
	case len(l.Args) == 1 && strings.HasPrefix(l.Args[0], "/"):
		path = l.Args[0]
	case len(l.Args) == 2 && l.Args[0] == "^~":
		path = l.Args[1]
	default:
		return nil, fmt.Sprintf("%s: location %s is not a plain prefix location", l.Pos(), strings.Join(l.Args, " "))
	}
	probe := path
	if !strings.HasSuffix(probe, "/") {
		probe += "/"
	}
	probe += "r/0"
	// nginx picks the longest matching prefix, then regex locations
	// unless the prefix is ^~.
	var shadow string
	var check func(block *Directive)
	check = func(block *Directive) {
		for _, o := range block.Find("location") {
			if o == l {
				check(o)
				continue
			}
			switch {
			case len(o.Args) == 1 && strings.HasPrefix(o.Args[0], "/") && len(o.Args[0]) > len(path) && strings.HasPrefix(probe, o.Args[0]):
				shadow = o.Pos()
			case len(o.Args) == 2 && o.Args[0] == "^~" && len(o.Args[1]) > len(path) && strings.HasPrefix(probe, o.Args[1]):
				shadow = o.Pos()
			case len(o.Args) == 2 && (o.Args[0] == "~" || o.Args[0] == "~*") && l.Arg(0) != "^~":
				expr := o.Args[1]
				if o.Args[0] == "~*" {
					expr = "(?i)" + expr
				}
				if re, err := regexp.Compile(expr); err == nil && re.MatchString(probe) {
					shadow = o.Pos()
				}
			}
			if strings.HasPrefix(probe, o.Arg(len(o.Args)-1)) {
				check(o)
			}
		}
	}
	check(s)
	if shadow != "" {
		return nil, fmt.Sprintf("%s: requests under %s go to the location at %s", l.Pos(), path, shadow)
	}
	upPath := path
	if rest != "" {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			upPath = rest[i:]
		}
	}
	return &ngxRoute{server: s, chain: chain, loc: l,
		route: Route{Path: path, Host: serverHost(s), UpstreamPath: upPath, Source: l.Pos()}}, ""
}

// serverHost is the first plain server_name, "" when there is none.
func serverHost(s *Directive) string {
	for _, d := range s.Find("server_name") {
		for _, a := range d.Args {
			a = strings.TrimPrefix(a, ".")
			if a != "" && a != "_" && a != "localhost" && !strings.ContainsAny(a, "~*$") {
				return a
			}
		}
	}
	return ""
}
