package netpath

import "time"

// sleepWindow is how long before a delivery time the writer stops waiting
// on a Go timer and sleeps precisely: Go's netpoller waits in whole
// milliseconds, so a timer alone can deliver a millisecond late.
const sleepWindow = 2 * time.Millisecond

// waitUntil returns true at t (or just after), false as soon as done is
// closed. Most of the wait is a Go timer; the last sleepWindow is
// preciseSleep, which holds the goroutine's thread but not a CPU.
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
	if d := time.Until(t); d > 0 {
		preciseSleep(d)
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}
