package scenarios

import (
	"time"

	"github.com/racelab/racelab/internal/appserver"
)

// runtimeProblems resolves backend.runtime, version and keepalive into c
// and reports what cannot go with a real runtime: racelab's backend
// knobs (a real server closes by itself) and deterministic mode (its
// close cannot be forced).
func runtimeProblems(c *Cell, st Settings, bp string, sc func(time.Duration) time.Duration, bad func(path, format string, args ...any)) {
	b := st.Backend
	if b.Runtime == "" {
		if b.Version != "" {
			bad(bp+".version", "version is for a real runtime: set backend.runtime")
		}
		if b.KeepAlive != nil {
			bad(bp+".keepalive", "keepalive is for a real runtime: set backend.runtime, or backend_keepalive for racelab's backend")
		}
		return
	}
	rt, ok := appserver.Lookup(b.Runtime)
	if !ok {
		bad(bp+".runtime", "runtime %q: want one of %s", b.Runtime, appserver.Names())
		return
	}
	c.Runtime, c.RuntimeVersion = b.Runtime, b.Version
	c.BackendKeepAlive = rt.Default
	if b.KeepAlive != nil {
		switch d := sc(b.KeepAlive.D()); {
		case b.KeepAlive.D() <= 0:
			bad(bp+".keepalive", "keepalive must be positive (leave it out for the runtime's default)")
		default:
			c.RuntimeKeepAlive = rt.KeepAlive(d)
			c.BackendKeepAlive = c.RuntimeKeepAlive
		}
	}
	c.Margin = c.BackendKeepAlive - c.ProxyIdle
	knobs := []struct {
		set  bool
		name string
	}{
		{st.BackendKeepAlive != nil, "backend_keepalive"}, {st.Margin != nil, "margin"},
		{b.Preset != "", "backend.preset"}, {b.MaxRequests != 0, "backend.max_requests"},
		{b.MaxLifetime != nil, "backend.max_lifetime"}, {b.ResponseDelay != nil, "backend.response_delay"},
		{b.ResponseStatus != 0, "backend.response_status"}, {b.Down, "backend.down"},
		{b.RestartEvery != 0, "backend.restart_every"}, {st.Close != "", "close"}, {st.Fault != "", "fault"},
	}
	for _, k := range knobs {
		if k.set {
			bad(bp+".runtime", "%s is a knob of racelab's own backend: a real runtime closes by itself (set its keepalive instead)", k.name)
		}
	}
	if c.Mode != ModeTiming {
		bad(bp+".runtime", "a real runtime's close cannot be forced: it runs in mode timing (the natural race), not %s", c.Mode)
	}
}
