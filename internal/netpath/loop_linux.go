//go:build linux

package netpath

import (
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// supported: the relay's loop runs here.
const supported = true

// spinWindow is how long before a delivery time the loop stops sleeping
// in ppoll and polls without a timeout until the time comes: waking from
// a sleep (a virtual machine's timer interrupt, the thread getting its Go
// P back) takes tens of microseconds and varies. Bytes that arrive while
// it spins are stamped as they arrive.
const spinWindow = 100 * time.Microsecond

// loop relays both directions of p on the calling goroutine's own OS
// thread, until both ends of stream are delivered, a reset is, or p is
// closed.
//
// Why a thread of its own: a chunk's delay is only as exact as the moment
// the relay wakes for it. A Go timer waits in the netpoller, in whole
// milliseconds; a goroutine woken by another adds a scheduler hand-off.
// Here one thread sleeps in ppoll with a nanosecond timeout and a timer
// slack of one nanosecond, wakes either because bytes arrived (it stamps
// them at once) or because the head of a queue is due (it writes it at
// once), and never hands anything to another goroutine.
func (p *pair) loop(n uint64) {
	runtime.LockOSThread()
	// The thread is never unlocked: it ends with the goroutine, and its
	// timer slack with it.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	p.r.noteRealtime(setRealtime())

	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return
	}
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		_ = unix.Close(wake)
		return
	default:
	}
	p.wake = wake
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.wake = -1
		p.mu.Unlock()
		_ = unix.Close(wake)
	}()

	afd, aerr := rawFD(p.a)
	bfd, berr := rawFD(p.b)
	if aerr != nil || berr != nil {
		return
	}
	ab, ba := newDirection(p.r.cfg, n*2), newDirection(p.r.cfg, n*2+1)
	ab.src, ab.dst = afd, bfd
	ba.src, ba.dst = bfd, afd
	buf := make([]byte, ChunkSize)
	oob := make([]byte, unix.CmsgSpace(16))
	for _, fd := range []int{afd, bfd} {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	fds := make([]unix.PollFd, 3)
	for {
		now := time.Now()
		for _, d := range [2][2]*direction{{ab, ba}, {ba, ab}} {
			for d[0].due(now) && !d[0].blocked {
				if d[0].deliver(d[1], now) {
					return // a reset was delivered: the connection is over
				}
			}
		}
		if ab.finSent && ba.finSent {
			return
		}

		// What to wait for: bytes on a socket whose direction has room,
		// room on a socket a direction is blocked on, a reset on a socket
		// that gave end of stream, and the wake descriptor.
		// The wait ends spinWindow before the next delivery; from there the
		// loop polls without sleeping until it is due.
		var timeout *unix.Timespec
		for _, d := range [2]*direction{ab, ba} {
			if len(d.q) > 0 && !d.blocked {
				wait := max(d.q[0].at.Sub(now)-spinWindow, 0)
				if timeout == nil || wait < time.Duration(timeout.Nano()) {
					ts := unix.NsecToTimespec(int64(wait))
					timeout = &ts
				}
			}
		}
		for i, s := range [2][2]*direction{{ab, ba}, {ba, ab}} {
			// s[0] reads this socket, s[1] writes it.
			from, to := s[0], s[1]
			fd, ev := int32(from.src), int16(0)
			if !from.srcDone && len(from.q) < MaxQueued {
				ev |= unix.POLLIN
			}
			if to.blocked {
				ev |= unix.POLLOUT
			}
			if ev == 0 && (from.srcReset || (from.srcDone && to.finSent)) {
				fd = -1 // nothing left to learn from it
			}
			fds[i] = unix.PollFd{Fd: fd, Events: ev}
		}
		fds[2] = unix.PollFd{Fd: int32(wake), Events: unix.POLLIN}
		if _, err := unix.Ppoll(fds, timeout, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if fds[2].Revents != 0 {
			return // closed
		}
		for i, s := range [2][2]*direction{{ab, ba}, {ba, ab}} {
			from, to := s[0], s[1]
			re := fds[i].Revents
			if re&unix.POLLOUT != 0 {
				to.blocked = false
			}
			if re&(unix.POLLIN|unix.POLLERR|unix.POLLHUP) == 0 {
				continue
			}
			if !from.srcDone {
				from.read(buf, oob)
			} else if !from.srcReset && re&unix.POLLERR != 0 {
				// A socket that gave end of stream reports a later reset
				// only as its pending error: the far end's kernel
				// answered a write into a closed socket with RST.
				from.srcReset = true
				if e, err := unix.GetsockoptInt(from.src, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && e != 0 {
					from.push(time.Now(), kindRST, nil)
				}
			}
		}
	}
}

// read takes one chunk from src and queues it with its arrival time: the
// kernel's receive time of the chunk (SO_TIMESTAMPNS, set on src when the
// loop starts) when it has one, so a thread that woke late does not delay
// what it relays; else the time of the read.
func (d *direction) read(buf, oob []byte) {
	n, oobn, _, _, err := unix.Recvmsg(d.src, buf, oob, 0)
	now := time.Now()
	if n > 0 {
		now = arrived(now, oob[:oobn])
	}
	switch {
	case n > 0:
		d.push(now, kindData, append([]byte(nil), buf[:n]...))
	case err == nil: // n == 0: end of stream
		d.srcDone = true
		d.push(now, kindFIN, nil)
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
	default:
		// A reset, or any other end of the connection that is not an
		// orderly FIN, reaches the far side as a reset.
		d.srcDone, d.srcReset = true, true
		d.push(now, kindRST, nil)
	}
}

// deliver delivers d's head to dst (back is the opposite direction, whose
// source dst is). It reports true when it delivered a reset: the pair is
// over.
func (d *direction) deliver(back *direction, now time.Time) (reset bool) {
	it := &d.q[0]
	switch it.kind {
	case kindData:
		n, err := unix.SendmsgN(d.dst, it.data[d.off:], nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN):
			d.blocked = true
			return false
		case err != nil:
			// The far side's kernel refused the bytes: its RST travels
			// back to the sender.
			if !back.srcReset {
				back.srcDone, back.srcReset = true, true
				back.push(time.Now(), kindRST, nil)
			}
		case d.off+n < len(it.data):
			d.off += n
			d.blocked = true
			return false
		}
	case kindFIN:
		_ = unix.Shutdown(d.dst, unix.SHUT_WR)
		d.finSent = true
	case kindRST:
		_ = unix.SetsockoptLinger(d.dst, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		return true
	}
	d.q[0] = item{}
	d.q = d.q[1:]
	d.off = 0
	return false
}

// signalWake makes an eventfd readable.
func signalWake(fd int) {
	var one = [8]byte{1}
	_, _ = unix.Write(fd, one[:])
}

// rawFD is c's descriptor. The caller must not use it past c's Close.
func rawFD(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// setRealtime moves the calling thread to SCHED_FIFO at the lowest
// real-time priority, so that when its sleep ends it runs at once instead
// of waiting behind whatever else keeps the machine's cores busy. It needs
// root (CAP_SYS_NICE); without it the thread keeps its normal priority.
// The thread never runs long: it sleeps in ppoll between deliveries and
// spins at most spinWindow before one, and the kernel's real-time
// throttling (sched_rt_runtime_us) bounds it besides.
func setRealtime() error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	return unix.SchedSetAttr(0, &attr, 0)
}

// arrived is the kernel's receive time in a recvmsg's control data, on
// now's monotonic clock: now less the chunk's age by the wall clock. A
// missing or implausible stamp (a wall clock that stepped) gives now.
func arrived(now time.Time, oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return now
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS || len(m.Data) < 16 {
			continue
		}
		sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
		nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
		age := now.Sub(time.Unix(sec, nsec))
		if age < 0 || age > time.Second {
			return now
		}
		return now.Add(-age)
	}
	return now
}
