package netpath

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// BenchmarkDelay measures the path's delay accuracy: messages sent 1 ms
// apart through a relay of each latency, and |arrival - send - latency|
// per message on one monotonic clock. The goal is p99 <= 200 µs at 1-50
// ms. Run with -benchtime=500x (each message is one iteration).
func BenchmarkDelay(b *testing.B) {
	for _, lat := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond} {
		b.Run(fmt.Sprint(lat), func(b *testing.B) { benchDelay(b, lat) })
	}
}

func benchDelay(b *testing.B, lat time.Duration) {
	base := time.Now()
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
		msg := make([]byte, 8)
		for {
			if _, err := io.ReadFull(c, msg); err != nil {
				return
			}
			got := time.Since(base)
			sent := time.Duration(binary.BigEndian.Uint64(msg))
			out = append(out, got-sent-lat)
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
		binary.BigEndian.PutUint64(msg, uint64(time.Since(base)))
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
