package envoy

import (
	"fmt"
	"net"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// checkReferences checks what the schema cannot: names that must be
// unique, routes that must name a cluster, and static endpoints that must
// be IP addresses. Envoy refuses to start on each of these.
func checkReferences(b *bootstrapv3.Bootstrap, w *walker) {
	sr := b.GetStaticResources()
	if sr == nil {
		return
	}
	base, baseName := "static_resources", "static_resources"

	listeners := make(map[string]bool)
	for i, l := range sr.GetListeners() {
		key := fmt.Sprintf("%s.listeners[%d]", base, i)
		name := fmt.Sprintf("%s.listeners[%q]", baseName, l.GetName())
		if l.GetName() != "" && listeners[l.GetName()] {
			w.add(key, name, fmt.Sprintf("duplicate listener name %q", l.GetName()))
		}
		listeners[l.GetName()] = true
	}

	clusters := make(map[string]bool)
	for i, c := range sr.GetClusters() {
		key := fmt.Sprintf("%s.clusters[%d]", base, i)
		name := fmt.Sprintf("%s.clusters[%q]", baseName, c.GetName())
		if clusters[c.GetName()] {
			w.add(key, name, fmt.Sprintf("duplicate cluster name %q", c.GetName()))
		}
		clusters[c.GetName()] = true
		checkStaticEndpoints(c, key, name, w)
	}

	// With cluster discovery, a route may name a cluster that arrives later.
	if b.GetDynamicResources().GetCdsConfig() != nil || b.GetDynamicResources().GetCdsResourcesLocator() != "" {
		return
	}
	for i, l := range sr.GetListeners() {
		for j, fc := range l.GetFilterChains() {
			for k, f := range fc.GetFilters() {
				h, ok := unpack(f.GetTypedConfig()).(*hcmv3.HttpConnectionManager)
				if !ok {
					continue
				}
				key := fmt.Sprintf("%s.listeners[%d].filter_chains[%d].filters[%d].typed_config.route_config", base, i, j, k)
				name := fmt.Sprintf("%s.listeners[%q].filter_chains[%d].filters[%q].typed_config(HttpConnectionManager).route_config",
					baseName, l.GetName(), j, f.GetName())
				for v, vh := range h.GetRouteConfig().GetVirtualHosts() {
					for r, rt := range vh.GetRoutes() {
						target := rt.GetRoute().GetCluster()
						if target == "" || clusters[target] {
							continue
						}
						rkey := fmt.Sprintf("%s.virtual_hosts[%d].routes[%d].route.cluster", key, v, r)
						rname := fmt.Sprintf("%s.virtual_hosts[%q].routes[%s].route.cluster", name, vh.GetName(), routeLabel(r, rt.GetName()))
						w.add(rkey, rname, fmt.Sprintf("unknown cluster %q", target))
					}
				}
			}
		}
	}
}

func routeLabel(i int, name string) string {
	if name != "" {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprint(i)
}

// checkStaticEndpoints requires IP addresses in a STATIC cluster, which
// Envoy never resolves.
func checkStaticEndpoints(c *clusterv3.Cluster, key, name string, w *walker) {
	if c.GetClusterDiscoveryType() != nil && c.GetType() != clusterv3.Cluster_STATIC {
		return
	}
	for i, le := range c.GetLoadAssignment().GetEndpoints() {
		for j, lb := range le.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil || net.ParseIP(sa.GetAddress()) != nil {
				continue
			}
			suffix := fmt.Sprintf(".load_assignment.endpoints[%d].lb_endpoints[%d].endpoint.address.socket_address.address", i, j)
			w.add(key+suffix, name+suffix, fmt.Sprintf("static cluster endpoint %q is not an IP address", sa.GetAddress()))
		}
	}
}
