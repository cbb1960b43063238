package envoy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/racelab/racelab/proxies"
)

// Fixed addresses, so rewritten bootstraps are stable.
const (
	testBackend = "127.0.0.1:19090"
	testListen  = "127.0.0.1:18080"
	testOther   = "127.0.0.1:18081"
	testAdmin   = "127.0.0.1:19901"
	testDir     = "/tmp/racelab-cell"
)

func userOptions(file string, data []byte, cluster string, timescale float64) UserOptions {
	return UserOptions{
		File: file, Data: data, Cluster: cluster,
		Backend: testBackend, Listen: testListen, OtherListen: []string{testOther},
		Admin: testAdmin, Dir: testDir, Timescale: timescale,
	}
}

// allowedAddrs are the only socket addresses a rewritten bootstrap may hold.
var allowedAddrs = map[string]bool{
	testBackend: true, testListen: true, testOther: true, testAdmin: true,
	proxies.DefaultClosedAddr: true, "127.0.0.1:0": true,
}

type userCase struct {
	name      string
	file      string
	cluster   string
	timescale float64
	route     proxies.Route
	eff       map[string]string // a few settings' values to check beside the golden
}

func userCases() []userCase {
	return []userCase{
		{
			name: "edge-payments", file: "edge.yaml", cluster: "payments", timescale: 0.01,
			route: proxies.Route{Path: "/payments/", Host: "api.example.com", UpstreamPath: "/payments/", Source: "edge.yaml:53"},
			eff: map[string]string{
				"idle_timeout": "3600s", "retry": "5xx,reset", "retries": "2", "listener": "public_https",
				"pool_size": "100", "protocol": "http1", "cluster_type": "STRICT_DNS",
				"servers": "2", "health_checks": "1", "reuse": "pooled",
			},
		},
		{
			name: "edge-catalog", file: "edge.yaml", cluster: "catalog",
			route: proxies.Route{Path: "/", Host: "api.example.com", UpstreamPath: "/", Source: "edge.yaml:62"},
			eff: map[string]string{
				"idle_timeout": "3600s", "retry": "connect-failure", "retries": "1", "pool_size": "1024",
			},
		},
		{
			name: "edge-ledger", file: "edge.yaml", cluster: "ledger", timescale: 1,
			route: proxies.Route{Path: "/ledger/", UpstreamPath: "/ledger/", Source: "edge.yaml:89"},
			eff:   map[string]string{"upstream_tls": "yes", "retry": "none", "cluster_type": "LOGICAL_DNS", "listener": "internal_http"},
		},
		{
			name: "sidecar", file: "sidecar.json", timescale: 0.01,
			route: proxies.Route{Path: "/", Host: "orders.svc.cluster.local", UpstreamPath: "/", Source: "sidecar.json:31"},
			eff: map[string]string{
				"cluster": "orders_local", "idle_timeout": "300s",
				"max_requests_per_connection": "1000", "retry": "reset,connect-failure", "retries": "3",
			},
		},
	}
}

func readUser(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "user", file))
	require.NoError(t, err)
	return data
}

func TestUserConfigGolden(t *testing.T) {
	for _, tc := range userCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := readUser(t, tc.file)
			got, err := RenderUserConfig(userOptions(tc.file, data, tc.cluster, tc.timescale))
			require.NoError(t, err)
			require.NoError(t, ValidateBootstrap(bootstrapOf(got)), "rewritten bootstrap fails Envoy's schema")

			assert.Equal(t, tc.route, got.Route)
			for k, v := range tc.eff {
				assert.Equal(t, v, got.Effective[k].Value, "effective %s", k)
			}
			assert.Equal(t, testDir, got.Dir)
			assert.Equal(t, []string{logsDir}, got.Dirs)
			assert.Contains(t, strings.Join(got.Args, " "), "--concurrency 1")
			assert.Equal(t, []string{"--mode", "validate", "-c", filepath.Join(testDir, ConfigFile)}, got.ValidateArgs)

			golden(t, tc.name+".envoy.yaml", bootstrapOf(got))
			golden(t, tc.name+".changes.txt", []byte(describeUser(got)))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "user", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create the golden file")
	assert.Equal(t, string(want), string(got), "golden %s differs; run go test -update if the change is intended", path)
}

func bootstrapOf(b *proxies.Bundle) []byte { return []byte(b.Files[ConfigFile]) }

