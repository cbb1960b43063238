package netpath

import (
	"runtime"
	"time"
)

// sleepWindow is how long before a delivery time the writer stops waiting
// on a Go timer and sleeps precisely: Go's netpoller waits in whole
// milliseconds, so a timer alone can deliver a millisecond late.
const sleepWindow = 2 * time.Millisecond

// spinWindow is the last stretch before a delivery time, spun: waking
// from nanosleep costs the thread's timer slack (50µs by default) and a
// trip back to the Go scheduler, about 150µs in all on a busy machine.
const spinWindow = 300 * time.Microsecond

// waitUntil returns true at t (or just after), false as soon as done is
// closed. Most of the wait is a Go timer; then preciseSleep, which holds
// the goroutine's thread but not a CPU, to spinWindow before t; the rest
// is spun.
func waitUntil(t time.Time, done <-chan struct{}) bool {
	if d := time.Until(t) - sleepWindow; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-done:
			timer.Stop()
			return false
		}
	}
	if d := time.Until(t) - spinWindow; d > 0 {
		preciseSleep(d)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}
