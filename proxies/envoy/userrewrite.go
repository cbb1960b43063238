package envoy

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	filelogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/racelab/racelab/proxies"
)

// Reasons shown beside changes.
const (
	whyBackend  = "the cluster under test: its endpoints are racelab's instrumented backend"
	whyClosed   = "not the cluster under test: a closed loopback port, so nothing named in the file is contacted"
	whyDNS      = "no name from the file is ever resolved: the endpoints are IP addresses now"
	whyUpTLS    = "racelab's backend speaks plain HTTP/1.1"
	whyDownTLS  = "racelab's client speaks plain HTTP/1.1"
	whyListener = "listeners bind loopback ports racelab chose"
	whyLog      = "files the proxy writes go to racelab's directory"
	whyLeftover = "an address racelab has no other rule for: loopback port 0, so nothing named in the file is contacted"
)

func (u *userRewrite) add(key, name, old, new, why string, pooling bool) {
	c := proxies.Change{Directive: name, Old: old, New: new, Why: why, AltersPooling: pooling}
	if key != "" {
		c.File, c.Line = u.file, u.line(key)
	}
	u.changes = append(u.changes, c)
}

// rewrite makes every substitution, recording each.
func (u *userRewrite) rewrite(eff map[string]proxies.Setting) error {
	done := make(map[*corev3.SocketAddress]bool)
	set := func(hostport string) *corev3.Address {
		a := socketAddr(hostport)
		done[a.GetSocketAddress()] = true
		return a
	}
	u.rewriteAdmin(set)
	if err := u.rewriteListeners(set); err != nil {
		return err
	}
	for i, c := range u.b.GetStaticResources().GetClusters() {
		if err := u.rewriteCluster(i, c, set); err != nil {
			return err
		}
	}
	u.scaleIdle(eff)
	u.dropBootstrapDNS()
	var walkErr error
	u.walk(u.b.ProtoReflect(), "", "", func(m protoreflect.Message, key, name string) {
		switch v := m.Interface().(type) {
		case *filelogv3.FileAccessLog:
			u.redirectLog(v, key, name)
		case *corev3.SocketAddress:
			if !done[v] {
				old := formatSocket(v)
				v.Address, v.ResolverName, v.PortSpecifier = "127.0.0.1", "", &corev3.SocketAddress_PortValue{PortValue: 0}
				done[v] = true
				u.add(key, name, old, "127.0.0.1:0", whyLeftover, false)
			}
		case *corev3.Pipe:
			old := v.GetPath()
			v.Path = filepath.Join(u.opts.Dir, "pipe-"+strconv.Itoa(len(u.changes)))
			u.add(key+".path", name+".path", old, v.Path, whyLog, false)
		}
	}, &walkErr)
	// File order: a change the walk found sits beside its neighbours.
	// Fields racelab added (line 0) come last.
	sort.SliceStable(u.changes, func(i, j int) bool {
		a, b := u.changes[i].Line, u.changes[j].Line
		return a != 0 && (b == 0 || a < b)
	})
	return walkErr
}

func (u *userRewrite) rewriteAdmin(set func(string) *corev3.Address) {
	a := u.b.GetAdmin()
	if a == nil {
		u.b.Admin = &bootstrapv3.Admin{Address: set(u.opts.Admin)}
		u.add("", "admin.address", "", u.opts.Admin, "racelab reads readiness and stats from the admin endpoint", false)
		return
	}
	u.add("admin.address", "admin.address", formatAddress(a.GetAddress()), u.opts.Admin, "the admin endpoint binds loopback", false)
	a.Address = set(u.opts.Admin)
	//nolint:staticcheck // deprecated, still honoured
	if p := a.GetAccessLogPath(); p != "" && !devPath(p) {
		a.AccessLogPath = u.logPath(p)
		u.add("admin.access_log_path", "admin.access_log_path", p, a.AccessLogPath, whyLog, false)
	}
	if p := a.GetProfilePath(); p != "" {
		a.ProfilePath = filepath.Join(u.opts.Dir, "envoy.prof")
		u.add("admin.profile_path", "admin.profile_path", p, a.ProfilePath, whyLog, false)
	}
}

// chainRef is a filter chain with its place in the user's file.
type chainRef struct {
	fc        *listenerv3.FilterChain
	key, name string
}

