package varnish

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
)

// edgeRoot is a Debian-layout Varnish tree: /etc/default/varnish starts
// varnishd with -f /etc/varnish/default.vcl and -p timeouts; the VCL
// includes backends.vcl and reaches director api under /api/ for Host
// shop.example.com.
var edgeRoot, _ = filepath.Abs("../../internal/proxyconf/testdata/varnish-root")

func userSpec(t *testing.T, backend string) proxies.Spec {
	return proxies.Spec{Kind: proxies.KindVarnish, Listen: proxytest.FreeAddr(t), Upstream: backend, Retry: proxies.RetryOff,
		Config: &proxies.UserConfig{Path: filepath.Join(edgeRoot, "etc/default/varnish"), Root: edgeRoot,
			Upstream: "api", Closed: "127.0.0.1:9", Timescale: 0.1}}
}

func TestRenderUserConfig(t *testing.T) {
	dir := t.TempDir()
	spec := userSpec(t, "127.0.0.1:18001")
	b, err := Adapter{}.Render(spec, dir)
	require.NoError(t, err)
	require.Equal(t, "/api/", b.Route.Path)
	require.Equal(t, "shop.example.com", b.Route.Host)
	require.Equal(t, "60", b.Effective["idle_timeout"].Value)
	require.Equal(t, "/etc/default/varnish:16", b.Effective["idle_timeout"].Source)
	require.Contains(t, strings.Join(b.Args, " "), "-a "+spec.Listen)
	require.Contains(t, strings.Join(b.Args, " "), "-p backend_idle_timeout=6 ")
	require.Contains(t, strings.Join(b.Args, " "), "-p first_byte_timeout=30")
	require.NotContains(t, strings.Join(b.Args, " "), "thread_pool_min=50")
	require.NotNil(t, b.Logger)
	require.Equal(t, ReadyPath, b.Logger.ReadyPath)
	vcl := b.Files[VCLFile]
	require.Contains(t, vcl, `if (req.url == "`+ReadyPath+`") { return (synth(204)); }`)
	require.NotContains(t, vcl, "internal.example")
	var pooling []string
	for _, c := range b.Changes {
		if c.AltersPooling {
			pooling = append(pooling, c.Directive+" "+c.New)
		}
	}
	require.Equal(t, []string{".max_connections backend api1 { .max_connections = 1; }", ".max_connections backend api2 { .max_connections = 1; }"}, pooling)
}

// TestLiveUserConfig runs the tree's VCL: requests on the route reach
// racelab's backend through director api (both its backends point there,
// one pooled connection each), with varnishncsa's evidence lines.
func TestLiveUserConfig(t *testing.T) {
	requireVarnish(t)
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	var paths []string
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(backends.RequestIDHeader) != "" {
			mu.Lock()
			paths = append(paths, r.Host+" "+r.URL.Path)
			mu.Unlock()
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	be.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns[c] = true
			mu.Unlock()
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	spec := userSpec(t, be.Listener.Addr().String())
	p := startVarnish(t, spec)
	b := p.Bundle()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, id := range []string{"user-1", "user-2", "user-3", "user-4"} {
		req, err := http.NewRequest(http.MethodGet, "http://"+p.Addr()+b.Route.RequestPath(id), nil)
		require.NoError(t, err)
		req.Host = b.Route.Host
		req.Header.Set(backends.RequestIDHeader, id)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, id)
		proxytest.WaitEvidence(t, p, id, "access")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"shop.example.com /api/r/user-1", "shop.example.com /api/r/user-2",
		"shop.example.com /api/r/user-3", "shop.example.com /api/r/user-4"}, paths)
}

// TestContainerUserConfig runs the tree's VCL in racelab's local image
// with varnishncsa there: the rewritten VCL compiles and answers on the
// route with evidence. RACELAB_VARNISH_IMAGE overrides the image.
func TestContainerUserConfig(t *testing.T) {
	ctx := context.Background()
	image := proxytest.Image(t, "RACELAB_VARNISH_IMAGE", "bookworm")
	srv, rec := proxytest.Backend(t, backends.FaultNone)
	s := userSpec(t, srv.Addr())
	p, err := container.Start(ctx, Adapter{}, s, image, container.WithStartTimeout(2*time.Minute))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	b := p.Bundle()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, id := range []string{"ctr-1", "ctr-2"} {
		req, err := http.NewRequest(http.MethodGet, "http://"+p.Addr()+b.Route.RequestPath(id), nil)
		require.NoError(t, err)
		req.Host = b.Route.Host
		req.Header.Set(backends.RequestIDHeader, id)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, id)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = p.Evidence().Wait(wctx, id, "access")
		cancel()
		require.NoError(t, err, id)
		n, _ := proxytest.Count(rec, id, backends.EventRequest)
		require.Equal(t, 1, n, id)
	}
	require.NoError(t, p.Stop(ctx))
}
