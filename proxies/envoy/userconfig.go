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

	// Types a team's bootstrap commonly carries beside what racelab
	// renders: TLS contexts (racelab removes them, but must read them),
	// the TLS inspector listener filter and the c-ares DNS resolver.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// DefaultClosedAddr is where clusters other than the one under test point
// when UserOptions.Closed is empty: TCP port 1 on loopback, which nothing
// listens on.
const DefaultClosedAddr = "127.0.0.1:1"

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
	// cluster (empty: DefaultClosedAddr).
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

// Change is one thing racelab changed in a user's bootstrap.
type Change struct {
	// Directive is the field's path in Envoy's field names, list elements
	// by name where they have one: static_resources.clusters["api"].type.
	// Command-line flags start with "--".
	Directive string
	// File and Line locate the field in the user's file (Line 0: unknown,
	// or a field racelab added).
	File string
	Line int
	// Old and New are the values before and after ("" for none).
	Old, New string
	// Why says why racelab had to change it.
	Why string
	// AltersPooling marks a change that can alter how connections to the
	// backend are pooled.
	AltersPooling bool
}

func (c Change) String() string {
	loc := c.File
	if c.Line > 0 {
		loc += ":" + strconv.Itoa(c.Line)
	}
	s := fmt.Sprintf("%s %s: %q → %q (%s)", loc, c.Directive, c.Old, c.New, c.Why)
	if c.AltersPooling {
		s += " [alters pooling]"
	}
	return s
}

// UserRoute is where racelab sends requests so that they reach the
// cluster under test.
type UserRoute struct {
	// Listener is the listener's name.
	Listener string
	// Path is a request path the route matches (its prefix or exact path).
	Path string
	// Host is a Host header the virtual host matches.
	Host string
}

// UserBootstrap is a user's bootstrap rewritten to run under racelab.
type UserBootstrap struct {
	// Bootstrap is the rewritten bootstrap, YAML.
	Bootstrap []byte
	// Cluster is the cluster under test.
	Cluster string
	// Changes lists every change, in file order of the parts changed.
	Changes []Change
	Route   UserRoute
	// Effective holds the settings the file gives the cluster under test
	// (see the Eff* keys).
	Effective map[string]string
	// Files, Dirs, Args and ValidateArgs make a proxies.Bundle.
	Files        map[string]string
	Dirs         []string
	Args         []string
	ValidateArgs []string
}

// Keys of UserBootstrap.Effective.
const (
	EffCluster         = "cluster"
	EffClusterType     = "cluster_type"
	EffEndpoints       = "endpoints"
	EffIdleTimeout     = "idle_timeout"
	EffIdleSource      = "idle_timeout_source"
	EffIdleRun         = "idle_timeout_run"
	EffRetryOn         = "retry_on"
	EffNumRetries      = "num_retries"
	EffRetrySource     = "retry_policy_source"
	EffMaxConnections  = "max_connections"
	EffMaxRequests     = "max_requests_per_connection"
	EffProtocol        = "protocol"
	EffListener        = "listener"
	EffVirtualHost     = "virtual_host"
	EffRoute           = "route"
	EffConcurrency     = "concurrency"
	EffUpstreamTLS     = "upstream_tls"
	EffHealthChecks    = "health_checks"
	EffRouteTimeout    = "route_timeout"
	EffPerTryTimeout   = "per_try_timeout"
	EffRetriableStatus = "retriable_status_codes"
)

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
func RenderUserConfig(opts UserOptions) (*UserBootstrap, error) {
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
	changes []Change
}

