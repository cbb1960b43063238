package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/owner"
	"github.com/racelab/racelab/proxies"
)

func startProbeBackend(t *testing.T, cfg backends.Config) string {
	t.Helper()
	b, err := backends.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return "http://" + b.Addr() + "/r/probe"
}

func TestProbeURL(t *testing.T) {
	url := startProbeBackend(t, backends.Config{IdleTimeout: 200 * time.Millisecond, MaxRequestsPerConn: 4})
	code, out, errb := runCLI(t, "probe", "--json", url)
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, errb)
	}
	var j struct {
		URL           string    `json:"url"`
		IdleTimeoutMS float64   `json:"idle_timeout_ms"`
		SamplesMS     []float64 `json:"samples_ms"`
		Close         string    `json:"close"`
		MaxRequests   int       `json:"max_requests"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if j.URL != url || j.Close != "fin" || len(j.SamplesMS) != 3 || j.MaxRequests != 4 || j.IdleTimeoutMS < 150 || j.IdleTimeoutMS > 300 {
		t.Errorf("json %s", out)
	}
	code, out, _ = runCLI(t, "probe", "--samples", "1", url)
	if code != ExitOK || !strings.Contains(out, "idle close") || !strings.Contains(out, "max requests   4 per connection (Connection: close)") {
		t.Errorf("exit %d: %s", code, out)
	}
}

func TestProbeNoIdleClose(t *testing.T) {
	url := startProbeBackend(t, backends.Config{})
	code, out, _ := runCLI(t, "probe", "--max-wait", "200ms", "--max-requests", "0", url)
	if code != ExitNoIdleClose || !strings.Contains(out, "no idle close within 200ms") {
		t.Errorf("exit %d: %s", code, out)
	}
}

func TestProbeUsage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "give a URL to probe"},
		{[]string{"probe", "http://10.1.2.3:80/"}, "racelab contacts loopback only"},
		{[]string{"probe", "http://example.com/"}, `host "example.com"`},
		{[]string{"probe", "http://" + closed + "/"}, "connect:"},
		{[]string{"probe", "--samples", "0", "http://127.0.0.1:1/"}, "--samples 0"},
		{[]string{"probe", "--max-wait", "10", "http://127.0.0.1:1/"}, "want a duration with a unit"},
		{[]string{"probe", "--proxy", "nginx", "http://127.0.0.1:1/"}, "not both"},
		{[]string{"probe", "--proxy", "traefik"}, `kind "traefik"`},
		{[]string{"probe", "--proxy-idle", "1s", "http://127.0.0.1:1/"}, "go with --proxy"},
		{[]string{"probe", "--proxy-from", "go:x.conf"}, `kind "go"`},
		{[]string{"probe", "--proxy", "haproxy", "--proxy-from", "nginx:x.conf"}, "name different proxies"},
		{[]string{"probe", "--proxy", "nginx", "--upstream", "app"}, "go with --proxy-from"},
		{[]string{"probe", "--proxy-from", "nginx:/nonexistent/nginx.conf"}, "/nonexistent/nginx.conf"},
	} {
		code, out, errb := runCLI(t, c.args...)
		if code != ExitUsage || !strings.Contains(out+errb, c.want) {
			t.Errorf("%q: exit %d, want 2 and %q in: %s%s", c.args, code, c.want, out, errb)
		}
	}
}

func TestProbeProxyGo(t *testing.T) {
	code, out, errb := runCLI(t, "probe", "--proxy", "go", "--proxy-idle", "150ms", "--samples", "1", "--json")
	if code != ExitOK || !strings.Contains(out, `"proxy": "go `) || !strings.Contains(out, `"close": "fin"`) {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
}

