package proxyconf

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ApacheConfigName is the rewritten Apache configuration's file name.
const ApacheConfigName = "apache2.conf"

// ApacheModulesDir is where Debian installs httpd's modules: a fragment
// (a file that loads no module) gets racelab's base, which loads these.
const ApacheModulesDir = "/usr/lib/apache2/modules"

// apacheFragmentModules are the modules racelab's base loads for a
// fragment.
var apacheFragmentModules = [][2]string{
	{"mpm_event_module", "mod_mpm_event.so"}, {"authn_core_module", "mod_authn_core.so"},
	{"authz_core_module", "mod_authz_core.so"}, {"authz_host_module", "mod_authz_host.so"},
	{"proxy_module", "mod_proxy.so"}, {"proxy_http_module", "mod_proxy_http.so"},
	{"slotmem_shm_module", "mod_slotmem_shm.so"}, {"proxy_balancer_module", "mod_proxy_balancer.so"},
	{"lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"}, {"headers_module", "mod_headers.so"},
	{"rewrite_module", "mod_rewrite.so"}, {"setenvif_module", "mod_setenvif.so"}, {"alias_module", "mod_alias.so"},
}

// apacheLogName is racelab's LogFormat nickname.
const apacheLogName = "racelab_evidence"

// apacheMPM are the directives that decide how many child processes
// (each with its own connection pools) httpd runs; racelab sets them.
var apacheMPM = map[string]bool{"startservers": true, "serverlimit": true, "maxrequestworkers": true,
	"maxclients": true, "minsparethreads": true, "maxsparethreads": true, "minspareservers": true, "maxspareservers": true}

// apacheNoTTL stands for "no ttl=": mod_proxy keeps an idle pooled
// connection until the backend closes it.
const apacheNoTTL = "none"

type apacheProxy struct {
	d        *Directive // ProxyPass
	vhost    *Directive // nil: the main server
	path     string
	url      string // the worker URL (balancer://name or http://host...)
	name     string
	labels   []string
	balancer string // name, for balancer:// URLs
}

type apacheRewriter struct {
	in         Input
	under      *apacheProxy
	changes    []Change
	hosts      []string
	serverRoot string
	mpm        string
	threads    string
	listenDone bool
	vhostDone  bool
	// proxySections are the <Proxy> sections, read by effective.
	proxySections []*Directive
}

func rewriteApache(in Input) (*Result, error) {
	p := &ApacheParser{FS: in.FS, Root: in.Root}
	top, err := p.Parse(in.Path)
	if err != nil {
		return nil, err
	}
	if in.Root != "" {
		trimRoot(top, filepath.Clean(in.Root))
	}
	r := &apacheRewriter{in: in, serverRoot: p.ServerRoot, mpm: "event", threads: "25"}
	if in.Root != "" {
		if rel, ok := strings.CutPrefix(r.serverRoot, filepath.Clean(in.Root)+"/"); ok {
			r.serverRoot = "/" + rel
		}
	}
	var cands []*apacheProxy
	r.scan(top, nil, "", &cands)
	r.collectHosts(top)
	if r.under, err = r.pick(cands); err != nil {
		return nil, err
	}
	eff := r.effective(top)
	out := r.rewrite(top, nil)
	out = append(r.base(!p.LoadsModules), out...)
	if !r.listenDone {
		d := &Directive{Name: "Listen", Args: []string{in.Listen}}
		r.added(d, "racelab's loopback listener")
		out = append(out, d)
	}
	out = append(out, r.mpmLimits()...)
	r.scrub(out)
	text, origins := EmitApache(out)
	header := "# Apache httpd configuration rewritten by racelab from " + in.Path + "; every change is listed in the run's facts.\n"
	dir := filepath.Clean(in.Dir)
	conf := filepath.Join(dir, ApacheConfigName)
	var names []string
	for _, c := range cands {
		names = append(names, c.name)
	}
	host := ""
	if r.under.vhost != nil {
		for _, d := range r.under.vhost.Block {
			if strings.EqualFold(d.Name, "ServerName") {
				host = plainHost(d.Arg(0))
			}
		}
	}
	res := &Result{
		Main:         ApacheConfigName,
		Files:        map[string]string{ApacheConfigName: header + text},
		Origins:      map[string][]string{ApacheConfigName: append([]string{""}, origins...)},
		Dirs:         []string{"run", "logs"},
		Args:         []string{"-d", dir, "-f", conf, "-DFOREGROUND"},
		ValidateArgs: []string{"-t", "-d", dir, "-f", conf},
		Changes:      r.changes,
		Route:        Route{Path: r.under.path, Host: host, UpstreamPath: upstreamPath(r.under), Source: r.under.d.Pos()},
		Upstream:     r.under.name,
		Upstreams:    names,
		Effective:    eff,
		Notes:        p.Notes,
	}
	if !p.LoadsModules {
		res.Notes = append(res.Notes, "the file loads no module: read as a fragment (virtual hosts, ProxyPass) inside racelab's base configuration")
	}
	return res, nil
}

