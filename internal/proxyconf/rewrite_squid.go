package proxyconf

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SquidConfigName is the rewritten squid.conf's file name.
const SquidConfigName = "squid.conf"

// Squid's own defaults and racelab's bounds for the settings it reports.
const (
	squidIdleDefault = time.Minute
	// squidIdleFloor is proxies.IdleFloor(squid): Squid counts idle
	// timers in whole seconds, checked once a second.
	squidIdleFloor   = 5 * time.Second
	squidClientIdle  = 60 * time.Second
	squidLogFormat   = "racelab_evidence"
	squidVisibleName = "racelab"
)

// squidNoPid says why Squid writes no pid file.
const squidNoPid = "racelab stops Squid by its process id and keeps instances apart by service name (-n); Squid's own user may not write racelab's private directory"

// squidRefused are directives racelab will not run: they need a program
// or service of the user's, and what depends on them cannot be dropped
// alone.
var squidRefused = map[string]string{
	"icap_service": "an ICAP service of the user's", "ecap_service": "an eCAP service of the user's",
	"adaptation_service_set": "ICAP/eCAP adaptation", "adaptation_service_chain": "ICAP/eCAP adaptation",
	"external_acl_type": "an external ACL helper program", "auth_param": "an authentication helper program",
	"sslcrtd_program": "a certificate helper program", "ssl_bump": "TLS interception",
	"cache_peer_domain": "an obsolete peer selection", "multicast": "multicast peers",
}

// squidDropped are directives dropped with the reason.
var squidDropped = map[string]string{
	"url_rewrite_program":  "racelab runs no helper program of the user's: URLs are not rewritten",
	"store_id_program":     "racelab runs no helper program of the user's",
	"logfile_daemon":       "racelab runs no helper program of the user's",
	"cache_effective_user": "racelab runs Squid as the user it runs as", "cache_effective_group": "racelab runs Squid as the user it runs as",
	"https_port":           "racelab listens and connects in plain HTTP/1.1",
	"always_direct":        "Squid would fetch from an origin's own address: racelab sends every request to a cache_peer on loopback",
	"tcp_outgoing_address": "binds an address of the user's host", "udp_incoming_address": "binds an address of the user's host",
	"udp_outgoing_address": "binds an address of the user's host", "snmp_port": "racelab opens no SNMP port",
	"snmp_incoming_address": "binds an address of the user's host", "snmp_outgoing_address": "binds an address of the user's host",
	"wccp2_router": "contacts the user's routers", "wccp_router": "contacts the user's routers",
	"hostname_aliases": "names hosts of the user's", "unique_hostname": "names a host of the user's",
	"cache_store_log": "racelab keeps no store log", "cache_swap_log": "racelab keeps no disk cache",
	"cache_dir": "racelab runs Squid with its memory cache only: a disk cache would need squid -z", "chroot": "racelab runs Squid unprivileged",
	"mcast_groups": "joins multicast groups", "icp_access": "racelab opens no ICP port", "htcp_access": "racelab opens no HTCP port",
}

// squidPeerDrop are cache_peer options dropped: TLS, other addresses,
// fetches of their own, multicast.
var squidPeerDrop = []string{"ssl", "tls", "digest-url=", "forceddomain=", "htcp", "multicast-", "sslcert=", "sslkey=",
	"sslversion=", "sslcipher=", "ssloptions=", "sslcafile=", "sslcapath=", "sslcrlfile=", "sslflags=", "ssldomain=", "front-end-https"}

type squidPeer struct {
	line squidLine
	name string // name= or the host
	orig string // as the file refers to it
}

type squidRewriter struct {
	in      Input
	lines   []squidLine
	peers   []squidPeer
	under   *squidPeer
	changes []Change
	notes   []string
	rename  map[string]string // a peer's original host → name= racelab gave it
}

