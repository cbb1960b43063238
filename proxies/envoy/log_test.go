package envoy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// accessLine renders one access-log line the way Envoy fills the rendered
// json_format: each key gets its command operator's value, typed, and
// null when the operator has no value. values is keyed by operator.
func accessLine(t testing.TB, values map[string]any) string {
	t.Helper()
	out := make(map[string]any)
	for key, op := range AccessLogFormat() {
		out[key] = values[op]
	}
	b, err := json.Marshal(out)
	require.NoError(t, err)
	return string(b)
}

func TestParseLogAccessLines(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]any
		want   proxies.Evidence
	}{
		{
			name: "served",
			values: map[string]any{
				"%REQ(X-RACELAB-REQUEST-ID)%":      "r-1",
				"%REQ(:METHOD)%":                   "GET",
				"%REQ(:PATH)%":                     "/r/r-1",
				"%RESPONSE_CODE%":                  200,
				"%RESPONSE_FLAGS%":                 "-",
				"%RESPONSE_CODE_DETAILS%":          "via_upstream",
				"%UPSTREAM_REQUEST_ATTEMPT_COUNT%": 1,
				"%ROUTE_NAME%":                     RouteDefault,
				"%UPSTREAM_HOST%":                  "127.0.0.1:19090",
				"%UPSTREAM_LOCAL_ADDRESS%":         "127.0.0.1:41234",
				"%DURATION%":                       1,
				"%START_TIME%":                     "2026-01-02T03:04:05.678Z",
			},
			want: proxies.Evidence{Source: "access", RequestID: "r-1", Status: 200, Details: "via_upstream", Attempts: 1},
		},
		{
			name: "stale connection reset, no retry",
			values: map[string]any{
				"%REQ(X-RACELAB-REQUEST-ID)%":      "r-2",
				"%REQ(:METHOD)%":                   "GET",
				"%REQ(:PATH)%":                     "/r/r-2",
				"%RESPONSE_CODE%":                  503,
				"%RESPONSE_FLAGS%":                 "UC",
				"%RESPONSE_CODE_DETAILS%":          "upstream_reset_before_response_started{connection_termination}",
				"%UPSTREAM_REQUEST_ATTEMPT_COUNT%": 1,
				"%ROUTE_NAME%":                     RouteDefault,
				"%UPSTREAM_HOST%":                  "127.0.0.1:19090",
				"%UPSTREAM_LOCAL_ADDRESS%":         "127.0.0.1:41234",
				"%DURATION%":                       0,
				"%START_TIME%":                     "2026-01-02T03:04:05.678Z",
			},
			want: proxies.Evidence{Source: "access", RequestID: "r-2", Status: 503, Flags: "UC",
				Details: "upstream_reset_before_response_started{connection_termination}", Attempts: 1},
		},
		{
			name: "retried after a reset",
			values: map[string]any{
				"%REQ(X-RACELAB-REQUEST-ID)%":      "r-3",
				"%REQ(:METHOD)%":                   "GET",
				"%REQ(:PATH)%":                     "/r/r-3",
				"%RESPONSE_CODE%":                  200,
				"%RESPONSE_FLAGS%":                 "-",
				"%RESPONSE_CODE_DETAILS%":          "via_upstream",
				"%UPSTREAM_REQUEST_ATTEMPT_COUNT%": 2,
				"%ROUTE_NAME%":                     RouteRetry,
				"%UPSTREAM_HOST%":                  "127.0.0.1:19090",
				"%UPSTREAM_LOCAL_ADDRESS%":         "127.0.0.1:41236",
				"%DURATION%":                       27,
				"%START_TIME%":                     "2026-01-02T03:04:05.678Z",
			},
			want: proxies.Evidence{Source: "access", RequestID: "r-3", Status: 200, Details: "via_upstream", Attempts: 2},
		},
		{
			name: "connect failure",
			values: map[string]any{
				"%REQ(X-RACELAB-REQUEST-ID)%":         "r-4",
				"%REQ(:PATH)%":                        "/r/r-4",
				"%RESPONSE_CODE%":                     503,
				"%RESPONSE_FLAGS%":                    "UF,URX",
				"%RESPONSE_CODE_DETAILS%":             "upstream_reset_before_response_started{remote_connection_failure}",
				"%UPSTREAM_REQUEST_ATTEMPT_COUNT%":    2,
				"%UPSTREAM_TRANSPORT_FAILURE_REASON%": "delayed_connect_error:_Connection_refused",
			},
			want: proxies.Evidence{Source: "access", RequestID: "r-4", Status: 503, Flags: "UF,URX",
				Details:  "upstream_reset_before_response_started{remote_connection_failure}",
				Attempts: 2, Message: "delayed_connect_error:_Connection_refused"},
		},
		{
			name: "request id from the path when the header is missing",
			values: map[string]any{
				"%REQ(:PATH)%":     "/r/r-5?x=1",
				"%RESPONSE_CODE%":  200,
				"%RESPONSE_FLAGS%": "-",
			},
			want: proxies.Evidence{Source: "access", RequestID: "r-5", Status: 200},
		},
		{
			name: "client went away before a response",
			values: map[string]any{
				"%REQ(X-RACELAB-REQUEST-ID)%":      "r-6",
				"%RESPONSE_CODE%":                  0,
				"%RESPONSE_FLAGS%":                 "DC",
				"%RESPONSE_CODE_DETAILS%":          "downstream_remote_disconnect",
				"%UPSTREAM_REQUEST_ATTEMPT_COUNT%": 1,
			},
			want: proxies.Evidence{Source: "access", RequestID: "r-6", Flags: "DC", Details: "downstream_remote_disconnect", Attempts: 1},
		},
		{
			name: "untyped values, as a string formatter writes them",
			values: map[string]any{
				"%REQ(X-RACELAB-REQUEST-ID)%":      "r-7",
				"%RESPONSE_CODE%":                  "503",
				"%RESPONSE_FLAGS%":                 "UC",
				"%UPSTREAM_REQUEST_ATTEMPT_COUNT%": "1",
				"%REQ(:PATH)%":                     "-",
			},
			want: proxies.Evidence{Source: "access", RequestID: "r-7", Status: 503, Flags: "UC", Attempts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := accessLine(t, tt.values)
			got, ok := Adapter{}.ParseLog(line + "\n")
			require.True(t, ok, "access line not recognised: %s", line)
			tt.want.Raw = line
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseLogOtherLines(t *testing.T) {
	lines := []string{
		"",
		"[2026-01-02 03:04:05.678][12][info][main] [source/server/server.cc:432] initializing epoch 0 (base id=0, hot restart version=disabled)",
		"[2026-01-02 03:04:05.999][12][warning][main] [source/server/server.cc:910] There is no configured limit to the number of allowed active downstream connections.",
		`{"level":"info","msg":"not an access line"}`,
		`{"status": 200}`,
		`{"status": 200, "flags": `,
		`[1, 2, 3]`,
		`null`,
	}
	for _, line := range lines {
		ev, ok := Adapter{}.ParseLog(line)
		assert.False(t, ok, "line %q gave %+v", line, ev)
	}
}

func TestRequestIDFromPath(t *testing.T) {
	tests := map[string]string{
		"/r/abc":       "abc",
		"/r/abc?q=1":   "abc",
		"/r/abc/extra": "abc",
		"/r/abc#frag":  "abc",
		"/other/abc":   "",
		"":             "",
	}
	for path, want := range tests {
		assert.Equal(t, want, backends.RequestIDFromPath(path), path)
	}
}

func FuzzParseLog(f *testing.F) {
	f.Add(accessLine(f, map[string]any{
		"%REQ(X-RACELAB-REQUEST-ID)%": "r-1", "%RESPONSE_CODE%": 503, "%RESPONSE_FLAGS%": "UC",
		"%RESPONSE_CODE_DETAILS%":          "upstream_reset_before_response_started{connection_termination}",
		"%UPSTREAM_REQUEST_ATTEMPT_COUNT%": 1,
	}))
	f.Add(`{"status":"-","flags":null,"attempts":-3,"request_id":7,"path":"/r/"}`)
	f.Add(`{"status":1e99,"flags":"UC","attempts":"99999999999999999999"}`)
	f.Add("[2026-01-02 03:04:05.678][12][info][main] starting")
	f.Add(`{"status":`)
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := Adapter{}.ParseLog(line)
		if !ok {
			if ev != (proxies.Evidence{}) {
				t.Fatalf("ok false with evidence %+v", ev)
			}
			return
		}
		if ev.Source != "access" || ev.Raw != strings.TrimSpace(line) {
			t.Fatalf("evidence %+v for %q", ev, line)
		}
		if ev.Status < 0 || ev.Attempts < 0 {
			t.Fatalf("negative numbers in %+v", ev)
		}
	})
}
