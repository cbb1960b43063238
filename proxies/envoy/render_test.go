package envoy

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/racelab/racelab/proxies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// baseSpec is a spec with fixed ports, so rendered output is stable.
func baseSpec() proxies.Spec {
	return proxies.Spec{
		Kind:            proxies.KindEnvoy,
		Listen:          "127.0.0.1:18080",
		Upstream:        "127.0.0.1:19090",
		AdminListen:     "127.0.0.1:19901",
		IdleTimeout:     250 * time.Millisecond,
		ResponseTimeout: 2 * time.Second,
		Retry:           proxies.RetryOff,
		Variant:         proxies.VariantExplicit,
	}
}

type variant struct {
	name string
	spec proxies.Spec
}

// variants covers every retry policy in both variants, and the explicit
// variant with and without an idle timeout.
func variants() []variant {
	with := func(retry proxies.Retry, v proxies.Variant, idle time.Duration) proxies.Spec {
		s := baseSpec()
		s.Retry, s.Variant, s.IdleTimeout = retry, v, idle
		return s
	}
	const idle = 250 * time.Millisecond
	return []variant{
		{"explicit-off", with(proxies.RetryOff, proxies.VariantExplicit, idle)},
		{"explicit-idempotent", with(proxies.RetryIdempotent, proxies.VariantExplicit, idle)},
		{"explicit-all", with(proxies.RetryAll, proxies.VariantExplicit, idle)},
		{"explicit-off-no-idle", with(proxies.RetryOff, proxies.VariantExplicit, 0)},
		{"explicit-idempotent-no-idle", with(proxies.RetryIdempotent, proxies.VariantExplicit, 0)},
		{"explicit-all-no-idle", with(proxies.RetryAll, proxies.VariantExplicit, 0)},
		{"defaults-off", with(proxies.RetryOff, proxies.VariantDefaults, idle)},
		{"defaults-idempotent", with(proxies.RetryIdempotent, proxies.VariantDefaults, idle)},
		{"defaults-all", with(proxies.RetryAll, proxies.VariantDefaults, idle)},
		{"defaults-off-no-idle", with(proxies.RetryOff, proxies.VariantDefaults, 0)},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			got, err := RenderBootstrap(v.spec)
			require.NoError(t, err)
			require.NoError(t, ValidateBootstrap(got), "rendered bootstrap fails Envoy's schema")

			golden := filepath.Join("testdata", v.name+".yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create the golden file")
			assert.Equal(t, string(want), string(got), "rendered bootstrap differs from %s (go test -update rewrites it)", golden)
		})
	}
}

// TestGoldenFilesValidate checks the checked-in files themselves, so a
// hand edit to a golden file cannot slip past the schema.
func TestGoldenFilesValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), len(variants()))
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.NoError(t, ValidateBootstrap(data), f)
	}
}

// parsed renders spec and parses it back through the same path
// ValidateBootstrap uses, for assertions on Envoy's own types.
func parsed(t *testing.T, spec proxies.Spec) (*bootstrapv3.Bootstrap, *hcmv3.HttpConnectionManager) {
	t.Helper()
	data, err := RenderBootstrap(spec)
	require.NoError(t, err)
	doc, err := yamlToJSON(data)
	require.NoError(t, err)
	var b bootstrapv3.Bootstrap
	require.NoError(t, protojson.Unmarshal(doc.data, &b))
	require.Len(t, b.GetStaticResources().GetListeners(), 1)
	filters := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()
	require.Len(t, filters, 1)
	var h hcmv3.HttpConnectionManager
	require.NoError(t, filters[0].GetTypedConfig().UnmarshalTo(&h))
	return &b, &h
}

// methodsRetried reports, for each method, whether the first route that
// matches it carries a retry policy. A :method regex matches the whole
// value, as Envoy's RE2 matcher does.
func methodsRetried(t *testing.T, h *hcmv3.HttpConnectionManager) map[string]bool {
	t.Helper()
	routes := h.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()
	out := make(map[string]bool)
	for _, method := range []string{"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"} {
		matched := false
		for _, r := range routes {
			if !routeMatchesMethod(t, r, method) {
				continue
			}
			out[method] = r.GetRoute().GetRetryPolicy() != nil
			matched = true
			break
		}
		require.True(t, matched, "no route matches %s", method)
	}
	return out
}

