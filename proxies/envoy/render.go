package envoy

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/racelab/racelab/proxies"
)

// Type URLs of the typed configs the bootstrap uses.
const (
	typeHCM             = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	typeRouter          = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	typeStdoutLog       = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
	typeHTTPOptions     = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	httpOptionsExtName  = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	hcmFilterName       = "envoy.filters.network.http_connection_manager"
	routerFilterName    = "envoy.filters.http.router"
	stdoutAccessLogName = "envoy.access_loggers.stdout"
)

// RetryOn is the retry_on value of every rendered retry policy: a reset
// stream (the stale keep-alive connection) or a failed connect.
const RetryOn = "reset,connect-failure"

// idempotentMethods is the :method regex of the retrying route.
const idempotentMethods = "GET|HEAD|OPTIONS"

// The types below mirror the parts of Envoy's v3 bootstrap that racelab
// renders, in Envoy's own field names. They exist for readable, ordered
// YAML; ValidateBootstrap checks the result against Envoy's schema.

type bootstrap struct {
	Admin           admin           `yaml:"admin"`
	StaticResources staticResources `yaml:"static_resources"`
}

type admin struct {
	Address address `yaml:"address"`
}

type address struct {
	SocketAddress socketAddress `yaml:"socket_address"`
}

type socketAddress struct {
	Address   quoted `yaml:"address"`
	PortValue int    `yaml:"port_value"`
}

type staticResources struct {
	Listeners []listener `yaml:"listeners"`
	Clusters  []cluster  `yaml:"clusters"`
}

type listener struct {
	Name         string        `yaml:"name"`
	Address      address       `yaml:"address"`
	FilterChains []filterChain `yaml:"filter_chains"`
}

type filterChain struct {
	Filters []networkFilter `yaml:"filters"`
}

type networkFilter struct {
	Name        string `yaml:"name"`
	TypedConfig hcm    `yaml:"typed_config"`
}

type hcm struct {
	Type        string       `yaml:"@type"`
	StatPrefix  string       `yaml:"stat_prefix"`
	CodecType   string       `yaml:"codec_type"`
	AccessLog   []accessLog  `yaml:"access_log"`
	RouteConfig routeConfig  `yaml:"route_config"`
	HTTPFilters []httpFilter `yaml:"http_filters"`
}

type accessLog struct {
	Name        string    `yaml:"name"`
	TypedConfig stdoutLog `yaml:"typed_config"`
}

type stdoutLog struct {
	Type      string    `yaml:"@type"`
	LogFormat logFormat `yaml:"log_format"`
}

type logFormat struct {
	JSONFormat map[string]string `yaml:"json_format"`
}

type routeConfig struct {
	Name         string        `yaml:"name"`
	VirtualHosts []virtualHost `yaml:"virtual_hosts"`
}

type virtualHost struct {
	Name    string   `yaml:"name"`
	Domains []string `yaml:"domains"`
	Routes  []route  `yaml:"routes"`
}

type route struct {
	Name  string      `yaml:"name"`
	Match routeMatch  `yaml:"match"`
	Route routeAction `yaml:"route"`
}

type routeMatch struct {
	Prefix  string          `yaml:"prefix"`
	Headers []headerMatcher `yaml:"headers,omitempty"`
}

type headerMatcher struct {
	Name        quoted        `yaml:"name"`
	StringMatch stringMatcher `yaml:"string_match"`
}

type stringMatcher struct {
	SafeRegex regexMatcher `yaml:"safe_regex"`
}

type regexMatcher struct {
	Regex quoted `yaml:"regex"`
}

// quoted is a string that is always written quoted, so that Envoy's YAML
// loader, which types plain scalars by their text, reads it as a string
// (":method", "::1").
type quoted string

func (q quoted) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: string(q)}, nil
}

type routeAction struct {
	Cluster     string       `yaml:"cluster"`
	Timeout     string       `yaml:"timeout"`
	RetryPolicy *retryPolicy `yaml:"retry_policy,omitempty"`
}

type retryPolicy struct {
	RetryOn    string `yaml:"retry_on"`
	NumRetries int    `yaml:"num_retries"`
}

type httpFilter struct {
	Name        string `yaml:"name"`
	TypedConfig router `yaml:"typed_config"`
}