func newUserRewrite(opts UserOptions) (*userRewrite, error) {
	file := opts.File
	if file == "" {
		file = "bootstrap"
	}
	if opts.Closed == "" {
		opts.Closed = DefaultClosedAddr
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

func (u *userRewrite) run() (*UserBootstrap, error) {
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
	out, err := u.marshal()
	if err != nil {
		return nil, err
	}
	if err := ValidateBootstrap(out); err != nil {
		return nil, fmt.Errorf("envoy config %s: rewritten bootstrap is invalid: %w", u.file, err)
	}
	cfg := filepath.Join(u.opts.Dir, ConfigFile)
	args := []string{
		"-c", cfg,
		"--concurrency", "1",
		"--disable-hot-restart",
		"--log-level", "info",
		"--file-flush-interval-msec", strconv.FormatInt(DefaultFileFlushInterval.Milliseconds(), 10),
	}
	u.changes = append(u.changes, Change{
		Directive: "--concurrency", File: "(command line)",
		Old: "(unset: one worker per hardware thread)", New: "1",
		Why:           "one worker thread: Envoy keeps one upstream connection pool per worker, and racelab's trials need the connection the previous request left idle",
		AltersPooling: true,
	})
	return &UserBootstrap{
		Bootstrap:    out,
		Cluster:      u.cluster,
		Changes:      u.changes,
		Route:        UserRoute{Listener: t.listener, Path: t.path, Host: t.host},
		Effective:    eff,
		Files:        map[string]string{ConfigFile: string(out)},
		Dirs:         []string{logsDir},
		Args:         args,
		ValidateArgs: []string{"--mode", "validate", "-c", cfg},
	}, nil
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

// effective reads the settings the file gives the cluster under test.
func (u *userRewrite) effective() map[string]string {
	c := u.clusterUnderTest()
	t := u.target
	eff := map[string]string{
		EffCluster:     u.cluster,
		EffClusterType: clusterTypeName(c),
		EffListener:    t.listener,
		EffVirtualHost: t.vhost.GetName(),
		EffRoute:       t.routeName,
		EffConcurrency: "1",
	}
	n := 0
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		n += len(le.GetLbEndpoints())
	}
	eff[EffEndpoints] = strconv.Itoa(n)

	idle, src := clusterIdle(c)
	eff[EffIdleTimeout], eff[EffIdleSource] = formatDuration(idle), src

	rp, rsrc := t.route.GetRoute().GetRetryPolicy(), "route"
	if rp == nil {
		rp, rsrc = t.vhost.GetRetryPolicy(), "virtual_host"
	}
	if rp == nil {
		eff[EffRetrySource], eff[EffRetryOn], eff[EffNumRetries] = "none", "", "0"
	} else {
		eff[EffRetrySource], eff[EffRetryOn] = rsrc, rp.GetRetryOn()
		num := uint32(1)
		if rp.GetNumRetries() != nil {
			num = rp.GetNumRetries().GetValue()
		}
		eff[EffNumRetries] = strconv.FormatUint(uint64(num), 10)
		if d := rp.GetPerTryTimeout(); d != nil {
			eff[EffPerTryTimeout] = formatDuration(d.AsDuration())
		}
		if codes := rp.GetRetriableStatusCodes(); len(codes) > 0 {
			s := make([]string, len(codes))
			for i, code := range codes {
				s[i] = strconv.FormatUint(uint64(code), 10)
			}
			eff[EffRetriableStatus] = strings.Join(s, ",")
		}
	}
	if d := t.route.GetRoute().GetTimeout(); d != nil {
		eff[EffRouteTimeout] = formatDuration(d.AsDuration())
	} else {
		eff[EffRouteTimeout] = "15s (Envoy default)"
	}

	eff[EffMaxConnections] = fmt.Sprintf("%d (Envoy default)", DefaultMaxConnections)
	for _, th := range c.GetCircuitBreakers().GetThresholds() {
		if th.GetPriority() == 0 && th.GetMaxConnections() != nil {
			eff[EffMaxConnections] = strconv.FormatUint(uint64(th.GetMaxConnections().GetValue()), 10)
		}
	}
	eff[EffMaxRequests] = "unlimited (Envoy default)"
	if m := clusterMaxRequests(c); m > 0 {
		eff[EffMaxRequests] = strconv.FormatUint(uint64(m), 10)
	}
	eff[EffProtocol] = clusterProtocol(c)
	eff[EffUpstreamTLS] = strconv.FormatBool(c.GetTransportSocket() != nil || len(c.GetTransportSocketMatches()) > 0)
	eff[EffHealthChecks] = strconv.Itoa(len(c.GetHealthChecks()))
	return eff
}

func (u *userRewrite) clusterUnderTest() *clusterv3.Cluster {
	for _, c := range u.b.GetStaticResources().GetClusters() {
		if c.GetName() == u.cluster {
			return c
		}
	}
	return nil
}

func clusterTypeName(c *clusterv3.Cluster) string {
	if ct := c.GetClusterType(); ct != nil {
		return "cluster_type " + ct.GetName()
	}
	return c.GetType().String()
}
