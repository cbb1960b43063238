package envoy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

// validYAML is a rendered explicit bootstrap with an idle timeout and the
// idempotent retry policy, the richest variant.
func validYAML(t *testing.T) string {
	t.Helper()
	spec := baseSpec()
	spec.Retry = proxies.RetryIdempotent
	data, err := RenderBootstrap(spec)
	require.NoError(t, err)
	require.NoError(t, ValidateBootstrap(data))
	return string(data)
}

// replaceOnce replaces the only occurrence of old in s.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(s, old), "want exactly one %q in the bootstrap", old)
	return strings.Replace(s, old, new, 1)
}

// lineOf is the 1-based line of the first occurrence of sub in s.
func lineOf(t *testing.T, s, sub string) int {
	t.Helper()
	i := strings.Index(s, sub)
	require.GreaterOrEqual(t, i, 0, "%q not in bootstrap", sub)
	return strings.Count(s[:i], "\n") + 1
}

func validationError(t *testing.T, data string) *ValidationError {
	t.Helper()
	err := ValidateBootstrap([]byte(data))
	require.Error(t, err, "broken bootstrap passed validation")
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %T: %v", err, err)
	require.NotEmpty(t, ve.Problems)
	return ve
}

const (
	clusterPath   = `static_resources.clusters["racelab_backend"]`
	hcmPath       = `static_resources.listeners["racelab_listener"].filter_chains[0].filters["envoy.filters.network.http_connection_manager"].typed_config(HttpConnectionManager)`
	httpOptsPath  = clusterPath + `.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]`
	idleTimeout   = "idle_timeout: 0.25s"
	connectTimout = "connect_timeout: 1s"
)