type router struct {
	Type string `yaml:"@type"`
}

type cluster struct {
	Name                          string                 `yaml:"name"`
	Type                          string                 `yaml:"type"`
	ConnectTimeout                string                 `yaml:"connect_timeout"`
	LoadAssignment                loadAssignment         `yaml:"load_assignment"`
	CircuitBreakers               *circuitBreakers       `yaml:"circuit_breakers,omitempty"`
	TypedExtensionProtocolOptions map[string]httpOptions `yaml:"typed_extension_protocol_options,omitempty"`
}

type loadAssignment struct {
	ClusterName string              `yaml:"cluster_name"`
	Endpoints   []localityEndpoints `yaml:"endpoints"`
}

type localityEndpoints struct {
	LbEndpoints []lbEndpoint `yaml:"lb_endpoints"`
}

type lbEndpoint struct {
	Endpoint endpoint `yaml:"endpoint"`
}

type endpoint struct {
	Address address `yaml:"address"`
}

type circuitBreakers struct {
	Thresholds []threshold `yaml:"thresholds"`
}

type threshold struct {
	Priority           string `yaml:"priority"`
	MaxConnections     int    `yaml:"max_connections"`
	MaxPendingRequests int    `yaml:"max_pending_requests"`
	MaxRequests        int    `yaml:"max_requests"`
}

type httpOptions struct {
	Type                      string             `yaml:"@type"`
	CommonHTTPProtocolOptions *commonHTTPOptions `yaml:"common_http_protocol_options,omitempty"`
	ExplicitHTTPConfig        explicitHTTPConfig `yaml:"explicit_http_config"`
}

type commonHTTPOptions struct {
	IdleTimeout string `yaml:"idle_timeout"`
}

type explicitHTTPConfig struct {
	HTTPProtocolOptions struct{} `yaml:"http_protocol_options"`
}

// RenderBootstrap renders spec as an Envoy v3 bootstrap in YAML. It needs
// Spec.AdminListen: Envoy's admin endpoint is how readiness and stats are
// read. Timeouts below one millisecond are refused: Envoy reads them in
// whole milliseconds, and zero would switch the timeout off.
func RenderBootstrap(spec proxies.Spec) ([]byte, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("render envoy: %w", err)
	}
	if spec.Kind != "" && spec.Kind != proxies.KindEnvoy {
		return nil, fmt.Errorf("render envoy: spec is for %q", spec.Kind)
	}
	if spec.AdminListen == "" {
		return nil, fmt.Errorf("render envoy: admin address is required")
	}
	adminAddr, err := ipAddress("admin", spec.AdminListen)
	if err != nil {
		return nil, err
	}
	listenAddr, err := ipAddress("listen", spec.Listen)
	if err != nil {
		return nil, err
	}
	upstreamAddr, err := ipAddress("upstream", spec.Upstream)
	if err != nil {
		return nil, err
	}
	timeout := spec.ResponseTimeout
	if timeout == 0 {
		timeout = proxies.DefaultResponseTimeout
	}
	if timeout < time.Millisecond {
		return nil, fmt.Errorf("render envoy: response timeout %v: Envoy counts whole milliseconds, want 1ms or more", timeout)
	}
	explicit := spec.Variant != proxies.VariantDefaults
	if explicit && spec.IdleTimeout > 0 && spec.IdleTimeout < time.Millisecond {
		return nil, fmt.Errorf("render envoy: idle timeout %v: Envoy counts whole milliseconds, want 1ms or more", spec.IdleTimeout)
	}

	b := bootstrap{
		Admin: admin{Address: adminAddr},
		StaticResources: staticResources{
			Listeners: []listener{{
				Name:    ListenerName,
				Address: listenAddr,
				FilterChains: []filterChain{{Filters: []networkFilter{{
					Name: hcmFilterName,
					TypedConfig: hcm{
						Type:       typeHCM,
						StatPrefix: StatPrefix,
						CodecType:  "AUTO",
						AccessLog: []accessLog{{
							Name: stdoutAccessLogName,
							TypedConfig: stdoutLog{
								Type:      typeStdoutLog,
								LogFormat: logFormat{JSONFormat: AccessLogFormat()},
							},
						}},
						RouteConfig: routeConfig{
							Name: "racelab_routes",
							VirtualHosts: []virtualHost{{
								Name:    "racelab",
								Domains: []string{"*"},
								Routes:  routes(spec.Retry, explicit, formatDuration(timeout)),
							}},
						},
						HTTPFilters: []httpFilter{{
							Name:        routerFilterName,
							TypedConfig: router{Type: typeRouter},
						}},
					},
				}}}},
			}},
			Clusters: []cluster{backendCluster(spec, explicit, upstreamAddr)},
		},
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(b); err != nil {
		return nil, fmt.Errorf("render envoy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render envoy: %w", err)
	}
	return buf.Bytes(), nil
}

