package container_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/images"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/haproxy"
	"github.com/racelab/racelab/proxies/nginx"
)

// testSuite is the suite whose local image the tests run (built when
// absent, which takes about a minute).
const testSuite = "bookworm"

// requireImage skips without a Docker engine and returns the local image
// of testSuite, building it if this process can.
func requireImage(tb testing.TB) string {
	tb.Helper()
	requireEngine(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ref := images.SuiteRef(testSuite)
	if _, err := container.InspectImage(ctx, ref); err == nil {
		return ref
	}
	if os.Geteuid() != 0 {
		tb.Skipf("image %s absent; build it as root with `racelab images build -suite %s`", ref, testSuite)
	}
	if _, err := images.Mirror(); err != nil {
		tb.Skipf("image %s absent and no Debian mirror to build it from: %v", ref, err)
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer bcancel()
	im, err := images.Build(bctx, testSuite)
	require.NoError(tb, err)
	return im.Ref
}

// requireEngine skips without a Docker engine.
func requireEngine(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := container.Available(ctx); err != nil {
		tb.Skipf("%v (start a Docker engine to run this test)", err)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := ln.Addr().String()
	require.NoError(tb, ln.Close())
	return addr
}

// backend answers 200 "ok <request id>".
func backend(tb testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok %s", r.Header.Get(backends.RequestIDHeader))
	}))
	tb.Cleanup(srv.Close)
	return srv
}

func spec(kind proxies.Kind, upstream string, tb testing.TB) proxies.Spec {
	return proxies.Spec{
		Kind:        kind,
		Listen:      freeAddr(tb),
		Upstream:    upstream,
		IdleTimeout: 10 * time.Second,
		Retry:       proxies.RetryOff,
		Variant:     proxies.VariantExplicit,
	}
}

// stop stops p and checks the container is gone.
func stop(tb testing.TB, p *container.Proxy) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(tb, p.Stop(ctx))
	if id := p.ID(); id != "" {
		_, err := container.Cleanup(ctx, "no-such-run-"+id) // a no-op that must not fail
		require.NoError(tb, err)
		assert.False(tb, containerExists(tb, id), "container %s still exists after Stop", id)
	}
}

// containerExists lists racelab's containers and looks for id.
func containerExists(tb testing.TB, id string) bool {
	tb.Helper()
	list, err := container.List(context.Background(), "")
	require.NoError(tb, err)
	for _, c := range list {
		if c.ID == id {
			return true
		}
	}
	return false
}

func get(tb testing.TB, addr, id string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
	require.NoError(tb, err)
	req.Header.Set(backends.RequestIDHeader, id)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(b)
}

// TestStartProxies runs nginx and HAProxy from every local racelab image
// (bookworm at least, built when absent) and sends requests through them.
func TestStartProxies(t *testing.T) {
	requireImage(t)
	list, err := images.List(t.Context())
	require.NoError(t, err)
	for _, im := range list {
		for _, a := range []proxies.Adapter{nginx.Adapter{}, haproxy.Adapter{}} {
			if im.Ref != images.SuiteRef(im.Suite) {
				continue // an older build whose tag moved on
			}
			t.Run(im.Suite+"/"+string(a.Kind()), func(t *testing.T) {
				testStartProxy(t, a, im.Ref, im.Versions[string(a.Kind())])
			})
		}
	}
}