func (u *userRewrite) rewriteListeners(set func(string) *corev3.Address) error {
	other := 0
	for i, l := range u.b.GetStaticResources().GetListeners() {
		key := fmt.Sprintf("static_resources.listeners[%d]", i)
		name := fmt.Sprintf("static_resources.listeners[%q]", l.GetName())
		routed := i == u.target.ref.li
		addr := "127.0.0.1:0"
		if routed {
			addr = u.opts.Listen
		} else {
			if other < len(u.opts.OtherListen) {
				addr = u.opts.OtherListen[other]
			}
			other++
		}
		if l.GetInternalListener() == nil {
			u.add(key+".address", name+".address", formatAddress(l.GetAddress()), addr, whyListener, false)
			l.Address = set(addr)
		}
		if len(l.GetAdditionalAddresses()) > 0 {
			u.add(key+".additional_addresses", name+".additional_addresses", fmt.Sprintf("%d addresses", len(l.GetAdditionalAddresses())), "", whyListener, false)
			l.AdditionalAddresses = nil
		}
		if l.GetTransparent().GetValue() {
			u.add(key+".transparent", name+".transparent", "true", "", "a transparent listener needs CAP_NET_ADMIN; racelab runs unprivileged", false)
			l.Transparent = nil
		}
		var chains []chainRef
		for j, fc := range l.GetFilterChains() {
			chains = append(chains, chainRef{fc, fmt.Sprintf("%s.filter_chains[%d]", key, j), fmt.Sprintf("%s.filter_chains[%d]", name, j)})
		}
		if d := l.GetDefaultFilterChain(); d != nil {
			chains = append(chains, chainRef{d, key + ".default_filter_chain", name + ".default_filter_chain"})
		}
		if routed {
			chains = u.keepRoutedChain(l, chains)
		}
		for _, c := range chains {
			if c.fc.GetTransportSocket() != nil {
				u.add(c.key+".transport_socket", c.name+".transport_socket", transportName(c.fc.GetTransportSocket()), "", whyDownTLS, false)
				c.fc.TransportSocket = nil
			}
			if err := u.addAccessLog(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepRoutedChain keeps only the filter chain that routes to the cluster
// under test, without its match: racelab's plain connections to a
// loopback port would match no TLS, SNI or port criterion of the file.
func (u *userRewrite) keepRoutedChain(l *listenerv3.Listener, chains []chainRef) []chainRef {
	var keep chainRef
	for _, c := range chains {
		if c.fc == u.target.ref.chain {
			keep = c
			continue
		}
		u.add(c.key, c.name, chainLabel(c.fc), "", "one filter chain serves racelab's connections: the one routing to the cluster under test", false)
	}
	if u.target.ref.ci < 0 {
		l.FilterChains = nil
	} else {
		l.FilterChains, l.DefaultFilterChain = []*listenerv3.FilterChain{keep.fc}, nil
	}
	if m := keep.fc.GetFilterChainMatch(); m != nil {
		old, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		u.add(keep.key+".filter_chain_match", keep.name+".filter_chain_match", compactJSON(old), "", "racelab's plain connections to a loopback port must match the chain", false)
		keep.fc.FilterChainMatch = nil
	}
	return []chainRef{keep}
}

func chainLabel(fc *listenerv3.FilterChain) string {
	if fc.GetName() != "" {
		return "filter chain " + strconv.Quote(fc.GetName())
	}
	return "filter chain"
}

func transportName(ts *corev3.TransportSocket) string {
	if t := ts.GetTypedConfig().GetTypeUrl(); t != "" {
		return t[strings.LastIndexByte(t, '/')+1:]
	}
	return ts.GetName()
}

// addAccessLog adds racelab's access log to every HTTP connection manager
// of a chain, beside the user's logs.
func (u *userRewrite) addAccessLog(c chainRef) error {
	for k, f := range c.fc.GetFilters() {
		h, ok := unpack(f.GetTypedConfig()).(*hcmv3.HttpConnectionManager)
		if !ok {
			continue
		}
		al, err := racelabAccessLog()
		if err != nil {
			return err
		}
		old := len(h.GetAccessLog())
		h.AccessLog = append(h.AccessLog, al)
		a, err := anypb.New(h)
		if err != nil {
			return fmt.Errorf("envoy config %s: %w", u.file, err)
		}
		f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
		key := fmt.Sprintf("%s.filters[%d].typed_config.access_log", c.key, k)
		name := fmt.Sprintf("%s.filters[%q].typed_config(HttpConnectionManager).access_log", c.name, f.GetName())
		u.add(key, name, plural(old, "access log"), plural(old+1, "access log")+": racelab's stdout JSON log added",
			"racelab reads its evidence (response flags, attempts, upstream connection) from its own access log; the file's logs stay", false)
	}
	return nil
}

// racelabAccessLog is the stdout access log RenderBootstrap renders.
func racelabAccessLog() (*accesslogv3.AccessLog, error) {
	fields := make(map[string]any)
	for k, v := range AccessLogFormat() {
		fields[k] = v
	}
	st, err := structpb.NewStruct(fields)
	if err != nil {
		return nil, err
	}
	cfg, err := anypb.New(&streamv3.StdoutAccessLog{
		AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
			Format: &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: st},
		}},
	})
	if err != nil {
		return nil, err
	}
	return &accesslogv3.AccessLog{Name: stdoutAccessLogName, ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: cfg}}, nil
}