// upstreamPath is the path the backend sees for the route's prefix.
func upstreamPath(u *apacheProxy) string {
	rest := u.url
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// lname is a directive's name in lower case: httpd's are case-blind.
func lname(d *Directive) string { return strings.ToLower(d.Name) }

// proxyPassArgs splits a ProxyPass: its path ("" inside a Location: the
// location's), its URL and its key=value parameters.
func proxyPassArgs(d *Directive, locPath string) (path, url string, params []string) {
	args := d.Args
	if len(args) > 0 && strings.HasPrefix(args[0], "/") || len(args) > 0 && args[0] == "!" {
		path, args = args[0], args[1:]
	} else {
		path = locPath
	}
	if len(args) == 0 {
		return path, "", nil
	}
	return path, args[0], args[1:]
}

func balancerName(url string) string {
	if rest, ok := strings.CutPrefix(strings.ToLower(url), "balancer://"); ok {
		name, _, _ := strings.Cut(rest, "/")
		return name
	}
	return ""
}

// collectHosts collects every host the file names: in URLs, server
// names, listeners and virtual hosts.
func (r *apacheRewriter) collectHosts(ds []*Directive) {
	for _, d := range ds {
		n := lname(d)
		for _, a := range d.Args {
			if strings.Contains(a, "://") || n == "servername" || n == "serveralias" ||
				n == "listen" || n == "virtualhost" || n == "proxyremote" {
				if _, after, ok := strings.Cut(a, "|"); ok && strings.HasPrefix(strings.ToLower(a), "unix:") {
					a = after
				}
				r.hosts = appendHost(r.hosts, a)
			}
		}
		r.collectHosts(d.Block)
	}
}

// scan collects the ProxyPass candidates.
func (r *apacheRewriter) scan(ds []*Directive, vhost *Directive, locPath string, out *[]*apacheProxy) {
	for _, d := range ds {
		n := lname(d)
		switch {
		case n == "loadmodule" && strings.HasPrefix(d.Arg(0), "mpm_"):
			r.mpm = strings.TrimSuffix(strings.TrimPrefix(d.Arg(0), "mpm_"), "_module")
		case n == "threadsperchild":
			r.threads = d.Arg(0)
		case n == "virtualhost" && d.HasBlock:
			r.scan(d.Block, d, "", out)
		case (n == "location") && d.HasBlock:
			r.scan(d.Block, vhost, d.Arg(0), out)
		case d.HasBlock && n != "proxy" && n != "proxymatch" && n != "locationmatch":
			r.scan(d.Block, vhost, locPath, out)
		case n == "proxypass":
			path, url, _ := proxyPassArgs(d, locPath)
			lu := strings.ToLower(url)
			if path == "" || url == "" || path == "!" || url == "!" ||
				!(strings.HasPrefix(lu, "http://") || strings.HasPrefix(lu, "https://") || strings.HasPrefix(lu, "balancer://")) {
				continue
			}
			c := &apacheProxy{d: d, vhost: vhost, path: path, url: url, name: "ProxyPass " + path, balancer: balancerName(url)}
			c.labels = []string{path, c.name, url, strings.TrimSuffix(path, "/")}
			if c.balancer != "" {
				c.labels = append(c.labels, c.balancer, "balancer://"+c.balancer)
			} else {
				c.labels = append(c.labels, hostPortOf(url))
			}
			if vhost != nil {
				c.name += " (VirtualHost " + strings.Join(vhost.Args, " ") + " at " + vhost.Pos() + ")"
				c.labels = append(c.labels, c.name)
			}
			*out = append(*out, c)
		}
	}
}

// hostPortOf is a URL's host[:port].
func hostPortOf(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		url = url[i+3:]
	}
	hp, _, _ := strings.Cut(url, "/")
	return hp
}

