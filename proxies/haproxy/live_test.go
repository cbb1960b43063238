package haproxy

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
)

// needHAProxy skips a live test when no haproxy binary is installed.
func needHAProxy(t testing.TB) {
	t.Helper()
	if _, err := process.LookPath(Adapter{}); err != nil {
		t.Skipf("haproxy not found (%v): apt-get install haproxy", err)
	}
}

// startHAProxy runs HAProxy for spec in front of upstream until the test
// ends.
func startHAProxy(t testing.TB, upstream string, spec proxies.Spec) *process.Proxy {
	t.Helper()
	needHAProxy(t)
	spec.Kind = proxies.KindHAProxy
	spec.Listen = proxytest.FreeAddr(t)
	spec.Upstream = upstream
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p, err := process.Start(ctx, Adapter{}, spec)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		assert.NoError(t, p.Stop(ctx))
	})
	require.NoError(t, err)
	return p
}

// waitAccess waits up to 5s for the access line of request id.
func waitAccess(t *testing.T, p *process.Proxy, id string) proxies.Evidence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, id, "access")
	require.NoError(t, err, "no access line for %s; output:\n%s", id, strings.Join(p.Logs(), "\n"))
	require.Len(t, evs, 1, "one access line per request")
	return evs[0]
}

func TestLiveValidateEveryVariant(t *testing.T) {
	needHAProxy(t)
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := process.Validate(ctx, Adapter{}, tc.spec)
			require.NoError(t, err)
			assert.Contains(t, out, "Configuration file is valid")
			assert.NotContains(t, out, "[WARNING]")
		})
	}
}

