package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// The nginx example tree: a Debian-layout configuration whose upstream
// api_backend keeps idle connections 60s (before) or 3s (after).
const (
	beforeConf = "../../examples/byoc/nginx/before/etc/nginx/nginx.conf"
	beforeRoot = "../../examples/byoc/nginx/before"
)

// guard --verify on a configuration file runs that file: the lab agrees
// with the guard both ways (exit 1 with the backend closing first, 0 with
// a keep-alive above the file's 60s).
func TestGuardVerifiesTheFileItself(t *testing.T) {
	t.Parallel()
	requireProxy(t, proxies.KindNginx)
	for _, c := range []struct {
		keepalive string
		code      int
		want      string
	}{
		{"5s", ExitFail, "the lab agrees: the race reproduced"},
		{"65s", ExitOK, "the lab agrees: no race reproduced"},
	} {
		code, out, errb := runCLI(t, "guard", "--proxy-from", "nginx:"+beforeConf, "--root", beforeRoot,
			"--upstream", "api_backend", "--backend-keepalive", c.keepalive, "--verify")
		assert.Equal(t, c.code, code, "backend keep-alive %s: %s%s", c.keepalive, out, errb)
		assert.Contains(t, out, c.want, c.keepalive)
		assert.Contains(t, out, "your file "+beforeConf, "the lab ran the file, not a stand-in")
	}
}

// run --proxy-from runs a scenario on the user's file; a scenario that
// sets what the file decides is refused with the field named.
func TestRunProxyFrom(t *testing.T) {
	requireProxy(t, proxies.KindNginx)
	dir := t.TempDir()
	sc := filepath.Join(dir, "mine.yaml")
	require.NoError(t, os.WriteFile(sc, []byte("name: mine\ntimescale: 0.01\nbase: {backend_keepalive: 5s, method: POST, trials: 3}\n"), 0o644))
	file := filepath.Join(dir, "mine.jsonl")
	code, out, errb := runCLI(t, "run", sc, "--proxy-from", "nginx:"+beforeConf, "--root", beforeRoot,
		"--upstream", "api_backend", "-o", file, "--quiet")
	require.Equal(t, ExitOK, code, "%s%s", out, errb)
	run, err := results.ReadFile(file)
	require.NoError(t, err)
	require.Len(t, run.Cells, 1)
	s := run.Cells[0].Summary()
	assert.Equal(t, 3, s.Attributed, "every POST fails with the race's evidence: %+v", s)
	require.NotNil(t, run.Cells[0].Config)
	assert.Equal(t, "/api/", run.Cells[0].Config.Route.Path)
	assert.Contains(t, out, "what racelab changed in it")

	code, _, errb = runCLI(t, "run", "six-step", "--proxy-from", "nginx:"+beforeConf, "--root", beforeRoot)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errb, "proxy_idle", "six-step sets proxy_idle, which the file decides")
	code, _, errb = runCLI(t, "run", sc, "--upstream", "api_backend")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errb, "--upstream and --root go with --proxy-from")
}

// A file the proxy rejects, or an upstream it does not have, is a
// configuration error before any cell runs: exit 2, the user's file and
// line, no results file.
func TestProxyFromBadConfig(t *testing.T) {
	requireProxy(t, proxies.KindNginx)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	require.NoError(t, os.CopyFS(root, os.DirFS(beforeRoot)))
	up := filepath.Join(root, "etc/nginx/conf.d/upstreams.conf")
	b, err := os.ReadFile(up)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(up, []byte(strings.Replace(string(b), "keepalive 32;", "keepalive 32 bogus;", 1)), 0o644))
	sc := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(sc, []byte("name: s\ntimescale: 0.01\nbase: {trials: 1}\n"), 0o644))
	out := filepath.Join(dir, "out.jsonl")
	conf := filepath.Join(root, "etc/nginx/nginx.conf")

	code, _, errb := runCLI(t, "run", sc, "--proxy-from", "nginx:"+conf, "--root", root, "--upstream", "api_backend", "-o", out)
	assert.Equal(t, ExitUsage, code, errb)
	assert.Contains(t, errb, `invalid number of arguments in "keepalive" directive in /etc/nginx/conf.d/upstreams.conf:5`)
	assert.NoFileExists(t, out)

	code, _, errb = runCLI(t, "run", sc, "--proxy-from", "nginx:"+beforeConf, "--root", beforeRoot, "--upstream", "apii", "-o", out)
	assert.Equal(t, ExitUsage, code, errb)
	assert.Contains(t, errb, `no upstream named "apii" (found: api_backend, auth_backend, static_backend)`)
	assert.NoFileExists(t, out)
}

// demo --proxy-from: the file against a backend that closes first and
// one that outlives it, with the verdict in words.
func TestDemoProxyFrom(t *testing.T) {
	t.Parallel()
	requireProxy(t, proxies.KindNginx)
	file := filepath.Join(t.TempDir(), "demo.jsonl")
	code, out, errb := runCLI(t, "demo", "--proxy-from", "nginx:"+beforeConf, "--root", beforeRoot,
		"--upstream", "api_backend", "-o", file, "--quiet")
	require.Equal(t, ExitOK, code, "%s%s", out, errb)
	assert.Contains(t, out, "Verdict for your configuration:")
	assert.Regexp(t, `backend keep-alive 5s: \d+ of 24 requests failed`, out)
	assert.Contains(t, out, "backend keep-alive 66s: 0 of 24 requests failed.")
}