// routes renders the virtual host's routes for a retry policy. Idempotent
// retries sit on a route that matches GET, HEAD and OPTIONS only, ahead of
// a catch-all route without retries: Envoy's retry policy itself never
// looks at the method.
func routes(retry proxies.Retry, explicit bool, timeout string) []route {
	action := func(withRetry bool) routeAction {
		a := routeAction{Cluster: ClusterName, Timeout: timeout}
		if withRetry {
			a.RetryPolicy = &retryPolicy{RetryOn: RetryOn, NumRetries: 1}
		}
		return a
	}
	catchAll := route{Name: RouteDefault, Match: routeMatch{Prefix: "/"}}
	if !explicit {
		catchAll.Route = action(false)
		return []route{catchAll}
	}
	switch retry {
	case proxies.RetryIdempotent:
		catchAll.Route = action(false)
		return []route{{
			Name: RouteRetry,
			Match: routeMatch{
				Prefix: "/",
				Headers: []headerMatcher{{
					Name:        ":method",
					StringMatch: stringMatcher{SafeRegex: regexMatcher{Regex: quoted(idempotentMethods)}},
				}},
			},
			Route: action(true),
		}, catchAll}
	case proxies.RetryAll:
		catchAll.Route = action(true)
		return []route{catchAll}
	default:
		catchAll.Route = action(false)
		return []route{catchAll}
	}
}

func backendCluster(spec proxies.Spec, explicit bool, upstream address) cluster {
	c := cluster{
		Name:           ClusterName,
		Type:           "STATIC",
		ConnectTimeout: formatDuration(DefaultConnectTimeout),
		LoadAssignment: loadAssignment{
			ClusterName: ClusterName,
			Endpoints: []localityEndpoints{{
				LbEndpoints: []lbEndpoint{{Endpoint: endpoint{Address: upstream}}},
			}},
		},
	}
	if !explicit {
		return c
	}
	c.CircuitBreakers = &circuitBreakers{Thresholds: []threshold{{
		Priority:           "DEFAULT",
		MaxConnections:     1,
		MaxPendingRequests: MaxPendingRequests,
		MaxRequests:        MaxRequests,
	}}}
	opts := httpOptions{Type: typeHTTPOptions}
	if spec.IdleTimeout > 0 {
		opts.CommonHTTPProtocolOptions = &commonHTTPOptions{IdleTimeout: formatDuration(spec.IdleTimeout)}
	}
	c.TypedExtensionProtocolOptions = map[string]httpOptions{httpOptionsExtName: opts}
	return c
}

// ipAddress splits an "ip:port" address. Envoy binds listeners and
// reaches static endpoints by IP only; it resolves no names here.
func ipAddress(what, hostport string) (address, error) {
	a, err := proxies.ParseAddr(what, hostport, false) // Envoy resolves no names here
	if err != nil {
		return address{}, fmt.Errorf("render envoy: %w", err)
	}
	return address{SocketAddress: socketAddress{Address: quoted(a.IP.String()), PortValue: int(a.Port)}}, nil
}

// formatDuration writes d in protobuf's JSON form: seconds with up to nine
// fractional digits and an "s" ("5s", "0.25s", "0.0015s").
func formatDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	secs, nanos := d/time.Second, d%time.Second
	if nanos == 0 {
		return fmt.Sprintf("%s%ds", sign, secs)
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nanos), "0")
	return fmt.Sprintf("%s%d.%ss", sign, secs, frac)
}