// TestLiveValidateRejectsBadConfig shows the validator is not a rubber
// stamp: a retry-on keyword HAProxy 2.6 lacks fails the check.
func TestLiveValidateRejectsBadConfig(t *testing.T) {
	needHAProxy(t)
	a := patchedAdapter{from: "retry-on " + RetryOn, to: "retry-on reset-before-request"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := process.Validate(ctx, a, goldenSpec(proxies.VariantExplicit, proxies.RetryAll, ""))
	require.Error(t, err)
	assert.Contains(t, out, "reset-before-request")
}

// patchedAdapter renders like Adapter, then replaces one directive: it
// tries out settings the Spec cannot express.
type patchedAdapter struct {
	Adapter
	from, to string
}

func (a patchedAdapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	b, err := a.Adapter.Render(spec, dir)
	if err != nil {
		return nil, err
	}
	cfg := b.Files[ConfigFile]
	if !strings.Contains(cfg, a.from) {
		return nil, errors.New("patch: directive " + a.from + " not rendered")
	}
	b.Files[ConfigFile] = strings.Replace(cfg, a.from, a.to, 1)
	return b, nil
}

// TestLiveCloseOnReuseFreshClient: retry off, a fresh client connection
// per request. The victim goes out on the pooled server connection, the
// backend closes it without answering, and HAProxy answers 502 with
// termination state SH--.
func TestLiveCloseOnReuseFreshClient(t *testing.T) {
	for _, style := range []string{"fin", "rst"} {
		t.Run(style, func(t *testing.T) {
			be := startTestBackend(t, 0)
			be.rst = style == "rst"
			p := startHAProxy(t, be.Addr(), proxies.Spec{Retry: proxies.RetryOff})

			warm := dialRaw(t, p.Addr()).Do("GET", "warm", false)
			require.Equal(t, 200, warm.Status, "%+v", warm)
			got := dialRaw(t, p.Addr()).Do("GET", "victim", true)
			require.NoError(t, got.Err)
			assert.Equal(t, 502, got.Status)

			ev := waitAccess(t, p, "victim")
			assert.Equal(t, 502, ev.Status)
			assert.Equal(t, "SH--", ev.Flags)
			assert.Equal(t, 1, ev.Attempts)
			reqs := be.Requests("victim")
			require.Len(t, reqs, 1, "no retry")
			assert.Equal(t, 2, reqs[0].Index, "the victim went out on the pooled connection")
			a, ok := ParseAccessLine(ev.Raw)
			require.True(t, ok)
			assert.Equal(t, reqs[0].Port, a.SourcePort, "the log names the dead server connection")
		})
	}
}

// TestLiveCloseOnReusePersistentClient: retry off, one persistent client
// connection. HAProxy closes the client connection without a byte of
// response and logs nothing for the victim, with or without
// "option dontlognull".
func TestLiveCloseOnReusePersistentClient(t *testing.T) {
	for _, tt := range []struct {
		name string
		a    proxies.Adapter
	}{
		{"rendered", Adapter{}},
		{"lognull", patchedAdapter{from: "option dontlognull", to: "no option dontlognull"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			needHAProxy(t)
			be := startTestBackend(t, 0)
			spec := proxies.Spec{Kind: proxies.KindHAProxy, Listen: proxytest.FreeAddr(t), Upstream: be.Addr(), Retry: proxies.RetryOff}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			p, err := process.Start(ctx, tt.a, spec)
			t.Cleanup(func() { assert.NoError(t, p.Stop(context.Background())) })
			require.NoError(t, err)

			c := dialRaw(t, p.Addr())
			first := c.Do("GET", "first", false)
			require.Equal(t, 200, first.Status, "%+v", first)
			victim := c.Do("GET", "victim", true)
			assert.True(t, victim.EOF, "want EOF with no response bytes, got %+v", victim)
			assert.Equal(t, 0, victim.Status)
			require.Len(t, be.Requests("victim"), 1)

			// HAProxy has one thread and logs a stream when it ends: once
			// the line of a later request is in, a line for the victim
			// would be too.
			after := dialRaw(t, p.Addr()).Do("GET", "after", false)
			require.Equal(t, 200, after.Status, "%+v", after)
			waitAccess(t, p, "after")
			assert.Empty(t, p.Evidence().ForRequest("victim"), "no access line for the victim")
			for _, l := range p.Logs() {
				assert.NotContains(t, l, "victim")
			}
		})
	}
}

// TestLiveSyncPath: the rendered frontend answers the evidence barrier
// itself (204, logged, the backend never sees it), and the barrier's line
// comes after the line of a victim whose 502 the client had already read,
// every time: HAProxy writes a stream's line as the stream ends, on its one
// thread, in order.
func TestLiveSyncPath(t *testing.T) {
	be := startTestBackend(t, 0)
	p := startHAProxy(t, be.Addr(), proxies.Spec{Retry: proxies.RetryOff})
	require.Equal(t, SyncPath, p.Bundle().SyncPath)

	sync := dialRaw(t, p.Addr()).DoPath("GET", SyncPath, "sync-0", false)
	require.NoError(t, sync.Err)
	assert.Equal(t, 204, sync.Status)
	ev := waitAccess(t, p, "sync-0")
	assert.Equal(t, 204, ev.Status)
	assert.Equal(t, 0, ev.Attempts, "answered by HAProxy, no server picked")
	assert.Empty(t, be.Events(), "the barrier never reaches the backend")

	// A victim's 502 SH-- line is written as its stream ends, which can be
	// a moment after the client read the 502; the barrier sent then still
	// comes after it.
	for i := 0; i < 20; i++ {
		id := "victim-" + strconv.Itoa(i)
		require.Equal(t, 200, dialRaw(t, p.Addr()).Do("GET", "warm-"+strconv.Itoa(i), false).Status)
		got := dialRaw(t, p.Addr()).Do("GET", id, true)
		require.Equal(t, 502, got.Status, "%+v", got)
		syncID := "sync-" + strconv.Itoa(i+1)
		require.Equal(t, 204, dialRaw(t, p.Addr()).DoPath("GET", SyncPath, syncID, false).Status)
		waitAccess(t, p, syncID)
		evs := p.Evidence().ForRequest(id)
		require.Len(t, evs, 1, "trial %d: the victim's line is in once the barrier's is", i)
		assert.Equal(t, "SH--", evs[0].Flags)
	}
}

// TestLiveRetryIdempotent: GET is retried on a new server connection and
// recovers; POST is not retried and fails.
func TestLiveRetryIdempotent(t *testing.T) {
	be := startTestBackend(t, 0)
	p := startHAProxy(t, be.Addr(), proxies.Spec{Retry: proxies.RetryIdempotent})
	require.Equal(t, 200, dialRaw(t, p.Addr()).Do("GET", "warm", false).Status)

	get := dialRaw(t, p.Addr()).Do("GET", "get-victim", true)
	assert.Equal(t, 200, get.Status, "%+v", get)
	ev := waitAccess(t, p, "get-victim")
	assert.Equal(t, "----", ev.Flags)
	assert.Equal(t, 2, ev.Attempts)
	reqs := be.Requests("get-victim")
	require.Len(t, reqs, 2, "dropped on the pooled connection, then served")
	assert.Equal(t, 1, reqs[1].Index, "the retry used a new server connection")

	post := dialRaw(t, p.Addr()).Do("POST", "post-victim", true)
	assert.Equal(t, 502, post.Status, "%+v", post)
	ev = waitAccess(t, p, "post-victim")
	assert.Equal(t, "SH--", ev.Flags)
	assert.Equal(t, 1, ev.Attempts)
	assert.Len(t, be.Requests("post-victim"), 1)

	// With a persistent client connection the GET recovers as well.
	c := dialRaw(t, p.Addr())
	require.Equal(t, 200, c.Do("GET", "p-first", false).Status)
	pget := c.Do("GET", "p-get-victim", true)
	assert.Equal(t, 200, pget.Status, "%+v", pget)
	assert.Len(t, be.Requests("p-get-victim"), 2)
}

// TestLiveRetryAll: POST is replayed, and the backend sees it twice.
func TestLiveRetryAll(t *testing.T) {
	be := startTestBackend(t, 0)
	p := startHAProxy(t, be.Addr(), proxies.Spec{Retry: proxies.RetryAll})
	require.Equal(t, 200, dialRaw(t, p.Addr()).Do("POST", "warm", false).Status)

	post := dialRaw(t, p.Addr()).Do("POST", "post-victim", true)
	assert.Equal(t, 200, post.Status, "%+v", post)
	ev := waitAccess(t, p, "post-victim")
	assert.Equal(t, 2, ev.Attempts)
	reqs := be.Requests("post-victim")
	require.Len(t, reqs, 2, "the POST was replayed")
	assert.Equal(t, "POST", reqs[1].Method)
}

// TestLiveRetryOnKeywords tries each retry-on keyword alone against the
// close-on-reuse victim: only empty-response catches a server that closes
// a reused connection without answering.
func TestLiveRetryOnKeywords(t *testing.T) {
	for _, tt := range []struct {
		keyword string
		status  int
	}{
		{"conn-failure", 502},
		{"empty-response", 200},
		{"response-timeout", 502},
		{"junk-response", 502},
	} {
		t.Run(tt.keyword, func(t *testing.T) {
			needHAProxy(t)
			be := startTestBackend(t, 0)
			a := patchedAdapter{from: "retry-on " + RetryOn, to: "retry-on " + tt.keyword}
			spec := proxies.Spec{Kind: proxies.KindHAProxy, Listen: proxytest.FreeAddr(t), Upstream: be.Addr(), Retry: proxies.RetryAll}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			p, err := process.Start(ctx, a, spec)
			t.Cleanup(func() { assert.NoError(t, p.Stop(context.Background())) })
			require.NoError(t, err)

			require.Equal(t, 200, dialRaw(t, p.Addr()).Do("GET", "warm", false).Status)
			got := dialRaw(t, p.Addr()).Do("GET", "victim", true)
			assert.Equal(t, tt.status, got.Status, "%+v", got)
		})
	}
}

// TestLiveReuse: with http-reuse always, sequential requests on fresh
// client connections share one server connection; with safe, each client
// connection's first request opens its own, so a close-on-reuse victim
// is never on a reused connection and the race never shows.
func TestLiveReuse(t *testing.T) {
	for _, tt := range []struct {
		reuse   string
		fault   bool
		accepts int
	}{
		{"always", false, 1},
		{"safe", true, 5},
	} {
		t.Run(tt.reuse, func(t *testing.T) {
			be := startTestBackend(t, 0)
			p := startHAProxy(t, be.Addr(), proxies.Spec{Retry: proxies.RetryOff, Reuse: tt.reuse})
			ports := map[int]bool{}
			for i := range 5 {
				id := "seq-" + strconv.Itoa(i)
				c := dialRaw(t, p.Addr())
				got := c.Do("GET", id, tt.fault && i > 0)
				c.Close()
				require.Equal(t, 200, got.Status, "%+v", got)
				a, ok := ParseAccessLine(waitAccess(t, p, id).Raw)
				require.True(t, ok)
				ports[a.SourcePort] = true
			}
			accepts := 0
			for _, e := range be.Events() {
				if e.Kind == "accept" {
					accepts++
				}
			}
			assert.Equal(t, tt.accepts, accepts)
			assert.Len(t, ports, tt.accepts, "distinct server connections in the log")
		})
	}
}

// TestLiveMaxConnQueues: server maxconn 1 makes a concurrent request wait
// in the queue for the one connection instead of opening a second.
func TestLiveMaxConnQueues(t *testing.T) {
	const delay = time.Second
	be := startTestBackend(t, delay)
	p := startHAProxy(t, be.Addr(), proxies.Spec{Retry: proxies.RetryOff})
	clients := []*rawClient{dialRaw(t, p.Addr()), dialRaw(t, p.Addr())}
	var wg sync.WaitGroup
	results := make([]clientResult, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.Do("GET", "q"+strconv.Itoa(i), false)
		}()
	}
	wg.Wait()
	var waits []int
	for i, r := range results {
		require.Equal(t, 200, r.Status, "%+v", r)
		a, ok := ParseAccessLine(waitAccess(t, p, "q"+strconv.Itoa(i)).Raw)
		require.True(t, ok)
		waits = append(waits, a.Tw)
	}
	slices.Sort(waits)
	// Both requests left the client within a few ms of each other; the
	// second waits for the first's one-second answer. Tolerance: half the
	// delay, for a busy machine.
	assert.Equal(t, 0, waits[0])
	assert.GreaterOrEqual(t, waits[1], int(delay/time.Millisecond/2), "queue wait in ms")
	accepts := 0
	for _, e := range be.Events() {
		if e.Kind == "accept" {
			accepts++
		}
	}
	assert.Equal(t, 1, accepts, "one server connection")
}