func rewriteSquid(in Input) (*Result, error) {
	fsys := in.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	p := &squidParser{fs: fsys, root: in.Root}
	lines, err := p.parse(in.Path, 0)
	if err != nil {
		return nil, err
	}
	r := &squidRewriter{in: in, lines: lines, notes: p.notes, rename: map[string]string{}}
	var names []string
	for _, l := range lines {
		if l.Args[0] != "cache_peer" {
			continue
		}
		if len(l.Args) < 5 {
			return nil, fmt.Errorf("%s: cache_peer wants HOST TYPE HTTP-PORT ICP-PORT [options]", l.pos())
		}
		if l.Args[2] == "multicast" {
			return nil, fmt.Errorf("%s: cache_peer of type multicast: racelab does not run multicast peers", l.pos())
		}
		pr := squidPeer{line: l, name: l.Args[1], orig: l.Args[1]}
		for _, o := range l.Args[5:] {
			if v, ok := strings.CutPrefix(o, "name="); ok {
				pr.name, pr.orig = v, v
			}
		}
		if slices.ContainsFunc(r.peers, func(x squidPeer) bool { return x.name == pr.name }) {
			return nil, fmt.Errorf("%s: cache_peer %s defined twice", l.pos(), pr.name)
		}
		r.peers = append(r.peers, pr)
		names = append(names, pr.name)
	}
	want := in.Upstream
	for _, pr := range r.peers {
		if want != "" && want == pr.line.Args[1] {
			want = pr.name // the peer's host names it too
		}
	}
	under, err := pickUpstream(names, want, "cache_peer")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.display(in.Path), err)
	}
	for i := range r.peers {
		if r.peers[i].name == under {
			r.under = &r.peers[i]
		}
	}
	// Unnamed peers get a name of racelab's: the host cannot stay as
	// their name, and every peer's host becomes a loopback address.
	n := 0
	for i := range r.peers {
		pr := &r.peers[i]
		if pr.name == pr.line.Args[1] {
			n++
			r.rename[pr.name] = "peer" + strconv.Itoa(n)
		}
	}
	route, err := r.findRoute()
	if err != nil {
		return nil, err
	}
	o := &haOut{}
	o.line("# squid.conf rewritten by racelab from "+in.Path+"; every change is listed in the run's facts.", "")
	eff, err := r.emit(o)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(filepath.Clean(in.Dir), SquidConfigName)
	return &Result{
		Main:         SquidConfigName,
		Files:        map[string]string{SquidConfigName: o.b.String()},
		Origins:      map[string][]string{SquidConfigName: o.origins},
		Args:         []string{"-N", "-f", path},
		ValidateArgs: []string{"-k", "parse", "-f", path},
		Changes:      r.changes,
		Route:        route,
		Upstream:     r.under.name,
		Upstreams:    names,
		Effective:    eff,
		Notes:        r.notes,
	}, nil
}

func (r *squidRewriter) record(l squidLine, nw, why string, pooling bool) {
	r.changes = append(r.changes, Change{Directive: l.Args[0], File: l.File, Line: l.Line, Old: l.Raw, New: nw, Why: why, AltersPooling: pooling})
}

func (r *squidRewriter) added(nw, why string) {
	r.changes = append(r.changes, Change{Directive: strings.Fields(nw)[0], New: nw, Why: why})
}

