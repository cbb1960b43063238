//go:build linux

package wire

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures a 64-byte request/response round trip on a
// persistent loopback connection with no capture, with the kernel filter
// and with userspace filtering: what each way of filtering costs the
// traffic it watches.
func BenchmarkRoundTrip(b *testing.B) {
	for _, mode := range []Filtering{"", FilterKernel, FilterUser} {
		name := string(mode)
		if name == "" {
			name = "none"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
			var c *Capture
			if mode != "" {
				c = startCapture(b, uint16(ln.Addr().(*net.TCPAddr).Port), mode)
				defer func() {
					b.StopTimer()
					if err := c.Sync(context.Background()); err != nil {
						b.Fatal(err)
					}
					st := c.Stats()
					b.ReportMetric(float64(st.Packets)/float64(b.N), "packets/op")
					b.ReportMetric(float64(st.KernelDrops), "kernel-drops")
					b.ReportMetric(float64(st.RecvBuffer>>10), "rcvbuf-KiB")
				}()
			}
			conn, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			msg, buf := make([]byte, 64), make([]byte, 64)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := conn.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(r, buf); err != nil {
					b.Fatal(err)
				}
				if c != nil && i%64 == 63 {
					// What racelab does after every trial.
					if err := c.Drain(); err != nil {
						b.Fatal(err)
					}
					c.Prune(time.Now().Add(-time.Second))
				}
			}
		})
	}
}
