package scenarios

import (
	"strings"
	"testing"
	"time"
)

// A real runtime: the keepalive is scaled and rounded up to the
// runtime's unit, the mode defaults to timing, and the default
// keep-alive is the documented one until racelab measures it.
func TestRuntimeBackend(t *testing.T) {
	src := `name: rt
timescale: 0.1
base:
  proxy_idle: 60s
  trials: 2
matrix:
  backend:
    - {runtime: node, keepalive: 5s}
    - {runtime: gunicorn, keepalive: 2s}
    - {runtime: tomcat}
`
	s, err := Load([]byte(src), "rt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := s.Cells()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		runtime       string
		keepAlive, ka time.Duration
		label         string
	}{
		{"node", 500 * time.Millisecond, 500 * time.Millisecond, "node,keepalive=5s"},
		{"gunicorn", time.Second, time.Second, "gunicorn,keepalive=2s"}, // 200ms: whole seconds only
		{"tomcat", 0, 60 * time.Second, "tomcat"},
	}
	for i, tt := range tests {
		c := cells[i]
		if c.Runtime != tt.runtime || c.RuntimeKeepAlive != tt.keepAlive || c.BackendKeepAlive != tt.ka ||
			c.Mode != ModeTiming || !c.OffsetsAuto || c.Params["backend"] != tt.label {
			t.Errorf("cell %d: runtime %q keepalive %v backend_keepalive %v mode %s auto %v label %q", i,
				c.Runtime, c.RuntimeKeepAlive, c.BackendKeepAlive, c.Mode, c.OffsetsAuto, c.Params["backend"])
		}
	}
}

// Every problem with a runtime backend is reported at once, positioned.
func TestRuntimeBackendProblems(t *testing.T) {
	src := `name: bad
base:
  mode: deterministic
  backend:
    runtime: node
    max_requests: 3
matrix:
  backend:
    - {runtime: jetty}
    - {keepalive: 2s}
    - {version: "20"}
    - {runtime: node, keepalive: 0s, preset: node}
`
	_, err := Load([]byte(src), "bad.yaml")
	text := mustProblems(t, err)
	for _, want := range []string{
		`matrix.backend[0].runtime: runtime "jetty": want one of node, gunicorn, uvicorn, puma, tomcat, apache, nginx`,
		`matrix.backend[1].keepalive: keepalive is for a real runtime`,
		`matrix.backend[2].version: version is for a real runtime`,
		`matrix.backend[3].keepalive: keepalive must be positive`,
		`matrix.backend[3].runtime: backend.preset is a knob of racelab's own backend`,
		`a real runtime's close cannot be forced: it runs in mode timing (the natural race), not deterministic`,
		"bad.yaml:9:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}
