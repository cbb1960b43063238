//go:build linux

package netpath

import (
	"syscall"
	"time"
)

// preciseSleep sleeps d in nanosleep, which the kernel keeps on a
// high-resolution timer (tens of microseconds late at most on an idle
// machine).
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
			return
		}
		ts = rem
	}
}