func testStartProxy(t *testing.T, adapter proxies.Adapter, image, wantVersion string) {
	be := backend(t)
	sp := spec(adapter.Kind(), be.Listener.Addr().String(), t)
	start := time.Now()
	p, err := container.Start(t.Context(), adapter, sp, image, container.WithRunID("test-start"))
	defer stop(t, p)
	require.NoError(t, err)
	t.Logf("%s %s ready in %s (container %s)", adapter.Kind(), p.Version(), time.Since(start).Round(time.Millisecond), p.ID()[:12])

	assert.Equal(t, sp.Listen, p.Addr())
	// The version the proxy reports is the one the image's label
	// promises.
	assert.Equal(t, wantVersion, p.Version())
	info := p.Info()
	assert.Equal(t, image, info["image"])
	assert.True(t, strings.HasPrefix(info["image_id"], "sha256:"), info["image_id"])
	assert.Equal(t, p.ID(), info["container_id"])
	assert.Equal(t, p.Version(), info["version"])
	assert.Equal(t, "container", info["runtime"])
	assert.Equal(t, "/etc/racelab/"+string(adapter.Kind()), info["config_dir"])
	assert.True(t, containerExists(t, p.ID()))

	// A request goes through to the backend on the host's
	// loopback, and the proxy's access log line arrives as
	// evidence for its request id.
	for i := range 3 {
		id := fmt.Sprintf("req-%s-%d", adapter.Kind(), i)
		status, body := get(t, p.Addr(), id)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "ok "+id, body)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		evs, err := p.Evidence().Wait(ctx, id, "access")
		cancel()
		require.NoError(t, err, "no access evidence for %s; orphans: %v", id, p.Evidence().Orphans())
		var access *proxies.Evidence
		for i := range evs {
			if evs[i].Source == "access" {
				access = &evs[i]
			}
		}
		require.NotNil(t, access)
		assert.Equal(t, http.StatusOK, access.Status)
	}

	// Stop removes the container; a second Stop is a no-op.
	stop(t, p)
	assert.NoError(t, p.Stop(t.Context()))
}

// brokenNginx renders a config nginx refuses.
type brokenNginx struct{ nginx.Adapter }

func (a brokenNginx) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	b, err := a.Adapter.Render(spec, dir)
	if err != nil {
		return nil, err
	}
	b.Files[nginx.ConfigName] += "\nno_such_directive on;\n"
	return b, nil
}

func TestStartReportsExit(t *testing.T) {
	image := requireImage(t)
	be := backend(t)
	start := time.Now()
	p, err := container.Start(t.Context(), brokenNginx{}, spec(proxies.KindNginx, be.Listener.Addr().String(), t), image)
	defer stop(t, p)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 20*time.Second, "an exit must not wait for the start timeout")
	assert.Contains(t, err.Error(), "proxy exited with code 1")
	assert.Contains(t, err.Error(), `unknown directive "no_such_directive"`)
	assert.NotEmpty(t, p.ID(), "the partial proxy names its container")
}

// silent is a "proxy" that runs but never listens.
type silent struct{ nginx.Adapter }

func (silent) Binary() string { return "sleep" }
func (silent) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	return &proxies.Bundle{Dir: dir, Args: []string{"300"}}, nil
}
func (silent) VersionArgs() []string { return []string{"--version"} }
func (silent) ParseVersion(out string) (string, error) {
	if !strings.Contains(out, "sleep") {
		return "", errors.New("no sleep version")
	}
	return "coreutils", nil
}