// emit writes every directive, rewritten, and racelab's own at the end.
func (r *squidRewriter) emit(o *haOut) ([]Setting, error) {
	seen := map[string]bool{}
	idle, idleSrc, idleVal := squidIdleDefault, "", "1 minute"
	var eff []Setting
	set := func(name, value, source string, note string) {
		eff = append(eff, Setting{Name: name, Value: value, Source: source, Default: source == "", Note: note})
	}
	persistent, persistentSrc := "on", ""
	tries, triesSrc := "25", ""
	retryErr, retryErrSrc := "off", ""
	listened, clientKept := false, false
	for _, l := range r.lines {
		a := l.Args
		k := a[0]
		seen[k] = true
		keep := func() { o.line(l.Raw, l.pos()) }
		write := func(words []string, why string, pooling bool) {
			s := strings.Join(words, " ")
			r.record(l, s, why, pooling)
			o.line(s, l.pos())
		}
		if why, ok := squidRefused[k]; ok {
			return nil, fmt.Errorf("%s: %s: racelab does not run %s; remove it from a copy of the file", l.pos(), k, why)
		}
		if why, ok := squidDropped[k]; ok {
			r.record(l, "", why, false)
			continue
		}
		switch {
		case k == "include":
			r.record(l, "", "inlined: racelab writes one squid.conf", false)
			continue
		case strings.HasPrefix(k, "url_rewrite_") || strings.HasPrefix(k, "store_id_"):
			r.record(l, "", "racelab runs no helper program of the user's", false)
			continue
		case strings.HasPrefix(k, "icap_") || strings.HasPrefix(k, "ecap_") || strings.HasPrefix(k, "adaptation_"):
			if len(a) >= 2 && a[1] == "off" {
				keep()
				continue
			}
			return nil, fmt.Errorf("%s: %s: racelab does not run ICAP/eCAP adaptation; remove it from a copy of the file", l.pos(), k)
		}
		switch k {
		case "http_port":
			if listened || !slices.Contains(a, "accel") {
				r.record(l, "", "only one accelerator listener, racelab's", false)
				continue
			}
			listened = true
			words := []string{"http_port", r.in.Listen}
			var dropped []string
			for _, opt := range a[2:] {
				name, _, _ := strings.Cut(opt, "=")
				if slices.Contains([]string{"tls-cert", "tls-key", "cert", "key", "ssl-bump", "tproxy", "intercept", "transparent", "require-proxy-header", "tcpkeepalive", "name"}, name) {
					dropped = append(dropped, opt)
					continue
				}
				words = append(words, opt)
			}
			why := "racelab's loopback listener"
			if len(dropped) > 0 {
				why += "; dropped " + strings.Join(dropped, " ")
			}
			write(words, why, false)
		case "cache_peer":
			words, why, pooling := r.peer(l)
			write(words, why, pooling)
		case "cache_peer_access", "neighbor_type_domain":
			if len(a) >= 2 {
				if nn, ok := r.rename[a[1]]; ok {
					words := slices.Clone(a)
					words[1] = nn
					write(words, "the cache_peer's new name: its host is not written", false)
					continue
				}
			}
			keep()
		case "dns_nameservers":
			// Replaced below, once.
			r.record(l, "", "Squid never asks the user's name servers: racelab's dns_nameservers points at a closed loopback address", false)
		case "visible_hostname":
			write([]string{"visible_hostname", squidVisibleName}, "it names a host of the user's", false)
		case "pid_filename":
			write([]string{"pid_filename", "none"}, squidNoPid, false)
		case "coredump_dir":
			write([]string{"coredump_dir", "none"}, "racelab keeps no core dumps: Squid's own user may not enter racelab's private directory", false)
		case "cache_log":
			write([]string{"cache_log", "/dev/stderr"}, "racelab reads Squid's messages on standard error", false)
		case "access_log", "cache_access_log":
			if len(a) >= 2 && a[1] == "none" {
				keep()
				continue
			}
			target := a[1]
			if mod, p, ok := strings.Cut(target, ":"); ok && ((mod != "stdio" && mod != "daemon") || !strings.HasPrefix(p, "/")) {
				r.record(l, "", "a log target of the user's (syslog, a network address); racelab logs to standard output", false)
				continue
			}
			r.record(l, "", "Squid writes log files as its own user (proxy, when started as root), who cannot enter racelab's private directory: racelab's evidence log on standard output stands in", false)
		case "workers":
			if len(a) == 2 && a[1] == "1" {
				keep()
				continue
			}
			write([]string{"workers", "1"}, "pools are per worker process: racelab runs one, so the race is reproducible", true)
		case "icp_port", "htcp_port":
			write([]string{k, "0"}, "racelab opens no ICP or HTCP port", false)
		case "acl":
			if err := r.acl(l); err != nil {
				return nil, err
			}
			keep()
		case "server_idle_pconn_timeout":
			d, err := ParseSquidTime(strings.Join(a[1:], " "))
			if err != nil {
				return nil, fmt.Errorf("%s: server_idle_pconn_timeout %s: %w", l.pos(), strings.Join(a[1:], " "), err)
			}
			idle, idleSrc, idleVal = d, l.pos(), strings.Join(a[1:], " ")
			if r.in.scaled() {
				words, why := r.scaledIdle(d)
				write(words, why+" from the file's "+idleVal, false)
				continue
			}
			keep()
		case "client_idle_pconn_timeout":
			d, err := ParseSquidTime(strings.Join(a[1:], " "))
			if err == nil && d >= max(squidClientIdle, 2*r.scaledIdleDuration(idle)) {
				clientKept = true
				keep()
				continue
			}
			// Written below with racelab's value.
			r.record(l, "", "racelab's persistent client connection must stay open across its idle gaps: replaced below", false)
		case "shutdown_lifetime":
			r.record(l, "", "racelab stops Squid at once: replaced below", false)
		case "pinger_enable", "pinger_program":
			r.record(l, "", "no ICMP pinger: replaced below", false)
		case "server_persistent_connections":
			persistent, persistentSrc = strings.Join(a[1:], " "), l.pos()
			keep()
		case "forward_max_tries":
			tries, triesSrc = strings.Join(a[1:], " "), l.pos()
			keep()
		case "retry_on_error":
			retryErr, retryErrSrc = strings.Join(a[1:], " "), l.pos()
			keep()
		case "logformat":
			if len(a) >= 2 && a[1] == squidLogFormat {
				return nil, fmt.Errorf("%s: logformat %s: the name is racelab's own", l.pos(), squidLogFormat)
			}
			keep()
		default:
			keep()
		}
	}
	if !listened {
		return nil, fmt.Errorf("%s: no http_port with accel: racelab runs Squid as a reverse proxy (accelerator) in front of a cache_peer originserver", Display(r.in.Path))
	}
	addedLine := func(s, why string) {
		r.added(s, why)
		o.line(s, "")
	}
	if r.in.scaled() && idleSrc == "" {
		words, why := r.scaledIdle(idle)
		addedLine(strings.Join(words, " "), why+" from Squid's default 1 minute")
	}
	closed := netip.MustParseAddrPort(r.in.Closed).Addr().String()
	addedLine("dns_nameservers "+closed, "Squid never contacts a real DNS server: no name from the file is resolved (a host in the file is an address racelab replaced; a request's Host fails to resolve)")
	if !seen["visible_hostname"] {
		addedLine("visible_hostname "+squidVisibleName, "without it Squid looks its host's name up at start")
	}
	if !seen["pid_filename"] {
		addedLine("pid_filename none", squidNoPid)
	}
	if !seen["coredump_dir"] {
		addedLine("coredump_dir none", "racelab keeps no core dumps: Squid's own user may not enter racelab's private directory")
	}
	if !seen["cache_log"] {
		addedLine("cache_log /dev/stderr", "racelab reads Squid's messages on standard error")
	}
	addedLine("never_direct allow all", "Squid never goes to an origin's own address: every request goes to a cache_peer on loopback")
	if !clientKept {
		addedLine("client_idle_pconn_timeout "+strconv.Itoa(wholeSeconds(max(squidClientIdle, 2*r.scaledIdleDuration(idle))))+" seconds", "keeps racelab's persistent client connection open across its idle gaps")
	}
	addedLine("shutdown_lifetime 0 seconds", "racelab stops Squid at once")
	addedLine("pinger_enable off", "no ICMP pinger: it would send ICMP to the file's peers, and it runs in a session of its own that a killed racelab could leave behind")
	addedLine("logformat "+squidLogFormat+" "+r.in.LogFormat, "racelab's evidence log")
	addedLine("access_log stdio:/dev/stdout "+squidLogFormat, "racelab's evidence log on standard output, beside the file's own")
	addedLine("buffered_logs off", "racelab reads each log line as it happens")

	set("idle_timeout", idleVal, idleSrc, "server_idle_pconn_timeout")
	set("reuse", persistent, persistentSrc, "server_persistent_connections; Squid never puts a request it cannot retry (POST, a body) on a pooled connection (server_pconn_for_nonretriable)")
	set("retry", "forward_max_tries "+tries, triesSrc, "Squid re-forwards a retriable request that failed, on a new connection")
	set("retry_on_error", retryErr, retryErrSrc, "")
	pool, poolSrc := "unlimited", ""
	for _, opt := range r.under.line.Args[5:] {
		if v, ok := strings.CutPrefix(opt, "max-conn="); ok {
			pool, poolSrc = v, r.under.line.pos()
		}
	}
	set("pool_size", pool, poolSrc, "the cache_peer's max-conn")
	return eff, nil
}

