//go:build linux

package netpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkDelay measures the path's delay accuracy: messages sent 1 ms
// apart through a relay of each latency, and |arrival - send - latency|
// per message, arrival being the kernel's receive timestamp on the far
// socket and send the wall clock just before the write. The goal is p99 <= 200 µs at 1-50
// ms. Run with -benchtime=500x (each message is one iteration).
func BenchmarkDelay(b *testing.B) {
	for _, lat := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		b.Run(fmt.Sprint(lat), func(b *testing.B) { benchDelay(b, lat) })
	}
}

func benchDelay(b *testing.B, lat time.Duration) {
	errs := make(chan []time.Duration, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var out []time.Duration
		defer func() { errs <- out }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		// Arrival is the kernel's receive time of each message
		// (SO_TIMESTAMPNS), not when this goroutine got to read it: what
		// the path delivers is what reaches the far end's socket.
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return
		}
		_ = rc.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
		if err != nil {
			return
		}
		msg := make([]byte, 8)
		oob := make([]byte, 128)
		for {
			var n, oobn int
			var rerr error
			if err := rc.Read(func(fd uintptr) bool {
				n, oobn, _, _, rerr = unix.Recvmsg(int(fd), msg, oob, unix.MSG_WAITALL)
				return !errors.Is(rerr, unix.EAGAIN)
			}); err != nil || rerr != nil || n < len(msg) {
				return
			}
			got, ok := arrivalTime(oob[:oobn])
			if !ok {
				return
			}
			sent := time.Unix(0, int64(binary.BigEndian.Uint64(msg)))
			out = append(out, got.Sub(sent)-lat)
		}
	}()
	r, err := Start(b.Context(), ln.Addr().String(), Config{Latency: lat})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 8)
	b.ResetTimer()
	next := time.Now()
	for range b.N {
		next = next.Add(time.Millisecond)
		time.Sleep(time.Until(next))
		binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	d := <-errs
	b.StopTimer()
	_ = c.Close()
	if len(d) != b.N {
		b.Fatalf("%d of %d messages arrived", len(d), b.N)
	}
	abs := make([]time.Duration, len(d))
	early := 0
	for i, e := range d {
		if e < 0 {
			early++
			e = -e
		}
		abs[i] = e
	}
	slices.Sort(abs)
	q := func(p float64) float64 { return float64(abs[int(p*float64(len(abs)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(abs[len(abs)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(early), "early")
}

// arrivalTime is the SCM_TIMESTAMPNS time in a recvmsg's control data.
func arrivalTime(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}
