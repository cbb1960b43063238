package squid

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
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

func startSquid(t *testing.T, s proxies.Spec) *process.Proxy {
	t.Helper()
	requireSquid(t)
	s.Listen = proxytest.FreeAddr(t)
	p, err := process.Start(context.Background(), Adapter{}, s, process.WithStartTimeout(30*time.Second))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	return p
}

func accessLine(t *testing.T, p proxies.Instance, id string) proxies.Evidence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, id, "access")
	require.NoError(t, err, "no access line for %s", id)
	require.Len(t, evs, 1)
	return evs[0]
}

func TestLiveOneUpstreamConnection(t *testing.T) {
	srv, rec := proxytest.Backend(t, backends.FaultNone)
	p := startSquid(t, spec(srv.Addr(), 10*time.Second, proxies.RetryOff))
	require.Regexp(t, `^\d+\.\d+`, p.Version())
	cl := proxytest.Dial(t, p.Addr())
	conns := map[uint64]bool{}
	for i := range 4 {
		id := fmt.Sprintf("keep-%d", i)
		st := cl.Do(t, http.MethodGet, id, backends.FaultNone)
		if st != 200 {
			for _, e := range rec.Events(0) {
				t.Logf("%+v", e)
			}
		}
		require.Equal(t, 200, st)
		ev := accessLine(t, p, id)
		require.Equal(t, 200, ev.Status)
		require.Equal(t, "TCP_MISS/FIRSTUP_PARENT", ev.Details)
		require.Empty(t, ev.Flags)
		_, c := proxytest.Count(rec, id, backends.EventRequest)
		for k := range c {
			conns[k] = true
		}
	}
	require.Len(t, conns, 1, "one pooled upstream connection for sequential GETs")
}

// TestLiveRetryPolicies: the backend closes the pooled connection as the
// victim arrives on it. With forward_max_tries 1 Squid answers 502; with
// 2 it sends a GET again on a new connection. A POST never goes out on
// the pooled connection: Squid opens a new one for it, so the fault,
// which fires only on a reused connection, never does.
func TestLiveRetryPolicies(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retry      proxies.Retry
		method     string
		wantStatus int
		arrivals   int
		onPooled   bool
	}{
		{"off GET fails", proxies.RetryOff, http.MethodGet, 502, 1, true},
		{"idempotent GET retried", proxies.RetryIdempotent, http.MethodGet, 200, 2, true},
		{"off POST kept off the pool", proxies.RetryOff, http.MethodPost, 200, 1, false},
		{"all POST kept off the pool", proxies.RetryAll, http.MethodPost, 200, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := proxytest.Backend(t, backends.FaultCloseOnReuse)
			p := startSquid(t, spec(srv.Addr(), 30*time.Second, tc.retry))
			cl := proxytest.Dial(t, p.Addr())
			require.Equal(t, 200, cl.Do(t, http.MethodGet, "warm", backends.FaultNone))
			_, warm := proxytest.Count(rec, "warm", backends.EventRequest)
			require.Equal(t, tc.wantStatus, cl.Do(t, tc.method, "victim", backends.FaultCloseOnReuse))

			acc := accessLine(t, p, "victim")
			require.Equal(t, tc.wantStatus, acc.Status)
			if tc.wantStatus == 502 {
				require.Regexp(t, `^TCP_MISS/(HIER_NONE|FIRSTUP_PARENT)$`, acc.Details)
				require.Equal(t, acc.Message, acc.Flags)
				require.Regexp(t, `^ERR_(ZERO_SIZE_OBJECT|READ_ERROR)/WITH_SERVER$`, acc.Message)
			}
			n, conns := proxytest.Count(rec, "victim", backends.EventRequest)
			require.Equal(t, tc.arrivals, n, "backend arrivals of the victim")
			first := false
			for c := range warm {
				first = conns[c]
			}
			require.Equal(t, tc.onPooled, first, "victim on the pooled connection")
		})
	}
}

// TestLiveIdleTimeoutResolution measures when Squid closes an idle pooled
// connection: its timers count whole seconds of the clock, so a timeout
// of N s fires between N−1 and N+1 s after the response (plus scheduling
// on a loaded machine).
func TestLiveIdleTimeoutResolution(t *testing.T) {
	const idle = 2 * time.Second
	srv, rec := proxytest.Backend(t, backends.FaultNone)
	p := startSquid(t, spec(srv.Addr(), idle, proxies.RetryOff))
	cl := proxytest.Dial(t, p.Addr())
	require.Equal(t, 200, cl.Do(t, http.MethodGet, "idle-1", backends.FaultNone))
	var answered time.Time
	var conn uint64
	for _, e := range rec.ForRequest("idle-1") {
		if e.Kind == backends.EventResponse {
			answered, conn = e.Time, e.ConnID
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closed, err := rec.Wait(ctx, 0, func(e backends.Event) bool { return e.Kind == backends.EventClose && e.ConnID == conn })
	require.NoError(t, err, "squid never closed the idle connection")
	after := closed.Time.Sub(answered)
	t.Logf("idle connection closed %v after the response (server_idle_pconn_timeout %v)", after, idle)
	require.Equal(t, backends.CloserPeer, closed.Closer)
	require.Greater(t, after, idle-time.Second)
	require.Less(t, after, idle+2*time.Second)
}

// TestLiveStopLeavesNothing: Stop ends Squid, removes the directory and
// the shared-memory segments Squid named after its service name.
func TestLiveStopLeavesNothing(t *testing.T) {
	srv, _ := proxytest.Backend(t, backends.FaultNone)
	p := startSquid(t, spec(srv.Addr(), 10*time.Second, proxies.RetryOff))
	require.Equal(t, 200, proxytest.Dial(t, p.Addr()).Do(t, http.MethodGet, "s", backends.FaultNone))
	service := ServiceName(p.Dir())
	shm, _ := filepath.Glob("/dev/shm/" + service + "-*")
	require.NotEmpty(t, shm, "squid -N still makes shared-memory segments, named after the service")
	require.NoError(t, p.Stop(context.Background()))
	require.ErrorIs(t, syscall.Kill(p.PID(), 0), syscall.ESRCH)
	_, err := os.Stat(p.Dir())
	require.ErrorIs(t, err, os.ErrNotExist)
	left, _ := filepath.Glob("/dev/shm/" + service + "-*")
	require.Empty(t, left, "shared-memory segments left after Stop")
}

// BenchmarkStart measures a start to readiness (Squid answers on its port).
func BenchmarkStart(b *testing.B) {
	requireSquid(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var ready time.Duration
	n := 0
	for b.Loop() {
		s := spec(ln.Addr().String(), 10*time.Second, proxies.RetryOff)
		s.Listen = proxytest.FreeAddr(b)
		start := time.Now()
		p, err := process.Start(context.Background(), Adapter{}, s, process.WithStartTimeout(30*time.Second))
		ready += time.Since(start)
		n++
		if err != nil {
			_ = p.Stop(context.Background())
			b.Fatal(err)
		}
		if err := p.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ready.Microseconds())/1000/float64(n), "ms/start")
}