// pick picks the ProxyPass under test and checks nothing before it in
// its server shadows its path.
func (r *apacheRewriter) pick(cands []*apacheProxy) (*apacheProxy, error) {
	var names []string
	var hits []*apacheProxy
	for _, c := range cands {
		names = append(names, c.name+" at "+c.d.Pos())
		if r.in.Upstream == "" || slices.Contains(c.labels, r.in.Upstream) {
			hits = append(hits, c)
		}
	}
	switch {
	case len(cands) == 0:
		return nil, fmt.Errorf("%s: no ProxyPass to an http, https or balancer URL in the configuration", r.in.Path)
	case len(hits) == 0:
		return nil, fmt.Errorf("%s: no ProxyPass named %q (found: %s)", r.in.Path, r.in.Upstream, strings.Join(names, ", "))
	case len(hits) > 1:
		return nil, fmt.Errorf("%s: %d ProxyPass directives (%s): name the one under test by its path, URL or balancer", r.in.Path, len(hits), strings.Join(names, ", "))
	}
	u := hits[0]
	probe := strings.TrimSuffix(u.path, "/") + "/r/0"
	for _, c := range cands {
		if c == u {
			break
		}
		if c.vhost == u.vhost && strings.HasPrefix(probe, c.path) {
			return nil, fmt.Errorf("no listener routes to %s: requests under %s go to the ProxyPass at %s first", u.name, u.path, c.d.Pos())
		}
	}
	return u, nil
}

func (r *apacheRewriter) record(d, nw *Directive, why string, pooling bool) {
	c := Change{Directive: d.Name, File: d.File, Line: d.Line, Old: apacheText(d, true), Why: why, AltersPooling: pooling}
	if nw != nil {
		c.New = apacheText(nw, true)
	}
	r.changes = append(r.changes, c)
}

func (r *apacheRewriter) added(d *Directive, why string) {
	r.changes = append(r.changes, Change{Directive: d.Name, New: apacheText(d, true), Why: why})
}

func (r *apacheRewriter) path(rel string) string { return filepath.Join(filepath.Clean(r.in.Dir), rel) }

func adir(name string, args ...string) *Directive { return &Directive{Name: name, Args: args} }

