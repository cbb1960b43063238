package nginx

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
)

func explicitSpec(upstream string, idle time.Duration, retry proxies.Retry) proxies.Spec {
	return proxies.Spec{
		Kind:            proxies.KindNginx,
		Upstream:        upstream,
		IdleTimeout:     idle,
		ResponseTimeout: 5 * time.Second,
		Retry:           retry,
		Variant:         proxies.VariantExplicit,
	}
}

func TestLiveOneUpstreamConnection(t *testing.T) {
	be := startBackend(t, false)
	p := startNginx(t, explicitSpec(be.addr(), 10*time.Second, proxies.RetryOff))

	require.Regexp(t, regexp.MustCompile(`^\d+\.\d+\.\d+$`), p.Version())
	info := p.Info()
	require.Equal(t, p.Version(), info["version"])
	require.NotEmpty(t, info["binary"])

	// Sequential requests on one client connection, then on a fresh
	// client connection each: the backend sees a single connection.
	cl := dial(t, p.Addr())
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("keep-%d", i)
		ids = append(ids, id)
		r := cl.mustDo(t, http.MethodGet, id, backends.FaultNone)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "ok "+id+"\n", r.body)
	}
	for i := range 3 {
		id := fmt.Sprintf("fresh-%d", i)
		ids = append(ids, id)
		r := dial(t, p.Addr()).mustDo(t, http.MethodGet, id, backends.FaultNone)
		require.Equal(t, http.StatusOK, r.status)
	}
	conns, served := be.stats()
	require.Equal(t, 1, conns, "upstream connections for %d sequential requests", len(ids))

	for _, id := range ids {
		require.Equal(t, 1, served[id], id)
		ev := only(t, evidence(t, p, id, "access"), "access")
		require.Equal(t, proxies.Evidence{
			Source: "access", RequestID: id, Status: 200, UpstreamStatus: "200", Attempts: 1, Raw: ev.Raw,
		}, ev)
		require.Contains(t, ev.Raw, `"upstream_addr":"`+be.addr()+`"`)
	}
}

func TestLiveIdleTimeoutClosesUpstream(t *testing.T) {
	const idle = 200 * time.Millisecond
	// nginx starts its timer when it caches the connection, a moment after
	// the backend wrote the response; timers have millisecond resolution.
	// Tolerance: 20ms early, 300ms late (a busy 2-core machine).
	const early, late = 20 * time.Millisecond, 300 * time.Millisecond
	be := startBackend(t, false)
	p := startNginx(t, explicitSpec(be.addr(), idle, proxies.RetryOff))

	cl := dial(t, p.Addr())
	require.Equal(t, http.StatusOK, cl.mustDo(t, http.MethodGet, "idle-1", backends.FaultNone).status)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	after, err := be.waitClosed(ctx, 0)
	require.NoError(t, err)
	t.Logf("upstream connection closed %v after the last response (idle timeout %v)", after, idle)
	require.GreaterOrEqual(t, after, idle-early)
	require.LessOrEqual(t, after, idle+late)

	// The next request needs a new upstream connection.
	require.Equal(t, http.StatusOK, cl.mustDo(t, http.MethodGet, "idle-2", backends.FaultNone).status)
	conns, _ := be.stats()
	require.Equal(t, 2, conns)
}