func routeMatchesMethod(t *testing.T, r *routev3.Route, method string) bool {
	require.Equal(t, "/", r.GetMatch().GetPrefix())
	for _, hm := range r.GetMatch().GetHeaders() {
		require.Equal(t, ":method", hm.GetName())
		re := regexp.MustCompile("^(?:" + hm.GetStringMatch().GetSafeRegex().GetRegex() + ")$")
		if !re.MatchString(method) {
			return false
		}
	}
	return true
}

func TestRenderRetryPolicies(t *testing.T) {
	idempotent := map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true}
	tests := []struct {
		retry   proxies.Retry
		variant proxies.Variant
		retried map[string]bool // methods with a retry policy
	}{
		{proxies.RetryOff, proxies.VariantExplicit, nil},
		{proxies.RetryIdempotent, proxies.VariantExplicit, idempotent},
		{proxies.RetryAll, proxies.VariantExplicit, map[string]bool{
			"GET": true, "HEAD": true, "OPTIONS": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true}},
		{proxies.RetryOff, proxies.VariantDefaults, nil},
		{proxies.RetryIdempotent, proxies.VariantDefaults, nil},
		{proxies.RetryAll, proxies.VariantDefaults, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.variant)+"-"+string(tt.retry), func(t *testing.T) {
			spec := baseSpec()
			spec.Retry, spec.Variant = tt.retry, tt.variant
			_, h := parsed(t, spec)
			for method, retried := range methodsRetried(t, h) {
				assert.Equal(t, tt.retried[method], retried, "retry policy for %s", method)
			}
			for _, r := range h.GetRouteConfig().GetVirtualHosts()[0].GetRoutes() {
				assert.Equal(t, 2*time.Second, r.GetRoute().GetTimeout().AsDuration(), "route timeout")
				if p := r.GetRoute().GetRetryPolicy(); p != nil {
					assert.Equal(t, "reset,connect-failure", p.GetRetryOn())
					assert.EqualValues(t, 1, p.GetNumRetries().GetValue())
				}
			}
		})
	}
}

func TestRenderPooling(t *testing.T) {
	t.Run("explicit", func(t *testing.T) {
		b, h := parsed(t, baseSpec())
		c := b.GetStaticResources().GetClusters()[0]
		assert.Equal(t, ClusterName, c.GetName())
		assert.Equal(t, clusterv3.Cluster_STATIC, c.GetType())
		th := c.GetCircuitBreakers().GetThresholds()
		require.Len(t, th, 1)
		assert.EqualValues(t, 1, th[0].GetMaxConnections().GetValue())
		opts := c.GetTypedExtensionProtocolOptions()[httpOptionsExtName]
		require.NotNil(t, opts, "typed_extension_protocol_options missing")
		var po upstreamhttpv3.HttpProtocolOptions
		require.NoError(t, opts.UnmarshalTo(&po))
		assert.Equal(t, 250*time.Millisecond, po.GetCommonHttpProtocolOptions().GetIdleTimeout().AsDuration())
		assert.NotNil(t, po.GetExplicitHttpConfig().GetHttpProtocolOptions(), "upstream must be HTTP/1.1")
		sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		assert.Equal(t, "127.0.0.1", sa.GetAddress())
		assert.EqualValues(t, 19090, sa.GetPortValue())
		assert.EqualValues(t, 19901, b.GetAdmin().GetAddress().GetSocketAddress().GetPortValue())
		assert.Equal(t, StatPrefix, h.GetStatPrefix())
	})
	t.Run("explicit without idle timeout", func(t *testing.T) {
		spec := baseSpec()
		spec.IdleTimeout = 0
		b, _ := parsed(t, spec)
		var po upstreamhttpv3.HttpProtocolOptions
		require.NoError(t, b.GetStaticResources().GetClusters()[0].GetTypedExtensionProtocolOptions()[httpOptionsExtName].UnmarshalTo(&po))
		assert.Nil(t, po.GetCommonHttpProtocolOptions(), "idle_timeout must be left to Envoy's default")
		assert.NotNil(t, po.GetExplicitHttpConfig().GetHttpProtocolOptions())
	})
	t.Run("defaults", func(t *testing.T) {
		spec := baseSpec()
		spec.Variant = proxies.VariantDefaults
		b, _ := parsed(t, spec)
		c := b.GetStaticResources().GetClusters()[0]
		assert.Nil(t, c.GetCircuitBreakers())
		assert.Empty(t, c.GetTypedExtensionProtocolOptions())
	})
}

