package lab

import (
	"os"
	"testing"
	"time"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// With 20ms between proxy and backend, a victim sent 10ms before or after
// the backend's idle deadline meets the close on the wire: its request
// reaches the backend after the close (before), or leaves the proxy before
// the FIN has reached it (after). On plain loopback the same offsets are
// far outside the ~3ms window and nothing fails.
func TestLatencyWidensTheNaturalRace(t *testing.T) {
	rep, all := runAll(t, `name: latency
base:
  mode: timing
  proxy_idle: 400ms
  backend_keepalive: 50ms
  offsets: [-10ms, 10ms]
  trials: 6
matrix:
  latency: [0ms, 20ms]
`)
	for _, c := range rep.Cells {
		recs := all[c.ID]
		if len(recs) != 6 {
			t.Fatalf("%s: %d records", c.ID, len(recs))
		}
		for _, r := range recs {
			switch c.Params["latency"] {
			case "0s":
				if r.Outcome.Failed() {
					t.Errorf("%s seq %d: failed at offset %v on loopback: %s (%s)", c.ID, r.Seq, time.Duration(*r.OffsetNS), r.Outcome, r.Attribution)
				}
			case "20ms":
				if !r.Outcome.Failed() || !r.Attributed {
					t.Errorf("%s seq %d: offset %v: want an attributed failure, got %s attributed=%v (%s)", c.ID, r.Seq, time.Duration(*r.OffsetNS), r.Outcome, r.Attributed, r.Attribution)
				}
			default:
				t.Fatalf("cell %s has latency %q", c.ID, c.Params["latency"])
			}
		}
	}
	if n := summary(t, rep, "latency_20ms").Counts[results.Proxy502]; n == 0 {
		t.Errorf("the embedded proxy answers the race with 502, saw none")
	}
}

// The check: a timing sweep on nginx at 5ms latency measures a
// window at least 8ms wide (about 3ms on loopback), every failure
// attributed. The sweep spans -7ms..+9ms; the model puts the window near
// -5ms..+8ms.
func TestNginxWindowAtFiveMilliseconds(t *testing.T) {
	requireProxy(t, proxies.KindNginx)
	rep, all := runAll(t, `name: nginx-5ms
base:
  proxy: {kind: nginx}
  mode: timing
  proxy_idle: 500ms
  backend_keepalive: 50ms
  path: {latency: 5ms}
  sweep: {from: -7ms, to: 9ms, step: 1ms}
  trials: 51
`)
	recs := all[rep.Cells[0].ID]
	w := results.RaceWindow(recs, 0)
	for _, r := range recs {
		if r.Outcome.Failed() && !r.Attributed {
			t.Errorf("seq %d at %v failed without attribution: %s (%s)", r.Seq, time.Duration(*r.OffsetNS), r.Outcome, r.Attribution)
		}
	}
	if w.WidthNS < int64(8*time.Millisecond) {
		t.Errorf("window %v wide (lead %v, tail %v, %d/%d failed), want at least 8ms at 5ms latency",
			time.Duration(w.WidthNS), time.Duration(w.LeadNS), time.Duration(w.TailNS), w.Failures, w.Trials)
	}
}

// requireProxy skips without the proxy's binary, saying what to install;
// in CI (where scripts/test.sh installs it) it fails instead.
func requireProxy(t *testing.T, kind proxies.Kind) {
	t.Helper()
	if err := Available(kind); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s must be installed in CI (scripts/test.sh installs it): %v", kind, err)
		}
		t.Skipf("%s not installed (apt-get install nginx-light haproxy): %v", kind, err)
	}
}

// The fix and the retry cells under latency: the reference experiment
// (close-on-reuse) with 20ms each way between the proxy and the backend.
// The stale connection still fails every trial when the backend closes
// first, a margin still removes the race, and a connection-failure retry
// still hides it for GET only.
func TestFixAndRetryHoldUnderLatency(t *testing.T) {
	rep := run(t, `name: six-latency
timescale: 0.02
base:
  proxy_idle: 10s
  path: {latency: 20ms}
  trials: 4
matrix:
  margin: [-9s, 5s]
  retry: ["off", idempotent]
  method: [GET, POST]
`)
	tests := []struct {
		cell             string
		failures, hidden bool
	}{
		{"-9s.off.GET", true, false},
		{"-9s.off.POST", true, false},
		{"-9s.idempotent.GET", false, true},
		{"-9s.idempotent.POST", true, false},
		{"5s.off.GET", false, false},
		{"5s.off.POST", false, false},
		{"5s.idempotent.GET", false, false},
		{"5s.idempotent.POST", false, false},
	}
	for _, tt := range tests {
		s := summary(t, rep, tt.cell)
		if s.Params["latency"] != "20ms" {
			t.Fatalf("%s: params %v carry no latency", tt.cell, s.Params)
		}
		if tt.failures != (s.Failures == s.Trials) || (!tt.failures && s.Failures != 0) || s.Attributed != s.Failures {
			t.Errorf("%s: %s, attributed %d; want failing on every trial: %v", tt.cell, results.Counts(s.Counts), s.Attributed, tt.failures)
		}
		// Where the retry hides the race, no trial fails and the race is
		// seen to happen (hidden retries); under load one trial in several
		// runs ended ok without one (cause not found), so not every trial is
		// required to be one.
		if tt.hidden && s.HiddenRetry == 0 || !tt.hidden && s.HiddenRetry != 0 {
			t.Errorf("%s: %s, %d hidden retries of %d trials; want hidden retries: %v", tt.cell, results.Counts(s.Counts), s.HiddenRetry, s.Trials, tt.hidden)
		}
	}
}
