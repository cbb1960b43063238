package envoy_test

import (
	"fmt"

	"github.com/racelab/racelab/proxies/envoy"
)

// A team's bootstrap with an internal hostname: racelab points the cluster
// at its backend, makes it STATIC so nothing is resolved, binds loopback,
// and lists what it changed.
func ExampleRenderUserConfig() {
	bootstrap := `
static_resources:
  listeners:
  - name: web
    address: {socket_address: {address: 0.0.0.0, port_value: 80}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          route_config:
            virtual_hosts:
            - name: api
              domains: ["api.example.com"]
              routes:
              - match: {prefix: "/api/"}
                route: {cluster: api, retry_policy: {retry_on: reset}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: api
    type: STRICT_DNS
    connect_timeout: 1s
    load_assignment:
      cluster_name: api
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: api.internal.example, port_value: 8080}}}}]}]
`
	b, err := envoy.RenderUserConfig(envoy.UserOptions{
		File: "envoy.yaml", Data: []byte(bootstrap),
		Backend: "127.0.0.1:19090", Listen: "127.0.0.1:18080", Admin: "127.0.0.1:19901",
		Dir: "/tmp/racelab-cell", Timescale: 0.01,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("send Host %s, path %s\n", b.Route.Host, b.Route.RequestPath("1"))
	for _, c := range b.Changes {
		fmt.Printf("%s:%d %s: %q -> %q\n", c.File, c.Line, c.Directive, c.Old, c.New)
	}
	fmt.Println("retry_on:", b.Effective["retry"].Value)
	// Output:
	// send Host api.example.com, path /api/r/1
	// envoy.yaml:5 static_resources.listeners["web"].address: "0.0.0.0:80" -> "127.0.0.1:18080"
	// envoy.yaml:9 static_resources.listeners["web"].filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config(HttpConnectionManager).access_log: "0 access logs" -> "1 access log: racelab's stdout JSON log added"
	// envoy.yaml:24 static_resources.clusters["api"].type: "STRICT_DNS" -> "STATIC"
	// envoy.yaml:28 static_resources.clusters["api"].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address: "api.internal.example:8080" -> "127.0.0.1:19090"
	// :0 admin.address: "" -> "127.0.0.1:19901"
	// :0 static_resources.clusters["api"].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options.idle_timeout: "" -> "36s"
	// :0 --concurrency: "(unset: one worker per hardware thread)" -> "1"
	// retry_on: reset
}
