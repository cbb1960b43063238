package varnish

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
)

func liveSpec(upstream string, idle time.Duration, retry proxies.Retry) proxies.Spec {
	return proxies.Spec{Kind: proxies.KindVarnish, Upstream: upstream, IdleTimeout: idle,
		ResponseTimeout: 5 * time.Second, Retry: retry, Variant: proxies.VariantExplicit}
}

// startVarnish starts varnishd and its varnishncsa. VCL compiles with the
// C compiler, which takes seconds on a loaded machine.
func startVarnish(t *testing.T, s proxies.Spec) *process.Proxy {
	t.Helper()
	requireVarnish(t)
	s.Listen = proxytest.FreeAddr(t)
	p, err := process.Start(context.Background(), Adapter{}, s, process.WithStartTimeout(60*time.Second))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	return p
}

func bySource(evs []proxies.Evidence, source string) *proxies.Evidence {
	for i := range evs {
		if evs[i].Source == source {
			return &evs[i]
		}
	}
	return nil
}

func TestLiveOneBackendConnection(t *testing.T) {
	srv, rec := proxytest.Backend(t, backends.FaultNone)
	p := startVarnish(t, liveSpec(srv.Addr(), 10*time.Second, proxies.RetryOff))
	require.Regexp(t, `^\d+\.\d+\.\d+$`, p.Version())
	require.NotEmpty(t, p.Info()["logger_pid"])
	cl := proxytest.Dial(t, p.Addr())
	all := map[uint64]bool{}
	for i := range 4 {
		id := "keep-" + strconv.Itoa(i)
		require.Equal(t, 200, cl.Do(t, http.MethodGet, id, backends.FaultNone))
		acc := bySource(proxytest.WaitEvidence(t, p, id, "access"), "access")
		require.Equal(t, 200, acc.Status)
		_, conns := proxytest.Count(rec, id, backends.EventRequest)
		for c := range conns {
			all[c] = true
		}
	}
	require.Len(t, all, 1, "one pooled backend connection for sequential requests")
	be := bySource(proxytest.WaitEvidence(t, p, "keep-3", "backend"), "backend")
	require.Equal(t, "open=reuse", be.Details)
}

// TestLiveRetryPolicies: the backend closes the pooled connection as the
// victim arrives on it. Varnish 7.1 sends it once more on a new
// connection by itself, whatever the policy, unless it is a POST whose
// body it streamed; policy all caches bodies, so a POST is retried too.
func TestLiveRetryPolicies(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retry      proxies.Retry
		method     string
		wantStatus int
		arrivals   int
	}{
		{"off GET retried anyway", proxies.RetryOff, http.MethodGet, 200, 2},
		{"off POST fails", proxies.RetryOff, http.MethodPost, 503, 1},
		{"idempotent POST fails", proxies.RetryIdempotent, http.MethodPost, 503, 1},
		{"all POST retried", proxies.RetryAll, http.MethodPost, 200, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, rec := proxytest.Backend(t, backends.FaultCloseOnReuse)
			p := startVarnish(t, liveSpec(srv.Addr(), 10*time.Second, tc.retry))
			cl := proxytest.Dial(t, p.Addr())
			require.Equal(t, 200, cl.Do(t, tc.method, "warm", backends.FaultNone))
			require.Equal(t, tc.wantStatus, cl.Do(t, tc.method, "victim", backends.FaultCloseOnReuse))

			acc := bySource(proxytest.WaitEvidence(t, p, "victim", "access"), "access")
			require.Equal(t, tc.wantStatus, acc.Status)
			er := bySource(proxytest.WaitEvidence(t, p, "victim", "error"), "error")
			require.Equal(t, "HTC eof (-1)", er.Message)
			require.Equal(t, "open=reuse", er.Details)
			if tc.wantStatus == 200 {
				require.Equal(t, 2, er.Attempts)
			}
			n, conns := proxytest.Count(rec, "victim", backends.EventRequest)
			require.Equal(t, tc.arrivals, n, "backend arrivals of the victim")
			require.Len(t, conns, tc.arrivals, "each arrival on its own connection")
		})
	}
}

// TestLiveIdleTimeoutClosesBackend: backend_idle_timeout retires the
// pooled connection. Varnish's waiter is not exact: the close is checked
// between the timeout and a loose bound for a loaded machine.
func TestLiveIdleTimeoutClosesBackend(t *testing.T) {
	srv, rec := proxytest.Backend(t, backends.FaultNone)
	p := startVarnish(t, liveSpec(srv.Addr(), time.Second, proxies.RetryOff))
	cl := proxytest.Dial(t, p.Addr())
	require.Equal(t, 200, cl.Do(t, http.MethodGet, "idle-1", backends.FaultNone))
	var answered time.Time
	for _, e := range rec.ForRequest("idle-1") {
		if e.Kind == backends.EventResponse {
			answered = e.Time
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closed, err := rec.Wait(ctx, 0, func(e backends.Event) bool { return e.Kind == backends.EventClose && e.Closer == backends.CloserPeer })
	require.NoError(t, err, "varnish never closed the idle backend connection")
	after := closed.Time.Sub(answered)
	t.Logf("backend connection closed %v after the response (backend_idle_timeout 1s)", after)
	require.GreaterOrEqual(t, after, 950*time.Millisecond)
	require.Less(t, after, 4*time.Second)
}

// TestLiveStopLeavesNoProcess: Stop ends varnishd's manager, its child
// and varnishncsa, and removes the directory with the working directory.
func TestLiveStopLeavesNoProcess(t *testing.T) {
	srv, _ := proxytest.Backend(t, backends.FaultNone)
	p := startVarnish(t, liveSpec(srv.Addr(), 10*time.Second, proxies.RetryOff))
	require.Equal(t, 200, proxytest.Dial(t, p.Addr()).Do(t, http.MethodGet, "s", backends.FaultNone))
	pids := proxytest.GroupPIDs(t, p.PID())
	logger, err := strconv.Atoi(p.Info()["logger_pid"])
	require.NoError(t, err)
	require.Contains(t, pids, p.PID())
	require.Contains(t, pids, logger, "varnishncsa runs in the proxy's process group")
	require.GreaterOrEqual(t, len(pids), 3, "manager, child and varnishncsa: %v", pids)

	require.NoError(t, p.Stop(context.Background()))
	for _, pid := range pids {
		require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "pid %d still exists after Stop", pid)
	}
	_, err = os.Stat(p.Dir())
	require.ErrorIs(t, err, os.ErrNotExist)
}

// BenchmarkStart measures a start to readiness: varnishd compiles the VCL
// with the C compiler, then varnishncsa attaches and logs a probe.
func BenchmarkStart(b *testing.B) {
	requireVarnish(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close() // a silent backend: varnishd needs none to start
	var ready time.Duration
	n := 0
	for b.Loop() {
		s := liveSpec(ln.Addr().String(), 10*time.Second, proxies.RetryOff)
		s.Listen = proxytest.FreeAddr(b)
		start := time.Now()
		p, err := process.Start(context.Background(), Adapter{}, s, process.WithStartTimeout(60*time.Second))
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
