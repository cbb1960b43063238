package envoy

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/racelab/racelab/proxies"

	// Types a team's bootstrap commonly carries beside what racelab
	// renders: TLS contexts (racelab removes them, but must read them),
	// the TLS inspector listener filter and the c-ares DNS resolver.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// DefaultIdleTimeout is Envoy's upstream idle timeout when a cluster sets
// none.
const DefaultIdleTimeout = time.Hour

// DefaultMaxConnections is Envoy's circuit-breaker max_connections when a
// cluster sets none.
const DefaultMaxConnections = 1024

// logsDir holds the user's file access logs inside the bundle directory.
const logsDir = "logs"

// UserOptions says how to run a team's own bootstrap.
type UserOptions struct {
	// File names the bootstrap in changes and errors.
	File string
	// Data is the bootstrap, YAML or JSON.
	Data []byte
	// Cluster is the cluster under test. It may be empty when routes
	// reach exactly one cluster.
	Cluster string
	// Backend is racelab's backend, 127.0.0.1:port: every endpoint of the
	// cluster under test points there.
	Backend string
	// Closed is a loopback address nothing listens on, for every other
	// cluster (empty: proxies.DefaultClosedAddr).
	Closed string
	// Listen is the address of the listener that routes to the cluster
	// under test.
	Listen string
	// OtherListen are addresses for the other listeners, in file order;
	// a listener without one binds 127.0.0.1:0 (a port the kernel picks).
	OtherListen []string
	// Admin is the admin endpoint's address, on loopback.
	Admin string
	// Dir is the directory the bundle is rendered for: access logs and
	// other files the bootstrap writes go under it.
	Dir string
	// Timescale multiplies the idle timeout of the cluster under test
	// (0 or 1: unchanged).
	Timescale float64
}

// RenderUserConfig rewrites a team's Envoy bootstrap so that racelab can
// run it: the endpoints of the cluster under test point at racelab's
// backend and every other endpoint at a closed loopback port (DNS
// clusters become STATIC: no name from the file is ever resolved),
// upstream and downstream TLS are removed, listeners and admin bind the
// loopback addresses given, file access logs move under Dir, racelab's own
// access log is added beside the user's, Envoy runs with --concurrency 1,
// and a timescale scales the idle timeout of the cluster under test. Every
// change is listed. Nothing else changes: retry policies, circuit breakers
// and protocol options are the file's own.
//
// The bootstrap must be static: dynamic_resources, RDS and an EDS cluster
// under test are refused, since racelab could not rewrite the addresses a
// management server sends. The result passes ValidateBootstrap.
//
// The bundle's Route is the request that reaches the cluster under test
// (Host "" when any Host does), and Effective holds the file's settings
// for it under the names the other adapters use: idle_timeout, pool_size
// (circuit-breaker max_connections), retry and retries (the route's or
// virtual host's retry policy), reuse, workers, health_checks, servers,
// and Envoy's own: cluster, cluster_type, protocol, max_requests_per_connection,
// route_timeout, per_try_timeout, upstream_tls, listener, virtual_host,
// route.
func RenderUserConfig(opts UserOptions) (*proxies.Bundle, error) {
	u, err := newUserRewrite(opts)
	if err != nil {
		return nil, err
	}
	return u.run()
}

// userRewrite is one rewrite in progress.
type userRewrite struct {
	opts    UserOptions
	file    string
	doc     *jsonDoc
	b       *bootstrapv3.Bootstrap
	cluster string
	target  *routeTarget
	changes []proxies.Change
}

