package nginx

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
)

// debianRoot is a Debian-layout nginx tree: /etc/nginx/nginx.conf
// includes conf.d/*.conf and sites-enabled/*, upstream api_backend is
// reached under /api/ only.
var debianRoot, _ = filepath.Abs("../../internal/proxyconf/testdata/nginx-debian")

func userSpec(t *testing.T, root string, backend string) proxies.Spec {
	return proxies.Spec{
		Kind:     proxies.KindNginx,
		Listen:   proxytest.FreeAddr(t),
		Upstream: backend,
		Retry:    proxies.RetryOff,
		Config: &proxies.UserConfig{Path: filepath.Join(root, "etc/nginx/nginx.conf"), Root: root,
			Upstream: "api_backend", Closed: "127.0.0.1:9"},
	}
}

// nginxForCI puts /usr/sbin on PATH and returns nginx; it skips without
// nginx unless CI is set, where a missing nginx fails.
func nginxForCI(t *testing.T) string {
	t.Helper()
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin")
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("nginx not found and CI is set: install the Debian package nginx (or nginx-light)")
		}
		t.Skip("nginx not found: install the Debian package nginx (or nginx-light)")
	}
	return bin
}

func TestRenderUserConfig(t *testing.T) {
	dir := t.TempDir()
	b, err := Adapter{}.Render(userSpec(t, debianRoot, "127.0.0.1:18001"), dir)
	require.NoError(t, err)
	require.Equal(t, "/api/", b.Route.Path)
	require.Equal(t, "shop.example.com", b.Route.Host)
	require.Equal(t, "/api/r/7", b.Route.RequestPath("7"))
	require.Equal(t, "60s", b.Effective["idle_timeout"].Value)
	require.Equal(t, "/etc/nginx/conf.d/upstreams.conf:6", b.Effective["idle_timeout"].Source)
	require.Equal(t, "error timeout", b.Effective["retry"].Value)
	require.True(t, b.Effective["retry"].Default)
	conf := b.Files[ConfigName]
	require.Contains(t, conf, "server 127.0.0.1:18001 max_fails=3 fail_timeout=10s;")
	require.Contains(t, conf, "access_log /dev/stdout racelab_evidence;")
	require.NotContains(t, conf, "internal.example")
	var pooling []string
	for _, c := range b.Changes {
		if c.AltersPooling {
			pooling = append(pooling, c.Directive+" "+c.Old)
		}
	}
	require.Equal(t, []string{"worker_processes worker_processes auto;"}, pooling)

	// The evidence format is the template's log_format, string for string.
	tb, err := Adapter{}.Render(proxies.Spec{Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", Retry: proxies.RetryOff}, dir)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)log_format racelab escape=json (.*?);\n`).FindStringSubmatch(tb.Files[ConfigName])
	require.NotNil(t, m)
	joined := regexp.MustCompile(`'\s*'`).ReplaceAllString(strings.TrimSpace(m[1]), "")
	require.Equal(t, "'"+EvidenceFormat+"'", joined)
}

func TestUserConfigRejectedNamesOriginalLine(t *testing.T) {
	bin := nginxForCI(t)
	root := t.TempDir()
	files := map[string]string{
		"etc/nginx/nginx.conf": "events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n",
		"etc/nginx/conf.d/app.conf": "upstream api_backend {\n    server app.internal.example:8080;\n" +
			"    keepalive_timeout sixty;\n}\nserver {\n    listen 80;\n    location / { proxy_pass http://api_backend; }\n}\n",
	}
	for name, text := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(text), 0o644))
	}
	dir := t.TempDir()
	b, err := Adapter{}.Render(userSpec(t, root, "127.0.0.1:18001"), dir)
	require.NoError(t, err)
	for name, text := range b.Files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	}
	for _, d := range b.Dirs {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o700))
	}
	out, err := exec.Command(bin, b.ValidateArgs...).CombinedOutput()
	require.Error(t, err, "nginx -t accepted an invalid keepalive_timeout:\n%s", out)
	msg := b.MapMessage(string(out))
	require.Contains(t, msg, "/etc/nginx/conf.d/app.conf:3 (rendered nginx.conf:", msg)
}

// TestLiveUserConfig runs the rewritten Debian tree against a loopback
// backend: requests sent under the route reach the backend on one pooled
// connection, and the evidence log names them.
func TestLiveUserConfig(t *testing.T) {
	nginxForCI(t)
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	var paths []string
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Host+" "+r.URL.Path)
		mu.Unlock()
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

	spec := userSpec(t, debianRoot, be.Listener.Addr().String())
	p := startNginx(t, spec)
	b, err := Adapter{}.Render(spec, t.TempDir())
	require.NoError(t, err)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, id := range []string{"user-1", "user-2", "user-3"} {
		req, err := http.NewRequest(http.MethodGet, "http://"+p.Addr()+b.Route.RequestPath(id), nil)
		require.NoError(t, err)
		req.Host = b.Route.Host
		req.Header.Set(backends.RequestIDHeader, id)
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, id)
		ev := evidence(t, p, id, "access")
		require.Equal(t, 200, ev[0].Status)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"shop.example.com /api/r/user-1", "shop.example.com /api/r/user-2", "shop.example.com /api/r/user-3"}, paths)
	require.Len(t, conns, 1, "keepalive 32 with one worker pools the upstream connection")
}