func TestProbeProxyNginxFromFile(t *testing.T) {
	requireProxy(t, proxies.KindNginx)
	code, out, errb := runCLI(t, "probe", "--proxy", "nginx", "--proxy-from", "nginx:testdata/probe/nginx.conf", "--samples", "1")
	if code != ExitOK || !strings.Contains(out, "idle_timeout 300ms") || !strings.Contains(out, "idle close") {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
}

func TestProbeProxyMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	code, out, errb := runCLI(t, "probe", "--proxy", "envoy")
	if code != ExitUsage || !strings.Contains(errb, "preflight") || !strings.Contains(errb, "envoy") {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
}

// The guard reads the files teams have, and refuses an ambiguous one.
func TestGuardReadsSourcesAndCommandLines(t *testing.T) {
	code, out, errb := runCLI(t, "guard", "--backend-from", "node:../../guard/testdata/node/two-servers.js", "--proxy-idle", "60s")
	if code != ExitUsage || !strings.Contains(errb, "two-servers.js:7: server server: 66000ms") || !strings.Contains(errb, "two-servers.js:12: server adminServer: 6000ms") {
		t.Errorf("ambiguous node file: exit %d: %s%s", code, out, errb)
	}
	code, out, errb = runCLI(t, "guard", "--backend-from", "node:../../guard/testdata/node/two-servers.js#server", "--proxy-idle", "60s")
	if code != ExitOK || !strings.Contains(out, "keepAliveTimeout 65000 = 65000ms") {
		t.Errorf("picked server: exit %d: %s%s", code, out, errb)
	}
	code, out, errb = runCLI(t, "guard", "--backend-from", "gunicorn:../../guard/testdata/compose/docker-compose.yml", "--backend-name", "web", "--proxy-idle", "60s", "--json")
	if code != ExitOK || !strings.Contains(out, `"name": "web"`) || !strings.Contains(out, "in service web") {
		t.Errorf("compose service: exit %d: %s%s", code, out, errb)
	}
	code, out, errb = runCLI(t, "guard", "--backend-from", "gunicorn:../../guard/testdata/kubernetes/api.yaml", "--proxy-idle", "60s")
	if code != ExitUsage || !strings.Contains(errb, "ambiguous") || !strings.Contains(errb, "api.yaml:27: container api/app: 65000ms") {
		t.Errorf("kubernetes: exit %d: %s%s", code, out, errb)
	}
}

// The guard measures a proxy through the lab: the user's nginx file, its
// upstream rewritten to racelab's backend.
func TestGuardProbeProxyFile(t *testing.T) {
	requireProxy(t, proxies.KindNginx)
	code, out, errb := runCLI(t, "guard", "--proxy-from", "probe:nginx:testdata/probe/nginx.conf", "--backend-keepalive", "2s", "--margin", "1s", "--probe-samples", "1")
	if code != ExitOK || !strings.Contains(out, "measured by probe: 1 sample, 30") || !strings.Contains(out, "idle_timeout 300ms") {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
	code, out, errb = runCLI(t, "guard", "--proxy-from", "probe:nginx:testdata/probe/nope.conf", "--backend-keepalive", "2s")
	if code != ExitUsage || !strings.Contains(errb, "nope.conf") {
		t.Errorf("missing file: exit %d: %s%s", code, out, errb)
	}
}

// probe --proxy starts a proxy, so it first sweeps what gone racelab
// processes left, like run does.
func TestProbeProxySweepsFirst(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	me, err := owner.Self()
	require.NoError(t, err)
	done := exec.Command("true")
	require.NoError(t, done.Run())
	gone := me
	gone.PID, gone.Start = done.Process.Pid, 1 // exited, and no process started at tick 1
	dir := filepath.Join(tmp, "racelab-nginx-gone")
	require.NoError(t, os.Mkdir(dir, 0o700))
	data, err := json.Marshal(owner.DirMark{Owner: gone})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, owner.MarkFile), data, 0o600))

	code, out, errb := runCLI(t, "probe", "--proxy", "go", "--proxy-idle", "150ms", "--samples", "1")
	require.Equal(t, ExitOK, code, "%s%s", out, errb)
	assert.Contains(t, errb, dir, "the sweep says what it removed")
	assert.NoDirExists(t, dir)
}
