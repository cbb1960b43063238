//go:build !linux

package netpath

import (
	"runtime"
	"time"
)

// preciseSleep spins the last stretch where no high-resolution sleep is
// known to be available.
func preciseSleep(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		runtime.Gosched()
	}
}