// describeUser is the golden text of everything but the bootstrap.
func describeUser(u *proxies.Bundle) string {
	var b strings.Builder
	fmt.Fprintf(&b, "route: Host %q, path %q, upstream path %q (%s)\n", u.Route.Host, u.Route.Path, u.Route.UpstreamPath, u.Route.Source)
	b.WriteString("changes:\n")
	for _, c := range u.Changes {
		loc := c.File
		if c.Line > 0 {
			loc += fmt.Sprintf(":%d", c.Line)
		}
		switch {
		case strings.HasPrefix(c.Directive, "--"):
			loc = "(command line)"
		case loc == "":
			loc = "(added)"
		}
		fmt.Fprintf(&b, "  %s %s: %q → %q (%s)", loc, c.Directive, c.Old, c.New, c.Why)
		if c.AltersPooling {
			b.WriteString(" [alters pooling]")
		}
		b.WriteString("\n")
	}
	b.WriteString("effective:\n")
	keys := make([]string, 0, len(u.Effective))
	for k := range u.Effective {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := u.Effective[k]
		fmt.Fprintf(&b, "  %s: %s", k, e.Value)
		if e.Source != "" {
			fmt.Fprintf(&b, " (%s)", e.Source)
		}
		if e.Default {
			b.WriteString(" (default)")
		}
		if e.Note != "" {
			fmt.Fprintf(&b, " — %s", e.Note)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "args: %s\n", strings.Join(u.Args, " "))
	return b.String()
}

// TestUserConfigNoOriginalAddress extracts every socket address, hostname
// and SNI from each input and checks that none is left in the output, and
// that every address in the output is one racelab chose.
func TestUserConfigNoOriginalAddress(t *testing.T) {
	for _, tc := range userCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := readUser(t, tc.file)
			got, err := RenderUserConfig(userOptions(tc.file, data, tc.cluster, tc.timescale))
			require.NoError(t, err)

			in := names(t, data)
			require.NotEmpty(t, in.addrs)
			for _, a := range append(in.addrs, in.hosts...) {
				if ip := net.ParseIP(a); ip != nil && ip.IsLoopback() {
					continue
				}
				assert.NotContains(t, string(bootstrapOf(got)), a, "an address or name from the user's file survived")
			}
			out := names(t, bootstrapOf(got))
			for _, a := range out.sockets {
				assert.True(t, allowedAddrs[a], "output address %s is not one racelab chose", a)
			}
			assert.Empty(t, out.hosts, "output still names hosts")
		})
	}
}

type found struct {
	addrs   []string // socket_address.address values
	sockets []string // host:port
	hosts   []string // hostname and sni fields
}

// names walks a bootstrap, typed configs included.
func names(t testing.TB, data []byte) found {
	t.Helper()
	doc, err := yamlToJSON(data)
	require.NoError(t, err)
	var b bootstrapv3.Bootstrap
	require.NoError(t, protojson.Unmarshal(doc.data, &b))
	var f found
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if a, ok := m.Interface().(*anypb.Any); ok {
			if inner := unpack(a); inner != nil {
				walk(inner.ProtoReflect())
			}
			return
		}
		if s, ok := m.Interface().(*corev3.SocketAddress); ok {
			f.addrs = append(f.addrs, s.GetAddress())
			f.sockets = append(f.sockets, formatSocket(s))
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsMap():
				if fd.MapValue().Message() != nil {
					v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
						walk(mv.Message())
						return true
					})
				}
			case fd.IsList():
				if fd.Message() != nil {
					for i := 0; i < v.List().Len(); i++ {
						walk(v.List().Get(i).Message())
					}
				}
			case fd.Message() != nil:
				walk(v.Message())
			case fd.Kind() == protoreflect.StringKind && (fd.Name() == "hostname" || fd.Name() == "sni"):
				f.hosts = append(f.hosts, v.String())
			}
			return true
		})
	}
	walk(b.ProtoReflect())
	return f
}

