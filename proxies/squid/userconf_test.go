package squid

import (
	"context"
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

// edgeRoot is a Debian-layout Squid tree: squid.conf includes
// conf.d/*.conf, an accelerator on port 80, cache_peer api reached under
// /api/ for Host shop.example.com, a url_rewrite_program and a disk cache.
var edgeRoot, _ = filepath.Abs("../../internal/proxyconf/testdata/squid-root")

func userSpec(t *testing.T, backend string) proxies.Spec {
	return proxies.Spec{Kind: proxies.KindSquid, Listen: proxytest.FreeAddr(t), Upstream: backend, Retry: proxies.RetryOff,
		Config: &proxies.UserConfig{Path: filepath.Join(edgeRoot, "etc/squid/squid.conf"), Root: edgeRoot,
			Upstream: "api", Closed: "127.0.0.1:9", Timescale: 0.1}}
}

func TestRenderUserConfig(t *testing.T) {
	dir := t.TempDir()
	spec := userSpec(t, "127.0.0.1:18001")
	b, err := Adapter{}.Render(spec, dir)
	require.NoError(t, err)
	require.Equal(t, "/api/", b.Route.Path)
	require.Equal(t, "shop.example.com", b.Route.Host)
	require.Equal(t, "2 minutes", b.Effective["idle_timeout"].Value)
	require.Equal(t, "/etc/squid/squid.conf:42", b.Effective["idle_timeout"].Source)
	require.Equal(t, []string{"-N", "-f", dir + "/squid.conf", "-n", ServiceName(dir)}, b.Args)
	require.True(t, b.SharedOutput)
	conf := b.Files[ConfigFile]
	require.Contains(t, conf, "http_port "+spec.Listen+" accel defaultsite=shop.example.com vhost\n")
	require.Contains(t, conf, "cache_peer 127.0.0.1 parent 18001 0 no-query originserver name=api ")
	require.Contains(t, conf, "server_idle_pconn_timeout 12 seconds\n")
	require.Contains(t, conf, "dns_nameservers 127.0.0.1\n")
	require.Contains(t, conf, "access_log stdio:/dev/stdout racelab_evidence\n")
	require.NotContains(t, conf, "internal.example")
	require.NotContains(t, conf, "url_rewrite_program")
	var pooling []string
	for _, c := range b.Changes {
		if c.AltersPooling {
			pooling = append(pooling, c.Directive+" "+c.New)
		}
	}
	require.Equal(t, []string{"workers workers 1"}, pooling)
}

// TestLiveUserConfig runs the tree's squid.conf: requests on the route
// reach racelab's backend through cache_peer api, with Squid's evidence
// lines, and a POST too.
func TestLiveUserConfig(t *testing.T) {
	requireSquid(t)
	var mu sync.Mutex
	var paths []string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.Host+" "+r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte("ok\n"))
	}))
	t.Cleanup(be.Close)
	spec := userSpec(t, be.Listener.Addr().String())
	p := startSquid(t, spec)
	b := p.Bundle()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, id := range []string{"user-1", "user-2", "user-3"} {
		method, body := http.MethodGet, ""
		if id == "user-3" {
			method, body = http.MethodPost, "racelab body"
		}
		req, err := http.NewRequest(method, "http://"+p.Addr()+b.Route.RequestPath(id), strings.NewReader(body))
		require.NoError(t, err)
		req.Host = b.Route.Host
		req.Header.Set(backends.RequestIDHeader, id)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s; output: %s", id, strings.Join(p.Logs(), "\n"))
		require.Equal(t, 200, accessLine(t, p, id).Status)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"GET shop.example.com /api/r/user-1", "GET shop.example.com /api/r/user-2",
		"POST shop.example.com /api/r/user-3"}, paths)
}

// TestContainerUserConfig runs the tree's squid.conf in racelab's local
// image, as Squid's own user: the rewritten file starts there as on the
// host and answers on the route with evidence. RACELAB_SQUID_IMAGE
// overrides the image.
func TestContainerUserConfig(t *testing.T) {
	ctx := context.Background()
	image := proxytest.Image(t, "RACELAB_SQUID_IMAGE", "bookworm")
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
		require.Equal(t, 200, accessLine(t, p, id).Status)
		n, _ := proxytest.Count(rec, id, backends.EventRequest)
		require.Equal(t, 1, n, id)
	}
	require.NoError(t, p.Stop(ctx))
}
