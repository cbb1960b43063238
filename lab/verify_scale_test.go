package lab

import (
	"testing"
	"time"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// The timing cell keeps a positive margin at least verifyTimingMargin
// wide, within verifyTimingMaxKeepAlive, and otherwise scales the
// keep-alive to verifyTimingKeepAlive.
func TestTimingScale(t *testing.T) {
	for _, c := range []struct {
		keepAlive, idle time.Duration
		wantKeepAlive   time.Duration
		wantMargin      time.Duration
	}{
		// The backend first: nothing to keep wide.
		{5 * time.Second, 60 * time.Second, 50 * time.Millisecond, -550 * time.Millisecond},
		// 65s against 60s: 5s would be 3.8 ms at 50 ms; kept at 60 ms.
		{65 * time.Second, 60 * time.Second, 780 * time.Millisecond, 60 * time.Millisecond},
		// A wide margin is kept at 60 ms too.
		{120 * time.Second, 60 * time.Second, 120 * time.Millisecond, 60 * time.Millisecond},
		// Any positive margin is kept at 60 ms (more than the 50 ms keep-alive
		// it would otherwise scale to).
		{10 * time.Minute, 60 * time.Second, 66667 * time.Microsecond, 60 * time.Millisecond},
		// A hair's margin: the keep-alive stops at 800 ms.
		{60*time.Second + 100*time.Millisecond, 60 * time.Second, 800 * time.Millisecond, 1331 * time.Microsecond},
	} {
		s := timingScale(c.keepAlive, c.idle)
		ka := time.Duration(float64(c.keepAlive) * s)
		m := time.Duration(float64(c.keepAlive-c.idle) * s)
		if d := ka - c.wantKeepAlive; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("keep-alive %s, idle %s: scaled keep-alive %s, want %s", c.keepAlive, c.idle, ka, c.wantKeepAlive)
		}
		if d := m - c.wantMargin; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("keep-alive %s, idle %s: scaled margin %s, want %s", c.keepAlive, c.idle, m, c.wantMargin)
		}
	}
}

// A pair given as values runs on Apache with its ttl= a whole number of
// seconds, on Varnish no shorter than its one-second floor, and elsewhere
// at the scale asked for; both cells of the pair alike.
func TestKindScale(t *testing.T) {
	keepAlive, idle := 5*time.Second, 60*time.Second
	for _, c := range []struct {
		kind     proxies.Kind
		idle     time.Duration
		wantIdle []time.Duration // deterministic, timing
	}{
		{proxies.KindApache, idle, []time.Duration{time.Second, time.Second}},
		// 1.5 s would scale to 200 ms: ttl=1, and the backend's 5 s with it.
		{proxies.KindApache, 1500 * time.Millisecond, []time.Duration{time.Second, time.Second}},
		{proxies.KindVarnish, idle, []time.Duration{time.Second, time.Second}},
		{proxies.KindCaddy, idle, []time.Duration{verifyProxyIdle, 600 * time.Millisecond}},
	} {
		ka := keepAlive
		cell := kindScale(c.kind, c.idle, func(scale float64) *scenarios.Cell {
			return verifyCell(c.kind, c.idle, ka, scale)
		})
		for i, scale := range []float64{float64(verifyProxyIdle) / float64(c.idle), timingScale(ka, c.idle)} {
			got := cell(scale).ProxyIdle
			if got != c.wantIdle[i] {
				t.Errorf("%s, idle %s, cell %d: proxy idle runs %s, want %s", c.kind, c.idle, i, got, c.wantIdle[i])
			}
			// Every timer scales alike: the keep-alive keeps its ratio
			// (to the millisecond the cell rounds to).
			want := time.Duration(float64(ka) * float64(got) / float64(c.idle))
			if d := cell(scale).BackendKeepAlive - want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("%s, idle %s, cell %d: keep-alive runs %s, want %s", c.kind, c.idle, i, cell(scale).BackendKeepAlive, want)
			}
		}
	}
}