func (r *squidRewriter) scaledIdleDuration(d time.Duration) time.Duration {
	if !r.in.scaled() {
		return d
	}
	return max(time.Duration(wholeSeconds(r.in.scale(d)))*time.Second, squidIdleFloor)
}

// scaledIdle is the server_idle_pconn_timeout line for d at the
// timescale, in whole seconds and at least Squid's floor.
func (r *squidRewriter) scaledIdle(d time.Duration) ([]string, string) {
	ran := r.scaledIdleDuration(d)
	why := fmt.Sprintf("scaled by timescale %g, in whole seconds", r.in.Timescale)
	if s := r.in.scale(d); s < squidIdleFloor {
		why += fmt.Sprintf(" (%s is below the 5s racelab can time on Squid, whose idle timers count whole seconds checked once a second: it runs as 5s)", s)
	}
	return []string{"server_idle_pconn_timeout", strconv.Itoa(wholeSeconds(ran)), "seconds"}, why
}

// wholeSeconds rounds d up to whole seconds, at least 1.
func wholeSeconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

// peer repoints a cache_peer: the peer under test at racelab's backend,
// every other one at the closed port.
func (r *squidRewriter) peer(l squidLine) ([]string, string, bool) {
	a := l.Args
	addr, why := r.in.Closed, "cache_peer not under test: a closed loopback port"
	under := r.under.line.File == l.File && r.under.line.Line == l.Line
	if under {
		addr, why = r.in.Backend, "cache_peer under test: racelab's backend"
	}
	ap := netip.MustParseAddrPort(addr)
	words := []string{"cache_peer", ap.Addr().String(), a[2], strconv.Itoa(int(ap.Port())), "0"}
	var dropped []string
	hasNoDigest, hasNoQuery := false, false
	for _, opt := range a[5:] {
		if slices.ContainsFunc(squidPeerDrop, func(p string) bool { return opt == p || strings.HasPrefix(opt, p) }) {
			dropped = append(dropped, opt)
			continue
		}
		hasNoDigest = hasNoDigest || opt == "no-digest"
		hasNoQuery = hasNoQuery || opt == "no-query"
		words = append(words, opt)
	}
	if nn, ok := r.rename[a[1]]; ok {
		words = append(words, "name="+nn)
		why += "; named " + nn + " (Squid names a peer by its host otherwise)"
	}
	if !hasNoQuery {
		words = append(words, "no-query")
	}
	if !hasNoDigest {
		words = append(words, "no-digest")
	}
	why += "; ICP port 0, no-query and no-digest: Squid sends the peer nothing of its own"
	if len(dropped) > 0 {
		why += "; dropped " + strings.Join(dropped, " ") + " (TLS material, another address or a fetch of its own)"
	}
	return words, why, false
}