func TestValidateBootstrapBroken(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, s string) string
		// marker is text on the line the problem must be reported at; line,
		// when set, finds the line instead.
		marker string
		line   func(t *testing.T, s string) int
		path   string
		msg    string
	}{
		{
			name: "unknown field",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, connectTimout, connectTimout+"\n      conect_timeout: 2s")
			},
			marker: "conect_timeout: 2s",
			path:   "static_resources.clusters[0].conect_timeout",
			msg:    `unknown field "conect_timeout"`,
		},
		{
			name: "unknown field inside a typed config",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "codec_type: AUTO", "codec_type: AUTO\n                stat_prefixx: x")
			},
			marker: "stat_prefixx: x",
			path:   "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefixx",
			msg:    `unknown field "stat_prefixx"`,
		},
		{
			name: "negative duration with a rule",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, connectTimout, "connect_timeout: -1s")
			},
			marker: "connect_timeout: -1s",
			path:   clusterPath + ".connect_timeout",
			msg:    "value must be greater than 0s",
		},
		{
			name: "negative route timeout",
			mutate: func(t *testing.T, s string) string {
				s = strings.Replace(s, "timeout: 2s", "timeout: -2s", 1)
				return s
			},
			marker: "timeout: -2s",
			path:   hcmPath + `.route_config.virtual_hosts["racelab"].routes["racelab_retry_idempotent"].route.timeout`,
			msg:    "Envoy expects a non-negative duration",
		},
		{
			name: "malformed duration",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, connectTimout, "connect_timeout: 1500")
			},
			marker: "connect_timeout: 1500",
			path:   "static_resources.clusters[0].connect_timeout",
			msg:    "syntax error: unexpected token 1500",
		},
		{
			name: "bad enum name",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "type: STATIC", "type: STATIK")
			},
			marker: "type: STATIK",
			path:   "static_resources.clusters[0].type",
			msg:    "invalid value for enum field type",
		},
		{
			name: "undefined enum number",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "priority: DEFAULT", "priority: 7")
			},
			marker: "priority: 7",
			path:   clusterPath + ".circuit_breakers.thresholds[0].priority",
			msg:    "value must be one of the defined enum values",
		},
		{
			name: "rule inside a typed config",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "stat_prefix: racelab", `stat_prefix: ""`)
			},
			marker: `stat_prefix: ""`,
			path:   hcmPath + ".stat_prefix",
			msg:    "value length must be at least 1 runes",
		},
		{
			name: "typed config of the wrong kind",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "'@type': "+typeRouter, "'@type': "+typeStdoutLog)
			},
			line: func(t *testing.T, s string) int {
				return lineOf(t, s, "- name: envoy.filters.http.router") + 1
			},
			path: hcmPath + `.http_filters["envoy.filters.http.router"].typed_config`,
			msg:  "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog is not a HTTP filter",
		},
		{
			name: "typed config with another type's fields",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "'@type': "+typeHCM, "'@type': "+typeRouter)
			},
			marker: "stat_prefix: racelab",
			path:   "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix",
			msg:    `unknown field "stat_prefix"`,
		},
		{
			name: "unresolvable type",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "'@type': "+typeRouter, "'@type': type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope")
			},
			marker: "envoy.extensions.filters.http.nope.v3.Nope",
			path:   "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.@type",
			msg:    "unable to resolve",
		},
		{
			name: "negative idle timeout",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, idleTimeout, "idle_timeout: -0.25s")
			},
			marker: "idle_timeout: -0.25s",
			path:   httpOptsPath + "(HttpProtocolOptions).common_http_protocol_options.idle_timeout",
			msg:    "invalid duration -250ms: Envoy expects a non-negative duration",
		},
		{
			name: "idle timeout that is no duration",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, idleTimeout, "idle_timeout: 250ms")
			},
			marker: "idle_timeout: 250ms",
			path:   "static_resources.clusters[0].typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions.common_http_protocol_options.idle_timeout",
			msg:    `invalid google.protobuf.Duration value "250ms"`,
		},
		{
			name: "protocol options without a protocol",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "          explicit_http_config:\n            http_protocol_options: {}\n", "")
			},
			marker: "envoy.extensions.upstreams.http.v3.HttpProtocolOptions:",
			path:   httpOptsPath + "(HttpProtocolOptions).upstream_protocol_options",
			msg:    "value is required",
		},
		{
			name: "protocol options under the wrong name",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n", "        envoy.upstreams.http.options:\n")
			},
			marker: "envoy.upstreams.http.options:",
			path:   clusterPath + `.typed_extension_protocol_options["envoy.upstreams.http.options"]`,
			msg:    `no upstream protocol options are known by the name "envoy.upstreams.http.options"`,
		},
		{
			name: "route to an unknown cluster",
			mutate: func(t *testing.T, s string) string {
				return strings.Replace(s, "cluster: racelab_backend\n                            timeout", "cluster: racelab_backendd\n                            timeout", 1)
			},
			marker: "cluster: racelab_backendd",
			path:   hcmPath + `.route_config.virtual_hosts["racelab"].routes["racelab_retry_idempotent"].route.cluster`,
			msg:    `unknown cluster "racelab_backendd"`,
		},
		{
			name: "static endpoint by name",
			mutate: func(t *testing.T, s string) string {
				return strings.Replace(s, `address: "127.0.0.1"
                      port_value: 19090`, `address: "localhost"
                      port_value: 19090`, 1)
			},
			marker: `address: "localhost"`,
			path:   clusterPath + ".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address",
			msg:    `static cluster endpoint "localhost" is not an IP address`,
		},
		{
			name: "duplicate cluster",
			mutate: func(t *testing.T, s string) string {
				i := strings.Index(s, "  clusters:\n")
				require.GreaterOrEqual(t, i, 0)
				return s + strings.TrimPrefix(s[i:], "  clusters:\n")
			},
			line: func(t *testing.T, s string) int {
				i := strings.LastIndex(s, "    - name: racelab_backend\n")
				require.GreaterOrEqual(t, i, 0)
				return strings.Count(s[:i], "\n") + 1
			},
			path: clusterPath,
			msg:  `duplicate cluster name "racelab_backend"`,
		},
		{
			name: "missing required field",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "                            prefix: /\n                            headers:", "                            headers:")
			},
			line: func(t *testing.T, s string) int {
				return lineOf(t, s, "- name: racelab_retry_idempotent") + 1 // its match:
			},
			path: hcmPath + `.route_config.virtual_hosts["racelab"].routes["racelab_retry_idempotent"].match.path_specifier`,
			msg:  "value is required",
		},
		{
			name: "regex that does not compile",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, `regex: "GET|HEAD|OPTIONS"`, `regex: "GET|(HEAD"`)
			},
			marker: `regex: "GET|(HEAD"`,
			path:   hcmPath + `.route_config.virtual_hosts["racelab"].routes["racelab_retry_idempotent"].match.headers[":method"].string_match.safe_regex.regex`,
			msg:    "invalid RE2 regex: error parsing regexp: missing closing )",
		},
		{
			name: "bool where a string belongs",
			mutate: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "stat_prefix: racelab", "stat_prefix: yes")
			},
			marker: "stat_prefix: yes",
			path:   "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.stat_prefix",
			msg:    "invalid value for string field statPrefix: true",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := tt.mutate(t, validYAML(t))
			ve := validationError(t, broken)
			var found *Problem
			for i := range ve.Problems {
				if ve.Problems[i].Path == tt.path {
					found = &ve.Problems[i]
					break
				}
			}
			require.NotNil(t, found, "no problem at %s; got:\n%v", tt.path, ve)
			assert.Contains(t, found.Message, tt.msg)
			want := 0
			if tt.line != nil {
				want = tt.line(t, broken)
			} else {
				want = lineOf(t, broken, tt.marker)
			}
			assert.Equal(t, want, found.Pos.Line, "reported line; problem: %v", found)
			assert.Contains(t, ve.Error(), found.String())
		})
	}
}