// TestLiveRetryPolicies makes the backend close the pooled connection
// when the victim request arrives on it, and checks what each retry
// policy does with it: the rendered proxy_next_upstream at work.
func TestLiveRetryPolicies(t *testing.T) {
	const (
		fin = "upstream prematurely closed connection while reading response header from upstream"
		rst = "recv() failed (104: Connection reset by peer) while reading response header from upstream"
	)
	for _, tc := range []struct {
		name       string
		retry      proxies.Retry
		method     string
		rst        bool
		wantStatus int
		wantUp     string
		message    string
	}{
		{"off GET", proxies.RetryOff, http.MethodGet, false, 502, "502", fin},
		{"off GET rst", proxies.RetryOff, http.MethodGet, true, 502, "502", rst},
		{"idempotent GET retried", proxies.RetryIdempotent, http.MethodGet, false, 200, "502, 200", fin},
		{"idempotent POST not retried", proxies.RetryIdempotent, http.MethodPost, false, 502, "502", fin},
		{"all POST retried", proxies.RetryAll, http.MethodPost, false, 200, "502, 200", fin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := startBackend(t, tc.rst)
			p := startNginx(t, explicitSpec(be.addr(), 10*time.Second, tc.retry))
			cl := dial(t, p.Addr())
			require.Equal(t, 200, cl.mustDo(t, tc.method, "warm", backends.FaultNone).status)

			r := cl.mustDo(t, tc.method, "victim", backends.FaultCloseOnReuse)
			require.Equal(t, tc.wantStatus, r.status)

			evs := evidence(t, p, "victim", "access")
			acc := only(t, evs, "access")
			require.Equal(t, tc.wantStatus, acc.Status)
			require.Equal(t, tc.wantUp, acc.UpstreamStatus)
			require.Equal(t, strings.Count(tc.wantUp, ",")+1, acc.Attempts)
			// The error log is on stderr, the access log on stdout: two
			// pipes, so wait for each on its own.
			evs = evidence(t, p, "victim", "error")
			require.Equal(t, tc.message, only(t, evs, "error").Message)

			// A retry runs on a new connection and is served there.
			retried := tc.wantStatus == 200
			wantServed, wantConns := 0, 1
			if retried {
				wantServed, wantConns = 1, 2
			}
			conns, served := be.stats()
			require.Equal(t, 1, served["warm"])
			require.Equal(t, wantServed, served["victim"], "victim responses")
			require.Equal(t, wantConns, conns, "upstream connections")
		})
	}
}

// TestLiveDefaultsVariant: with nginx's own defaults, versions before
// 1.29.7 keep no upstream connection, so nothing is ever reused.
func TestLiveDefaultsVariant(t *testing.T) {
	be := startBackend(t, false)
	spec := explicitSpec(be.addr(), 10*time.Second, proxies.RetryOff)
	spec.Variant = proxies.VariantDefaults
	p := startNginx(t, spec)
	if !versionBefore(p.Version(), 1, 29, 7) {
		t.Skipf("nginx %s pools upstream connections by default; this test pins the older default", p.Version())
	}
	cl := dial(t, p.Addr())
	for i := range 3 {
		id := fmt.Sprintf("d-%d", i)
		require.Equal(t, 200, cl.mustDo(t, http.MethodGet, id, backends.FaultCloseOnReuse).status,
			"no connection is reused, so the fault never fires")
	}
	conns, _ := be.stats()
	require.Equal(t, 3, conns, "a new upstream connection per request")
}

func TestLiveStopLeavesNoProcess(t *testing.T) {
	requireNginx(t)
	be := startBackend(t, false)
	spec := explicitSpec(be.addr(), time.Second, proxies.RetryOff)
	spec.Listen = proxytest.FreeAddr(t)
	p, err := process.Start(context.Background(), Adapter{}, spec)
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	require.Equal(t, 200, dial(t, p.Addr()).mustDo(t, http.MethodGet, "s", backends.FaultNone).status)

	pids := proxytest.GroupPIDs(t, p.PID())
	require.Len(t, pids, 2, "one master and one worker in the group, got %v", pids)
	require.Contains(t, pids, p.PID())

	require.NoError(t, p.Stop(context.Background()))
	for _, pid := range pids {
		require.True(t, gone(pid), "pid %d still exists after Stop", pid)
	}
	_, err = os.Stat(p.Dir())
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = net.DialTimeout("tcp", spec.Listen, time.Second)
	require.Error(t, err, "nobody listens after Stop")
}

