package scenarios

import (
	"strings"
	"testing"
	"time"
)

func TestPathLatency(t *testing.T) {
	src := `name: lat
timescale: 0.1
base:
  mode: timing
  proxy_idle: 5s
  backend_keepalive: 500ms
  path: {latency: 5ms, jitter: 1ms}
  sweep: {from: -1ms, to: 4ms, step: 250us, around_latency: true}
matrix:
  latency: [0ms, 20ms]
`
	sc, err := Load([]byte(src), "lat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		latency          time.Duration
		param            string
		firstOff, lastOf time.Duration
	}{
		{0, "0s", -time.Millisecond, 4 * time.Millisecond},
		{20 * time.Millisecond, "20ms", -21 * time.Millisecond, 24 * time.Millisecond},
	}
	for i, tt := range tests {
		c := cells[i]
		if c.Latency != tt.latency || c.PathJitter != time.Millisecond {
			t.Errorf("cell %s: latency %v jitter %v, want %v 1ms (the timescale never scales the path)", c.ID, c.Latency, c.PathJitter, tt.latency)
		}
		if c.Params["latency"] != tt.param || c.Params["path_jitter"] != "1ms" {
			t.Errorf("cell %s params %v", c.ID, c.Params)
		}
		if len(c.Offsets) != 21 || c.Offsets[0] != tt.firstOff || c.Offsets[20] != tt.lastOf {
			t.Errorf("cell %s offsets %v..%v (%d), want %v..%v (21)", c.ID, c.Offsets[0], c.Offsets[len(c.Offsets)-1], len(c.Offsets), tt.firstOff, tt.lastOf)
		}
		if !strings.Contains(c.ID, "latency_"+tt.param) {
			t.Errorf("cell id %q does not name the latency", c.ID)
		}
	}
	sc.OverrideLatency(7 * time.Millisecond)
	cells, err = sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 1 || cells[0].Latency != 7*time.Millisecond || cells[0].PathJitter != time.Millisecond {
		t.Errorf("after OverrideLatency: %d cells, latency %v", len(cells), cells[0].Latency)
	}
}

func TestPathProblems(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"bare number", "name: x\nbase:\n  path: {latency: 5}\n", "x.yaml:3:19: base.path.latency: duration 5 has no unit"},
		{"unknown field", "name: x\nbase:\n  path: {delay: 5ms}\n", `x.yaml:3:10: base.path: unknown field "delay"`},
		{"negative", "name: x\nbase:\n  path: {latency: -1ms}\n", "x.yaml:3:19: base.path.latency: latency must not be negative"},
		{"too long", "name: x\nmatrix:\n  latency: [1ms, 2s]\n", "x.yaml:3:18: matrix.latency[1]: latency 2s: at most 1s"},
		{"down backend", "name: x\nbase:\n  path: {latency: 1ms}\n  backend: {down: true}\n", "base.path.latency: a path with latency needs a backend"},
		{"no path for no params", "name: x\nexpect:\n  - where: {latenc: 1ms}\n    failure_rate: '0'\n", `unknown parameter "latenc"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.src), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSlowBody(t *testing.T) {
	src := `name: body
base:
  method: POST
  body: {size: 1048576, rate: 524288}
matrix:
  proxy:
    - {kind: nginx, request_buffering: "on"}
    - {kind: nginx, request_buffering: "off"}
  body:
    - {size: 1048576, rate: 524288}
    - {size: 1024, delay: 50ms}
`
	sc, err := Load([]byte(src), "body.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 4 {
		t.Fatalf("%d cells", len(cells))
	}
	tests := []struct {
		buffering, body string
		dur             time.Duration
	}{
		{"on", "1048576B@524288Bps", 2 * time.Second},
		{"on", "1024B+50ms", 50 * time.Millisecond},
		{"off", "1048576B@524288Bps", 2 * time.Second},
		{"off", "1024B+50ms", 50 * time.Millisecond},
	}
	for i, tt := range tests {
		c := cells[i]
		if c.Params["request_buffering"] != tt.buffering || c.Params["body"] != tt.body || c.Body.Duration() != tt.dur {
			t.Errorf("cell %s: params %v, body takes %v; want buffering %s, body %s, %v", c.ID, c.Params, c.Body.Duration(), tt.buffering, tt.body, tt.dur)
		}
	}
}

func TestSlowBodyProblems(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"no pace", "name: x\nbase:\n  method: POST\n  body: {size: 10}\n", "x.yaml:4:9: base.body: a slow body needs rate (bytes a second) or delay"},
		{"both", "name: x\nbase:\n  method: POST\n  body: {size: 10, rate: 5, delay: 1s}\n", "give rate or delay, not both"},
		{"no size", "name: x\nbase:\n  method: POST\n  body: {rate: 5}\n", "base.body.size: size 0: want 1..67108864 bytes"},
		{"GET", "name: x\nbase:\n  body: {size: 10, rate: 5}\n", "method GET sends no body"},
		{"too slow", "name: x\nbase:\n  method: POST\n  body: {size: 1000, rate: 1}\n", "the body takes 1000s to send: at most 1m"},
		{"bare delay", "name: x\nbase:\n  method: POST\n  body: {size: 10, delay: 5}\n", "base.body.delay: duration 5 has no unit"},
		{"buffering value", "name: x\nbase:\n  proxy: {kind: nginx, request_buffering: maybe}\n", `request_buffering "maybe": want on or off`},
		{"buffering on go", "name: x\nbase:\n  proxy: {request_buffering: \"on\"}\n", "request_buffering is an nginx or HAProxy setting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.src), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
