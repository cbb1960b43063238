package lab

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

func TestClassify(t *testing.T) {
	t0 := time.Now()
	sent := response{Sent: t0, Done: t0.Add(time.Millisecond)}
	with := func(r response, status int, err error, class results.Outcome) response {
		r.Status, r.Err, r.Class = status, err, class
		return r
	}
	req := func(conn uint64, idx int) backends.Event {
		return backends.Event{Kind: backends.EventRequest, ConnID: conn, ReqIndex: idx, RequestID: "v", Time: t0.Add(100 * time.Microsecond)}
	}
	handler := backends.Event{Kind: backends.EventHandler, ConnID: 2, RequestID: "v"}
	answer := func(conn uint64, status int) backends.Event {
		return backends.Event{Kind: backends.EventResponse, ConnID: conn, RequestID: "v", Status: status}
	}
	faultClose := backends.Event{Kind: backends.EventClose, ConnID: 1, RequestID: "v", Closer: backends.CloserBackend, Reason: backends.ReasonCloseOnReuse, Fault: backends.FaultCloseOnReuse, Style: backends.CloseFIN, Time: t0.Add(200 * time.Microsecond)}
	idleClose := func(since time.Duration, unread int) *backends.Event {
		return &backends.Event{Kind: backends.EventClose, ConnID: 1, Closer: backends.CloserBackend, Reason: backends.ReasonIdle, Style: backends.CloseFIN, Time: t0.Add(since), UnreadBytes: unread}
	}
	peerClose := &backends.Event{Kind: backends.EventClose, ConnID: 1, Closer: backends.CloserPeer, Reason: backends.ReasonPeerEOF, Time: t0.Add(-50 * time.Millisecond)}

	cases := []struct {
		name       string
		o          observation
		outcome    results.Outcome
		attributed bool
		hidden     bool
		execs      int
	}{
		{"served on the pooled connection", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(1, 2), handler, answer(1, 200)}, pooled: 1}, results.OK, false, false, 1},
		{"close-on-reuse, proxy 502", observation{resp: with(sent, 502, nil, ""), events: []backends.Event{req(1, 2), faultClose}, pooled: 1}, results.Proxy502, true, false, 0},
		{"close-on-reuse, Envoy-style 503", observation{resp: with(sent, 503, nil, ""), events: []backends.Event{req(1, 2), faultClose}, pooled: 1}, results.Proxy503, true, false, 0},
		{"close-on-reuse, client connection dropped", observation{resp: with(sent, 0, io.EOF, results.ClientEOF), events: []backends.Event{req(1, 2), faultClose}, pooled: 1}, results.ClientEOF, true, false, 0},
		{"close-on-reuse, retried on a new connection", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(1, 2), faultClose, req(2, 1), handler, answer(2, 200)}, pooled: 1}, results.OKAfterHiddenRetry, false, true, 1},
		{"processed then dropped and replayed", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(1, 2), handler, {Kind: backends.EventClose, ConnID: 1, RequestID: "v", Closer: backends.CloserBackend, Fault: backends.FaultProcessedThenDropped}, req(2, 1), handler, answer(2, 200)}, pooled: 1}, results.OKAfterHiddenRetry, false, true, 2},
		{"backend itself answered 502: negative control", observation{resp: with(sent, 502, nil, ""), events: []backends.Event{req(1, 2), handler, answer(1, 502)}, pooled: 1}, results.Backend5xx, false, false, 1},
		{"backend down: no evidence, not the race", observation{resp: with(sent, 502, nil, ""), window: DefaultAttributionWindow}, results.Proxy502, false, false, 0},
		{"natural race: idle close as the request left", observation{resp: with(sent, 502, nil, ""), pooled: 1, pooledClose: idleClose(300*time.Microsecond, 0), window: DefaultAttributionWindow}, results.Proxy502, true, false, 0},
		{"idle close long before, proxy opened a new connection since", observation{resp: with(sent, 502, nil, ""), pooled: 1, pooledClose: idleClose(-time.Second, 0), window: DefaultAttributionWindow, newConnAfterClose: true}, results.Proxy502, false, false, 0},
		{"idle close long before, no new connection: the proxy reused the closed one", observation{resp: with(sent, 502, nil, ""), pooled: 1, pooledClose: idleClose(-time.Second, 0), window: DefaultAttributionWindow}, results.Proxy502, true, false, 0},
		{"close long after the request is not its cause", observation{resp: with(sent, 502, nil, ""), pooled: 1, pooledClose: idleClose(time.Second, 0), window: DefaultAttributionWindow}, results.Proxy502, false, false, 0},
		{"proxy closed the pooled connection itself", observation{resp: with(sent, 502, nil, ""), pooled: 1, pooledClose: peerClose, window: DefaultAttributionWindow}, results.Proxy502, false, false, 0},
		{"natural race hidden by retry: unread bytes at close", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(2, 1), handler, answer(2, 200)}, pooled: 1, pooledClose: idleClose(100*time.Microsecond, 87), window: DefaultAttributionWindow}, results.OKAfterHiddenRetry, false, true, 1},
		{"proxy logged a second attempt", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(2, 1), handler, answer(2, 200)}, pooled: 1, proxy: []proxies.Evidence{{Source: "access", Attempts: 2}}}, results.OKAfterHiddenRetry, false, true, 1},
		{"armed victim on a new conn, pooled conn still open: not reused", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(2, 1), handler, answer(2, 200)}, pooled: 1, armed: true, primeDone: t0.Add(-time.Second), proxyIdle: 900 * time.Millisecond}, results.NotReused, false, false, 1},
		{"armed victim on a new conn, proxy closed the pooled conn right after its answer: no pooling", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(2, 1), handler, answer(2, 200)}, pooled: 1, pooledClose: &backends.Event{Kind: backends.EventClose, ConnID: 1, Closer: backends.CloserPeer, Time: t0.Add(-time.Second + time.Millisecond)}, armed: true, primeDone: t0.Add(-time.Second), proxyIdle: 900 * time.Millisecond}, results.NotReused, false, false, 1},
		{"armed victim on a new conn, proxy retired the pooled conn by its idle timer: the fix", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(2, 1), handler, answer(2, 200)}, pooled: 1, pooledClose: peerClose, armed: true, primeDone: t0.Add(-time.Second), proxyIdle: 900 * time.Millisecond}, results.OK, false, false, 1},
		{"armed victim on a new conn, the proxy asked the backend to close: no pooling", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(2, 1), handler, answer(2, 200)}, pooled: 1, pooledClose: &backends.Event{Kind: backends.EventClose, ConnID: 1, Closer: backends.CloserBackend, Reason: backends.ReasonClientClose, Time: t0.Add(-time.Second)}, armed: true, primeDone: t0.Add(-time.Second)}, results.NotReused, false, false, 1},
		{"unarmed victim on a new conn is ok", observation{resp: with(sent, 200, nil, ""), events: []backends.Event{req(2, 1), handler, answer(2, 200)}, pooled: 1}, results.OK, false, false, 1},
		{"reset", observation{resp: with(sent, 0, syscall.ECONNRESET, results.ClientReset), events: []backends.Event{req(1, 2), faultClose}, pooled: 1}, results.ClientReset, true, false, 0},
		{"timeout is not the race", observation{resp: with(sent, 0, errors.New("i/o timeout"), results.ClientTimeout), window: DefaultAttributionWindow}, results.ClientTimeout, false, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := classify(c.o)
			if v.outcome != c.outcome || v.attributed != c.attributed || v.hidden != c.hidden || v.executions != c.execs {
				t.Errorf("got outcome %s attributed %v (%s) hidden %v executions %d; want %s %v %v %d",
					v.outcome, v.attributed, v.attribution, v.hidden, v.executions, c.outcome, c.attributed, c.hidden, c.execs)
			}
			if v.outcome.Failed() && v.attribution == "" {
				t.Error("a failure must say why it is or is not attributed")
			}
		})
	}
}