func TestStartTimesOut(t *testing.T) {
	image := requireImage(t)
	start := time.Now()
	p, err := container.Start(t.Context(), silent{}, spec(proxies.KindNginx, "127.0.0.1:9", t), image,
		container.WithStartTimeout(3*time.Second), container.WithStopTimeout(time.Second))
	defer stop(t, p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not ready on")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// 3 s timeout; up to 10 s more on a busy machine.
	assert.Less(t, time.Since(start), 13*time.Second)
	assert.NotEmpty(t, p.ID())
}

func TestStartMissingImage(t *testing.T) {
	requireEngine(t)
	p, err := container.Start(t.Context(), nginx.Adapter{}, spec(proxies.KindNginx, "127.0.0.1:9", t),
		"racelab/no-such-image:0", container.WithStartTimeout(30*time.Second))
	defer stop(t, p)
	require.Error(t, err)
	t.Log(err)
	assert.Empty(t, p.ID())
	// With or without a registry, the pull fails and says what to do.
	assert.Contains(t, err.Error(), "image racelab/no-such-image:0 is not present and pulling it failed")
	assert.Contains(t, err.Error(), "racelab images build")
}

func TestStartRejectsBadInput(t *testing.T) {
	sp := proxies.Spec{Kind: proxies.KindNginx, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", Retry: proxies.RetryOff}
	_, err := container.Start(t.Context(), nginx.Adapter{}, sp, "")
	assert.ErrorContains(t, err, "image is required")
	bad := sp
	bad.Listen = "0.0.0.0:1"
	p, err := container.Start(t.Context(), nginx.Adapter{}, bad, "racelab/proxies:bookworm")
	assert.ErrorContains(t, err, "want a loopback address")
	assert.NoError(t, p.Stop(t.Context()))
	_, err = container.Start(t.Context(), nil, sp, "x")
	assert.ErrorContains(t, err, "adapter is required")
}

func TestCleanupRemovesLeftovers(t *testing.T) {
	image := requireImage(t)
	be := backend(t)
	runID := fmt.Sprintf("test-cleanup-%d", time.Now().UnixNano())
	p, err := container.Start(t.Context(), nginx.Adapter{}, spec(proxies.KindNginx, be.Listener.Addr().String(), t), image,
		container.WithRunID(runID))
	defer stop(t, p)
	require.NoError(t, err)

	// Another run's cleanup leaves it alone.
	removed, err := container.Cleanup(t.Context(), runID+"-other")
	require.NoError(t, err)
	assert.Empty(t, removed)
	assert.True(t, containerExists(t, p.ID()))

	removed, err = container.Cleanup(t.Context(), runID)
	require.NoError(t, err)
	assert.Equal(t, []string{p.ID()}, removed)
	assert.False(t, containerExists(t, p.ID()))
	// Stop after Cleanup still succeeds.
	assert.NoError(t, p.Stop(t.Context()))
}

func BenchmarkStartReady(b *testing.B) {
	image := requireImage(b)
	be := backend(b)
	var total time.Duration
	n := 0
	for b.Loop() {
		sp := spec(proxies.KindNginx, be.Listener.Addr().String(), b)
		start := time.Now()
		p, err := container.Start(context.Background(), nginx.Adapter{}, sp, image, container.WithRunID("bench"))
		took := time.Since(start)
		b.StopTimer()
		if err != nil {
			_ = p.Stop(context.Background())
			b.Fatal(err)
		}
		total += took
		n++
		require.NoError(b, p.Stop(context.Background()))
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms/ready")
}

// TestValidate checks rendered configs with every local image's proxies,
// and that a broken one is rejected with the proxy's own message.
func TestValidate(t *testing.T) {
	requireImage(t)
	list, err := images.List(t.Context())
	require.NoError(t, err)
	for _, im := range list {
		if im.Ref != images.SuiteRef(im.Suite) {
			continue
		}
		for _, a := range []proxies.Adapter{nginx.Adapter{}, haproxy.Adapter{}} {
			t.Run(im.Suite+"/"+string(a.Kind()), func(t *testing.T) {
				sp := spec(a.Kind(), "127.0.0.1:9", t)
				out, err := container.Validate(t.Context(), a, sp, im.Ref, container.WithRunID("test-validate"))
				require.NoError(t, err, out)
				left, err := container.List(t.Context(), "test-validate")
				require.NoError(t, err)
				assert.Empty(t, left, "validation container left behind")
			})
		}
	}
	sp := spec(proxies.KindNginx, "127.0.0.1:9", t)
	out, err := container.Validate(t.Context(), brokenNginx{}, sp, images.SuiteRef(testSuite))
	require.Error(t, err)
	assert.Contains(t, out, `unknown directive "no_such_directive"`)
	assert.Contains(t, err.Error(), "exited 1")
}

// TestEngineInfo checks the client negotiated the engine's API version
// (Docker 20.10 speaks 1.41, below the client's default).
func TestEngineInfo(t *testing.T) {
	requireEngine(t)
	e, err := container.EngineInfo(t.Context())
	require.NoError(t, err)
	t.Logf("engine %s, API %s, negotiated %s", e.Version, e.APIVersion, e.NegotiatedAPIVersion)
	require.NotEmpty(t, e.Version)
	require.NotEmpty(t, e.NegotiatedAPIVersion)
	if e.NegotiatedAPIVersion != e.APIVersion {
		// Only an engine newer than the client keeps the client's version.
		assert.Equal(t, client.MaxAPIVersion, e.NegotiatedAPIVersion)
	}
}
