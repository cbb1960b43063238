package proxyconf

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	testBackend = "127.0.0.1:18001"
	testClosed  = "127.0.0.1:9"
	testListen  = "127.0.0.1:18002"
	goldenDir   = "/racelab/run"
)

type fixture struct {
	name, kind, root, main, upstream string
}

var fixtures = []fixture{
	{"nginx-debian", "nginx", "testdata/nginx-debian", "/etc/nginx/nginx.conf", "api_backend"},
	{"haproxy", "haproxy", "testdata/haproxy-root", "/etc/haproxy/haproxy.cfg", "api"},
	{"varnish", "varnish", "testdata/varnish-root", "/etc/default/varnish", "api"},
	{"squid", "squid", "testdata/squid-root", "/etc/squid/squid.conf", "api"},
	{"caddy", "caddy", "testdata/caddy-root", "/etc/caddy/Caddyfile", "/api/*"},
	{"apache-debian", "apache", "testdata/apache-debian", "/etc/apache2/apache2.conf", "/api/"},
	{"caddy-json", "caddy", "testdata/caddy-json", "/etc/caddy/caddy.json", "/api/*"},
}

func (f fixture) input(dir string, scale float64) Input {
	lf := `{"status":"$status","request_id":"$http_x_racelab_request_id"}`
	ready, elf := "", ""
	switch f.kind {
	case "haproxy":
		lf = "racelab-haproxy id=%{+Q}[" + RequestIDFetch + "] st=%ST"
	case "squid":
		lf = "racelab-squid id=%{X-Racelab-Request-Id}>h st=%>Hs"
	case "varnish":
		ready = "/racelab-ready"
	case "caddy":
		lf = "json"
	case "apache":
		lf = `racelab-apache id="%{X-Racelab-Request-Id}i" st=%>s`
		elf = "racelab-apache-error [%l] [id %-{X-Racelab-Request-Id}i] %M"
	}
	return Input{Kind: f.kind, Path: filepath.Join(f.root, f.main), Root: f.root, Upstream: f.upstream,
		Backend: testBackend, Closed: testClosed, Listen: testListen, Dir: dir, Timescale: scale,
		LogFormat: lf, ErrorLogFormat: elf, RequestIDHeader: "X-Racelab-Request-Id", RunAsRoot: os.Geteuid() == 0, ReadyPath: ready}
}