// TestLiveIdleLifetime measures how long HAProxy keeps an idle server
// connection for pool-purge-delay T: between 2T and 3T (see doc.go).
func TestLiveIdleLifetime(t *testing.T) {
	const idle = 100 * time.Millisecond
	be := startTestBackend(t, 0)
	p := startHAProxy(t, be.Addr(), proxies.Spec{Retry: proxies.RetryOff, IdleTimeout: idle})
	lo, hi := IdleLifetimeBounds(idle)
	const trials = 4
	for i := range trials {
		if i > 0 {
			// Shift the trial against HAProxy's purge period, so the
			// trials sample different phases of it.
			time.Sleep(time.Duration(i) * idle / trials)
		}
		id := "idle-" + strconv.Itoa(i)
		c := dialRaw(t, p.Addr())
		require.Equal(t, 200, c.Do("GET", id, false).Status)
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*idle+5*time.Second)
		resp, err := be.Wait(ctx, func(e beEvent) bool { return e.Kind == "response" && e.ID == id })
		require.NoError(t, err)
		closed, err := be.Wait(ctx, func(e beEvent) bool { return e.Kind == "close" && e.Conn == resp.Conn })
		cancel()
		require.NoError(t, err)
		require.Equal(t, "peer", closed.Who, "HAProxy closed the idle connection")
		life := closed.Time.Sub(resp.Time)
		t.Logf("pool-purge-delay %v: idle connection closed after %v", idle, life)
		// Tolerance: 10ms below 2T for HAProxy's millisecond timers and a
		// late response timestamp. Scheduling delays the close: on a
		// 2-core machine saturated by other processes it came up to 600ms
		// late, so the upper bound allows a second. The check still fails
		// for a lifetime of T (a per-connection timer) or of 2-3 × 5s
		// (pool-purge-delay ignored).
		assert.GreaterOrEqual(t, life, lo-10*time.Millisecond)
		assert.LessOrEqual(t, life, hi+time.Second)
	}
}

