package lab

import (
	"context"
	"runtime"
	"time"
)

// spinWindow is how long before a deadline waitUntil stops sleeping and
// spins: timers on a loaded 2-core machine fire up to a millisecond late,
// and the natural race window is only about 3 ms wide.
const spinWindow = 1500 * time.Microsecond

// waitUntil returns at t (or just after), sleeping for most of the wait and
// spinning for the last spinWindow; it returns early with ctx's error.
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