func TestValidateBootstrapReportsEveryRuleProblem(t *testing.T) {
	s := validYAML(t)
	s = replaceOnce(t, s, connectTimout, "connect_timeout: 0s")
	s = replaceOnce(t, s, "stat_prefix: racelab", `stat_prefix: ""`)
	s = replaceOnce(t, s, idleTimeout, "idle_timeout: -1s")
	ve := validationError(t, s)
	require.Len(t, ve.Problems, 3, "%v", ve)
	// Sorted by position in the file.
	assert.Equal(t, hcmPath+".stat_prefix", ve.Problems[0].Path)
	assert.Equal(t, clusterPath+".connect_timeout", ve.Problems[1].Path)
	assert.Equal(t, httpOptsPath+"(HttpProtocolOptions).common_http_protocol_options.idle_timeout", ve.Problems[2].Path)
	assert.True(t, strings.HasPrefix(ve.Error(), "envoy bootstrap: 3 problems:\n"), ve.Error())
}

func TestValidateBootstrapOneProblemPerField(t *testing.T) {
	// A negative connect_timeout breaks a field rule and Envoy's duration
	// check; it is reported once.
	ve := validationError(t, replaceOnce(t, validYAML(t), connectTimout, "connect_timeout: -1s"))
	require.Len(t, ve.Problems, 1, "%v", ve)
	assert.Equal(t, clusterPath+".connect_timeout", ve.Problems[0].Path)
}

func TestValidateBootstrapDocument(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty document"},
		{"comment only", "# nothing\n", "empty document"},
		{"scalar", "hello\n", "line 1: a bootstrap is a mapping of fields"},
		{"list", "- a\n- b\n", "a bootstrap is a mapping of fields"},
		{"two documents", "admin: {}\n---\nadmin: {}\n", "line 2: a bootstrap is one YAML document"},
		{"bad yaml", "admin: [\n", "envoy bootstrap: yaml: line"},
		{"duplicate key", "admin: {}\nnode: {id: a}\nadmin: {}\n", `line 3:1: duplicate key "admin" (first at line 1:1)`},
		{"complex key", "? [a]\n: b\n", "a mapping key must be a scalar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ve := validationError(t, tt.doc)
			assert.Contains(t, ve.Error(), tt.want)
		})
	}
}

