package haproxy

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// userRoot holds /etc/haproxy/haproxy.cfg: global with chroot, daemon
// and a stats socket, two defaults sections, default-server settings,
// health checks, retry-on, backends behind ACLs.
var userRoot, _ = filepath.Abs("../../internal/proxyconf/testdata/haproxy-root")

func userSpec(backend string) proxies.Spec {
	return proxies.Spec{
		Kind:     proxies.KindHAProxy,
		Listen:   "127.0.0.1:18002",
		Upstream: backend,
		Retry:    proxies.RetryOff,
		Config: &proxies.UserConfig{Path: filepath.Join(userRoot, "etc/haproxy/haproxy.cfg"), Root: userRoot,
			Upstream: "api", Timescale: 0.1},
	}
}

// haproxyForCI puts /usr/sbin on PATH and returns haproxy; it skips
// without haproxy unless CI is set, where a missing haproxy fails.
func haproxyForCI(t *testing.T) string {
	t.Helper()
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin")
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy not found and CI is set: install the Debian package haproxy")
		}
		t.Skip("haproxy not found: install the Debian package haproxy")
	}
	return bin
}

func TestRenderUserConfig(t *testing.T) {
	bin := haproxyForCI(t)
	dir := t.TempDir()
	b, err := Adapter{}.Render(userSpec("127.0.0.1:18001"), dir)
	require.NoError(t, err)
	require.Equal(t, proxies.Route{Path: "/api/", UpstreamPath: "/api/", Source: "/etc/haproxy/haproxy.cfg:65"}, b.Route)
	require.Equal(t, "safe", b.Effective["reuse"].Value)
	require.Equal(t, "10s", b.Effective["idle_timeout"].Value)
	require.Equal(t, "conn-failure empty-response response-timeout", b.Effective["retry"].Value)
	cfg := b.Files[ConfigFile]
	require.Contains(t, cfg, "server api1 127.0.0.1:18001 check maxconn 100 pool-purge-delay 1000ms")
	require.Contains(t, cfg, `log-format "`+userLogFormat+`"`)
	require.Equal(t, SyncPath, b.SyncPath, "the user's frontend answers the evidence barrier too")
	require.Contains(t, cfg, "http-request return status 204 if { path "+SyncPath+" }")
	require.NotContains(t, cfg, "internal.example")
	require.NotContains(t, cfg, "10.0.")
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFile), []byte(cfg), 0o600))
	out, err := exec.Command(bin, b.ValidateArgs...).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// TestLiveUserConfig runs the rewritten configuration against a loopback
// backend: requests under the route reach backend api and leave
// evidence lines with their ids.
func TestLiveUserConfig(t *testing.T) {
	haproxyForCI(t)
	var mu sync.Mutex
	var paths []string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			mu.Lock()
			paths = append(paths, r.URL.Path)
			mu.Unlock()
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	t.Cleanup(be.Close)
	spec := userSpec(be.Listener.Addr().String())
	p := startHAProxy(t, be.Listener.Addr().String(), spec)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, id := range []string{"user-1", "user-2"} {
		req, err := http.NewRequest(http.MethodGet, "http://"+p.Addr()+"/api/r/"+id, nil)
		require.NoError(t, err)
		req.Header.Set(backends.RequestIDHeader, id)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "output:\n%s", strings.Join(p.Logs(), "\n"))
		ev := waitAccess(t, p, id)
		require.Equal(t, 200, ev.Status)
		require.Contains(t, ev.Raw, "srv=api/api")
	}
	// The evidence barrier: answered by the user's frontend itself
	// (before any of its own rules), logged, never forwarded.
	req, err := http.NewRequest(http.MethodGet, "http://"+p.Addr()+SyncPath, nil)
	require.NoError(t, err)
	req.Header.Set(backends.RequestIDHeader, "user-sync")
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "output:\n%s", strings.Join(p.Logs(), "\n"))
	require.Equal(t, 204, waitAccess(t, p, "user-sync").Status)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"/api/r/user-1", "/api/r/user-2"}, paths)
}
