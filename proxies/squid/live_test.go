package squid

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

func requireSquid(t testing.TB) {
	t.Helper()
	if _, err := process.LookPath(Adapter{}); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Skipf("squid not installed (apt-get install squid; Debian puts it in /usr/sbin): %v", err)
		}
		t.Fatal(err)
	}
}

func spec(upstream string, idle time.Duration, retry proxies.Retry) proxies.Spec {
	return proxies.Spec{Kind: proxies.KindSquid, Upstream: upstream, IdleTimeout: idle,
		ResponseTimeout: 5 * time.Second, Retry: retry, Variant: proxies.VariantExplicit}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// liveBackend is racelab's own backend with a recorder.
func liveBackend(t *testing.T, fault backends.FaultKind) (*backends.Server, *backends.Recorder) {
	t.Helper()
	rec := backends.NewRecorder()
	srv, err := backends.Start(context.Background(), backends.Config{Fault: backends.Fault{Kind: fault}},
		backends.WithObserver(rec.Observe))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv, rec
}

func startSquid(t *testing.T, s proxies.Spec) *process.Proxy {
	t.Helper()
	requireSquid(t)
	s.Listen = freeAddr(t)
	p, err := process.Start(context.Background(), Adapter{}, s, process.WithStartTimeout(30*time.Second))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	return p
}

// client sends requests on one persistent connection.
type client struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &client{c: c, br: bufio.NewReader(c)}
}

// do sends one request and returns the status (0 when the connection
// ended without a response).
func (cl *client) do(t *testing.T, method, id string, fault backends.FaultKind) int {
	t.Helper()
	require.NoError(t, cl.c.SetDeadline(time.Now().Add(10*time.Second)))
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("racelab body")
	}
	req, err := http.NewRequest(method, "http://racelab"+backends.PathPrefix+id, body)
	require.NoError(t, err)
	req.Header.Set(backends.RequestIDHeader, id)
	if fault != backends.FaultNone {
		req.Header.Set(backends.FaultHeader, string(fault))
	}
	require.NoError(t, req.Write(cl.c))
	resp, err := http.ReadResponse(cl.br, req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func accessLine(t *testing.T, p *process.Proxy, id string) proxies.Evidence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, id, "access")
	require.NoError(t, err, "no access line for %s; output: %s", id, strings.Join(p.Logs(), "\n"))
	require.Len(t, evs, 1)
	return evs[0]
}

func count(rec *backends.Recorder, id string, kind backends.EventKind) (n int, conns map[uint64]bool) {
	conns = map[uint64]bool{}
	for _, e := range rec.ForRequest(id) {
		if e.Kind == kind {
			n++
			conns[e.ConnID] = true
		}
	}
	return n, conns
}

func TestLiveOneUpstreamConnection(t *testing.T) {
	srv, rec := liveBackend(t, backends.FaultNone)
	p := startSquid(t, spec(srv.Addr(), 10*time.Second, proxies.RetryOff))
	require.Regexp(t, `^\d+\.\d+`, p.Version())
	cl := dial(t, p.Addr())
	conns := map[uint64]bool{}
	for i := range 4 {
		id := fmt.Sprintf("keep-%d", i)
		st := cl.do(t, http.MethodGet, id, backends.FaultNone)
		if st != 200 {
			for _, e := range rec.Events(0) {
				t.Logf("%+v", e)
			}
		}
		require.Equal(t, 200, st)
		ev := accessLine(t, p, id)
		require.Equal(t, 200, ev.Status)
		require.Equal(t, "TCP_MISS/FIRSTUP_PARENT", ev.Flags)
		_, c := count(rec, id, backends.EventRequest)
		for k := range c {
			conns[k] = true
		}
	}
	require.Len(t, conns, 1, "one pooled upstream connection for sequential GETs")
}