func newUserRewrite(opts UserOptions) (*userRewrite, error) {
	file := opts.File
	if file == "" {
		file = "bootstrap"
	}
	if opts.Closed == "" {
		opts.Closed = proxies.DefaultClosedAddr
	}
	for _, a := range []struct{ what, addr string }{
		{"backend", opts.Backend}, {"closed", opts.Closed}, {"listen", opts.Listen}, {"admin", opts.Admin},
	} {
		if err := loopbackAddr(a.addr); err != nil {
			return nil, fmt.Errorf("envoy config %s: %s address: %w", file, a.what, err)
		}
	}
	for _, a := range opts.OtherListen {
		if err := loopbackAddr(a); err != nil {
			return nil, fmt.Errorf("envoy config %s: listen address: %w", file, err)
		}
	}
	if opts.Dir == "" || !filepath.IsAbs(opts.Dir) {
		return nil, fmt.Errorf("envoy config %s: directory %q: want an absolute path", file, opts.Dir)
	}
	if opts.Timescale < 0 {
		return nil, fmt.Errorf("envoy config %s: timescale %v: want a positive number", file, opts.Timescale)
	}
	doc, err := yamlToJSON(opts.Data)
	if err != nil {
		return nil, fmt.Errorf("envoy config %s: %w", file, &ValidationError{Problems: []Problem{{Message: err.Error()}}})
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(doc.data, &b); err != nil {
		return nil, fmt.Errorf("envoy config %s: %w", file, &ValidationError{Problems: []Problem{parseProblem(err, doc)}})
	}
	u := &userRewrite{opts: opts, file: file, doc: doc, b: &b}
	if err := u.checkStatic(); err != nil {
		return nil, err
	}
	if err := ValidateBootstrap(opts.Data); err != nil {
		return nil, fmt.Errorf("envoy config %s: %w", file, err)
	}
	return u, nil
}

// loopbackAddr accepts a loopback IP with a port (0 allowed).
func loopbackAddr(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q: %w", hostport, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: want a loopback IP address", hostport)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: want a port from 0 to 65535", hostport)
	}
	return nil
}

// line is the user's line of a JSON path (its nearest spelled-out
// ancestor).
func (u *userRewrite) line(key string) int {
	if key == "" {
		return 0 // a field racelab adds
	}
	return u.doc.lookup(key).Line
}

func (u *userRewrite) errorf(key, format string, args ...any) error {
	loc := u.file
	if l := u.line(key); l > 0 && key != "" {
		loc += ":" + strconv.Itoa(l)
	}
	return fmt.Errorf("envoy config %s: %s", loc, fmt.Sprintf(format, args...))
}

// checkStatic refuses what racelab cannot rewrite: resources a management
// server would send.
func (u *userRewrite) checkStatic() error {
	if u.b.GetDynamicResources() != nil {
		return u.errorf("dynamic_resources", "dynamic_resources: racelab runs static listeners and clusters only (xDS would deliver addresses racelab cannot rewrite); put them under static_resources")
	}
	for _, h := range userHCMs(u.b) {
		if h.hcm.GetRds() != nil || h.hcm.GetScopedRoutes() != nil {
			return u.errorf(h.key, "%s: route discovery (rds or scoped_routes): racelab needs a static route_config", h.name)
		}
	}
	if len(u.b.GetStaticResources().GetClusters()) == 0 {
		return u.errorf("static_resources", "static_resources has no clusters")
	}
	return nil
}

func (u *userRewrite) run() (*proxies.Bundle, error) {
	if err := u.chooseCluster(); err != nil {
		return nil, err
	}
	t, err := u.findRoute()
	if err != nil {
		return nil, err
	}
	u.target = t
	eff := u.effective()
	if err := u.rewrite(eff); err != nil {
		return nil, err
	}
	u.changes = append(u.changes, proxies.Change{
		Directive: "--concurrency",
		Old:       "(unset: one worker per hardware thread)", New: "1",
		Why:           "one worker thread: Envoy keeps one upstream connection pool per worker, and racelab's trials need the connection the previous request left idle",
		AltersPooling: true,
	})
	out, err := u.marshal()
	if err != nil {
		return nil, err
	}
	if err := ValidateBootstrap(out); err != nil {
		return nil, fmt.Errorf("envoy config %s: rewritten bootstrap is invalid: %w", u.file, err)
	}
	b := newBundle(u.opts.Dir, out)
	b.Dirs = []string{logsDir}
	b.Changes, b.Route, b.Effective = u.changes, t.proxiesRoute(u), eff
	return b, nil
}

