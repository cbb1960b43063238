package guard

import (
	"encoding/json"
	"os"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"
)

// TestEnvoyTestdataIsValid checks the bootstraps the reader tests use
// against Envoy's own schema, so the reader is tested on configs Envoy
// accepts.
func TestEnvoyTestdataIsValid(t *testing.T) {
	for _, f := range []string{"testdata/envoy/bootstrap.yaml", "testdata/envoy/bootstrap.json", "testdata/envoy/cds.yaml"} {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var doc any
			require.NoError(t, yaml.Unmarshal(data, &doc))
			js, err := json.Marshal(doc)
			require.NoError(t, err)
			var b bootstrapv3.Bootstrap
			require.NoError(t, protojson.Unmarshal(js, &b))
			require.NoError(t, b.ValidateAll())
			for _, c := range b.GetStaticResources().GetClusters() {
				for _, a := range c.GetTypedExtensionProtocolOptions() {
					var o upstreamhttpv3.HttpProtocolOptions
					require.NoError(t, a.UnmarshalTo(&o))
					require.NoError(t, o.ValidateAll())
				}
			}
		})
	}
}

func TestReadEnvoy(t *testing.T) {
	vals, err := ReadEnvoy("testdata/envoy/bootstrap.yaml")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"cluster app":     "55000ms",   // typed HttpProtocolOptions; the HCM's downstream 300s is not it
		"cluster auth":    "3600000ms", // Envoy's default
		"cluster metrics": "unbounded", // deprecated field, 0s
	}, durations(vals))
	assert.True(t, vals[1].Default)
	assert.Contains(t, vals[0].Explanation, "HttpProtocolOptions common_http_protocol_options.idle_timeout 55s")
	assert.Contains(t, vals[2].Explanation, "deprecated field")

	vals, err = ReadEnvoy("testdata/envoy/bootstrap.json")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"cluster api": "500ms"}, durations(vals))

	vals, err = ReadEnvoy("testdata/envoy/bootstrap.yaml", WithName("auth"))
	require.NoError(t, err)
	require.Len(t, vals, 1)

	_, err = ReadEnvoy("testdata/envoy/cds.yaml")
	require.ErrorContains(t, err, "clusters come from CDS")
}

func TestReadEnvoyTable(t *testing.T) {
	cluster := func(opts string) string {
		return "static_resources:\n  clusters:\n  - name: c\n" + opts
	}
	typed := func(idle string) string {
		return cluster("    typed_extension_protocol_options:\n      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n        common_http_protocol_options:\n          idle_timeout: " + idle + "\n")
	}
	tests := []struct {
		name, doc, want, err string
	}{
		{name: "seconds", doc: typed("60s"), want: "60000ms"},
		{name: "quoted fraction", doc: typed(`"0.25s"`), want: "250ms"},
		{name: "zero", doc: typed("0s"), want: "unbounded"},
		// Unit traps: Envoy durations are strings with an s.
		{name: "bare number", doc: typed("60"), err: "is the number 60, want a duration string"},
		{name: "bare string", doc: typed(`"60"`), err: "s suffix"},
		{name: "milliseconds", doc: typed("60000ms"), err: "is not a whole number"},
		{name: "mapping", doc: typed("{seconds: 60}"), err: "is a mapping"},
		{name: "negative", doc: typed("-1s"), err: "not a whole number"},
		{name: "by type only", doc: cluster("    typed_extension_protocol_options:\n      some.name:\n        \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n        common_http_protocol_options: {idle_timeout: 9s}\n"), want: "9000ms"},
		{name: "both fields", doc: typed("60s") + "    common_http_protocol_options: {idle_timeout: 5s}\n", err: "Envoy rejects"},
		{name: "default", doc: cluster("    connect_timeout: 1s\n"), want: "3600000ms"},
		{name: "no name", doc: "static_resources:\n  clusters:\n  - connect_timeout: 1s\n", err: "has no name"},
		{name: "not a mapping", doc: "- a\n- b\n", err: "want a mapping at the top"},
		{name: "not yaml", doc: "a: [b\n", err: "read envoy"},
		{name: "empty", doc: "", err: "want a mapping at the top"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := ReadEnvoy("/e.yaml", withFS(memFS{"/e.yaml": tt.doc}))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, vals, 1)
			assert.Equal(t, tt.want, vals[0].Show())
		})
	}
}

func TestReadALB(t *testing.T) {
	vals, err := ReadALB("testdata/alb/attributes.json")
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, "60000ms", vals[0].Show())
	assert.Contains(t, vals[0].Explanation, "seconds, by the attribute's name")

	_, err = ReadALB("testdata/alb/nlb.json")
	require.ErrorContains(t, err, "no idle_timeout.timeout_seconds attribute")

	attr := func(v string) string {
		return `{"Attributes":[{"Key":"idle_timeout.timeout_seconds","Value":` + v + `}]}`
	}
	tests := []struct{ name, doc, want, err string }{
		{name: "string", doc: attr(`"4000"`), want: "4000000ms"},
		{name: "number", doc: attr(`60`), want: "60000ms"},
		{name: "query output", doc: `[{"Key":"idle_timeout.timeout_seconds","Value":"30"}]`, want: "30000ms"},
		{name: "with unit", doc: attr(`"60s"`), err: "want whole seconds"},
		{name: "negative", doc: attr(`"-1"`), err: "want whole seconds"},
		{name: "zero", doc: attr(`"0"`), err: "outside the ALB range"},
		{name: "too long", doc: attr(`"4001"`), err: "outside the ALB range"},
		{name: "fraction", doc: attr(`1.5`), err: "want whole seconds"},
		{name: "bool", doc: attr(`true`), err: "neither a string nor a number"},
		{name: "twice", doc: `{"Attributes":[{"Key":"idle_timeout.timeout_seconds","Value":"60"},{"Key":"idle_timeout.timeout_seconds","Value":"61"}]}`, err: "appears 2 times"},
		{name: "empty object", doc: `{}`, err: "no idle_timeout.timeout_seconds"},
		{name: "garbage", doc: `idle_timeout.timeout_seconds=60`, err: "read alb-json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := ReadALB("/a.json", withFS(memFS{"/a.json": tt.doc}))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, vals[0].Show())
		})
	}
}