func TestLiveAddressInUse(t *testing.T) {
	requireNginx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	spec := explicitSpec("127.0.0.1:9", time.Second, proxies.RetryOff)
	spec.Listen = ln.Addr().String()
	p, err := process.Start(context.Background(), Adapter{}, spec)
	require.Error(t, err)
	require.Contains(t, err.Error(), "start nginx: listen address "+spec.Listen+" is not free")
	require.Contains(t, err.Error(), "address already in use")
	require.Zero(t, p.PID(), "nginx never started")
	require.NoError(t, p.Stop(context.Background()))
}

// TestLiveNginxRefusesToStart: when nginx itself exits, Start says why in
// nginx's words and leaves nothing behind.
func TestLiveNginxRefusesToStart(t *testing.T) {
	requireNginx(t)
	spec := explicitSpec("127.0.0.1:9", time.Second, proxies.RetryOff)
	spec.Listen = proxytest.FreeAddr(t)
	p, err := process.Start(context.Background(), broken{}, spec)
	require.Error(t, err)
	require.Contains(t, err.Error(), "start nginx: exited: exit status 1")
	require.Contains(t, err.Error(), `unknown directive "racelab_no_such_directive"`)
	require.NotZero(t, p.PID())
	require.True(t, gone(p.PID()))
	require.NoError(t, p.Stop(context.Background()))
}

func BenchmarkStart(b *testing.B) {
	requireNginx(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close() // a silent upstream: nginx needs none to start
	var ready time.Duration
	n := 0
	for b.Loop() {
		spec := explicitSpec(ln.Addr().String(), time.Second, proxies.RetryOff)
		spec.Listen = proxytest.FreeAddr(b)
		start := time.Now()
		p, err := process.Start(context.Background(), Adapter{}, spec)
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

// TestLiveWithRacelabBackend runs the hidden retry against the project's
// own backend and checks that both sides tell the same story.
func TestLiveWithRacelabBackend(t *testing.T) {
	requireNginx(t)
	rec := backends.NewRecorder()
	srv, err := backends.Start(context.Background(),
		backends.Config{Fault: backends.Fault{Kind: backends.FaultCloseOnReuse}},
		backends.WithObserver(rec.Observe))
	if err != nil {
		t.Fatalf("start backend: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p := startNginx(t, explicitSpec(srv.Addr(), 10*time.Second, proxies.RetryIdempotent))

	cl := dial(t, p.Addr())
	require.Equal(t, 200, cl.mustDo(t, http.MethodGet, "be-warm", backends.FaultNone).status)
	require.Equal(t, 200, cl.mustDo(t, http.MethodGet, "be-victim", backends.FaultCloseOnReuse).status)

	acc := only(t, evidence(t, p, "be-victim", "access"), "access")
	require.Equal(t, "502, 200", acc.UpstreamStatus)
	require.Equal(t, 2, acc.Attempts)

	// The backend may record its close and its response after nginx has
	// already answered the client: wait for both rather than race them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, kind := range []backends.EventKind{backends.EventClose, backends.EventResponse} {
		_, err = rec.Wait(ctx, 0, func(e backends.Event) bool {
			return e.Kind == kind && e.RequestID == "be-victim"
		})
		require.NoError(t, err, "no %s event for the victim", kind)
	}

	var requests, responses int
	var closes []backends.Event
	for _, e := range rec.ForRequest("be-victim") {
		switch e.Kind {
		case backends.EventRequest:
			requests++
		case backends.EventResponse:
			responses++
		case backends.EventClose:
			closes = append(closes, e)
		}
	}
	require.Equal(t, 2, requests, "the backend saw the request twice: the victim and nginx's retry")
	require.Equal(t, 1, responses)
	require.Len(t, closes, 1)
	require.Equal(t, backends.ReasonCloseOnReuse, closes[0].Reason)
	require.Equal(t, backends.CloserBackend, closes[0].Closer)
}