func TestValidateBootstrapAcceptsJSONAndAnchors(t *testing.T) {
	// The same bootstrap as JSON, as Envoy accepts with a .json file.
	doc, err := yamlToJSON([]byte(validYAML(t)))
	require.NoError(t, err)
	assert.NoError(t, ValidateBootstrap(doc.data))

	// An anchor kept under an !ignore key, as Envoy allows.
	withAnchor := "!ignore defs:\n  admin_addr: &admin {socket_address: {address: \"127.0.0.1\", port_value: 9901}}\n" +
		"admin:\n  address: *admin\n"
	assert.NoError(t, ValidateBootstrap([]byte(withAnchor)))
}

// aliasBomb nests levels of ten aliases each: 10^levels scalars once
// expanded.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("!ignore a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "!ignore a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	fmt.Fprintf(&b, "node:\n  id: *a%d\n", levels-1)
	return b.String()
}

func TestValidateBootstrapAliasBombs(t *testing.T) {
	start := time.Now()
	ve := validationError(t, aliasBomb(9)) // 10^9 scalars
	assert.Contains(t, ve.Error(), "document too large once aliases are expanded")
	ve = validationError(t, aliasBomb(40))
	assert.Contains(t, ve.Error(), "alias nested too deep")
	// Unbounded, the first bomb would expand to 10^9 scalars and take hours.
	// Bounded, both take well under a second on an idle machine; 30 s is
	// generous for a loaded 2-core machine under the race detector.
	assert.Less(t, time.Since(start), 30*time.Second)
}

func TestYAMLScalarsAsEnvoyTypesThem(t *testing.T) {
	tests := []struct {
		yaml, json string
	}{
		{"a: 1", `1`},
		{"a: -7", `-7`},
		{"a: +7", `7`},
		{"a: 0x1F", `31`},
		{"a: 0o17", `15`},
		{"a: 010", `10`},
		{"a: 4294967296", `"4294967296"`},
		{"a: 1.5", `"1.5"`},
		{"a: 1_000", `"1_000"`},
		{"a: yes", `true`},
		{"a: On", `true`},
		{"a: FALSE", `false`},
		{"a: n", `false`},
		{"a: tRUE", `"tRUE"`},
		{"a: ~", `null`},
		{"a:", `null`},
		{"a: \"1\"", `"1"`},
		{"a: 'yes'", `"yes"`},
		{"a: !!str 5", `5`},
		{"a: 5s", `"5s"`},
		{"a: |\n  x\n", `"x\n"`},
		{"a: '<&>'", `"\u003c\u0026\u003e"`},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			doc, err := yamlToJSON([]byte(tt.yaml))
			require.NoError(t, err)
			assert.Equal(t, "{\n\"a\": "+tt.json+"\n}", string(doc.data))
		})
	}
}

func TestParentPath(t *testing.T) {
	assert.Equal(t, "a.b", parentPath("a.b[3]"))
	assert.Equal(t, "a", parentPath("a.b"))
	assert.Equal(t, "", parentPath("a"))
}

// FuzzValidateBootstrap checks that no input makes validation panic or
// pass without a mapping at its root.
func FuzzValidateBootstrap(f *testing.F) {
	for _, v := range variants() {
		data, err := RenderBootstrap(v.spec)
		require.NoError(f, err)
		f.Add(string(data))
	}
	f.Add("admin: {address: {socket_address: {address: \"127.0.0.1\", port_value: 1}}}\n")
	f.Add("!ignore a: &x [1]\nnode: {id: *x}\n")
	f.Add("static_resources: {clusters: [{name: c, connect_timeout: -1s, type: 99}]}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		err := ValidateBootstrap([]byte(doc))
		if err == nil {
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) == 0 {
			t.Fatalf("error %T without problems: %v", err, err)
		}
	})
}