func (u *userRewrite) rewriteCluster(i int, c *clusterv3.Cluster, set func(string) *corev3.Address) error {
	key := fmt.Sprintf("static_resources.clusters[%d]", i)
	name := fmt.Sprintf("static_resources.clusters[%q]", c.GetName())
	test := c.GetName() == u.cluster
	target, why := u.opts.Closed, whyClosed
	if test {
		target, why = u.opts.Backend, whyBackend
	}
	old := clusterTypeName(c)
	switch {
	case c.GetClusterDiscoveryType() == nil || c.GetType() == clusterv3.Cluster_STATIC && c.GetClusterType() == nil:
	case c.GetType() == clusterv3.Cluster_STRICT_DNS || c.GetType() == clusterv3.Cluster_LOGICAL_DNS:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		u.add(key+".type", name+".type", old, "STATIC", whyDNS, false)
	case test:
		return u.errorf(key, "%s: a %s cluster under test gets its endpoints from elsewhere; racelab needs static endpoints it can point at its backend", name, old)
	default:
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		c.EdsClusterConfig = nil
		if c.GetLbPolicy() == clusterv3.Cluster_CLUSTER_PROVIDED {
			c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		}
		u.add(key+".type", name+".type", old, "STATIC", whyClosed, false)
	}
	//nolint:staticcheck // deprecated fields still configure DNS
	if len(c.GetDnsResolvers()) > 0 || c.GetTypedDnsResolverConfig() != nil || c.GetDnsResolutionConfig() != nil {
		field := "typed_dns_resolver_config"
		switch {
		case len(c.GetDnsResolvers()) > 0:
			field = "dns_resolvers"
		case c.GetDnsResolutionConfig() != nil:
			field = "dns_resolution_config"
		}
		u.add(key+"."+field, name+"."+field, "DNS resolver", "", whyDNS, false)
		c.DnsResolvers, c.TypedDnsResolverConfig, c.DnsResolutionConfig = nil, nil, nil
	}
	if c.GetTransportSocket() != nil {
		u.add(key+".transport_socket", name+".transport_socket", transportName(c.GetTransportSocket()), "", whyUpTLS, false)
		c.TransportSocket = nil
	}
	if len(c.GetTransportSocketMatches()) > 0 || c.GetTransportSocketMatcher() != nil {
		u.add(key+".transport_socket_matches", name+".transport_socket_matches", "transport socket matches", "", whyUpTLS, false)
		c.TransportSocketMatches, c.TransportSocketMatcher = nil, nil
	}

	la := c.GetLoadAssignment()
	if la == nil || len(la.GetEndpoints()) == 0 {
		c.LoadAssignment = &endpointv3.ClusterLoadAssignment{
			ClusterName: c.GetName(),
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: set(target)}},
			}}}},
		}
		u.add("", name+".load_assignment", "", target, why, false)
		return nil
	}
	for j, le := range la.GetEndpoints() {
		for k, lb := range le.GetLbEndpoints() {
			ekey := fmt.Sprintf("%s.load_assignment.endpoints[%d].lb_endpoints[%d]", key, j, k)
			ename := fmt.Sprintf("%s.load_assignment.endpoints[%d].lb_endpoints[%d]", name, j, k)
			ep := lb.GetEndpoint()
			if ep == nil {
				u.add(ekey, ename+".endpoint_name", lb.GetEndpointName(), target, why, false)
				ep = &endpointv3.Endpoint{}
				lb.HostIdentifier = &endpointv3.LbEndpoint_Endpoint{Endpoint: ep}
			} else {
				u.add(ekey+".endpoint.address", ename+".endpoint.address", formatAddress(ep.GetAddress()), target, why, false)
			}
			ep.Address = set(target)
			if ep.GetHostname() != "" {
				u.add(ekey+".endpoint.hostname", ename+".endpoint.hostname", ep.GetHostname(), "", whyDNS, false)
				ep.Hostname = ""
			}
			if len(ep.GetAdditionalAddresses()) > 0 {
				u.add(ekey+".endpoint.additional_addresses", ename+".endpoint.additional_addresses", fmt.Sprintf("%d addresses", len(ep.GetAdditionalAddresses())), "", why, false)
				ep.AdditionalAddresses = nil
			}
			if hc := ep.GetHealthCheckConfig(); hc != nil && (hc.GetAddress() != nil || hc.GetHostname() != "" || hc.GetPortValue() != 0) {
				u.add(ekey+".endpoint.health_check_config", ename+".endpoint.health_check_config", "own address, port or hostname", "", "health checks connect to the endpoint itself", false)
				hc.Address, hc.Hostname, hc.PortValue = nil, "", 0
			}
		}
	}
	return nil
}