// A --proxy-from without KIND:PATH is a usage error, the same one for
// every command that takes it.
func TestProxyFromMalformed(t *testing.T) {
	for _, args := range [][]string{
		{"run", "six-step", "--proxy-from", "nginx"},
		{"demo", "--proxy-from", "nginx:"},
		{"probe", "--proxy-from", "nginx"},
	} {
		code, out, errb := runCLI(t, args...)
		assert.Equal(t, ExitUsage, code, "%v: %s%s", args, out, errb)
		assert.Contains(t, errb, "want KIND:PATH", args)
	}
}

// A Varnish or Squid file racelab refuses, or the proxy's own check
// rejects, is a configuration error before any cell runs: exit 2 and the
// user's file and line.
func TestProxyFromBadConfigVarnishSquid(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(sc, []byte("name: s\ntimescale: 0.4\nbase: {trials: 1}\n"), 0o644))
	out := filepath.Join(dir, "out.jsonl")
	tree := func(kind, file, old, nw string) string {
		root := filepath.Join(dir, kind+strconv.Itoa(len(old)+len(nw)))
		require.NoError(t, os.CopyFS(root, os.DirFS("../../examples/byoc/"+kind+"/before")))
		p := filepath.Join(root, file)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, 1, strings.Count(string(b), old))
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), old, nw, 1)), 0o644))
		return root
	}
	cases := []struct {
		kind       proxies.Kind
		file, main string
		old, nw    string
		want       string
	}{
		{proxies.KindVarnish, "etc/varnish/default.vcl", "etc/default/varnish", "import std;", "import std;\nimport dynamic;",
			"/etc/varnish/default.vcl:6: import dynamic: not a vmod Varnish ships"},
		{proxies.KindVarnish, "etc/varnish/backends.vcl", "etc/default/varnish", `.port = "8080";`, `.port = "8080";` + "\n    .bogus = 1;",
			"Unknown field: 'bogus' at | (/etc/varnish/backends.vcl:18 (rendered racelab.vcl:"},
		{proxies.KindSquid, "etc/squid/squid.conf", "etc/squid/squid.conf", "acl purge method PURGE", "acl purge method PURGE\nacl db dst db.example",
			"/etc/squid/squid.conf:22: acl db dst db.example: Squid resolves a host name"},
		{proxies.KindSquid, "etc/squid/squid.conf", "etc/squid/squid.conf", "never_direct allow all", "never_direct allow all\nforward_max_tries many",
			"/etc/squid/squid.conf:29 (rendered squid.conf:"},
	}
	for _, c := range cases {
		t.Run(string(c.kind)+"/"+c.want[:20], func(t *testing.T) {
			requireProxy(t, c.kind)
			root := tree(string(c.kind), c.file, c.old, c.nw)
			code, _, errb := runCLI(t, "run", sc, "--proxy-from", string(c.kind)+":"+filepath.Join(root, c.main), "--root", root, "--upstream", "api", "-o", out)
			assert.Equal(t, ExitUsage, code, errb)
			assert.Contains(t, errb, c.want)
			assert.NoFileExists(t, out)
		})
	}
}

// A Caddyfile caddy rejects, or a ProxyPass that is not named when there
// are several, is a configuration error before any cell runs: exit 2 and
// the user's file and line.
func TestProxyFromBadConfigCaddyApache(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(sc, []byte("name: s\ntimescale: 0.01\nbase: {trials: 1}\n"), 0o644))
	out := filepath.Join(dir, "out.jsonl")
	t.Run("caddy", func(t *testing.T) {
		requireProxy(t, proxies.KindCaddy)
		root := filepath.Join(dir, "caddy")
		require.NoError(t, os.CopyFS(root, os.DirFS("../../examples/byoc/caddy/before")))
		site := filepath.Join(root, "etc/caddy/sites/shop.caddy")
		b, err := os.ReadFile(site)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(site, []byte(strings.Replace(string(b), "keepalive 90s", "keepalive ninety", 1)), 0o644))
		code, _, errb := runCLI(t, "run", sc, "--proxy-from", "caddy:"+filepath.Join(root, "etc/caddy/Caddyfile"), "--root", root, "--upstream", "/api/*", "-o", out)
		assert.Equal(t, ExitUsage, code, errb)
		assert.Contains(t, errb, "/etc/caddy/sites/shop.caddy:16 (rendered Caddyfile:")
		assert.Contains(t, errb, `bad duration value 'ninety'`)
		assert.NoFileExists(t, out)

		code, _, errb = runCLI(t, "run", sc, "--proxy-from", "caddy:"+filepath.Join(root, "etc/caddy/Caddyfile"), "--root", root, "-o", out)
		assert.Equal(t, ExitUsage, code, errb)
		assert.Contains(t, errb, "5 reverse_proxy directives")
		assert.Contains(t, errb, "shop.example.com,www.shop.example.com /api/* (/etc/caddy/sites/shop.caddy:13)")
	})
	t.Run("apache", func(t *testing.T) {
		requireProxy(t, proxies.KindApache)
		conf := "../../examples/byoc/apache/before/etc/apache2/apache2.conf"
		code, _, errb := runCLI(t, "run", sc, "--proxy-from", "apache:"+conf, "--root", "../../examples/byoc/apache/before", "-o", out)
		assert.Equal(t, ExitUsage, code, errb)
		assert.Contains(t, errb, "4 ProxyPass directives")
		assert.Contains(t, errb, "ProxyPass /api/ (VirtualHost *:443 at /etc/apache2/sites-enabled/shop-ssl.conf:1) at /etc/apache2/sites-enabled/shop-ssl.conf:16")
		assert.NoFileExists(t, out)
	})
}