func TestRenderAccessLog(t *testing.T) {
	_, h := parsed(t, baseSpec())
	require.Len(t, h.GetAccessLog(), 1)
	data, err := RenderBootstrap(baseSpec())
	require.NoError(t, err)
	for key, op := range AccessLogFormat() {
		assert.Contains(t, string(data), key+": '"+op+"'")
	}
	assert.Equal(t, "%REQ(X-RACELAB-REQUEST-ID)%", AccessLogFormat()[LogRequestID])
}

func TestRenderBundle(t *testing.T) {
	dir := t.TempDir()
	b, err := Adapter{}.Render(baseSpec(), dir)
	require.NoError(t, err)
	assert.Equal(t, dir, b.Dir)
	require.Contains(t, b.Files, ConfigFile)
	assert.NoError(t, ValidateBootstrap([]byte(b.Files[ConfigFile])))
	cfg := filepath.Join(dir, ConfigFile)
	assert.Equal(t, []string{"-c", cfg, "--concurrency", "1", "--disable-hot-restart",
		"--log-level", "info", "--file-flush-interval-msec", "50"}, b.Args)
	assert.Equal(t, []string{"--mode", "validate", "-c", cfg}, b.ValidateArgs)
	assert.Empty(t, b.Dirs)
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*proxies.Spec)
		want   string
	}{
		{"no admin", func(s *proxies.Spec) { s.AdminListen = "" }, "admin address is required"},
		{"admin hostname", func(s *proxies.Spec) { s.AdminListen = "localhost:9901" }, "admin address \"localhost:9901\": want an IP address"},
		{"upstream hostname", func(s *proxies.Spec) { s.Upstream = "backend:80" }, "upstream address \"backend:80\": want an IP address"},
		{"listen without port", func(s *proxies.Spec) { s.Listen = "127.0.0.1" }, "listen address \"127.0.0.1\""},
		{"port zero", func(s *proxies.Spec) { s.Listen = "127.0.0.1:0" }, "want a port from 1 to 65535"},
		{"port too large", func(s *proxies.Spec) { s.Upstream = "127.0.0.1:70000" }, "want a port from 1 to 65535"},
		{"sub-millisecond idle", func(s *proxies.Spec) { s.IdleTimeout = 500 * time.Microsecond }, "idle timeout 500µs"},
		{"sub-millisecond response", func(s *proxies.Spec) { s.ResponseTimeout = time.Microsecond }, "response timeout 1µs"},
		{"other kind", func(s *proxies.Spec) { s.Kind = proxies.KindNginx }, "spec is for \"nginx\""},
		{"bad retry", func(s *proxies.Spec) { s.Retry = "sometimes" }, "retry \"sometimes\""},
		{"negative timeout", func(s *proxies.Spec) { s.IdleTimeout = -time.Second }, "timeouts must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec()
			tt.mutate(&spec)
			_, err := Adapter{}.Render(spec, t.TempDir())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "render envoy: "), err.Error())
		})
	}
}

func TestRenderIPv6(t *testing.T) {
	spec := baseSpec()
	spec.Listen, spec.Upstream, spec.AdminListen = "[::1]:18080", "[::1]:19090", "[::1]:19901"
	b, _ := parsed(t, spec)
	assert.Equal(t, "::1", b.GetStaticResources().GetListeners()[0].GetAddress().GetSocketAddress().GetAddress())
}

func TestRenderIgnoresIdleTimeoutInDefaults(t *testing.T) {
	spec := baseSpec()
	spec.Variant = proxies.VariantDefaults
	spec.IdleTimeout = 500 * time.Microsecond // would be refused if rendered
	_, err := RenderBootstrap(spec)
	assert.NoError(t, err)
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{
		0:                       "0s",
		5 * time.Second:         "5s",
		250 * time.Millisecond:  "0.25s",
		1500 * time.Microsecond: "0.0015s",
		61*time.Second + 1:      "61.000000001s",
		-2 * time.Second:        "-2s",
	}
	for d, want := range tests {
		assert.Equal(t, want, formatDuration(d), "%v", d)
	}
}