// scaleIdle applies the timescale to the idle timeout of the cluster
// under test, where the cluster already sets it or Envoy's default applies.
func (u *userRewrite) scaleIdle(eff map[string]proxies.Setting) {
	scale := u.opts.Timescale
	if scale == 0 || scale == 1 {
		return
	}
	i, c := 0, (*clusterv3.Cluster)(nil)
	for j, cl := range u.b.GetStaticResources().GetClusters() {
		if cl.GetName() == u.cluster {
			i, c = j, cl
		}
	}
	idle, _, _ := clusterIdle(c)
	if idle == 0 {
		return // switched off: nothing to scale
	}
	scaled := time.Duration(float64(idle) * scale).Round(time.Millisecond)
	if scaled < time.Millisecond {
		scaled = time.Millisecond // Envoy counts milliseconds; 0 would switch the timeout off
	}
	run := formatDuration(scaled)
	is := eff["idle_timeout"]
	is.Note += fmt.Sprintf("; runs as %s (timescale %g)", run, scale)
	eff["idle_timeout"] = is
	key := fmt.Sprintf("static_resources.clusters[%d]", i)
	name := fmt.Sprintf("static_resources.clusters[%q]", c.GetName())
	why := fmt.Sprintf("timescale %g: the idle timeout runs scaled, like every duration of the scenario", scale)
	d := durationpb.New(scaled)

	o := typedHTTPOptions(c)
	//nolint:staticcheck // the deprecated fields decide which form Envoy accepts
	deprecated := c.GetCommonHttpProtocolOptions() != nil || c.GetHttpProtocolOptions() != nil ||
		c.GetHttp2ProtocolOptions() != nil || c.GetUpstreamHttpProtocolOptions() != nil ||
		c.GetProtocolSelection() != clusterv3.Cluster_USE_CONFIGURED_PROTOCOL
	if o == nil && deprecated {
		if c.CommonHttpProtocolOptions == nil { //nolint:staticcheck
			c.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{} //nolint:staticcheck
		}
		c.CommonHttpProtocolOptions.IdleTimeout = d //nolint:staticcheck
		u.add(key+".common_http_protocol_options.idle_timeout", name+".common_http_protocol_options.idle_timeout",
			formatDuration(idle), run, why, false)
		return
	}
	okey := fmt.Sprintf("%s.typed_extension_protocol_options.%s", key, httpOptionsExtName)
	oname := fmt.Sprintf("%s.typed_extension_protocol_options[%q]", name, httpOptionsExtName)
	oldText, ckey := formatDuration(idle), okey+".common_http_protocol_options.idle_timeout"
	if o == nil {
		o = &upstreamhttpv3.HttpProtocolOptions{UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
			},
		}}
		oldText, ckey = "", ""
		why = fmt.Sprintf("timescale %g: Envoy's default idle timeout (%s) runs scaled; the other options added are Envoy's defaults for HTTP/1.1", scale, formatDuration(DefaultIdleTimeout))
	}
	if o.CommonHttpProtocolOptions == nil {
		o.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{}
	}
	o.CommonHttpProtocolOptions.IdleTimeout = d
	a, err := anypb.New(o)
	if err != nil {
		return // a message that just unpacked packs again
	}
	if c.TypedExtensionProtocolOptions == nil {
		c.TypedExtensionProtocolOptions = make(map[string]*anypb.Any)
	}
	c.TypedExtensionProtocolOptions[httpOptionsExtName] = a
	u.add(ckey, oname+".common_http_protocol_options.idle_timeout", oldText, run, why, false)
}