// BenchmarkStart is the time from process.Start to a ready listener.
func BenchmarkStart(b *testing.B) {
	needHAProxy(b)
	be, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer be.Close()
	for b.Loop() {
		spec := proxies.Spec{Kind: proxies.KindHAProxy, Listen: proxytest.FreeAddr(b), Upstream: be.Addr().String(), Retry: proxies.RetryOff}
		p, err := process.Start(context.Background(), Adapter{}, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := p.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func TestLiveMeasureIdleLifetime(t *testing.T) {
	needHAProxy(t)
	const idle = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := MeasureIdleLifetime(ctx, idle, 3)
	require.NoError(t, err)
	t.Logf("%+v", got)
	require.Len(t, got.Samples, 3)
	assert.Equal(t, idle, got.PurgeDelay)
	assert.Equal(t, "2.6.12", got.Version)
	lo, hi := IdleLifetimeBounds(idle)
	// Tolerances as in TestLiveIdleLifetime.
	assert.GreaterOrEqual(t, got.Min, lo-10*time.Millisecond)
	assert.LessOrEqual(t, got.Max, hi+time.Second)
	assert.LessOrEqual(t, got.Min, got.Median)
	assert.LessOrEqual(t, got.Median, got.Max)

	_, err = MeasureIdleLifetime(ctx, 0, 3)
	assert.Error(t, err)
}
