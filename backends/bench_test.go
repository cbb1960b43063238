package backends

import (
	"bufio"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkIdleCloseLateness measures how late the idle close happens
// after the deadline the backend reported, one connection per iteration
// (run with -benchtime=200x for 200 connections), with precise timers and
// with the read deadline alone. "close" is the backend's close event,
// taken just before the close call that sends the FIN; "client" is when
// the client's read returned EOF, which adds the client's own wake-up.
// Both are on the one monotonic clock. The lateness sets the tail of the
// race window.
func BenchmarkIdleCloseLateness(b *testing.B) {
	const idle = 20 * time.Millisecond
	for _, mode := range []struct {
		name    string
		precise bool
	}{{"precise", true}, {"deadline-only", false}} {
		b.Run(mode.name, func(b *testing.B) {
			s, rec := start(b, Config{IdleTimeout: idle}, WithPreciseTimers(mode.precise))
			var backend, client []time.Duration
			for i := 0; b.Loop(); i++ {
				c := dial(b, s)
				c.get("lat")
				_, at, err := c.closed()
				if err != io.EOF {
					b.Fatalf("want EOF, got %v", err)
				}
				id := uint64(i + 1)
				armed := waitEvent(b, rec, id, EventIdleArmed)
				closed := waitEvent(b, rec, id, EventClose)
				if closed.Reason != ReasonIdle {
					b.Fatalf("conn %d closed for %s", id, closed.Reason)
				}
				backend = append(backend, closed.Time.Sub(armed.Deadline))
				client = append(client, at.Sub(armed.Deadline))
				_ = c.nc.Close()
			}
			reportPercentiles(b, "close", backend)
			reportPercentiles(b, "client", client)
		})
	}
}

func reportPercentiles(b *testing.B, name string, d []time.Duration) {
	slices.Sort(d)
	at := func(p float64) float64 {
		i := max(int(math.Ceil(p*float64(len(d))))-1, 0)
		return float64(d[i].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), name+"-p50-µs")
	b.ReportMetric(at(0.99), name+"-p99-µs")
	b.ReportMetric(at(1), name+"-max-µs")
	if d[0] < 0 {
		b.Errorf("%s: closed %v before the deadline", name, -d[0])
	}
}

// BenchmarkRequestsOneConn measures sequential request throughput over one
// keep-alive connection.
func BenchmarkRequestsOneConn(b *testing.B) {
	for _, obs := range []struct {
		name string
		opts []Option
	}{
		{"no-observer", nil},
		{"recorder", []Option{WithObserver(NewRecorder().Observe)}},
	} {
		b.Run(obs.name, func(b *testing.B) {
			s, err := Start(b.Context(), Config{}, obs.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			nc, err := net.Dial("tcp", s.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			br := bufio.NewReader(nc)
			req := []byte(rawRequest(http.MethodGet, "bench"))
			getReq := &http.Request{Method: http.MethodGet}
			began := time.Now()
			for b.Loop() {
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, getReq)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "req/s")
		})
	}
}