func TestUserConfigChangesCarryLines(t *testing.T) {
	got, err := RenderUserConfig(userOptions("edge.yaml", readUser(t, "edge.yaml"), "payments", 0.01))
	require.NoError(t, err)
	byDirective := make(map[string]proxies.Change)
	for _, c := range got.Changes {
		byDirective[c.Directive] = c
	}
	c := byDirective[`static_resources.clusters["payments"].type`]
	assert.Equal(t, proxies.Change{
		Directive: `static_resources.clusters["payments"].type`, File: "edge.yaml", Line: 97,
		Old: "STRICT_DNS", New: "STATIC", Why: whyDNS,
	}, c)
	ep := byDirective[`static_resources.clusters["payments"].load_assignment.endpoints[0].lb_endpoints[1].endpoint.address`]
	assert.Equal(t, 134, ep.Line)
	assert.Equal(t, "payments-b.internal.example:8080", ep.Old)
	assert.Equal(t, testBackend, ep.New)

	conc := got.Changes[len(got.Changes)-1]
	assert.Equal(t, "--concurrency", conc.Directive)
	assert.True(t, conc.AltersPooling)
	for _, c := range got.Changes[:len(got.Changes)-1] {
		assert.Positive(t, c.Line, "%s has no line", c.Directive)
		assert.False(t, c.AltersPooling, "%s", c.Directive)
	}
}

// minimal is a small bootstrap: one listener routing to cluster a, and a
// cluster b nothing routes to. ROUTES and CLUSTER_A replace parts of it.
const minimal = `static_resources:
  listeners:
  - name: web
    address: {socket_address: {address: 10.1.0.1, port_value: 80}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
ROUTES
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: a
CLUSTER_A
    load_assignment: {cluster_name: a, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.1.0.2, port_value: 80}}}}]}]}
  - name: b
    connect_timeout: 1s
    load_assignment: {cluster_name: b, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.1.0.3, port_value: 80}}}}]}]}
`

const routeToA = `              - match: {prefix: "/"}
                route: {cluster: a}`

func bootstrapWith(routes, clusterA string) string {
	if clusterA == "" {
		clusterA = "    connect_timeout: 1s"
	}
	return strings.NewReplacer("ROUTES", routes, "CLUSTER_A", clusterA).Replace(minimal)
}

func TestUserConfigMinimal(t *testing.T) {
	got, err := RenderUserConfig(userOptions("min.yaml", []byte(bootstrapWith(routeToA, "")), "", 0))
	require.NoError(t, err)
	assert.Equal(t, "a", got.Effective["cluster"].Value)
	assert.Equal(t, proxies.Route{Path: "/", UpstreamPath: "/", Source: "min.yaml:16"}, got.Route)
	assert.Equal(t, proxies.Setting{Value: "3600s", Default: true, Note: "Envoy's default upstream idle timeout"}, got.Effective["idle_timeout"])
	// No admin in the file: racelab adds one, with no file or line.
	assert.Contains(t, got.Changes, proxies.Change{Directive: "admin.address", New: testAdmin,
		Why: "racelab reads readiness and stats from the admin endpoint"})
}

func TestUserConfigTimescale(t *testing.T) {
	withIdle := func(idle string) string {
		return `    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        common_http_protocol_options: {idle_timeout: ` + idle + `}
        explicit_http_config: {http_protocol_options: {}}`
	}
	deprecated := `    connect_timeout: 1s
    common_http_protocol_options: {idle_timeout: 60s}`
	for _, tc := range []struct {
		name, clusterA string
		scale          float64
		run, old       string // "" old: no change
		yaml           string // the value as the bootstrap spells it
	}{
		{"default idle", "", 0.5, "1800s", "", "1800s"},
		{"typed", withIdle("90s"), 0.01, "0.9s", "90s", "0.900s"},
		{"below a millisecond", withIdle("90s"), 1e-9, "0.001s", "90s", "0.001s"},
		{"switched off", withIdle("0s"), 0.01, "0s", "", ""},
		{"deprecated field", deprecated, 0.1, "6s", "60s", "6s"},
		{"no timescale", withIdle("90s"), 0, "90s", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderUserConfig(userOptions("t.yaml", []byte(bootstrapWith(routeToA, tc.clusterA)), "a", tc.scale))
			require.NoError(t, err)
			if tc.old != "" || tc.name == "default idle" {
				assert.Contains(t, got.Effective["idle_timeout"].Note, "runs as "+tc.run)
			} else {
				assert.NotContains(t, got.Effective["idle_timeout"].Note, "runs as")
			}
			var idle []proxies.Change
			for _, c := range got.Changes {
				if strings.HasSuffix(c.Directive, "idle_timeout") {
					idle = append(idle, c)
				}
			}
			if tc.yaml == "" {
				assert.Empty(t, idle)
				return
			}
			require.Len(t, idle, 1)
			assert.Equal(t, tc.old, idle[0].Old)
			assert.NotContains(t, idle[0].Directive, `clusters["b"]`, "only the cluster under test is scaled")
			assert.Contains(t, string(bootstrapOf(got)), "idle_timeout: "+tc.yaml)
		})
	}
}

