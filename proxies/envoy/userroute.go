package envoy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/racelab/racelab/proxies"
)

// hcmRef is one HTTP connection manager of a bootstrap, unpacked.
type hcmRef struct {
	li     int                     // listener index
	chain  *listenerv3.FilterChain // its filter chain
	ci     int                     // chain index; -1 for default_filter_chain
	filter *listenerv3.Filter
	hcm    *hcmv3.HttpConnectionManager
	key    string // JSON path of the filter's typed_config
	name   string // path shown to people
}

// userHCMs lists every HTTP connection manager in listener order.
func userHCMs(b *bootstrapv3.Bootstrap) []hcmRef {
	var out []hcmRef
	for i, l := range b.GetStaticResources().GetListeners() {
		lkey := fmt.Sprintf("static_resources.listeners[%d]", i)
		lname := fmt.Sprintf("static_resources.listeners[%q]", l.GetName())
		chains := l.GetFilterChains()
		if d := l.GetDefaultFilterChain(); d != nil {
			chains = append(chains[:len(chains):len(chains)], d)
		}
		for j, fc := range chains {
			ci, ckey, cname := j, fmt.Sprintf("%s.filter_chains[%d]", lkey, j), fmt.Sprintf("%s.filter_chains[%d]", lname, j)
			if j == len(l.GetFilterChains()) {
				ci, ckey, cname = -1, lkey+".default_filter_chain", lname+".default_filter_chain"
			}
			for k, f := range fc.GetFilters() {
				h, ok := unpack(f.GetTypedConfig()).(*hcmv3.HttpConnectionManager)
				if !ok {
					continue
				}
				out = append(out, hcmRef{
					li: i, chain: fc, ci: ci, filter: f, hcm: h,
					key:  fmt.Sprintf("%s.filters[%d].typed_config", ckey, k),
					name: fmt.Sprintf("%s.filters[%q].typed_config(HttpConnectionManager)", cname, f.GetName()),
				})
			}
		}
	}
	return out
}

// routeTarget is the route racelab's requests take to the cluster.
type routeTarget struct {
	ref       hcmRef
	listener  string
	vi, ri    int // virtual host and route index
	vhost     *routev3.VirtualHost
	route     *routev3.Route
	routeName string
	path      string
	host      string // "" when any Host header reaches the virtual host
}

func (t *routeTarget) vhostKey() string {
	return fmt.Sprintf("%s.route_config.virtual_hosts[%d]", t.ref.key, t.vi)
}

func (t *routeTarget) routeKey() string {
	return fmt.Sprintf("%s.routes[%d]", t.vhostKey(), t.ri)
}

// proxiesRoute is the proxies.Route of the target: the path the backend sees
// follows the route's prefix_rewrite or regex_rewrite.
func (t *routeTarget) proxiesRoute(u *userRewrite) proxies.Route {
	r := proxies.Route{Path: t.path, Host: t.host, Source: u.pos(t.routeKey())}
	r.UpstreamPath, _ = upstreamPath(t.route, r)
	return r
}

// upstreamPath is the prefix the backend sees in place of r.Path, or why
// racelab cannot tell.
func upstreamPath(rt *routev3.Route, r proxies.Route) (string, string) {
	const id = "0"
	sent := r.RequestPath(id)
	a := rt.GetRoute()
	got := sent
	switch {
	case a.GetPrefixRewrite() != "":
		got = a.GetPrefixRewrite() + strings.TrimPrefix(sent, matchedPrefix(rt, sent))
	case a.GetRegexRewrite() != nil:
		re, err := regexp.Compile(a.GetRegexRewrite().GetPattern().GetRegex())
		if err != nil {
			return "", "its regex_rewrite does not compile"
		}
		// Envoy writes groups as \1, Go as ${1}.
		sub := regexp.MustCompile(`\\(\d)`).ReplaceAllString(a.GetRegexRewrite().GetSubstitution(), `${$1}`)
		got = re.ReplaceAllString(sent, sub)
	}
	up, ok := strings.CutSuffix(got, "r/"+id)
	if !ok {
		return "", fmt.Sprintf("its rewrite turns %q into %q, which loses racelab's request id", sent, got)
	}
	return up, ""
}

// matchedPrefix is the part of path a prefix_rewrite replaces.
func matchedPrefix(rt *routev3.Route, path string) string {
	m := rt.GetMatch()
	p := m.GetPrefix()
	if p == "" {
		p = m.GetPathSeparatedPrefix()
	}
	if len(p) <= len(path) {
		return path[:len(p)] // the match may ignore case
	}
	return p
}