// base is what racelab puts first: paths into Dir, its log formats, and
// for a fragment the modules.
func (r *apacheRewriter) base(fragment bool) []*Directive {
	type add struct {
		d   *Directive
		why string
	}
	adds := []add{
		{adir("ServerRoot", r.in.Dir), "relative paths resolve in racelab's directory"},
		{adir("PidFile", r.path("apache2.pid")), "runtime files go into racelab's directory"},
		{adir("DefaultRuntimeDir", r.path("run")), "runtime files go into racelab's directory"},
		{adir("Mutex", "posixsem"), "no lock files: semaphores need no directory"},
		{adir("ServerName", "racelab.invalid"), "httpd would otherwise look up this machine's name"},
	}
	if r.in.RunAsRoot {
		adds = append(adds, add{adir("User", "www-data"), "the parent runs as root; httpd refuses to serve as root"},
			add{adir("Group", "www-data"), "the parent runs as root; httpd refuses to serve as root"})
	}
	if fragment {
		for _, m := range apacheFragmentModules {
			if m[0] == "mpm_event_module" {
				r.mpm = "event"
			}
			adds = append(adds, add{adir("LoadModule", m[0], ApacheModulesDir+"/"+m[1]), "the file loads no module: racelab's base for a fragment"})
		}
	}
	adds = append(adds,
		add{adir("ErrorLog", "/dev/stderr"), "racelab's evidence: error lines on standard error"},
		add{adir("ErrorLogFormat", r.in.ErrorLogFormat), "racelab's evidence: its error line format"},
		add{adir("LogFormat", r.in.LogFormat, apacheLogName), "racelab's evidence log format"},
		add{adir("CustomLog", "/dev/stdout", apacheLogName), "racelab's evidence log, beside the user's (main server)"})
	var out []*Directive
	for _, a := range adds {
		r.added(a.d, a.why)
		out = append(out, a.d)
	}
	return out
}

// mpmLimits runs one child process: pools are per child.
func (r *apacheRewriter) mpmLimits() []*Directive {
	ds := []*Directive{adir("StartServers", "1"), adir("ServerLimit", "1")}
	if r.mpm == "prefork" {
		ds = append(ds, adir("MaxRequestWorkers", "1"), adir("MinSpareServers", "1"), adir("MaxSpareServers", "1"))
	} else {
		ds = append(ds, adir("MaxRequestWorkers", r.threads), adir("MinSpareThreads", "1"), adir("MaxSpareThreads", r.threads))
	}
	for _, d := range ds {
		r.changes = append(r.changes, Change{Directive: d.Name, New: apacheText(d, true), AltersPooling: true,
			Why: "connection pools are per child process: with several a request may land on a child whose pool is empty, so racelab runs one"})
	}
	return ds
}