func TestUserConfigErrors(t *testing.T) {
	valid := bootstrapWith(routeToA, "")
	twoRoutes := bootstrapWith(`              - match: {prefix: "/a"}
                route: {cluster: a}
              - match: {prefix: "/b"}
                route: {cluster: b}`, "")
	headerOnly := bootstrapWith(`              - match: {prefix: "/", headers: [{name: ":method", string_match: {exact: GET}}]}
                route: {cluster: a}`, "")
	shadowedRoute := bootstrapWith(`              - match: {prefix: "/"}
                route: {cluster: b}
              - match: {prefix: "/api/"}
                route: {cluster: a}`, "")
	eds := bootstrapWith(routeToA, `    connect_timeout: 1s
    type: EDS
    eds_cluster_config: {eds_config: {ads: {}, resource_api_version: V3}}`)
	eds = strings.Replace(eds, "    load_assignment: {cluster_name: a, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.1.0.2, port_value: 80}}}}]}]}\n", "", 1)
	rds := strings.Replace(bootstrapWith(routeToA, ""), `          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
`+routeToA+"\n", `          rds: {route_config_name: web, config_source: {ads: {}, resource_api_version: V3}}
`, 1)
	require.NotEqual(t, valid, rds)
	dynamic := "dynamic_resources:\n  cds_config: {ads: {}, resource_api_version: V3}\n" + valid

	for _, tc := range []struct {
		name    string
		data    string
		cluster string
		mutate  func(*UserOptions)
		want    []string
	}{
		{name: "empty", data: "", want: []string{"envoy config t.yaml", "empty document"}},
		{name: "not a mapping", data: "- a\n- b\n", want: []string{"a bootstrap is a mapping"}},
		{name: "unknown field", data: strings.Replace(valid, "connect_timeout: 1s\n    load", "connect_timeout: 1s\n    conect_timeout: 1s\n    load", 1),
			want: []string{"line 24:5", "static_resources.clusters[0].conect_timeout", `unknown field "conect_timeout"`}},
		{name: "bad duration", data: strings.Replace(valid, "connect_timeout: 1s", "connect_timeout: 1 second", 1),
			want: []string{"line 23:5", "static_resources.clusters[0].connect_timeout", "invalid google.protobuf.Duration"}},
		{name: "schema rule", data: strings.Replace(valid, "connect_timeout: 1s", "connect_timeout: -1s", 1),
			want: []string{`static_resources.clusters["a"].connect_timeout`}},
		{name: "unknown cluster", data: valid, cluster: "payments", want: []string{`no cluster "payments" (clusters: "a", "b")`}},
		{name: "ambiguous", data: twoRoutes, want: []string{`routes reach 2 clusters ("a", "b"): name the cluster under test`}},
		{name: "no route", data: valid, cluster: "b", want: []string{`no listener routes a plain request to cluster "b" (routes reach "a")`}},
		{name: "header match only", data: headerOnly, cluster: "a", want: []string{`cluster "a"`, "it matches headers too"}},
		{name: "shadowed", data: shadowedRoute, cluster: "a", want: []string{`path "/api/r/0" is taken by route 0 first`}},
		{name: "dynamic resources", data: dynamic, want: []string{"t.yaml:1", "dynamic_resources: racelab runs static listeners and clusters only", "static_resources"}},
		{name: "rds", data: rds, want: []string{"route discovery (rds or scoped_routes)", `listeners["web"]`}},
		{name: "eds under test", data: eds, cluster: "a", want: []string{`clusters["a"]: a EDS cluster under test`}},
		{name: "public backend", data: valid, mutate: func(o *UserOptions) { o.Backend = "10.0.0.1:80" }, want: []string{"backend address", "want a loopback IP"}},
		{name: "relative dir", data: valid, mutate: func(o *UserOptions) { o.Dir = "cell" }, want: []string{"want an absolute path"}},
		{name: "negative timescale", data: valid, mutate: func(o *UserOptions) { o.Timescale = -1 }, want: []string{"timescale -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := userOptions("t.yaml", []byte(tc.data), tc.cluster, 0)
			if tc.mutate != nil {
				tc.mutate(&opts)
			}
			got, err := RenderUserConfig(opts)
			require.Error(t, err)
			assert.Nil(t, got)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestUserConfigEDSClusterNotUnderTest(t *testing.T) {
	data := strings.Replace(bootstrapWith(routeToA, ""), `  - name: b
    connect_timeout: 1s
    load_assignment: {cluster_name: b, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.1.0.3, port_value: 80}}}}]}]}`,
		`  - name: b
    connect_timeout: 1s
    type: EDS
    eds_cluster_config: {eds_config: {ads: {}, resource_api_version: V3}}`, 1)
	got, err := RenderUserConfig(userOptions("t.yaml", []byte(data), "a", 0))
	require.NoError(t, err)
	assert.Contains(t, got.Changes, proxies.Change{Directive: `static_resources.clusters["b"].type`, File: "t.yaml", Line: 27, Old: "EDS", New: "STATIC", Why: whyClosed})
	assert.Contains(t, got.Changes, proxies.Change{Directive: `static_resources.clusters["b"].load_assignment`, New: proxies.DefaultClosedAddr, Why: whyClosed})
}

func TestSelectVirtualHost(t *testing.T) {
	vh := func(name string, domains ...string) *routev3.VirtualHost {
		return &routev3.VirtualHost{Name: name, Domains: domains}
	}
	star, suffix, prefix, exact := vh("star", "*"), vh("suffix", "*.example.com"), vh("prefix", "api.*"), vh("exact", "api.example.com")
	all := []*routev3.VirtualHost{star, suffix, prefix, exact}
	for _, tc := range []struct {
		vh     *routev3.VirtualHost
		listen string
		want   string
	}{
		{star, testListen, ""}, // any Host, the client's default included
		{star, "127.0.0.1:80", "racelab.invalid"},
		{suffix, testListen, "racelab.example.com"},
		{prefix, testListen, "api.racelab"},
		{exact, testListen, "api.example.com"},
	} {
		// A virtual host for 127.0.0.1:80 takes the client's default Host.
		all := append(all, vh("loopback", "127.0.0.1:80"))
		got, ok := hostFor(tc.vh, all, tc.listen)
		assert.True(t, ok, tc.vh.Name)
		assert.Equal(t, tc.want, got, tc.vh.Name)
	}
	// Envoy compares domains without case: the second one is unreachable.
	taken := []*routev3.VirtualHost{vh("first", "api.example.com"), vh("second", "API.example.com")}
	_, ok := hostFor(taken[1], taken, testListen)
	assert.False(t, ok)
}

func TestRenderUserConfigThroughAdapter(t *testing.T) {
	spec := proxies.Spec{
		Kind: proxies.KindEnvoy, Listen: testListen, Upstream: testBackend, AdminListen: testAdmin,
		Config: &proxies.UserConfig{Path: filepath.Join("testdata", "user", "edge.yaml"), Upstream: "payments", Timescale: 0.01},
	}
	got, err := Adapter{}.Render(spec, testDir)
	require.NoError(t, err)
	want, err := RenderUserConfig(UserOptions{
		File: spec.Config.Path, Data: readUser(t, "edge.yaml"), Cluster: "payments",
		Backend: testBackend, Listen: testListen, Admin: testAdmin, Dir: testDir, Timescale: 0.01,
	})
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, "/payments/r/42", got.Route.RequestPath("42"))
	require.NoError(t, ValidateBootstrap(bootstrapOf(got)))

	spec.Config.Closed = "127.0.0.1:7"
	got, err = Adapter{}.Render(spec, testDir)
	require.NoError(t, err)
	assert.Contains(t, got.Files[ConfigFile], "port_value: 7\n")

	spec.Config.Path = filepath.Join("testdata", "user", "missing.yaml")
	_, err = Adapter{}.Render(spec, testDir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "render envoy: envoy config: open testdata/user/missing.yaml")

	spec.Config = &proxies.UserConfig{Path: filepath.Join("testdata", "user", "edge.yaml"), Upstream: "nope"}
	_, err = Adapter{}.Render(spec, testDir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `render envoy: envoy config testdata/user/edge.yaml: no cluster "nope" (clusters: "payments", "catalog", "ledger")`)
}
