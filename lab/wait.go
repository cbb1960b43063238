package lab

import (
	"context"
	"runtime"
	"time"
)

// spinWindow is how long before a deadline waitUntil stops sleeping and
// spins. Go's netpoller sleeps in whole milliseconds, so a timer can fire
// a millisecond or more late; the natural race window is only about 3 ms
// wide, so the last stretch is spun.
const spinWindow = 3 * time.Millisecond

// waitUntil returns at t (or just after): one timer for most of the wait,
// then a spin for the last spinWindow; it returns early with ctx's error.
// Nothing else that waits on a timer may run between it and the send:
// every extra sub-millisecond timer can overshoot by a millisecond.
func waitUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t) - spinWindow; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
	return ctx.Err()
}