// acl refuses address ACLs that name a host: Squid resolves them when it
// reads the file. Addresses stay: they are matched, never contacted.
func (r *squidRewriter) acl(l squidLine) error {
	a := l.Args
	if len(a) < 3 {
		return nil
	}
	switch a[2] {
	case "src", "dst", "localip", "myip":
	default:
		return nil
	}
	for _, v := range a[3:] {
		if strings.HasPrefix(v, "-") {
			continue
		}
		if strings.HasPrefix(v, `"`) {
			return fmt.Errorf("%s: acl %s %s reads its values from %s: racelab does not read it to check for host names; write the addresses on the line", l.pos(), a[1], a[2], v)
		}
		if v == "all" || squidAddrValue(v) {
			continue
		}
		return fmt.Errorf("%s: acl %s %s %s: Squid resolves a host name in an address ACL when it reads the file, and racelab resolves nothing from a configuration; write the addresses instead", l.pos(), a[1], a[2], v)
	}
	return nil
}

// squidAddrValue reports an address ACL value without a host name: an
// address, a range (a-b) and an optional /mask.
func squidAddrValue(v string) bool {
	addr, _, _ := strings.Cut(v, "/")
	lo, hi, rng := strings.Cut(addr, "-")
	if _, err := netip.ParseAddr(strings.Trim(lo, "[]")); err != nil {
		return false
	}
	if rng {
		if _, err := netip.ParseAddr(strings.Trim(hi, "[]")); err != nil {
			return false
		}
	}
	return true
}

