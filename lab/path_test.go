package lab

import (
	"testing"
	"time"

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