func TestClassifyErr(t *testing.T) {
	if got := classifyErr(io.EOF, false); got != results.ClientEOF {
		t.Errorf("EOF: %s", got)
	}
	if got := classifyErr(io.ErrUnexpectedEOF, true); got != results.Other {
		t.Errorf("partial response: %s", got)
	}
	if got := classifyErr(syscall.ECONNRESET, false); got != results.ClientReset {
		t.Errorf("reset: %s", got)
	}
}

// A proxy that closes the client connection without a byte is client_eof;
// one that cuts a response short is not.
func TestClientSeesCleanCloseAsEOF(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  results.Outcome
	}{
		{"", results.ClientEOF},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", results.Other},
		{"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", ""},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte(tc.reply))
			_ = c.Close()
		}()
		cl := newClient(ln.Addr().String(), true)
		r := cl.do(context.Background(), cl.request("x", "GET", backends.FaultNone), 5*time.Second)
		ln.Close()
		if r.Class != tc.want {
			t.Errorf("reply %q: class %q (err %v), want %q", tc.reply, r.Class, r.Err, tc.want)
		}
		if tc.want == "" && r.Status != 502 {
			t.Errorf("reply %q: status %d", tc.reply, r.Status)
		}
	}
}

func TestReuseNote(t *testing.T) {
	all := results.Summary{Trials: 4, Counts: map[results.Outcome]int{results.NotReused: 4}}
	some := results.Summary{Trials: 4, Counts: map[results.Outcome]int{results.NotReused: 1, results.Proxy502: 3}}
	none := results.Summary{Trials: 4, Counts: map[results.Outcome]int{results.Proxy502: 4}}
	if n := reuseNote(all); !strings.Contains(n, "the race cannot happen (0 of 4 victims went out on a reused connection)") {
		t.Errorf("all not reused: %q", n)
	}
	if n := reuseNote(some); n != "1 of 4 victims did not go out on the pooled connection (not_reused)" {
		t.Errorf("one not reused: %q", n)
	}
	if n := reuseNote(none); n != "" {
		t.Errorf("all reused: %q", n)
	}
}

