package guard

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name                    string
		backend, proxy, margin  time.Duration
		pass                    bool
		slack                   time.Duration
		err                     string
		reason, fix, inequality string
	}{
		{name: "exactly enough", backend: 65 * time.Second, proxy: 60 * time.Second, margin: 5 * time.Second, pass: true,
			inequality: "backend_keepalive 65000ms >= proxy_idle 60000ms + margin 5000ms = 65000ms",
			reason:     "the backend keeps idle connections 0ms longer than the proxy plus the margin"},
		{name: "one millisecond short", backend: 64999 * time.Millisecond, proxy: 60 * time.Second, margin: 5 * time.Second, slack: -time.Millisecond,
			reason: "the backend may close an idle connection the proxy still reuses: short by 1ms",
			fix:    "raise the backend keep-alive to at least 65000ms, or lower the proxy idle timeout to at most 59999ms"},
		{name: "node default behind alb", backend: 5 * time.Second, proxy: 60 * time.Second, margin: 2 * time.Second, slack: -57 * time.Second,
			fix: "raise the backend keep-alive to at least 62000ms, or lower the proxy idle timeout to at most 3000ms"},
		{name: "no room to lower", backend: time.Second, proxy: 60 * time.Second, margin: 2 * time.Second, slack: -61 * time.Second,
			fix: "raise the backend keep-alive to at least 62000ms"},
		{name: "zero margin equal", backend: time.Minute, proxy: time.Minute, pass: true},
		{name: "zero backend", backend: 0, proxy: time.Minute, margin: time.Second, err: "backend keep-alive 0ms must be positive"},
		{name: "negative proxy", backend: time.Minute, proxy: -time.Second, err: "proxy idle timeout -1000ms must be positive"},
		{name: "negative margin", backend: time.Minute, proxy: time.Second, margin: -time.Second, err: "margin -1000ms is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.backend, tt.proxy, tt.margin)
			if tt.err != "" {
				require.ErrorContains(t, r.Err, tt.err)
				assert.False(t, r.Pass, "unusable input never passes")
				return
			}
			require.NoError(t, r.Err)
			assert.Equal(t, tt.pass, r.Pass)
			assert.Equal(t, tt.slack, r.Slack)
			assert.Equal(t, tt.proxy+tt.margin, r.Required)
			if tt.reason != "" {
				assert.Equal(t, tt.reason, r.Reason)
			}
			if tt.fix != "" {
				assert.Equal(t, tt.fix, r.Fix)
			}
			if tt.inequality != "" {
				assert.Equal(t, tt.inequality, r.Inequality())
			}
			if tt.pass {
				assert.Empty(t, r.Fix)
			}
		})
	}
}

func TestCheckValuesStates(t *testing.T) {
	fin := func(d time.Duration) Value { return Finite(d, "x", "") }
	off := Value{State: StateOff, Source: "x"}
	unb := Value{State: StateUnbounded, Source: "x"}
	tests := []struct {
		name           string
		backend, proxy Value
		pass           bool
		reason         string
	}{
		{"proxy off", fin(time.Second), off, true, "the proxy does not reuse idle upstream connections"},
		{"backend off", off, fin(time.Hour), true, "the backend does not keep connections alive"},
		{"backend unbounded", unb, fin(time.Hour), true, "the backend has no idle timer"},
		{"proxy unbounded", fin(time.Hour), unb, false, "the proxy keeps idle upstream connections with no idle limit"},
		{"both unbounded", unb, unb, true, "the backend has no idle timer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CheckValues(tt.backend, tt.proxy, time.Second)
			require.NoError(t, r.Err)
			assert.Equal(t, tt.pass, r.Pass)
			assert.Contains(t, r.Reason, tt.reason)
		})
	}

	r := CheckValues(fin(time.Hour), unb, time.Second)
	assert.Equal(t, "give the proxy an upstream idle timeout of at most 3599000ms", r.Fix)
	assert.Equal(t, "backend_keepalive 3600000ms >= proxy_idle unbounded + margin 1000ms", r.Inequality())

	r = CheckValues(Value{State: "maybe", Source: "x"}, fin(time.Second), time.Second)
	require.ErrorContains(t, r.Err, `unknown state "maybe"`)
	assert.False(t, r.Pass)
	r = CheckValues(Value{State: StateOff, Duration: time.Second, Source: "x"}, fin(time.Second), time.Second)
	require.ErrorContains(t, r.Err, "off value carries a duration")
	r = CheckValues(Value{}, fin(time.Second), time.Second)
	require.ErrorContains(t, r.Err, "unknown state")
}

func TestResultStringAndJSON(t *testing.T) {
	r := Check(5*time.Second, 60*time.Second, 5*time.Second)
	assert.Equal(t, "FAIL backend_keepalive 5000ms >= proxy_idle 60000ms + margin 5000ms = 65000ms: the backend may close an idle connection the proxy still reuses: short by 60000ms", r.String())

	var got map[string]any
	data, err := json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, false, got["pass"])
	assert.Equal(t, 65000.0, got["required_ms"])
	assert.Equal(t, -60000.0, got["slack_ms"])
	assert.Equal(t, 5000.0, got["margin_ms"])
	assert.Equal(t, 5000.0, got["backend"].(map[string]any)["ms"])

	r = Check(0, time.Second, 0)
	assert.Equal(t, "ERROR check: backend keep-alive 0ms must be positive", r.String())
}

func TestCheckAll(t *testing.T) {
	b := []Value{Finite(70*time.Second, "b", ""), Finite(30*time.Second, "b2", "")}
	p := []Value{Finite(60*time.Second, "p", "")}
	rep := CheckAll(b, p, 5*time.Second)
	assert.False(t, rep.Pass, "the shortest backend decides")
	assert.Equal(t, 1, rep.Failed())
	require.Len(t, rep.Results, 2)

	rep = CheckAll(b[:1], p, 5*time.Second)
	assert.True(t, rep.Pass)

	assert.False(t, CheckAll(nil, p, time.Second).Pass, "nothing checked is not a pass")
}