// rewrite rewrites ds; vhost is the enclosing virtual host.
func (r *apacheRewriter) rewrite(ds []*Directive, vhost *Directive) []*Directive {
	var out []*Directive
	for _, d := range ds {
		n := lname(d)
		switch {
		case n == "virtualhost" && d.HasBlock:
			if d != r.under.vhost && !(r.under.vhost == nil && !r.vhostDone) {
				r.record(d, nil, "only the virtual host that routes to "+r.under.name+" listens: racelab sends its requests there", false)
				continue
			}
			r.vhostDone = true
			nd := &Directive{Name: d.Name, Args: []string{r.in.Listen}, File: d.File, Line: d.Line, HasBlock: true}
			r.record(d, nd, "racelab's loopback listener in plain HTTP", false)
			nd.Block = r.rewrite(d.Block, nd)
			if slices.ContainsFunc(nd.Block, func(c *Directive) bool { n := lname(c); return n == "customlog" || n == "transferlog" }) {
				cl := adir("CustomLog", "/dev/stdout", apacheLogName)
				r.added(cl, "racelab's evidence log, beside the virtual host's own (a virtual host with logs of its own does not use the main server's)")
				nd.Block = append(nd.Block, cl)
			}
			out = append(out, nd)
		case n == "listen":
			if r.listenDone {
				r.record(d, nil, "one listener: racelab's", false)
				continue
			}
			r.listenDone = true
			nd := &Directive{Name: d.Name, Args: []string{r.in.Listen}, File: d.File, Line: d.Line}
			r.record(d, nd, "racelab's loopback listener", false)
			out = append(out, nd)
		case n == "serverroot" || n == "pidfile" || n == "defaultruntimedir" || n == "mutex" || n == "scoreboardfile" ||
			n == "user" || n == "group" || n == "errorlogformat" || n == "namevirtualhost":
			r.record(d, nil, "racelab sets it (runtime files, users and its error line format)", false)
		case apacheMPM[n]:
			r.record(d, nil, "racelab runs one child process (set at the end)", true)
		case n == "servername" || n == "serveralias":
			if vhost == nil {
				r.record(d, nil, "racelab names the main server racelab.invalid", false)
				continue
			}
			if n == "serveralias" {
				r.record(d, nil, "one virtual host listens: it answers any Host", false)
				continue
			}
			nd := &Directive{Name: d.Name, Args: []string{"racelab.invalid"}, File: d.File, Line: d.Line}
			r.record(d, nd, "one virtual host listens: it answers any Host, and no name of the file is written", false)
			out = append(out, nd)
		case n == "loadmodule" && len(d.Args) == 2 && !filepath.IsAbs(d.Args[1]):
			nd := &Directive{Name: d.Name, Args: []string{d.Args[0], filepath.Join(r.serverRoot, d.Args[1])}, File: d.File, Line: d.Line}
			r.record(d, nd, "ServerRoot is racelab's directory: the module path is made absolute", false)
			out = append(out, nd)
		case strings.HasPrefix(n, "ssl") || n == "protocols" || strings.HasPrefix(n, "h2"):
			r.record(d, nil, "racelab listens and connects in plain HTTP/1.1: TLS settings and certificates are dropped", false)
		case n == "errorlog":
			if d.Arg(0) == "/dev/stderr" {
				out = append(out, d)
				continue
			}
			nd := &Directive{Name: d.Name, Args: []string{"/dev/stderr"}, File: d.File, Line: d.Line}
			r.record(d, nd, "httpd keeps one error log per server: racelab reads it on standard error for its evidence", false)
			out = append(out, nd)
		case n == "customlog" || n == "transferlog":
			out = append(out, r.rewriteLog(d)...)
		case n == "proxypass" || n == "proxypassmatch" || n == "proxypassreverse" || n == "proxypassreversecookiedomain" ||
			n == "balancermember" || n == "proxyset":
			out = append(out, r.rewriteProxy(d))
		case n == "proxyremote" || n == "proxyremotematch":
			r.record(d, nil, "it forwards through a proxy of the user's", false)
		case n == "rewriterule" && len(d.Args) >= 3 && strings.Contains(strings.ToUpper(d.Args[2]), "P"):
			nd := &Directive{Name: d.Name, Args: slices.Clone(d.Args), File: d.File, Line: d.Line}
			nd.Args[1] = r.mapURL(d.Args[1], false)
			r.record(d, nd, "a proxying rewrite rule: a closed loopback port", false)
			out = append(out, nd)
		case (n == "proxy" || n == "proxymatch") && d.HasBlock:
			nd := &Directive{Name: d.Name, Args: slices.Clone(d.Args), File: d.File, Line: d.Line, HasBlock: true}
			if len(d.Args) > 0 && d.Args[0] != "*" && strings.Contains(d.Args[0], "://") {
				nd.Args[0] = r.mapURL(d.Args[0], r.isUnder(d.Args[0]))
				if nd.Args[0] != d.Args[0] {
					r.record(d, nd, "the section names a worker: "+r.why(r.isUnder(d.Args[0])), false)
				}
			}
			nd.Block = r.rewrite(d.Block, vhost)
			out = append(out, nd)
		case d.HasBlock:
			d.Block = r.rewrite(d.Block, vhost)
			out = append(out, d)
		default:
			out = append(out, d)
		}
	}
	return out
}

// rewriteLog moves a log file into Dir; piped and syslog logs are
// dropped (they run a program or send to an address).
func (r *apacheRewriter) rewriteLog(d *Directive) []*Directive {
	target := d.Arg(0)
	switch {
	case strings.HasPrefix(target, "|") || strings.HasPrefix(target, "syslog"):
		r.record(d, nil, "a piped or syslog log runs a program or sends to an address of the user's", false)
		return nil
	case target == "/dev/stdout" || target == "/dev/stderr" || target == "/dev/null":
		return []*Directive{d}
	}
	nd := &Directive{Name: d.Name, Args: append([]string{r.path("logs/" + filepath.Base(target))}, d.Args[1:]...), File: d.File, Line: d.Line}
	r.record(d, nd, "log files go into racelab's directory", false)
	return []*Directive{nd}
}

