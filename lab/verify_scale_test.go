package lab

import (
	"testing"
	"time"
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
