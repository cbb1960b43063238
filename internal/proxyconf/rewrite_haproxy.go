package proxyconf

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HAProxyConfigName is the rewritten HAProxy configuration's file name.
const HAProxyConfigName = "haproxy.cfg"

const haproxyPurgeDefault = 5 * time.Second

// haMaxConn caps the global maxconn (see the change it makes).
const haMaxConn = 4096

// haDropSections are sections that contact other hosts, run programs or
// hold material racelab does not have.
var haDropSections = map[string]string{
	"peers":       "peers connect to the user's other HAProxy nodes",
	"resolvers":   "no name from the user's configuration is resolved",
	"mailers":     "mailers send mail to the user's servers",
	"program":     "racelab runs no program of the user's",
	"ring":        "a ring forwards logs to the user's servers",
	"log-forward": "log forwarding listens and sends to the user's addresses",
	"crt-store":   "racelab listens and connects in plain HTTP/1.1",
	"acme":        "ACME contacts a certificate authority",
	"traces":      "traces are not racelab's evidence",
}

// haServerDrop are server and default-server parameters that contact
// another address, resolve a name, use TLS material or a proxy protocol,
// with the number of values each takes.
var haServerDrop = map[string]int{
	"addr": 1, "port": 1, "resolvers": 1, "resolve-prefer": 1, "resolve-net": 1, "resolve-opts": 1,
	"init-addr": 1, "source": 1, "usesrc": 1, "socks4": 1, "check-via-socks4": 0, "namespace": 1,
	"agent-check": 0, "agent-addr": 1, "agent-port": 1, "agent-inter": 1, "agent-send": 1,
	"ssl": 0, "check-ssl": 0, "verify": 1, "verifyhost": 1, "ca-file": 1, "crl-file": 1, "crt": 1,
	"sni": 1, "alpn": 1, "check-alpn": 1, "check-sni": 1, "npn": 1, "ciphers": 1, "ciphersuites": 1,
	"ssl-min-ver": 1, "ssl-max-ver": 1, "ssl-reuse": 0, "no-ssl-reuse": 0, "force-sslv3": 0,
	"force-tlsv10": 0, "force-tlsv11": 0, "force-tlsv12": 0, "force-tlsv13": 0, "allow-0rtt": 0,
	"send-proxy": 0, "send-proxy-v2": 0, "send-proxy-v2-ssl": 0, "send-proxy-v2-ssl-cn": 0,
	"proxy-v2-options": 1, "check-send-proxy": 0, "redir": 1, "curves": 1, "sigalgs": 1,
	"client-sigalgs": 1, "no-ssl": 0, "no-check-ssl": 0, "ws": 1, "check-proto": 1, "proto": 1,
}

type haRewriter struct {
	in      Input
	cfg     *HAProxyConfig
	under   string
	route   *Section
	changes []Change
	// routeBound says the route's listener is written.
	routeBound bool
}

type haOut struct {
	b       strings.Builder
	origins []string
}

func (o *haOut) line(s, origin string) {
	o.b.WriteString(s)
	o.b.WriteByte('\n')
	o.origins = append(o.origins, origin)
}