// chooseCluster picks the cluster under test.
func (u *userRewrite) chooseCluster() error {
	var names []string
	for _, c := range u.b.GetStaticResources().GetClusters() {
		names = append(names, c.GetName())
	}
	if u.opts.Cluster != "" {
		for _, n := range names {
			if n == u.opts.Cluster {
				u.cluster = n
				return nil
			}
		}
		return fmt.Errorf("envoy config %s: no cluster %q (clusters: %s)", u.file, u.opts.Cluster, quoteList(names))
	}
	routed := routedClusters(u.b)
	switch len(routed) {
	case 1:
		u.cluster = routed[0]
		return nil
	case 0:
		return fmt.Errorf("envoy config %s: no route reaches a cluster (clusters: %s)", u.file, quoteList(names))
	default:
		return fmt.Errorf("envoy config %s: routes reach %d clusters (%s): name the cluster under test", u.file, len(routed), quoteList(routed))
	}
}

func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// routedClusters lists the clusters routes name, in file order.
func routedClusters(b *bootstrapv3.Bootstrap) []string {
	seen := make(map[string]bool)
	var out []string
	for _, h := range userHCMs(b) {
		for _, vh := range h.hcm.GetRouteConfig().GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				c := rt.GetRoute().GetCluster()
				if c != "" && !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// pos is "file:line" of a JSON path of the user's file.
func (u *userRewrite) pos(key string) string {
	if l := u.line(key); l > 0 {
		return u.file + ":" + strconv.Itoa(l)
	}
	return u.file
}

// effective reads the settings the file gives the cluster under test,
// before any rewriting.
func (u *userRewrite) effective() map[string]proxies.Setting {
	i, c := u.clusterUnderTest()
	t := u.target
	ckey := fmt.Sprintf("static_resources.clusters[%d]", i)
	cpos := u.pos(ckey)
	eff := map[string]proxies.Setting{
		"cluster":      {Value: u.cluster, Source: cpos, Note: "the cluster under test"},
		"cluster_type": {Value: clusterTypeName(c), Source: u.pos(ckey + ".type"), Default: c.GetClusterDiscoveryType() == nil},
		"listener":     {Value: t.listener, Source: u.pos(fmt.Sprintf("static_resources.listeners[%d]", t.ref.li))},
		"virtual_host": {Value: t.vhost.GetName(), Source: u.pos(t.vhostKey())},
		"route":        {Value: t.routeName, Source: u.pos(t.routeKey())},
		"workers": {Value: "one per hardware thread", Default: true,
			Note: "--concurrency: each worker has its own upstream pool; racelab runs one"},
	}
	n := 0
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		n += len(le.GetLbEndpoints())
	}
	eff["servers"] = proxies.Setting{Value: strconv.Itoa(n), Source: u.pos(ckey + ".load_assignment"),
		Note: "endpoints of cluster " + u.cluster + ", all pointed at racelab's backend; Envoy keeps a pool per endpoint, so with several a request reuses a connection only on a host that has an idle one"}

	idle, ikey, field := clusterIdle(c)
	is := proxies.Setting{Value: formatDuration(idle), Note: field}
	if ikey == "" {
		is.Default = true
	} else {
		is.Source = u.pos(ckey + ikey)
	}
	if idle == 0 {
		is.Note += ": 0 switches the idle timeout off"
	}
	eff["idle_timeout"] = is

	rp, rkey := t.route.GetRoute().GetRetryPolicy(), t.routeKey()+".route.retry_policy"
	where := "the route"
	if rp == nil {
		rp, rkey, where = t.vhost.GetRetryPolicy(), t.vhostKey()+".retry_policy", "the virtual host"
	}
	if rp == nil {
		eff["retry"] = proxies.Setting{Value: "none", Default: true,
			Note: "no retry policy: a request sent on a pooled connection the backend closed fails with 503 UC"}
		eff["retries"] = proxies.Setting{Value: "0", Default: true}
	} else {
		eff["retry"] = proxies.Setting{Value: rp.GetRetryOn(), Source: u.pos(rkey + ".retry_on"), Note: retryNote(rp.GetRetryOn(), where)}
		num, nd := uint32(1), true
		if rp.GetNumRetries() != nil {
			num, nd = rp.GetNumRetries().GetValue(), false
		}
		eff["retries"] = proxies.Setting{Value: strconv.FormatUint(uint64(num), 10), Source: u.pos(rkey + ".num_retries"), Default: nd,
			Note: "num_retries: attempts after the first"}
		if d := rp.GetPerTryTimeout(); d != nil {
			eff["per_try_timeout"] = proxies.Setting{Value: formatDuration(d.AsDuration()), Source: u.pos(rkey + ".per_try_timeout")}
		}
	}
	if d := t.route.GetRoute().GetTimeout(); d != nil {
		eff["route_timeout"] = proxies.Setting{Value: formatDuration(d.AsDuration()), Source: u.pos(t.routeKey() + ".route.timeout")}
	} else {
		eff["route_timeout"] = proxies.Setting{Value: "15s", Default: true}
	}

	pool := proxies.Setting{Value: strconv.Itoa(DefaultMaxConnections), Default: true}
	for j, th := range c.GetCircuitBreakers().GetThresholds() {
		if th.GetPriority() == 0 && th.GetMaxConnections() != nil {
			pool = proxies.Setting{Value: strconv.FormatUint(uint64(th.GetMaxConnections().GetValue()), 10),
				Source: u.pos(fmt.Sprintf("%s.circuit_breakers.thresholds[%d].max_connections", ckey, j))}
		}
	}
	pool.Note = "circuit_breakers max_connections of cluster " + u.cluster + ", for all workers together"
	eff["pool_size"] = pool

	maxReq := clusterMaxRequests(c)
	mr := proxies.Setting{Value: "unlimited", Default: maxReq == 0, Note: "requests per upstream connection"}
	if maxReq > 0 {
		mr.Value = strconv.FormatUint(uint64(maxReq), 10)
	}
	eff["max_requests_per_connection"] = mr
	reuse := proxies.Setting{Value: "pooled", Default: true, Note: "Envoy keeps idle HTTP/1.1 upstream connections and reuses them"}
	if maxReq == 1 {
		reuse = proxies.Setting{Value: "not pooled (max_requests_per_connection 1)", Note: "every request opens a new upstream connection: the race cannot happen"}
	}
	eff["reuse"] = reuse
	eff["protocol"] = proxies.Setting{Value: clusterProtocol(c), Note: "upstream HTTP protocol"}
	if c.GetTransportSocket() != nil || len(c.GetTransportSocketMatches()) > 0 {
		eff["upstream_tls"] = proxies.Setting{Value: "yes", Source: u.pos(ckey + ".transport_socket"), Note: "removed: racelab's backend speaks plain HTTP/1.1"}
	}
	hc := proxies.Setting{Value: "none", Default: true}
	if n := len(c.GetHealthChecks()); n > 0 {
		hc = proxies.Setting{Value: strconv.Itoa(n), Source: u.pos(ckey + ".health_checks"), Note: "health checks open their own connections to the backend"}
	}
	eff["health_checks"] = hc
	return eff
}

// retryNote says what a retry_on list does about the race.
func retryNote(on, where string) string {
	note := "retry_on of " + where
	for _, c := range strings.Split(on, ",") {
		switch strings.TrimSpace(c) {
		case "reset", "5xx":
			return note + ": a request that fails on a pooled connection the backend closed is retried, POST included (Envoy does not check idempotency)"
		case "reset-before-request":
			note += " (reset-before-request reportedly misses the HTTP/1.1 idle race, envoyproxy/envoy#47468)"
		}
	}
	return note + ": does not catch a reset on a pooled connection; the race shows as 503 UC"
}

func (u *userRewrite) clusterUnderTest() (int, *clusterv3.Cluster) {
	for i, c := range u.b.GetStaticResources().GetClusters() {
		if c.GetName() == u.cluster {
			return i, c
		}
	}
	return -1, nil
}

func clusterTypeName(c *clusterv3.Cluster) string {
	if ct := c.GetClusterType(); ct != nil {
		return "cluster_type " + ct.GetName()
	}
	return c.GetType().String()
}