// findRoute finds a listener, virtual host and route that send a plain
// request (a Host header and a path, no other match) to the cluster under
// test, and that no earlier virtual host or route takes first.
func (u *userRewrite) findRoute() (*routeTarget, error) {
	var why []string
	for _, ref := range userHCMs(u.b) {
		vhosts := ref.hcm.GetRouteConfig().GetVirtualHosts()
		for vi, vh := range vhosts {
			routes := vh.GetRoutes()
			for k, rt := range routes {
				if rt.GetRoute().GetCluster() != u.cluster {
					continue
				}
				label := fmt.Sprintf("virtual host %q route %s", vh.GetName(), routeLabel(k, rt.GetName()))
				path, reason := plainPath(rt)
				if reason != "" {
					why = append(why, label+": "+reason)
					continue
				}
				r := proxies.Route{Path: path}
				if _, reason := upstreamPath(rt, r); reason != "" {
					why = append(why, label+": "+reason)
					continue
				}
				if p, j := shadowed(routes, k, r.RequestPath("0")); j >= 0 {
					why = append(why, fmt.Sprintf("%s: path %q is taken by route %s first", label, p, routeLabel(j, routes[j].GetName())))
					continue
				}
				host, ok := hostFor(vh, vhosts, u.opts.Listen)
				if !ok {
					why = append(why, label+": every domain of the virtual host is taken by another virtual host")
					continue
				}
				name := rt.GetName()
				if name == "" {
					name = fmt.Sprintf("%s[%d]", vh.GetName(), k)
				}
				return &routeTarget{
					ref: ref,
					vi:  vi, ri: k,
					listener: u.b.GetStaticResources().GetListeners()[ref.li].GetName(),
					vhost:    vh, route: rt, routeName: name,
					path: path, host: host,
				}, nil
			}
		}
	}
	msg := fmt.Sprintf("envoy config %s: no listener routes a plain request to cluster %q", u.file, u.cluster)
	if len(why) > 0 {
		msg += ": " + strings.Join(why, "; ")
	} else if routed := routedClusters(u.b); len(routed) > 0 {
		msg += fmt.Sprintf(" (routes reach %s)", quoteList(routed))
	}
	return nil, fmt.Errorf("%s", msg)
}

// plainPath returns a path that the route's match accepts when a request
// carries nothing but a path and a Host header, or why there is none.
func plainPath(rt *routev3.Route) (string, string) {
	m := rt.GetMatch()
	switch {
	case len(m.GetHeaders()) > 0:
		return "", "it matches headers too"
	case len(m.GetQueryParameters()) > 0:
		return "", "it matches query parameters too"
	case m.GetRuntimeFraction() != nil:
		return "", "it matches a runtime fraction of requests"
	case m.GetGrpc() != nil || m.GetTlsContext() != nil || len(m.GetDynamicMetadata()) > 0 || len(m.GetFilterState()) > 0:
		return "", "it matches more than the path"
	}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		if p.Prefix == "" {
			return "/", ""
		}
		return p.Prefix, ""
	case *routev3.RouteMatch_Path:
		return "", fmt.Sprintf("an exact path match (%q): racelab sends a request id under the path", p.Path)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		return p.PathSeparatedPrefix, ""
	default:
		return "", "racelab picks paths from prefix, path and path_separated_prefix matches only"
	}
}

// shadowed reports a path racelab sends (the route's own and the
// driver's request path under it) that a route before k takes, and that
// route's index (-1: none).
func shadowed(routes []*routev3.Route, k int, paths ...string) (string, int) {
	for _, p := range paths {
		if j := firstMatch(routes, p); j >= 0 && j < k {
			return p, j
		}
	}
	return "", -1
}

// firstMatch is the index of the first route that may take path (-1:
// none). A route that also matches headers or other request properties may
// take it too.
func firstMatch(routes []*routev3.Route, path string) int {
	for i, rt := range routes {
		if mayMatch(rt.GetMatch(), path) {
			return i
		}
	}
	return -1
}

func mayMatch(m *routev3.RouteMatch, path string) bool {
	p, want := path, ""
	fold := m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()
	switch s := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		want = s.Prefix
	case *routev3.RouteMatch_Path:
		want = s.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		want = s.PathSeparatedPrefix
	case *routev3.RouteMatch_SafeRegex:
		re, err := regexp.Compile(`^(?:` + s.SafeRegex.GetRegex() + `)$`)
		return err != nil || re.MatchString(path)
	default:
		return true // a matcher racelab does not model: assume it matches
	}
	if fold {
		p, want = strings.ToLower(p), strings.ToLower(want)
	}
	switch m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return strings.HasPrefix(p, want)
	case *routev3.RouteMatch_Path:
		return p == want
	default:
		return p == want || strings.HasPrefix(p, want+"/") || strings.HasPrefix(p, want+"?")
	}
}

// hostBase stands in for a wildcard in a domain; .invalid never resolves.
const hostBase = "racelab"

