//go:build linux

package backends

import (
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// haveRawPeek: the idle wait can watch the socket without consuming a
// byte, so request bytes that arrive as the idle timer fires stay in the
// kernel's receive buffer, where they turn the close into an RST exactly as
// they do for a real server.
const haveRawPeek = true

// peekReady reports whether fd has data, end of stream or an error pending,
// without consuming anything. It never blocks.
func peekReady(fd uintptr) (ready bool, err error) {
	var b [1]byte
	for {
		n, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return false, nil
		case e != nil:
			return true, e
		case n == 0:
			return true, io.EOF
		}
		return true, nil
	}
}

// pendingBytes returns how many bytes sit unread in fd's receive buffer,
// and copies the first of them into head without consuming them. It
// returns how many bytes it copied.
func pendingBytes(fd uintptr, head []byte) (pending, copied int) {
	var v int32
	_, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v)))
	if e != 0 || v <= 0 {
		return 0, 0
	}
	for {
		n, _, err := syscall.Recvfrom(int(fd), head, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n < 0 {
			n = 0
		}
		return int(v), n
	}
}

// havePrecisePoll: the final stretch of an idle period can be waited out
// in ppoll, whose timeout the kernel keeps on a high-resolution timer.
const havePrecisePoll = true

// pollFD is struct pollfd.
type pollFD struct {
	fd      int32
	events  int16
	revents int16
}

const pollIn = 0x1

// pollReadable blocks the calling thread until fd has data, end of stream
// or an error pending (it returns nil, or the error), or until deadline
// passes (it returns os.ErrDeadlineExceeded). It consumes nothing.
func pollReadable(fd uintptr, deadline time.Time) error {
	pfd := pollFD{fd: int32(fd), events: pollIn}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		ts := syscall.NsecToTimespec(int64(left))
		pfd.revents = 0
		n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1,
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return e
		case n == 0:
			return os.ErrDeadlineExceeded
		}
		if ready, err := peekReady(fd); ready {
			return err
		}
	}
}
