package lab

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// A slow body: the headers go out at once and announce the body's length;
// the body follows at its pace (rate) or after its delay, complete.
func TestSlowBodyPacing(t *testing.T) {
	tests := []struct {
		name string
		body scenarios.CellBody
	}{
		{"rate", scenarios.CellBody{Size: 256 << 10, Rate: 1 << 20}}, // 250ms
		{"delay", scenarios.CellBody{Size: 100_000, Delay: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type seen struct {
				headers, body time.Time
				length, n     int64
				err           error
			}
			got := make(chan seen, 1)
			go func() {
				var s seen
				defer func() { got <- s }()
				c, err := ln.Accept()
				if err != nil {
					s.err = err
					return
				}
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					s.err = err
					return
				}
				s.headers, s.length = time.Now(), req.ContentLength
				s.n, s.err = io.Copy(io.Discard, req.Body)
				s.body = time.Now()
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			}()
			cl := newClient(ln.Addr().String(), true)
			defer cl.close()
			req := cl.request("b-1", "POST", backends.FaultNone).withBody(&tt.body)
			resp := cl.do(context.Background(), req, 10*time.Second)
			s := <-got
			if s.err != nil || resp.Err != nil || resp.Status != 200 {
				t.Fatalf("server %v, client %v status %d", s.err, resp.Err, resp.Status)
			}
			if s.length != tt.body.Size || s.n != tt.body.Size {
				t.Errorf("Content-Length %d, body %d bytes; want %d", s.length, s.n, tt.body.Size)
			}
			if d := s.body.Sub(resp.Sent); d < tt.body.Duration()*9/10 {
				t.Errorf("the body was complete %v after the headers left; it should take %v", d, tt.body.Duration())
			}
			if d := s.headers.Sub(resp.Sent); d > tt.body.Duration()/2 {
				t.Errorf("the headers arrived %v after they left: they should not wait for the body (%v)", d, tt.body.Duration())
			}
		})
	}
}

// A slow body and the proxy's request buffering, on nginx: with buffering
// on, nginx reads the whole body (a 20ms pause, then 1MB) before it takes
// its pooled connection, so the race window moves earlier by the body's
// time; streaming it (buffering off), nginx sends the headers at once and
// the window stays at the backend's idle deadline. Victims go out around
// both places; the medians of the failing offsets tell which bites, so
// that a single trial a loaded scheduler delayed cannot decide.
func TestSlowBodyAndRequestBuffering(t *testing.T) {
	requireProxy(t, proxies.KindNginx)
	rep, all := runAll(t, `name: body
base:
  mode: timing
  method: POST
  proxy_idle: 1s
  backend_keepalive: 60ms
  body: {size: 1048576, delay: 20ms}
  offsets: [-25ms, -24ms, -23ms, -22ms, -21ms, -1ms, -500us, 0s, 500us, 1ms]
  trials: 100
matrix:
  proxy:
    - {kind: nginx, request_buffering: "on"}
    - {kind: nginx, request_buffering: "off"}
`)
	for _, c := range rep.Cells {
		var offs []time.Duration
		unattributed := 0
		for _, r := range all[c.ID] {
			if r.Outcome.Failed() && r.OffsetNS != nil {
				offs = append(offs, time.Duration(*r.OffsetNS))
				if !r.Attributed {
					unattributed++
					t.Logf("%s seq %d at %v: unattributed: %s", c.ID, r.Seq, time.Duration(*r.OffsetNS), r.Attribution)
				}
			}
		}
		if len(offs) == 0 {
			t.Errorf("%s: no failure in the sweep", c.ID)
			continue
		}
		if unattributed*2 > len(offs) {
			t.Errorf("%s: %d of %d failures unattributed", c.ID, unattributed, len(offs))
		}
		slices.Sort(offs)
		median := offs[len(offs)/2]
		t.Logf("%s: %d failures, offsets %v .. %v, median %v", c.ID, len(offs), offs[0], offs[len(offs)-1], median)
		switch c.Params["request_buffering"] {
		case "on":
			if median > -15*time.Millisecond {
				t.Errorf("%s: median failing offset %v, want before -15ms (the body takes 20ms+)", c.ID, median)
			}
		case "off":
			if median < -8*time.Millisecond || median > 8*time.Millisecond {
				t.Errorf("%s: median failing offset %v, want near the deadline", c.ID, median)
			}
		}
	}
}

// Why uploads fail more, on nginx: not a wider window (the test above), but
// a lost retry. A PUT (idempotent, so retry "idempotent" covers it) meets a
// close on reuse. With its body buffered, nginx still holds the whole
// request and sends it again on a new connection: every trial ends 200
// after a hidden retry. Streamed (proxy_request_buffering off), nginx has
// begun sending a body it no longer has, and a request sent unbuffered is
// never passed to the next server: every trial is a 502.
func TestStreamedUploadLosesTheRetry(t *testing.T) {
	requireProxy(t, proxies.KindNginx)
	rep, all := runAll(t, `name: upload-retry
timescale: 0.05
base:
  mode: deterministic
  method: PUT
  proxy_idle: 10s
  backend_keepalive: 1s
  retry: idempotent
  body: {size: 1048576, delay: 20ms}
  trials: 6
matrix:
  proxy:
    - {kind: nginx, request_buffering: "on"}
    - {kind: nginx, request_buffering: "off"}
`)
	for _, c := range rep.Cells {
		counts := map[results.Outcome]int{}
		for _, r := range all[c.ID] {
			counts[r.Outcome]++
			if r.Outcome.Failed() && !r.Attributed {
				t.Errorf("%s seq %d: %s unattributed: %s", c.ID, r.Seq, r.Outcome, r.Attribution)
			}
		}
		t.Logf("%s: %v", c.ID, counts)
		want := map[string]results.Outcome{"on": results.OKAfterHiddenRetry, "off": results.Proxy502}[c.Params["request_buffering"]]
		if counts[want] != len(all[c.ID]) || len(all[c.ID]) != 6 {
			t.Errorf("%s: outcomes %v, want all 6 %s", c.ID, counts, want)
		}
	}
}
