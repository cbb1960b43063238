package haproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
)

// testBackend is a small HTTP/1.1 server for the live tests: it answers
// 200 "ok <id>" on keep-alive connections, closes a connection without
// answering when a request carrying "X-Racelab-Fault: close-on-reuse"
// arrives as the 2nd or later request on it, and records what happened
// on each connection with the time.
type testBackend struct {
	t     *testing.T
	ln    net.Listener
	delay time.Duration // slept before each answer
	rst   bool          // close a victim's connection with RST (SO_LINGER 0)

	mu      sync.Mutex
	events  []beEvent
	changed chan struct{}
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

type beEvent struct {
	Time  time.Time
	Kind  string // "accept", "request", "response", "close"
	Conn  int
	Port  int    // peer port: HAProxy's source port
	ID    string // request id
	Index int    // request index on the connection
	// Method of the request; Who closed: "peer" or "backend".
	Method, Who string
}

func startTestBackend(t *testing.T, delay time.Duration) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	b := &testBackend{t: t, ln: ln, delay: delay, changed: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *testBackend) Addr() string { return b.ln.Addr().String() }

func (b *testBackend) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *testBackend) record(e beEvent) {
	e.Time = time.Now()
	b.mu.Lock()
	b.events = append(b.events, e)
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func (b *testBackend) accept() {
	defer b.wg.Done()
	for n := 1; ; n++ {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = struct{}{}
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serve(c, n)
	}
}

func (b *testBackend) serve(c net.Conn, id int) {
	defer b.wg.Done()
	defer func() {
		c.Close()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	port := c.RemoteAddr().(*net.TCPAddr).Port
	b.record(beEvent{Kind: "accept", Conn: id, Port: port})
	br := bufio.NewReader(c)
	for idx := 1; ; idx++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			b.record(beEvent{Kind: "close", Conn: id, Port: port, Who: "peer"})
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		rid := req.Header.Get(backends.RequestIDHeader)
		b.record(beEvent{Kind: "request", Conn: id, Port: port, ID: rid, Index: idx, Method: req.Method})
		if idx >= 2 && req.Header.Get(backends.FaultHeader) == string(backends.FaultCloseOnReuse) {
			if b.rst {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			b.record(beEvent{Kind: "close", Conn: id, Port: port, Who: "backend"})
			return
		}
		if b.delay > 0 {
			time.Sleep(b.delay) // the response delay under test, not a readiness wait
		}
		body := "ok " + rid + "\n"
		resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body
		if _, err := io.WriteString(c, resp); err != nil {
			b.record(beEvent{Kind: "close", Conn: id, Port: port, Who: "peer"})
			return
		}
		b.record(beEvent{Kind: "response", Conn: id, Port: port, ID: rid, Index: idx})
	}
}

// Events returns a copy of every event so far.
func (b *testBackend) Events() []beEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]beEvent(nil), b.events...)
}

// Requests returns the request events for id.
func (b *testBackend) Requests(id string) []beEvent {
	var out []beEvent
	for _, e := range b.Events() {
		if e.Kind == "request" && e.ID == id {
			out = append(out, e)
		}
	}
	return out
}

// Wait waits until match holds for an event, or ctx is done.
func (b *testBackend) Wait(ctx context.Context, match func(beEvent) bool) (beEvent, error) {
	for {
		b.mu.Lock()
		for _, e := range b.events {
			if match(e) {
				b.mu.Unlock()
				return e, nil
			}
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return beEvent{}, fmt.Errorf("wait for backend event: %w", ctx.Err())
		}
	}
}

// clientResult is what a raw HTTP/1.1 client saw for one request.
type clientResult struct {
	Status int
	Body   string
	// EOF is true when the connection closed before any response byte.
	EOF bool
	Err error
}

// rawClient speaks HTTP/1.1 on one connection, with no hidden retry.
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{c: c, br: bufio.NewReader(c)}
}

// Do sends one request for id under backends.PathPrefix and reads the
// response, within 10s.
func (rc *rawClient) Do(method, id string, fault bool) clientResult {
	return rc.DoPath(method, backends.PathPrefix+id, id, fault)
}

// DoPath is Do with the request path given.
func (rc *rawClient) DoPath(method, path, id string, fault bool) clientResult {
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + path + " HTTP/1.1\r\nHost: racelab\r\n" +
		backends.RequestIDHeader + ": " + id + "\r\n"
	if fault {
		req += backends.FaultHeader + ": " + string(backends.FaultCloseOnReuse) + "\r\n"
	}
	if method == http.MethodPost {
		req += "Content-Length: 5\r\n\r\nhello"
	} else {
		req += "\r\n"
	}
	if _, err := io.WriteString(rc.c, req); err != nil {
		return clientResult{Err: err}
	}
	if _, err := rc.br.Peek(1); err != nil {
		return clientResult{Err: err, EOF: errors.Is(err, io.EOF)}
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return clientResult{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return clientResult{Status: resp.StatusCode, Body: string(body), Err: err}
}

func (rc *rawClient) Close() { rc.c.Close() }