// isUnder reports whether url is the worker under test (its balancer or
// its host).
func (r *apacheRewriter) isUnder(url string) bool {
	u := r.under
	if u.balancer != "" {
		return balancerName(url) == u.balancer
	}
	return strings.EqualFold(hostPortOf(url), hostPortOf(u.url)) && balancerName(url) == ""
}

func (r *apacheRewriter) why(under bool) string {
	if under {
		return "the ProxyPass under test: racelab's backend"
	}
	return "not under test: a closed loopback port"
}

// mapURL points a URL at racelab's backend (under) or the closed port,
// keeping its path; balancer URLs stay (their members are rewritten).
func (r *apacheRewriter) mapURL(url string, under bool) string {
	if balancerName(url) != "" {
		return url
	}
	scheme, rest := "http://", url
	if i := strings.Index(url, "://"); i >= 0 {
		scheme, rest = url[:i+3], url[i+3:]
	}
	if strings.HasPrefix(strings.ToLower(url), "unix:") {
		scheme, rest = "http://", ""
		if _, after, ok := strings.Cut(url, "|"); ok {
			_, rest, _ = strings.Cut(after, "://")
		}
	}
	_, path, _ := strings.Cut(rest, "/")
	addr := r.in.Closed
	if under || strings.EqualFold(scheme, "https://") || strings.EqualFold(scheme, "wss://") {
		scheme = strings.ToLower(strings.TrimSuffix(scheme, "s://")) + "://"
	}
	if under {
		addr, scheme = r.in.Backend, "http://"
	}
	if path != "" || strings.Contains(rest, "/") {
		return scheme + addr + "/" + path
	}
	return scheme + addr
}

// scaleParams scales ttl= and retry= of the worker under test (whole
// seconds, rounded up, at least 1) and returns the note.
func (r *apacheRewriter) scaleParams(params []string, addRetry bool) ([]string, string) {
	if !r.in.scaled() {
		return params, ""
	}
	var notes []string
	out := slices.Clone(params)
	hasRetry := false
	for i, p := range out {
		k, v, ok := strings.Cut(p, "=")
		k = strings.ToLower(k)
		if !ok || (k != "ttl" && k != "retry") {
			continue
		}
		hasRetry = hasRetry || k == "retry"
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n <= 0 {
			continue
		}
		s := max(int(math.Ceil(n*r.in.Timescale)), 1)
		out[i] = k + "=" + strconv.Itoa(s)
		exact := time.Duration(n * r.in.Timescale * float64(time.Second)).Round(time.Millisecond)
		note := fmt.Sprintf("%s=%s at timescale %g", k, v, r.in.Timescale)
		if time.Duration(s)*time.Second != exact {
			note += fmt.Sprintf(" is %v, rounded up to whole seconds as httpd reads it: %s=%d", exact, k, s)
		}
		notes = append(notes, note)
	}
	if addRetry && !hasRetry {
		s := max(int(math.Ceil(60*r.in.Timescale)), 1)
		out = append(out, "retry="+strconv.Itoa(s))
		notes = append(notes, fmt.Sprintf("httpd's default retry=60 (a worker in error state waits that long) at timescale %g, in whole seconds: retry=%d", r.in.Timescale, s))
	}
	if len(notes) == 0 {
		return params, ""
	}
	return out, "; " + strings.Join(notes, "; ")
}