func rewriteHAProxy(in Input) (*Result, error) {
	cfg, err := ParseHAProxy(in.FS, nil, in.Path)
	if err != nil {
		return nil, err
	}
	if in.Root != "" {
		root := filepath.Clean(in.Root) + "/"
		for _, sec := range cfg.Sections {
			trim := func(l *Line) {
				if rel, ok := strings.CutPrefix(l.File, root); ok {
					l.File = "/" + rel
				}
			}
			trim(&sec.Header)
			for i := range sec.Lines {
				trim(&sec.Lines[i])
			}
		}
	}
	r := &haRewriter{in: in, cfg: cfg}
	var names []string
	for _, s := range cfg.Sections {
		if (s.Kind == "backend" || s.Kind == "listen") && hasServers(s) && !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	if r.under, err = pickUpstream(names, in.Upstream, "backend"); err != nil {
		return nil, fmt.Errorf("%s: %w", in.Path, err)
	}
	route, err := r.findRoute()
	if err != nil {
		return nil, err
	}
	eff, err := r.effective()
	if err != nil {
		return nil, err
	}
	o := &haOut{}
	o.line("# HAProxy configuration rewritten by racelab from "+in.Path+"; every change is listed in the run's facts.", "")
	sawGlobal := false
	for _, s := range cfg.Sections {
		if s.Kind == "global" {
			sawGlobal = true
		}
		r.section(o, s)
	}
	if !sawGlobal {
		return nil, fmt.Errorf("%s: no global section", in.Path)
	}
	dir := filepath.Clean(in.Dir)
	path := filepath.Join(dir, HAProxyConfigName)
	return &Result{
		Main:         HAProxyConfigName,
		Files:        map[string]string{HAProxyConfigName: o.b.String()},
		Origins:      map[string][]string{HAProxyConfigName: o.origins},
		Args:         []string{"-W", "-db", "-f", path},
		ValidateArgs: []string{"-c", "-f", path},
		Changes:      r.changes,
		Route:        route,
		Upstream:     r.under,
		Upstreams:    names,
		Effective:    eff,
		SyncPath:     in.SyncPath,
	}, nil
}

func hasServers(s *Section) bool {
	for _, l := range s.Lines {
		if k := l.Keyword(); (k == "server" || k == "server-template") && l.Args[0] != "no" {
			return true
		}
	}
	return false
}

func (r *haRewriter) record(l Line, nw []string, why string, pooling bool) {
	c := Change{Directive: l.Keyword(), File: l.File, Line: l.Line, Old: strings.TrimSpace(stripComment(l)), Why: why, AltersPooling: pooling}
	if nw != nil {
		c.New = HAProxyJoin(nw)
	}
	r.changes = append(r.changes, c)
}

func (r *haRewriter) added(sec *Section, words []string, why string, pooling bool) {
	r.changes = append(r.changes, Change{Directive: words[0], New: HAProxyJoin(words),
		Why: why + " (" + strings.TrimSpace(sec.Kind+" "+sec.Name) + ")", AltersPooling: pooling})
}

func stripComment(l Line) string { return HAProxyJoin(l.Args) }

// section writes one section, rewritten.
func (r *haRewriter) section(o *haOut, s *Section) {
	if why, ok := haDropSections[s.Kind]; ok {
		r.record(s.Header, nil, why, false)
		return
	}
	if (s.Kind == "frontend" || s.Kind == "listen") && s != r.route {
		if s.Kind == "frontend" || !hasServers(s) {
			r.record(s.Header, nil, "only the "+s.Kind+" that routes to backend "+r.under+" listens: racelab sends its requests there", false)
			return
		}
	}
	o.line(s.Header.Raw, s.Header.Pos())
	emit := func(words []string, origin string) { o.line("    "+HAProxyJoin(words), origin) }
	if s == r.route {
		w := []string{"http-request", "set-var(txn.racelab_id)", "req.hdr(" + r.in.RequestIDHeader + ")"}
		r.added(s, w, "racelab's evidence: the request id for the access log", false)
		emit(w, "")
		if p := r.in.SyncPath; p != "" {
			// First of the section's http-request rules, so none of the
			// user's (a redirect, a deny) acts on it.
			w := []string{"http-request", "return", "status", "204", "if", "{", "path", p, "}"}
			r.added(s, w, "racelab's evidence barrier: answered here, logged, never forwarded", false)
			emit(w, "")
		}
		// Every bind becomes racelab's listener; a section with none
		// gets it too, or the proxy would start with nothing to send to.
		if !slices.ContainsFunc(s.Lines, func(l Line) bool { return len(l.Args) > 0 && l.Keyword() == "bind" }) {
			w := []string{"bind", r.in.Listen}
			r.added(s, w, "racelab's loopback listener (the "+s.Kind+" has no bind line)", false)
			emit(w, "")
		}
	}
	var under string
	if s.Name == r.under && (s.Kind == "backend" || s.Kind == "listen") {
		under = s.Name
	}
	sawNbthread := false
	var dsPurge string // default-server pool-purge-delay inside this section
	for _, l := range s.Lines {
		if len(l.Args) == 0 || strings.HasPrefix(l.Args[0], ".") {
			o.line(l.Raw, "")
			continue
		}
		if s.Kind == "global" && l.Keyword() == "nbthread" {
			sawNbthread = true
		}
		if l.Keyword() == "default-server" {
			if v := paramValue(l.Args, "pool-purge-delay"); v != "" {
				dsPurge = v
			}
		}
		nw, keep, why, pooling := r.line(s, l, under, dsPurge)
		switch {
		case nw != nil:
			r.record(l, nw, why, pooling)
			emit(nw, l.Pos())
		case keep:
			o.line(l.Raw, l.Pos())
		default:
			r.record(l, nil, why, pooling)
		}
	}
	switch {
	case s.Kind == "global":
		if !sawNbthread {
			w := []string{"nbthread", "1"}
			r.added(s, w, "pools are per thread: with several threads a request may land on a thread whose pool is empty, so racelab runs one (HAProxy's default is one thread per CPU)", true)
			emit(w, "")
		}
		w := []string{"log", "stdout", "format", "raw", "daemon"}
		r.added(s, w, "racelab's evidence log on standard output", false)
		emit(w, "")
	case s == r.route:
		for _, w := range [][]string{{"log", "global"}, {"log-format", r.in.LogFormat}} {
			why := "racelab's evidence log"
			if w[0] == "log-format" {
				why += ": HAProxy has one log-format per proxy, so it replaces the user's here"
			}
			r.added(s, w, why, false)
			o.line("    "+w[0]+" "+haDoubleQuote(w[1:]), "")
		}
	}
}

// haDoubleQuote renders words, a format in double quotes.
func haDoubleQuote(words []string) string {
	if len(words) == 1 && words[0] != "global" {
		return `"` + strings.ReplaceAll(strings.ReplaceAll(words[0], `\`, `\\`), `"`, `\"`) + `"`
	}
	return HAProxyJoin(words)
}

func paramValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// line rewrites one line: new words, or keep it as written, or drop it
// (neither), with the reason.
func (r *haRewriter) line(s *Section, l Line, under, dsPurge string) (nw []string, keep bool, why string, pooling bool) {
	a := l.Args
	k := l.Keyword()
	neg := a[0] == "no"
	switch s.Kind {
	case "global":
		switch k {
		case "chroot", "user", "group", "uid", "gid", "setcap":
			return nil, false, "racelab runs HAProxy unprivileged", false
		case "daemon", "master-worker", "nbproc":
			return nil, false, "racelab runs HAProxy in the foreground in master-worker mode (-W -db)", false
		case "cpu-map":
			return nil, false, "one thread, not bound to the user's CPUs", false
		case "localpeer", "server-state-file", "server-state-base", "ssl-dh-param-file", "lua-load", "lua-load-per-thread", "lua-prepend-path":
			return nil, false, "refers to the user's host (peers, state or script files)", false
		case "nbthread":
			if len(a) == 2 && a[1] == "1" {
				return nil, true, "", false
			}
			return []string{"nbthread", "1"}, false, "pools are per thread: with several threads a request may land on a thread whose pool is empty, so racelab runs one", true
		case "ulimit-n":
			return nil, false, "HAProxy would raise the file descriptor limit beyond what racelab's process may have", false
		case "maxconn":
			if n, err := strconv.Atoi(a[len(a)-1]); err == nil && n > haMaxConn {
				return []string{"maxconn", strconv.Itoa(haMaxConn)}, false, fmt.Sprintf("HAProxy raises the file descriptor limit to twice the global maxconn at start, beyond what racelab's process may have; racelab sends few concurrent requests, so %d is ample", haMaxConn), false
			}
		case "pidfile":
			return []string{"pidfile", filepath.Join(r.in.Dir, "haproxy.pid")}, false, "runtime files go into racelab's directory", false
		case "stats":
			if len(a) >= 3 && a[1] == "socket" {
				addr := a[2]
				if strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "unix@") {
					nw := []string{"stats", "socket", filepath.Join(r.in.Dir, "s.sock")}
					for i := 3; i < len(a); i++ {
						if slices.Contains([]string{"user", "group", "uid", "gid"}, a[i]) {
							i++
							continue
						}
						nw = append(nw, a[i])
					}
					return nw, false, "the stats socket goes into racelab's directory, without owner changes", false
				}
				return nil, false, "a stats socket on an address of the user's", false
			}
		}
	case "http-errors":
		if k == "errorfile" {
			return r.errorfile(a)
		}
	}
	switch k {
	case "log":
		if neg || (len(a) >= 2 && a[1] == "global") {
			if s == r.route {
				return nil, false, "racelab sets the route's logging", false
			}
			return nil, true, "", false
		}
		if len(a) >= 2 && (a[1] == "stdout" || a[1] == "stderr") {
			return nil, true, "", false
		}
		return nil, false, "a log target of the user's (syslog address or socket); racelab logs to standard output", false
	case "log-format", "httplog", "tcplog", "httpslog":
		if s == r.route {
			return nil, false, "HAProxy has one log-format per proxy: racelab's evidence format replaces it here", false
		}
	case "option":
		if len(a) >= 2 && slices.Contains([]string{"httplog", "tcplog", "httpslog"}, a[len(a)-1]) && s == r.route {
			return nil, false, "HAProxy has one log-format per proxy: racelab's evidence format replaces it here", false
		}
	case "errorfile":
		return r.errorfile(a)
	case "email-alert", "dispatch", "source":
		return nil, false, "contacts or binds an address of the user's", false
	case "bind":
		if s != r.route {
			return nil, false, "only the listener that routes to backend " + r.under + " is kept", false
		}
		if r.routeBound {
			return nil, false, "one listener: racelab's", false
		}
		r.routeBound = true
		return []string{"bind", r.in.Listen}, false, "racelab's loopback listener; bind options (ssl, crt, alpn, accept-proxy) dropped", false
	case "stick-table":
		if i := slices.Index(a, "peers"); i >= 0 && i+1 < len(a) {
			return slices.Delete(slices.Clone(a), i, i+2), false, "peers are dropped", false
		}
	case "redirect":
		if s == r.route && len(a) >= 3 && a[1] == "scheme" && a[2] == "https" {
			return nil, false, "racelab listens in plain HTTP: a redirect to HTTPS would answer every request", false
		}
	case "http-request", "tcp-request", "http-response":
		if s == r.route && len(a) >= 4 && a[1] == "redirect" && a[2] == "scheme" && a[3] == "https" {
			return nil, false, "racelab listens in plain HTTP: a redirect to HTTPS would answer every request", false
		}
		if len(a) >= 2 && (strings.HasPrefix(a[1], "do-resolve") || strings.HasPrefix(a[1], "set-dst")) {
			return nil, false, "resolves or redirects to an address", false
		}
	case "http-check", "tcp-check":
		if len(a) >= 2 && a[1] == "connect" {
			nw, dropped := dropParams(a, map[string]int{"addr": 1, "port": 1, "ssl": 0, "sni": 1, "alpn": 1, "send-proxy": 0, "via-socks4": 0})
			if dropped != "" {
				return nw, false, "health checks go to the server itself: " + dropped + " dropped", false
			}
		}
	case "default-server":
		nw, dropped := dropParams(a, haServerDrop)
		if dropped != "" {
			return nw, false, "dropped " + dropped + ": it contacts another address, resolves names or needs TLS material", false
		}
	case "server", "server-template":
		if neg {
			return nil, true, "", false
		}
		return r.server(l, under, dsPurge)
	}
	return nil, true, "", false
}

// dropParams removes the named parameters and their values.
func dropParams(a []string, drop map[string]int) ([]string, string) {
	var out []string
	var dropped []string
	for i := 0; i < len(a); i++ {
		if n, ok := drop[a[i]]; ok && i > 0 {
			dropped = append(dropped, a[i])
			i += n
			continue
		}
		out = append(out, a[i])
	}
	return out, strings.Join(dropped, ", ")
}

func (r *haRewriter) errorfile(a []string) ([]string, bool, string, bool) {
	if len(a) < 3 || r.in.Root == "" || !filepath.IsAbs(a[2]) {
		if len(a) >= 3 && r.in.Root == "" {
			if _, err := r.fs().ReadFile(a[2]); err != nil {
				return nil, false, "error file missing here: " + err.Error(), false
			}
		}
		return nil, true, "", false
	}
	p := filepath.Join(r.in.Root, a[2])
	if _, err := r.fs().ReadFile(p); err != nil {
		return nil, false, "error file not found under the root", false
	}
	return []string{a[0], a[1], p}, false, "the error file is read from the root tree", false
}

func (r *haRewriter) fs() FS {
	if r.in.FS == nil {
		return OSFS{}
	}
	return r.in.FS
}

// server points a server at racelab's backend (the backend under test)
// or at the closed port, and scales its pool-purge-delay.
func (r *haRewriter) server(l Line, under, dsPurge string) ([]string, bool, string, bool) {
	a := slices.Clone(l.Args)
	ai := 2
	if a[0] == "server-template" {
		ai = 3
	}
	if len(a) <= ai {
		return nil, true, "", false
	}
	why := "backend not under test: a closed loopback port"
	a[ai] = r.in.Closed
	if under != "" {
		a[ai] = r.in.Backend
		why = "backend under test: racelab's backend"
	}
	nw, dropped := dropParams(a, haServerDrop)
	if dropped != "" {
		why += "; dropped " + dropped + " (another address, name resolution or TLS material)"
	}
	if under != "" && r.in.scaled() {
		v := paramValue(nw, "pool-purge-delay")
		src := "its own"
		if v == "" {
			v, src = dsPurge, "the default-server line's"
		}
		if v == "" {
			v, src = r.inheritedPurge(), "the defaults section's default-server"
		}
		d := haproxyPurgeDefault
		if v != "" {
			if t, err := ParseHAProxyTime(v); err == nil {
				d = t
			}
		} else {
			src = "HAProxy's default 5s"
		}
		if i := slices.Index(nw, "pool-purge-delay"); i >= 0 && i+1 < len(nw) {
			nw[i+1] = msText(r.in.scale(d))
		} else {
			nw = append(nw, "pool-purge-delay", msText(r.in.scale(d)))
		}
		why += fmt.Sprintf("; pool-purge-delay scaled by timescale %g from %s", r.in.Timescale, src)
	}
	return nw, false, why, false
}