func TestAttributeWire(t *testing.T) {
	ns := func(d time.Duration) *int64 { v := int64(d); return &v }
	conn := "127.0.0.1:41000>127.0.0.1:8080"
	cases := []struct {
		name string
		w    *results.WireEvidence
		want bool
		why  string
	}{
		{"no capture", nil, false, "no capture"},
		{"unavailable", &results.WireEvidence{Unavailable: "capture unavailable: no CAP_NET_RAW"}, false, "no CAP_NET_RAW"},
		{"close-on-reuse", &results.WireEvidence{Conn: conn, FirstClose: "backend", CloseKind: "fin", CloseSinceRequestNS: ns(80 * time.Microsecond), RequestBytes: 120}, true, "FIN came first, +80µs"},
		{"natural race", &results.WireEvidence{Conn: conn, FirstClose: "backend", CloseKind: "fin", CloseSinceRequestNS: ns(-300 * time.Microsecond), RequestBytes: 120, RequestIntoClosed: true}, true, "reached the closed socket"},
		{"stale connection reused long after", &results.WireEvidence{Conn: conn, FirstClose: "backend", CloseKind: "rst", CloseSinceRequestNS: ns(-2 * time.Second), RequestBytes: 120}, true, "RST came first"},
		{"backend answered", &results.WireEvidence{Conn: conn, FirstClose: "backend", CloseKind: "fin", CloseSinceRequestNS: ns(time.Millisecond), RequestBytes: 120, ResponseBytes: 90}, false, "90 response bytes"},
		{"proxy closed first", &results.WireEvidence{Conn: conn, FirstClose: "proxy", CloseKind: "fin", CloseSinceRequestNS: ns(time.Millisecond), RequestBytes: 120}, false, "proxy closed"},
		{"late close: a backend timeout", &results.WireEvidence{Conn: conn, FirstClose: "backend", CloseKind: "fin", CloseSinceRequestNS: ns(30 * time.Second), RequestBytes: 120}, false, "outside 50ms"},
		{"no close", &results.WireEvidence{Conn: conn, RequestBytes: 120, ResponseBytes: 90}, false, "neither side closed"},
		{"dead backend", &results.WireEvidence{Conn: conn, FirstClose: "backend", CloseKind: "rst"}, false, "no captured proxy↔backend connection"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, why := AttributeWire(tt.w, DefaultAttributionWindow)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("AttributeWire = %v, %q; want %v, containing %q", got, why, tt.want, tt.why)
			}
		})
	}
}
