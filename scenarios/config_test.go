package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustProblems(t *testing.T, err error) string {
	t.Helper()
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want Problems, got %v", err)
	}
	return err.Error()
}

// Decoding problems and semantic problems come out of one pass, each
// positioned; a field that did not decode says so once.
func TestLoadOnePass(t *testing.T) {
	src := `name: both
base:
  proxy_idle: 60
  retry: sometimes
  colour: blue
matrix:
  method: [GET, post]
  trials: 3
`
	_, err := Load([]byte(src), "both.yaml")
	text := mustProblems(t, err)
	for _, want := range []string{
		`both.yaml:3:15: base.proxy_idle: duration 60 has no unit: write 60s (or 60ms)`,
		`both.yaml:4:10: base.retry: retry "sometimes": want off, idempotent or all`,
		`both.yaml:5:3: base: unknown field "colour"`,
		`both.yaml:7:17: matrix.method[1]: method "post"`,
		`both.yaml:8:3: matrix: unknown field "trials"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "base.proxy_idle"); n != 1 {
		t.Errorf("base.proxy_idle reported %d times, want once (the decode problem):\n%s", n, text)
	}
	if lines := strings.Split(text, "\n"); len(lines) != 5 {
		t.Errorf("%d problems, want 5:\n%s", len(lines), text)
	}
}

// A wrong shape (a scalar where a mapping belongs) hides the semantic
// problems of what is under it, not those elsewhere.
func TestLoadOnePassWrongShape(t *testing.T) {
	src := "name: shape\nbase:\n  proxy: nginx\n  retry: maybe\n"
	_, err := Load([]byte(src), "shape.yaml")
	text := mustProblems(t, err)
	if !strings.Contains(text, "shape.yaml:3:10: base.proxy: want a mapping of fields") {
		t.Errorf("no shape problem:\n%s", text)
	}
	if !strings.Contains(text, `shape.yaml:4:10: base.retry: retry "maybe"`) {
		t.Errorf("no retry problem:\n%s", text)
	}
	if strings.Count(text, "base.proxy") != 1 {
		t.Errorf("base.proxy reported more than once:\n%s", text)
	}
}

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// proxy.config and proxy.root are relative to the scenario file's
// directory and come out absolute; cells carry them, with the file's base
// name in Params and distinct ids for two configs.
func TestProxyConfigLoad(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "sc", "mine.yaml"), `name: mine
base:
  backend_keepalive: 5s
matrix:
  proxy:
    - {kind: nginx, config: conf/before.conf, upstream: api, root: etc-copy}
    - {kind: nginx, config: conf/after.conf, upstream: api}
    - {kind: haproxy, config: /abs/haproxy.cfg}
`)
	sc, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "sc", "conf", "before.conf")
	if got := sc.Matrix.Proxy[0].Config; got != want {
		t.Errorf("config = %q, want %q", got, want)
	}
	if got, want := sc.Matrix.Proxy[0].Root, filepath.Join(dir, "sc", "etc-copy"); got != want {
		t.Errorf("root = %q, want %q", got, want)
	}
	if got := sc.Matrix.Proxy[2].Config; got != "/abs/haproxy.cfg" {
		t.Errorf("absolute config changed: %q", got)
	}
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 3 {
		t.Fatalf("%d cells, want 3", len(cells))
	}
	ids := []string{cells[0].ID, cells[1].ID, cells[2].ID}
	wantIDs := []string{"nginx+before.conf(upstream_api)", "nginx+after.conf(upstream_api)", "haproxy+haproxy.cfg"}
	for i := range ids {
		if ids[i] != wantIDs[i] {
			t.Errorf("cell %d id %q, want %q", i, ids[i], wantIDs[i])
		}
	}
	c := cells[0]
	if c.Proxy.Config != want || c.Proxy.Upstream != "api" || c.Proxy.Root == "" {
		t.Errorf("cell proxy = %+v", c.Proxy)
	}
	if c.Params["config"] != "before.conf" || cells[1].Params["config"] != "after.conf" || c.Params["upstream"] != "api" {
		t.Errorf("params = %v / %v", c.Params, cells[1].Params)
	}
	for _, k := range []string{"proxy_idle", "margin", "retry", "variant"} {
		if v, ok := c.Params[k]; ok {
			t.Errorf("param %s = %q: the config decides it, no default may claim it", k, v)
		}
	}
	if c.Params["backend_keepalive"] != "5s" {
		t.Errorf("backend_keepalive param = %q", c.Params["backend_keepalive"])
	}
	// Selectors see the config's base name.
	ok, err := Expectation{Where: map[string]string{"config": "after.conf"}}.Matches(cells[1].Params)
	if err != nil || !ok {
		t.Errorf("where config: after.conf does not select the after cell: %v %v", ok, err)
	}
}

// Built-in scenarios and names that are no path resolve relative paths
// against the working directory.
func TestProxyConfigRelativeToCwdForBuiltin(t *testing.T) {
	sc, err := Load([]byte("name: b\nbase: {proxy: {kind: envoy, config: envoy.yaml}}\n"), "builtin:b")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if got, want := sc.Base.Proxy.Config, filepath.Join(wd, "envoy.yaml"); got != want {
		t.Errorf("config = %q, want %q", got, want)
	}
}

// Two configs with the same file name get distinct, stable ids.
func TestProxyConfigSameBaseName(t *testing.T) {
	src := `name: twins
matrix:
  proxy:
    - {kind: nginx, config: old/nginx.conf}
    - {kind: nginx, config: new/nginx.conf}
`
	var ids [2][]string
	for i, dir := range []string{"/a", "/b/c"} {
		sc, err := Load([]byte(src), filepath.Join(dir, "twins.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cells, err := sc.Cells()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = []string{cells[0].ID, cells[1].ID}
	}
	if ids[0][0] != "nginx+old_nginx.conf" || ids[0][1] != "nginx+new_nginx.conf" {
		t.Errorf("ids %v", ids[0])
	}
	if ids[0][0] != ids[1][0] || ids[0][1] != ids[1][1] {
		t.Errorf("ids depend on where the scenario lives: %v vs %v", ids[0], ids[1])
	}
}

// A setting the config file decides is an error that names the field
// and the directive; defaults filled in later are not.
func TestProxyConfigConflicts(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"nginx base", `name: c
base:
  proxy: {kind: nginx, config: n.conf}
  proxy_idle: 60s
  retry: idempotent
`, []string{
			"c.yaml:4:15: base.proxy_idle: proxy_idle conflicts with proxy.config: n.conf decides it (keepalive_timeout in the upstream block); drop proxy_idle",
			"c.yaml:5:10: base.retry: retry conflicts with proxy.config: n.conf decides it (proxy_next_upstream); drop retry",
		}},
		{"haproxy reuse and variant", `name: c
base:
  proxy: {kind: haproxy, config: h.cfg, reuse: safe, variant: defaults}
`, []string{
			"base.proxy.reuse: reuse conflicts with proxy.config: h.cfg decides it (http-reuse)",
			"base.proxy.variant: variant conflicts with proxy.config",
		}},
		{"envoy matrix axes", `name: c
base:
  proxy: {kind: envoy, config: e.yaml}
matrix:
  proxy_idle: [5s, 60s]
  retry: ["off", idempotent]
`, []string{
			"c.yaml:5:16: matrix.proxy_idle[0]: proxy_idle conflicts with proxy.config: e.yaml decides it (the cluster's common_http_protocol_options.idle_timeout)",
			"matrix.retry[1]: retry conflicts with proxy.config: e.yaml decides it (the route's retry_policy)",
		}},
		{"margin axis", `name: c
base:
  proxy: {kind: nginx, config: n.conf}
matrix:
  margin: [-5s, 5s]
`, []string{
			"matrix.margin[0]: margin is relative to proxy_idle, which n.conf decides (keepalive_timeout in the upstream block): give backend_keepalive instead",
		}},
		{"kind go", `name: c
base:
  proxy: {kind: go, config: x.conf}
`, []string{"base.proxy.config: config is for kinds nginx, haproxy, envoy, caddy, apache, varnish and squid; kind go has no config file"}},
		{"default kind", `name: c
base:
  proxy: {config: x.conf}
`, []string{"config is for kinds nginx, haproxy, envoy, caddy, apache, varnish and squid; kind go has no config file"}},
		{"upstream without config", `name: c
base:
  proxy: {kind: nginx, upstream: api, root: /srv}
`, []string{"base.proxy.upstream: upstream names", "base.proxy.root: root resolves"}},
		{"matrix proxy with base idle", `name: c
base:
  proxy_idle: 10s
matrix:
  proxy:
    - {kind: nginx}
    - {kind: nginx, config: n.conf}
`, []string{"c.yaml:3:15: base.proxy_idle: proxy_idle conflicts with proxy.config: n.conf decides it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load([]byte(tt.src), "c.yaml")
			if err == nil {
				t.Fatal("loaded; want problems")
			}
			text := mustProblems(t, err)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in:\n%s", w, text)
				}
			}
		})
	}
	// The same settings without a config proxy are fine, and a config
	// proxy with only what it leaves open (backend, method, mode) too.
	for _, src := range []string{
		"name: ok\nbase: {proxy: {kind: nginx}, proxy_idle: 60s, retry: idempotent}\nmatrix: {margin: [-5s, 5s]}\n",
		"name: ok\nbase: {proxy: {kind: haproxy, config: h.cfg, upstream: be}, backend_keepalive: 5s}\nmatrix: {method: [GET, POST], close: [fin, rst]}\n",
	} {
		if _, err := Load([]byte(src), "ok.yaml"); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestOverrideProxyConfig(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "s.yaml"), `name: s
base:
  backend_keepalive: 5s
matrix:
  proxy: [{kind: go}, {kind: nginx}]
  method: [GET, POST]
`)
	sc, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.OverrideProxyConfig("haproxy", "conf/h.cfg", "", "be_api"); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 2 {
		t.Fatalf("%d cells, want 2 (the proxy axis is replaced)", len(cells))
	}
	p := cells[0].Proxy
	if p.Kind != "haproxy" || p.Config != filepath.Join(wd, "conf", "h.cfg") || p.Upstream != "be_api" || p.Runtime != "process" {
		t.Errorf("proxy = %+v", p)
	}

	for _, bad := range []struct{ kind, path, want string }{
		{"go", "x.conf", `kind "go": want nginx, haproxy`},
		{"traefik", "x.conf", `kind "traefik"`},
		{"nginx", " ", "empty path"},
	} {
		err := sc.OverrideProxyConfig(bad.kind, bad.path, "", "")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("OverrideProxyConfig(%q, %q) = %v, want %q", bad.kind, bad.path, err, bad.want)
		}
	}

	// A built-in scenario that sets proxy_idle and retry names both, at
	// their lines.
	six, err := LoadBuiltin("six-step")
	if err != nil {
		t.Fatal(err)
	}
	err = six.OverrideProxyConfig("nginx", "/etc/nginx/nginx.conf", "", "")
	text := mustProblems(t, err)
	for _, want := range []string{"builtin:six-step:", "proxy_idle conflicts with proxy.config: nginx.conf decides it (keepalive_timeout in the upstream block)", "retry conflicts with proxy.config"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if !positioned(text) {
		t.Errorf("problems carry no line:\n%s", text)
	}
}

// positioned reports whether every line of a problem list has file:line:col.
func positioned(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		parts := strings.SplitN(l, ":", 5)
		if len(parts) < 5 || parts[2] == "" || parts[2][0] < '0' || parts[2][0] > '9' {
			return false
		}
	}
	return true
}
