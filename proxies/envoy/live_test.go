package envoy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/envoy"
)

// Live tests run a real Envoy through the process runtime. They skip
// where no envoy binary is on PATH.

const skipNoEnvoy = "envoy not on PATH: install an Envoy binary (e.g. from the official envoyproxy/envoy image or a release build) to run live Envoy tests"

// liveTimeout bounds each live test, start to stop, on a busy machine.
const liveTimeout = 60 * time.Second

func envoyBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("envoy")
	if err != nil {
		t.Skip(skipNoEnvoy)
	}
	return bin
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func liveSpec(t *testing.T, upstream string, retry proxies.Retry, variant proxies.Variant, idle time.Duration) proxies.Spec {
	return proxies.Spec{
		Kind:            proxies.KindEnvoy,
		Listen:          freeAddr(t),
		AdminListen:     freeAddr(t),
		Upstream:        upstream,
		IdleTimeout:     idle,
		ResponseTimeout: 5 * time.Second,
		Retry:           retry,
		Variant:         variant,
	}
}

func TestLiveValidate(t *testing.T) {
	bin := envoyBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	for _, variant := range []proxies.Variant{proxies.VariantExplicit, proxies.VariantDefaults} {
		for _, retry := range []proxies.Retry{proxies.RetryOff, proxies.RetryIdempotent, proxies.RetryAll} {
			for _, idle := range []time.Duration{0, 250 * time.Millisecond} {
				t.Run(fmt.Sprintf("%s-%s-idle%v", variant, retry, idle), func(t *testing.T) {
					spec := liveSpec(t, "127.0.0.1:9", retry, variant, idle)
					out, err := process.Validate(ctx, envoy.Adapter{}, spec, process.WithBinary(bin))
					require.NoError(t, err, out)
					assert.Contains(t, out, "OK")
				})
			}
		}
	}
}

func startEnvoy(t *testing.T, ctx context.Context, bin string, spec proxies.Spec) *process.Proxy {
	t.Helper()
	p, err := process.Start(ctx, envoy.Adapter{}, spec, process.WithBinary(bin))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, p.Stop(stopCtx))
	})
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^\d+\.\d+\.\d+`), p.Version())
	return p
}

// send sends one request with a fresh client connection and returns the
// status.
func send(t *testing.T, ctx context.Context, addr, method, id string) int {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("x")
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+"/r/"+id, body)
	require.NoError(t, err)
	req.Header.Set("X-Racelab-Request-Id", id)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

func accessEvidence(t *testing.T, ctx context.Context, p *process.Proxy, id string) proxies.Evidence {
	t.Helper()
	// The access log is flushed every DefaultFileFlushInterval; 10 s is
	// generous for a busy 2-core machine.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(wctx, id, "access")
	require.NoError(t, err, "no access-log line for %s; last output:\n%s", id, strings.Join(p.Logs(), "\n"))
	for _, ev := range evs {
		if ev.Source == "access" {
			return ev
		}
	}
	t.Fatalf("no access evidence for %s", id)
	return proxies.Evidence{}
}

func TestLiveRequest(t *testing.T) {
	bin := envoyBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	upstream := strings.TrimPrefix(backend.URL, "http://")

	p := startEnvoy(t, ctx, bin, liveSpec(t, upstream, proxies.RetryOff, proxies.VariantExplicit, time.Second))
	require.Equal(t, http.StatusOK, send(t, ctx, p.Addr(), http.MethodGet, "live-1"))
	ev := accessEvidence(t, ctx, p, "live-1")
	assert.Equal(t, 200, ev.Status)
	assert.Equal(t, 1, ev.Attempts)
	assert.Empty(t, ev.Flags)
	assert.Equal(t, "via_upstream", ev.Details)
}

// closeOnReuse is a backend that answers the first request on each
// connection and closes the connection, without an answer, on the next:
// what a proxy sees when it reuses a connection the backend is closing.
type closeOnReuse struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startCloseOnReuse(t *testing.T) *closeOnReuse {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &closeOnReuse{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		b.wg.Wait()
	})
	return b
}

func (b *closeOnReuse) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(liveTimeout))
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body) // a clean FIN, not an RST
		if n >= 2 {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func TestLiveStaleConnection(t *testing.T) {
	bin := envoyBinary(t)
	tests := []struct {
		retry        proxies.Retry
		method       string
		wantStatus   int
		wantAttempts int
	}{
		{proxies.RetryOff, http.MethodGet, 503, 1},
		{proxies.RetryIdempotent, http.MethodGet, 200, 2},
		{proxies.RetryIdempotent, http.MethodPost, 503, 1},
		{proxies.RetryAll, http.MethodPost, 200, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.retry)+"-"+tt.method, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
			defer cancel()
			backend := startCloseOnReuse(t)
			p := startEnvoy(t, ctx, bin, liveSpec(t, backend.ln.Addr().String(), tt.retry, proxies.VariantExplicit, 10*time.Second))

			// The first request opens the one pooled connection; the
			// second reuses it and the backend closes it.
			require.Equal(t, http.StatusOK, send(t, ctx, p.Addr(), http.MethodGet, "warm"))
			got := send(t, ctx, p.Addr(), tt.method, "victim")
			assert.Equal(t, tt.wantStatus, got)

			ev := accessEvidence(t, ctx, p, "victim")
			assert.Equal(t, tt.wantStatus, ev.Status)
			assert.Equal(t, tt.wantAttempts, ev.Attempts)
			if tt.wantStatus == 503 {
				assert.Equal(t, "UC", ev.Flags)
				assert.Contains(t, ev.Details, "upstream_reset_before_response_started")
			}
		})
	}
}