// report renders everything a rewrite returns, for golden files.
func report(res *Result) string {
	var b strings.Builder
	for _, name := range sortedKeys(res.Files) {
		fmt.Fprintf(&b, "=== file %s\n%s", name, res.Files[name])
	}
	b.WriteString("=== changes\n")
	for _, c := range res.Changes {
		b.WriteString(c.String() + "\n")
	}
	fmt.Fprintf(&b, "=== route\npath=%s host=%s upstream_path=%s source=%s\n", res.Route.Path, res.Route.Host, res.Route.UpstreamPath, res.Route.Source)
	b.WriteString("=== effective\n")
	for _, s := range res.Effective {
		src := s.Source
		if s.Default {
			src = "default"
		}
		fmt.Fprintf(&b, "%s = %s (%s) %s\n", s.Name, s.Value, src, s.Note)
	}
	fmt.Fprintf(&b, "=== args\n%q\n%q\n", res.Args, res.ValidateArgs)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestRewriteGolden(t *testing.T) {
	for _, f := range fixtures {
		for _, scale := range []float64{0, 0.1} {
			t.Run(fmt.Sprintf("%s/scale%g", f.name, scale), func(t *testing.T) {
				in := f.input(goldenDir, scale)
				in.RunAsRoot = false
				res, err := Rewrite(in)
				if err != nil {
					t.Fatal(err)
				}
				got := report(res)
				golden := filepath.Join("testdata", "golden", fmt.Sprintf("%s-scale%g.txt", f.name, scale))
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if got != string(want) {
					t.Errorf("rewrite differs from %s (run with -update to accept):\n%s", golden, got)
				}
			})
		}
	}
}

// addressTokens returns every host name and IP address the original
// configuration would resolve or contact: the hosts of nginx servers,
// *_pass targets, resolvers and listeners, and of HAProxy servers,
// server templates, nameservers, peers, log targets, binds and check
// addresses.
func addressTokens(t *testing.T, f fixture) []string {
	t.Helper()
	var out []string
	add := func(s string) {
		s = strings.TrimPrefix(s, "[")
		if i := strings.Index(s, "://"); i >= 0 {
			s = s[i+3:]
		}
		if i := strings.IndexAny(s, "/"); i >= 0 {
			s = s[:i]
		}
		if h, _, ok := strings.Cut(s, "]"); ok {
			s = h
		} else if strings.Count(s, ":") == 1 {
			s, _, _ = strings.Cut(s, ":")
		}
		if s == "" || s == "*" || strings.HasPrefix(s, "unix") || s == "127.0.0.1" || s == "localhost" {
			return
		}
		if strings.Trim(s, "0123456789") == "" { // a bare port
			return
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if f.kind == "varnish" || f.kind == "squid" {
		return treeAddrs(t, f.root)
	}
	if f.kind == "caddy" || f.kind == "apache" {
		return treeHosts(t, f.root)
	}
	if f.kind == "nginx" {
		top, err := ParseNginx(nil, filepath.Join(f.root, f.main), f.root)
		if err != nil {
			t.Fatal(err)
		}
		upstreams := map[string]bool{}
		for _, h := range find(top, "http") {
			for _, u := range h.Find("upstream") {
				upstreams[u.Arg(0)] = true
			}
		}
		var walk func(ds []*Directive)
		walk = func(ds []*Directive) {
			for _, d := range ds {
				switch {
				case nginxPass[d.Name]:
					if _, host, _ := passTarget(d.Name, d.Arg(0)); !upstreams[host] {
						add(d.Arg(0))
					}
				case d.Name == "server" && !d.HasBlock, d.Name == "listen":
					add(d.Arg(0))
				case d.Name == "resolver":
					for _, a := range d.Args {
						if !strings.Contains(a, "=") {
							add(a)
						}
					}
				}
				walk(d.Block)
			}
		}
		walk(top)
		return out
	}
	cfg, err := ParseHAProxy(nil, nil, filepath.Join(f.root, f.main))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cfg.Sections {
		for _, l := range s.Lines {
			a := l.Args
			switch l.Keyword() {
			case "server", "nameserver", "peer":
				if len(a) > 2 {
					add(a[2])
				}
			case "server-template":
				if len(a) > 3 {
					add(a[3])
				}
			case "bind":
				if len(a) > 1 {
					add(a[1])
				}
			case "log":
				if len(a) > 1 && a[1] != "global" {
					add(a[1])
				}
			}
			for i := 0; i+1 < len(a); i++ {
				if a[i] == "addr" || a[i] == "source" {
					add(a[i+1])
				}
			}
		}
	}
	return out
}

// treeAddrs are every internal host name and every IPv4 address but
// loopback in the files of a tree, comments included: for Varnish and
// Squid, the test holds every one of them, not only those the proxy
// would contact.
func treeAddrs(t *testing.T, root string) []string {
	t.Helper()
	name := regexp.MustCompile(`[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.internal\.example`)
	ip := regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range append(name.FindAllString(string(b), -1), ip.FindAllString(string(b), -1)...) {
			if !strings.HasPrefix(m, "127.") && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// aclKept are the addresses a rewrite keeps on purpose: IP values of
// access-control lists, which Varnish and Squid match against a client or
// destination address and never contact. Each must stay, and only in an
// ACL.
var aclKept = map[string][]string{
	"varnish": {"192.168.40.0", "10.0.5.20"},
	"squid":   {"192.168.40.13", "10.0.0.0"},
}

// aclLine matches the lines of a rewritten file where a kept address may
// stand: a VCL ACL entry or a squid.conf acl line.
var aclLine = map[string]*regexp.Regexp{
	"varnish": regexp.MustCompile(`^\s*"[0-9.]+"(/\d+)?;$`),
	"squid":   regexp.MustCompile(`^acl \S+ (src|dst|localip) `),
}

// assertNoOriginalHost fails when a rendered file holds a host or an
// address of the original configuration.
func assertNoOriginalHost(t *testing.T, f fixture, res *Result) {
	t.Helper()
	tokens := addressTokens(t, f)
	if len(tokens) < 5 {
		t.Fatalf("only %d address tokens found in %s: %q", len(tokens), f.name, tokens)
	}
	for _, kept := range aclKept[f.kind] {
		if !slices.Contains(tokens, kept) {
			t.Fatalf("%s: kept ACL address %s is not in the tree", f.name, kept)
		}
		tokens = slices.DeleteFunc(tokens, func(s string) bool { return s == kept })
		found := false
		for name, text := range res.Files {
			for _, line := range strings.Split(text, "\n") {
				if !strings.Contains(line, kept) {
					continue
				}
				found = true
				if !aclLine[f.kind].MatchString(line) {
					t.Errorf("%s: %s keeps ACL address %s outside an ACL: %q", f.name, name, kept, line)
				}
			}
		}
		if !found {
			t.Errorf("%s: ACL address %s was dropped; an ACL's addresses are matched, never contacted, and stay", f.name, kept)
		}
	}
	for name, text := range res.Files {
		for _, tok := range tokens {
			re := regexp.MustCompile(`(^|[^A-Za-z0-9.-])` + regexp.QuoteMeta(tok) + `($|[^A-Za-z0-9-])`)
			if loc := re.FindStringIndex(text); loc != nil {
				t.Errorf("%s: rendered %s still holds %q: ...%s...", f.name, name, tok, text[max(0, loc[0]-40):min(len(text), loc[1]+40)])
			}
		}
	}
}

func TestRewriteNoOriginalHost(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			res, err := Rewrite(f.input(goldenDir, 0.1))
			if err != nil {
				t.Fatal(err)
			}
			assertNoOriginalHost(t, f, res)
			t.Logf("checked %q", addressTokens(t, f))
		})
	}
}

// findBinary puts /usr/sbin on PATH and looks name up; without it the
// test skips, or fails under CI.
func findBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin")
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (CI is set, so this test does not skip): install the Debian package %s", name, pkg)
		}
		t.Skipf("%s not found: install the Debian package %s", name, pkg)
	}
	return p
}