// hostFor picks a Host header that Envoy's virtual host selection gives
// to vh: "" when vh takes any host, the client's default Host (listen)
// included; else an exact domain, then a wildcard's.
func hostFor(vh *routev3.VirtualHost, all []*routev3.VirtualHost, listen string) (string, bool) {
	for _, d := range vh.GetDomains() {
		if d == "*" && selectVirtualHost(all, listen) == vh {
			return "", true
		}
	}
	var candidates []string
	for _, d := range vh.GetDomains() {
		switch {
		case d == "*":
			candidates = append(candidates, hostBase+".invalid")
		case strings.HasPrefix(d, "*"):
			candidates = append(candidates, hostBase+d[1:])
		case strings.HasSuffix(d, "*"):
			candidates = append(candidates, d[:len(d)-1]+hostBase)
		default:
			candidates = append(candidates, d)
		}
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		return !strings.Contains(candidates[i], hostBase) && strings.Contains(candidates[j], hostBase)
	})
	for _, h := range candidates {
		if selectVirtualHost(all, h) == vh {
			return h, true
		}
	}
	return "", false
}

// selectVirtualHost is Envoy's virtual host selection for a Host header:
// an exact domain, then the longest suffix wildcard, then the longest
// prefix wildcard, then "*". Domains compare without case.
func selectVirtualHost(all []*routev3.VirtualHost, host string) *routev3.VirtualHost {
	host = strings.ToLower(host)
	var suffix, prefix, star *routev3.VirtualHost
	suffixLen, prefixLen := -1, -1
	for _, vh := range all {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				if star == nil {
					star = vh
				}
			case strings.HasPrefix(d, "*"):
				if s := d[1:]; strings.HasSuffix(host, s) && len(host) > len(s) && len(s) > suffixLen {
					suffix, suffixLen = vh, len(s)
				}
			case strings.HasSuffix(d, "*"):
				if p := d[:len(d)-1]; strings.HasPrefix(host, p) && len(host) > len(p) && len(p) > prefixLen {
					prefix, prefixLen = vh, len(p)
				}
			case d == host:
				return vh
			}
		}
	}
	switch {
	case suffix != nil:
		return suffix
	case prefix != nil:
		return prefix
	default:
		return star
	}
}

// httpOptions returns a cluster's typed HTTP protocol options, or nil.
func typedHTTPOptions(c *clusterv3.Cluster) *upstreamhttpv3.HttpProtocolOptions {
	o, _ := unpack(c.GetTypedExtensionProtocolOptions()[httpOptionsExtName]).(*upstreamhttpv3.HttpProtocolOptions)
	return o
}

// clusterIdle returns a cluster's upstream idle timeout, the JSON path
// below the cluster that sets it ("" for Envoy's default) and the field
// as people read it.
func clusterIdle(c *clusterv3.Cluster) (time.Duration, string, string) {
	if o := typedHTTPOptions(c); o != nil && o.GetCommonHttpProtocolOptions().GetIdleTimeout() != nil {
		return o.GetCommonHttpProtocolOptions().GetIdleTimeout().AsDuration(),
			".typed_extension_protocol_options." + httpOptionsExtName + ".common_http_protocol_options.idle_timeout",
			"common_http_protocol_options.idle_timeout in typed_extension_protocol_options of cluster " + c.GetName()
	}
	//nolint:staticcheck // the deprecated field still works, and teams use it
	if d := c.GetCommonHttpProtocolOptions().GetIdleTimeout(); d != nil {
		return d.AsDuration(), ".common_http_protocol_options.idle_timeout",
			"common_http_protocol_options.idle_timeout of cluster " + c.GetName() + " (deprecated cluster field)"
	}
	return DefaultIdleTimeout, "", "Envoy's default upstream idle timeout"
}

// clusterMaxRequests returns max_requests_per_connection (0: unlimited).
func clusterMaxRequests(c *clusterv3.Cluster) uint32 {
	if o := typedHTTPOptions(c); o != nil && o.GetCommonHttpProtocolOptions().GetMaxRequestsPerConnection() != nil {
		return o.GetCommonHttpProtocolOptions().GetMaxRequestsPerConnection().GetValue()
	}
	//nolint:staticcheck // deprecated, still honoured
	return c.GetMaxRequestsPerConnection().GetValue()
}

// clusterProtocol names the upstream protocol a cluster speaks to racelab's
// plain-text backend.
func clusterProtocol(c *clusterv3.Cluster) string {
	if o := typedHTTPOptions(c); o != nil {
		switch {
		case o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil:
			return "http2"
		case o.GetExplicitHttpConfig().GetHttp3ProtocolOptions() != nil:
			return "http3"
		case o.GetExplicitHttpConfig() != nil:
			return "http1"
		case o.GetUseDownstreamProtocolConfig() != nil:
			return "downstream (http1 from racelab's client)"
		case o.GetAutoConfig() != nil:
			return "auto (ALPN; http1 without TLS)"
		}
	}
	//nolint:staticcheck // deprecated, still honoured
	switch {
	case c.GetProtocolSelection() == clusterv3.Cluster_USE_DOWNSTREAM_PROTOCOL:
		return "downstream (http1 from racelab's client)"
	case c.GetHttp2ProtocolOptions() != nil:
		return "http2"
	}
	return "http1"
}