// findRoute reads the request that reaches the peer under test: the
// urlpath_regex and dstdomain ACLs of its first cache_peer_access allow
// line; without access lines, every request may go to it.
func (r *squidRewriter) findRoute() (Route, error) {
	acls := map[string][]squidLine{}
	for _, l := range r.lines {
		if l.Args[0] == "acl" && len(l.Args) >= 3 {
			acls[l.Args[1]] = append(acls[l.Args[1]], l)
		}
	}
	for _, l := range r.lines {
		a := l.Args
		if a[0] != "cache_peer_access" || len(a) < 3 || a[1] != r.under.orig || a[2] != "allow" {
			continue
		}
		route := Route{Path: "/", Source: l.pos()}
		for _, name := range a[3:] {
			defs, ok := acls[strings.TrimPrefix(name, "!")]
			if !ok || strings.HasPrefix(name, "!") {
				r.notes = append(r.notes, fmt.Sprintf("%s: acl %s not read for the route: racelab's requests may not meet it", l.pos(), name))
				continue
			}
			d := defs[0]
			vals := slices.DeleteFunc(slices.Clone(d.Args[3:]), func(s string) bool { return strings.HasPrefix(s, "-") })
			if len(vals) == 0 {
				continue
			}
			switch d.Args[2] {
			case "urlpath_regex":
				p, ok := regexPrefix(vals[0], true)
				if !ok {
					return Route{}, fmt.Errorf("%s: the route to cache_peer %s needs a path matching %q: racelab sends its requests under a path prefix, and reads none from it", d.pos(), r.under.name, vals[0])
				}
				route.Path = p
			case "dstdomain":
				route.Host = strings.TrimPrefix(vals[0], ".")
			default:
				r.notes = append(r.notes, fmt.Sprintf("%s: acl %s (%s) not read for the route: racelab's requests may not meet it", d.pos(), d.Args[1], d.Args[2]))
			}
		}
		route.UpstreamPath = route.Path
		return route, nil
	}
	if len(r.peers) > 1 {
		r.notes = append(r.notes, fmt.Sprintf("no cache_peer_access line allows cache_peer %s: Squid may send a request to any of the %d peers", r.under.name, len(r.peers)))
	}
	return Route{Path: "/", UpstreamPath: "/", Source: r.under.line.pos()}, nil
}
