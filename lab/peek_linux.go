//go:build linux

package lab

import (
	"errors"
	"net"
	"syscall"
)

// peekAlive reports whether conn is open with nothing to read: a
// non-blocking MSG_PEEK sees EAGAIN. EOF (the peer closed), an error, or
// unexpected bytes mean the connection is not fit for the next request.
func peekAlive(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && errors.Is(rerr, syscall.EAGAIN)
		return true // never wait for readiness
	})
	return err == nil && alive
}
