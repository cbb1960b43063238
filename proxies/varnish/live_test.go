package varnish

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

func liveSpec(upstream string, idle time.Duration, retry proxies.Retry) proxies.Spec {
	return proxies.Spec{Kind: proxies.KindVarnish, Upstream: upstream, IdleTimeout: idle,
		ResponseTimeout: 5 * time.Second, Retry: retry, Variant: proxies.VariantExplicit}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func liveBackend(t *testing.T, fault backends.FaultKind) (*backends.Server, *backends.Recorder) {
	t.Helper()
	rec := backends.NewRecorder()
	srv, err := backends.Start(context.Background(), backends.Config{Fault: backends.Fault{Kind: fault}},
		backends.WithObserver(rec.Observe))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv, rec
}

// startVarnish starts varnishd and its varnishncsa. VCL compiles with the
// C compiler, which takes seconds on a loaded machine.
func startVarnish(t *testing.T, s proxies.Spec) *process.Proxy {
	t.Helper()
	requireVarnish(t)
	s.Listen = freeAddr(t)
	p, err := process.Start(context.Background(), Adapter{}, s, process.WithStartTimeout(60*time.Second))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	return p
}

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

// do sends one request (a POST with a body) and returns the status, 0
// when the connection ended without a response.
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

func waitEvidence(t *testing.T, p *process.Proxy, id, source string) []proxies.Evidence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, id, source)
	require.NoError(t, err, "no %s line for %s; output: %s", source, id, strings.Join(p.Logs(), "\n"))
	return evs
}

func bySource(evs []proxies.Evidence, source string) *proxies.Evidence {
	for i := range evs {
		if evs[i].Source == source {
			return &evs[i]
		}
	}
	return nil
}

func requests(rec *backends.Recorder, id string) (n int, conns map[uint64]bool) {
	conns = map[uint64]bool{}
	for _, e := range rec.ForRequest(id) {
		if e.Kind == backends.EventRequest {
			n++
			conns[e.ConnID] = true
		}
	}
	return n, conns
}

func TestLiveOneBackendConnection(t *testing.T) {
	srv, rec := liveBackend(t, backends.FaultNone)
	p := startVarnish(t, liveSpec(srv.Addr(), 10*time.Second, proxies.RetryOff))
	require.Regexp(t, `^\d+\.\d+\.\d+$`, p.Version())
	require.NotEmpty(t, p.Info()["logger_pid"])
	cl := dial(t, p.Addr())
	all := map[uint64]bool{}
	for i := range 4 {
		id := "keep-" + strconv.Itoa(i)
		require.Equal(t, 200, cl.do(t, http.MethodGet, id, backends.FaultNone))
		acc := bySource(waitEvidence(t, p, id, "access"), "access")
		require.Equal(t, 200, acc.Status)
		_, conns := requests(rec, id)
		for c := range conns {
			all[c] = true
		}
	}
	require.Len(t, all, 1, "one pooled backend connection for sequential requests")
	be := bySource(waitEvidence(t, p, "keep-3", "backend"), "backend")
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
			srv, rec := liveBackend(t, backends.FaultCloseOnReuse)
			p := startVarnish(t, liveSpec(srv.Addr(), 10*time.Second, tc.retry))
			cl := dial(t, p.Addr())
			require.Equal(t, 200, cl.do(t, tc.method, "warm", backends.FaultNone))
			require.Equal(t, tc.wantStatus, cl.do(t, tc.method, "victim", backends.FaultCloseOnReuse))

			acc := bySource(waitEvidence(t, p, "victim", "access"), "access")
			require.Equal(t, tc.wantStatus, acc.Status)
			er := bySource(waitEvidence(t, p, "victim", "error"), "error")
			require.Equal(t, "HTC eof (-1)", er.Message)
			require.Equal(t, "open=reuse", er.Details)
			if tc.wantStatus == 200 {
				require.Equal(t, 2, er.Attempts)
			}
			n, conns := requests(rec, "victim")
			require.Equal(t, tc.arrivals, n, "backend arrivals of the victim")
			require.Len(t, conns, tc.arrivals, "each arrival on its own connection")
		})
	}
}

// TestLiveIdleTimeoutClosesBackend: backend_idle_timeout retires the
// pooled connection. Varnish's waiter is not exact: the close is checked
// between the timeout and a loose bound for a loaded machine.
func TestLiveIdleTimeoutClosesBackend(t *testing.T) {
	srv, rec := liveBackend(t, backends.FaultNone)
	p := startVarnish(t, liveSpec(srv.Addr(), time.Second, proxies.RetryOff))
	cl := dial(t, p.Addr())
	require.Equal(t, 200, cl.do(t, http.MethodGet, "idle-1", backends.FaultNone))
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
	srv, _ := liveBackend(t, backends.FaultNone)
	p := startVarnish(t, liveSpec(srv.Addr(), 10*time.Second, proxies.RetryOff))
	require.Equal(t, 200, dial(t, p.Addr()).do(t, http.MethodGet, "s", backends.FaultNone))
	pids := groupPIDs(t, p.PID())
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

// groupPIDs lists the processes in process group pgid from /proc.
func groupPIDs(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) in parentheses.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
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
		s.Listen = freeAddr(b)
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