func (u *userRewrite) dropBootstrapDNS() {
	b := u.b
	//nolint:staticcheck // deprecated fields still configure DNS
	if b.GetTypedDnsResolverConfig() != nil || b.GetDnsResolutionConfig() != nil || b.GetUseTcpForDnsLookups() {
		u.add("typed_dns_resolver_config", "typed_dns_resolver_config", "DNS resolver", "", whyDNS, false)
		b.TypedDnsResolverConfig, b.DnsResolutionConfig, b.UseTcpForDnsLookups = nil, nil, false
	}
}

// redirectLog moves a file access log under the bundle's logs directory;
// the standard streams stay.
func (u *userRewrite) redirectLog(l *filelogv3.FileAccessLog, key, name string) {
	p := l.GetPath()
	if devPath(p) {
		return
	}
	l.Path = u.logPath(p)
	u.add(key+".path", name+".path", p, l.Path, whyLog, false)
}

func devPath(p string) bool {
	return p == "/dev/stdout" || p == "/dev/stderr" || p == "/dev/null"
}

// logPath is a fresh path under the logs directory, named after p.
func (u *userRewrite) logPath(p string) string {
	base := filepath.Base(p)
	if base == "." || base == "/" || base == "" {
		base = "access.log"
	}
	taken := make(map[string]bool)
	for _, c := range u.changes {
		taken[c.New] = true
	}
	dir := filepath.Join(u.opts.Dir, logsDir)
	out := filepath.Join(dir, base)
	for n := 2; taken[out]; n++ {
		out = filepath.Join(dir, fmt.Sprintf("%d-%s", n, base))
	}
	return out
}

// walk visits every message of m, the contents of every Any included
// (repacked after the visit, so fn may change them).
func (u *userRewrite) walk(m protoreflect.Message, key, name string, fn func(protoreflect.Message, string, string), errp *error) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner := unpack(a)
		if inner == nil {
			return
		}
		u.walk(inner.ProtoReflect(), key, fmt.Sprintf("%s(%s)", name, inner.ProtoReflect().Descriptor().Name()), fn, errp)
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(inner)
		if err != nil && *errp == nil {
			*errp = fmt.Errorf("envoy config %s: %s: %w", u.file, name, err)
		}
		a.Value = b
		return
	}
	fn(m, key, name)
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		fkey, fname := joinPath(key, string(fd.Name())), joinPath(name, string(fd.Name()))
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil || fd.MapKey().Kind() != protoreflect.StringKind {
				continue
			}
			mp := m.Get(fd).Map()
			var keys []string
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k.String())
				return true
			})
			sort.Strings(keys)
			for _, k := range keys {
				em := mp.Get(protoreflect.ValueOfString(k).MapKey()).Message()
				u.walk(em, fkey+"."+k, fmt.Sprintf("%s[%q]", fname, k), fn, errp)
			}
		case fd.IsList():
			if fd.Message() == nil {
				continue
			}
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				em := l.Get(j).Message()
				u.walk(em, fmt.Sprintf("%s[%d]", fkey, j), elementName(fname, j, em), fn, errp)
			}
		case fd.Message() != nil:
			u.walk(m.Get(fd).Message(), fkey, fname, fn, errp)
		}
	}
}

// marshal writes the rewritten bootstrap as YAML.
func (u *userRewrite) marshal() ([]byte, error) {
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(u.b)
	if err != nil {
		return nil, fmt.Errorf("envoy config %s: %w", u.file, err)
	}
	head := fmt.Sprintf("Rewritten by racelab from %s: %d changes, cluster under test %q.", u.file, len(u.changes)+1, u.cluster)
	out, err := jsonToYAML(data, head)
	if err != nil {
		return nil, fmt.Errorf("envoy config %s: %w", u.file, err)
	}
	return out, nil
}

func socketAddr(hostport string) *corev3.Address {
	host, port, _ := net.SplitHostPort(hostport)
	p, _ := strconv.Atoi(port)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
	}}}
}

func formatAddress(a *corev3.Address) string {
	switch {
	case a == nil:
		return ""
	case a.GetSocketAddress() != nil:
		return formatSocket(a.GetSocketAddress())
	case a.GetPipe() != nil:
		return "unix:" + a.GetPipe().GetPath()
	case a.GetEnvoyInternalAddress() != nil:
		return "internal:" + a.GetEnvoyInternalAddress().GetServerListenerName()
	}
	return ""
}

func formatSocket(s *corev3.SocketAddress) string {
	port := strconv.FormatUint(uint64(s.GetPortValue()), 10)
	if s.GetNamedPort() != "" {
		port = s.GetNamedPort()
	}
	return net.JoinHostPort(s.GetAddress(), port)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func compactJSON(b []byte) string {
	return strings.Join(strings.Fields(string(b)), " ")
}