// rewriteProxy rewrites the mod_proxy directives.
func (r *apacheRewriter) rewriteProxy(d *Directive) *Directive {
	n := lname(d)
	nd := &Directive{Name: d.Name, Args: slices.Clone(d.Args), File: d.File, Line: d.Line}
	why := ""
	switch n {
	case "proxypass", "proxypassmatch":
		i := 0
		if len(nd.Args) > 1 && !strings.Contains(nd.Args[0], "://") && !strings.HasPrefix(strings.ToLower(nd.Args[0]), "unix:") {
			i = 1
		}
		if i >= len(nd.Args) || nd.Args[i] == "!" {
			return d
		}
		under := d == r.under.d
		nd.Args[i] = r.mapURL(d.Args[i], under)
		why = r.why(under)
		if under {
			params, note := r.scaleParams(nd.Args[i+1:], r.under.balancer == "")
			nd.Args = append(nd.Args[:i+1], params...)
			why += note
		}
	case "proxypassreverse", "proxypassreversecookiedomain":
		for i, a := range nd.Args {
			if strings.Contains(a, "://") {
				nd.Args[i] = r.mapURL(a, r.isUnder(a))
				why = "it names an address of the user's: " + r.why(r.isUnder(a))
			}
		}
		if n == "proxypassreversecookiedomain" {
			return d // domains are scrubbed like any name
		}
	case "balancermember":
		i := 0
		inSection := len(nd.Args) > 0 && !strings.HasPrefix(strings.ToLower(nd.Args[0]), "balancer://")
		under := false
		if !inSection {
			under = r.under.balancer != "" && balancerName(nd.Args[0]) == r.under.balancer
			i = 1
		} else {
			under = r.memberOfUnder(d)
		}
		if i >= len(nd.Args) {
			return d
		}
		nd.Args[i] = r.mapURL(d.Args[i], under)
		why = r.why(under)
		if under {
			params, note := r.scaleParams(nd.Args[i+1:], true)
			nd.Args = append(nd.Args[:i+1], params...)
			why += note
		}
	case "proxyset":
		under := r.proxySetUnder(d)
		if len(nd.Args) > 0 && strings.Contains(nd.Args[0], "://") {
			nd.Args[0] = r.mapURL(nd.Args[0], under)
			why = r.why(under)
			if under {
				params, note := r.scaleParams(nd.Args[1:], false)
				nd.Args = append(nd.Args[:1], params...)
				why += note
			}
		} else if under {
			params, note := r.scaleParams(nd.Args, false)
			nd.Args = params
			why = "the worker under test" + note
		}
	}
	if apacheText(nd, false) == apacheText(d, false) {
		return d
	}
	r.record(d, nd, why, false)
	return nd
}

// memberOfUnder reports whether a BalancerMember inside a <Proxy>
// section belongs to the balancer under test.
func (r *apacheRewriter) memberOfUnder(d *Directive) bool {
	return r.under.balancer != "" && r.sectionOf(d) == r.under.balancer
}

// proxySetUnder reports whether ProxySet sets the worker or balancer
// under test.
func (r *apacheRewriter) proxySetUnder(d *Directive) bool {
	if len(d.Args) > 0 && strings.Contains(d.Args[0], "://") {
		return r.isUnder(d.Args[0])
	}
	return r.under.balancer != "" && r.sectionOf(d) == r.under.balancer
}

// sectionOf is the balancer name of the <Proxy balancer://...> section d
// sits in ("" when none). Sections are found by position.
func (r *apacheRewriter) sectionOf(d *Directive) string {
	for _, s := range r.proxySections {
		if slices.Contains(s.Block, d) {
			return balancerName(s.Arg(0))
		}
	}
	return ""
}

// scrub replaces every remaining host of the file and non-loopback
// address, as for Caddy.
func (r *apacheRewriter) scrub(ds []*Directive) {
	for _, d := range ds {
		if d.File != "" {
			old := apacheText(d, true)
			changed := false
			for _, t := range append([]*string{&d.Name}, argPtrs(d)...) {
				a := *t
				if na := scrubAddr(a, r.hosts, r.in.Closed); na != a {
					*t, changed = na, true
				}
			}
			if changed {
				r.changes = append(r.changes, Change{Directive: d.Name, File: d.File, Line: d.Line, Old: old, New: apacheText(d, true),
					Why: "it names a host or address of the user's: replaced by loopback, so no name of the file is written"})
			}
		}
		r.scrub(d.Block)
	}
}
