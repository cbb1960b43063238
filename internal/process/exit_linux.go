package process

import (
	"syscall"
	"unsafe"
)

// Constants of waitid(2) that package syscall does not export.
const (
	idTypePID  = 1         // P_PID
	waitNoWait = 0x1000000 // WNOWAIT
)

// awaitExit blocks until process pid has exited, without reaping it: the
// process stays a zombie, so neither its pid nor its process group id can
// be reused until the caller reaps it. That makes signalling the group
// between awaitExit and the reap safe. It reports whether it waited.
func awaitExit(pid int) bool {
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, idTypePID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|waitNoWait, 0, 0)
		if errno != syscall.EINTR {
			return errno == 0
		}
	}
}