// writeResult writes the files and directories of res into dir.
func writeResult(t *testing.T, dir string, res *Result) {
	t.Helper()
	for _, d := range res.Dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range res.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRewriteValidates(t *testing.T) {
	bins := map[string][2]string{"nginx": {"nginx", "nginx"}, "haproxy": {"haproxy", "haproxy"},
		"varnish": {"varnishd", "varnish"}, "squid": {"squid", "squid"},
		"caddy": {"caddy", "caddy"}, "apache": {"apache2", "apache2"}}
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			bin := findBinary(t, bins[f.kind][0], bins[f.kind][1])
			dir := t.TempDir()
			res, err := Rewrite(f.input(dir, 0.1))
			if err != nil {
				t.Fatal(err)
			}
			writeResult(t, dir, res)
			cmd := exec.Command(bin, res.ValidateArgs...)
			cmd.Env = append(os.Environ(), res.Env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %q: %v\n%s", bin, res.ValidateArgs, err, out)
			}
		})
	}
}

func TestRewriteRouteAndChanges(t *testing.T) {
	nginx := fixtures[0]
	tests := []struct {
		f                      fixture
		upstream               string
		path, host, upstreamTo string
	}{
		{nginx, "api_backend", "/api/", "shop.example.com", "/api/"},
		{nginx, "auth_backend", "/auth/", "shop.example.com", "/"},
		{fixtures[1], "api", "/api/", "", "/api/"},
		{fixtures[1], "admin", "/", "admin.shop.example.com", "/"},
		{fixtures[1], "web", "/", "", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			f := tt.f
			f.upstream = tt.upstream
			res, err := Rewrite(f.input(goldenDir, 0))
			if err != nil {
				t.Fatal(err)
			}
			if res.Route.Path != tt.path || res.Route.Host != tt.host || res.Route.UpstreamPath != tt.upstreamTo {
				t.Errorf("route %+v, want path %s host %q upstream path %s", res.Route, tt.path, tt.host, tt.upstreamTo)
			}
			pooling := 0
			for _, c := range res.Changes {
				if c.AltersPooling {
					pooling++
					if c.Directive != "worker_processes" && c.Directive != "nbthread" {
						t.Errorf("change %s marked as altering pooling", c)
					}
				}
				if c.Why == "" || c.Directive == "" {
					t.Errorf("change without reason or directive: %+v", c)
				}
			}
			if pooling != 1 {
				t.Errorf("%d changes alter pooling, want 1 (worker or thread count)", pooling)
			}
		})
	}
}

func TestRewriteEffective(t *testing.T) {
	want := map[string]map[string]string{
		"nginx-debian": {"idle_timeout": "60s @upstreams.conf:6", "pool_size": "32 @upstreams.conf:5",
			"retry": "error timeout @default", "reuse": "pooled @upstreams.conf:5", "workers": "auto @nginx.conf:2",
			"proxy_http_version": "1.1 @proxy-common.conf:1", "connection_header": `"" @proxy-common.conf:2`},
		"haproxy": {"idle_timeout": "10s @haproxy.cfg:48", "reuse": "safe @haproxy.cfg:43", "pool_size": "-1 @default",
			"retry": "conn-failure empty-response response-timeout @haproxy.cfg:42", "retries": "2 @haproxy.cfg:41",
			"workers": "4 @haproxy.cfg:10", "mode": "http @haproxy.cfg:37", "health_checks": "httpchk GET /healthz @haproxy.cfg:70"},
		"varnish": {"idle_timeout": "60 @varnish:16", "pool_size": "unlimited @default", "retry": "extrachance @default",
			"first_byte_timeout": "30 @varnish:17", "connect_timeout": "3.5 @default"},
		"squid": {"idle_timeout": "2 minutes @squid.conf:42", "retry": "forward_max_tries 10 @squid.conf:43",
			"reuse": "on @default", "pool_size": "unlimited @default"},
		"caddy": {"idle_timeout": "90s @shop.caddy:19", "pool_size": "16 @shop.caddy:20", "retry": "off @default",
			"lb_policy": "round_robin @Caddyfile:22", "reuse": "pooled @default"},
		"apache-debian": {"idle_timeout": "60s @shop-ssl.conf:16", "pool_size": "32 @shop-ssl.conf:16", "retry": "none @default",
			"worker_retry": "10 @shop-ssl.conf:16", "reuse": "pooled @default"},
	}
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			res, err := Rewrite(f.input(goldenDir, 0.1))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range res.Effective {
				src := "default"
				if !s.Default {
					src = filepath.Base(s.Source)
				}
				got[s.Name] = s.Value + " @" + src
			}
			for k, v := range want[f.name] {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// fixtureNamed is the fixture of that name.
func fixtureNamed(t *testing.T, name string) fixture {
	t.Helper()
	for _, f := range fixtures {
		if f.name == name {
			return f
		}
	}
	t.Fatalf("no fixture %q", name)
	return fixture{}
}
