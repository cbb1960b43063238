package nginx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
)

// requireNginx skips the test when no nginx binary is installed.
func requireNginx(t testing.TB) string {
	t.Helper()
	bin, err := process.LookPath(Adapter{})
	if err != nil {
		t.Skipf("nginx not found (apt-get install nginx-light, or nginx): %v", err)
	}
	return bin
}

// testBackend is a net/http server that counts and times its connections
// and closes a reused connection without answering a request that asks
// for it with backends.FaultHeader.
type testBackend struct {
	srv *httptest.Server
	rst bool // close victims with RST instead of FIN

	mu      sync.Mutex
	conns   []*connInfo
	byConn  map[net.Conn]*connInfo
	served  map[string]int // request id → responses written
	changed chan struct{}
}

type connInfo struct {
	reqs     int       // requests read on the connection
	lastIdle time.Time // when the last response was written
	closed   time.Time // zero while open
}

type connKey struct{}

func startBackend(t *testing.T, rst bool) *testBackend {
	t.Helper()
	b := &testBackend{
		rst:     rst,
		byConn:  make(map[net.Conn]*connInfo),
		served:  make(map[string]int),
		changed: make(chan struct{}),
	}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.handle))
	// net/http calls ConnContext before ConnState(StateNew).
	b.srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		ci := &connInfo{}
		b.mu.Lock()
		b.byConn[c] = ci
		b.conns = append(b.conns, ci)
		b.mu.Unlock()
		return context.WithValue(ctx, connKey{}, ci)
	}
	b.srv.Config.ConnState = b.connState
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

func (b *testBackend) addr() string { return b.srv.Listener.Addr().String() }

func (b *testBackend) connState(c net.Conn, s http.ConnState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch s {
	case http.StateIdle:
		b.byConn[c].lastIdle = time.Now()
	case http.StateClosed, http.StateHijacked:
		b.byConn[c].closed = time.Now()
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *testBackend) handle(w http.ResponseWriter, r *http.Request) {
	ci := r.Context().Value(connKey{}).(*connInfo)
	id := r.Header.Get(backends.RequestIDHeader)
	b.mu.Lock()
	ci.reqs++
	victim := ci.reqs >= 2 && r.Header.Get(backends.FaultHeader) == string(backends.FaultCloseOnReuse)
	b.mu.Unlock()
	if victim {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok && b.rst {
			_ = tc.SetLinger(0)
		}
		conn.Close()
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	b.mu.Lock()
	b.served[id]++
	b.mu.Unlock()
	fmt.Fprintf(w, "ok %s\n", id)
}

// stats returns the number of connections and the responses per id.
func (b *testBackend) stats() (conns int, served map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	served = make(map[string]int, len(b.served))
	for k, v := range b.served {
		served[k] = v
	}
	return len(b.conns), served
}

// waitClosed waits until connection i (0-based) has closed and returns
// how long after its last response that happened.
func (b *testBackend) waitClosed(ctx context.Context, i int) (time.Duration, error) {
	for {
		b.mu.Lock()
		if i < len(b.conns) && !b.conns[i].closed.IsZero() {
			d := b.conns[i].closed.Sub(b.conns[i].lastIdle)
			b.mu.Unlock()
			return d, nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("connection %d still open: %w", i, ctx.Err())
		}
	}
}

// client is a raw HTTP/1.1 client on one connection: no hidden retries.
type client struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, br: bufio.NewReader(c)}
}

type reply struct {
	status int
	body   string
}

// do sends one request for id and reads the answer within 10s.
func (cl *client) do(method, id string, fault backends.FaultKind) (reply, error) {
	if err := cl.c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return reply{}, err
	}
	body := ""
	if method == http.MethodPost {
		body = "payload"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s%s HTTP/1.1\r\nHost: racelab\r\n%s: %s\r\n", method, backends.PathPrefix, id, backends.RequestIDHeader, id)
	if fault != backends.FaultNone {
		fmt.Fprintf(&sb, "%s: %s\r\n", backends.FaultHeader, fault)
	}
	fmt.Fprintf(&sb, "Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := io.WriteString(cl.c, sb.String()); err != nil {
		return reply{}, err
	}
	resp, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, body: string(b)}, nil
}

func (cl *client) mustDo(t *testing.T, method, id string, fault backends.FaultKind) reply {
	t.Helper()
	r, err := cl.do(method, id, fault)
	if err != nil {
		t.Fatalf("%s %s: %v", method, id, err)
	}
	return r
}

// startNginx starts nginx for spec (Listen filled in) and stops it when
// the test ends.
func startNginx(t *testing.T, spec proxies.Spec, opts ...process.Option) *process.Proxy {
	t.Helper()
	requireNginx(t)
	if spec.Listen == "" {
		spec.Listen = proxytest.FreeAddr(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := process.Start(ctx, Adapter{}, spec, opts...)
	t.Cleanup(func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return p
}

// evidence waits up to 5s for evidence from source about id.
func evidence(t *testing.T, p *process.Proxy, id, source string) []proxies.Evidence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, id, source)
	if err != nil {
		t.Fatalf("no %s evidence for %s: %v (have %+v; last output %q)", source, id, err, evs, p.Logs())
	}
	return evs
}

func only(t *testing.T, evs []proxies.Evidence, source string) proxies.Evidence {
	t.Helper()
	var out []proxies.Evidence
	for _, ev := range evs {
		if ev.Source == source {
			out = append(out, ev)
		}
	}
	if len(out) != 1 {
		t.Fatalf("want one %s evidence, got %+v", source, evs)
	}
	return out[0]
}

// versionBefore reports whether version v is older than major.minor.patch.
func versionBefore(v string, major, minor, patch int) bool {
	m := regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(v)
	if m == nil {
		return false
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	if a != major {
		return a < major
	}
	if b != minor {
		return b < minor
	}
	return c < patch
}

func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
