package proxyconf

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// treeNameRE and treeIPRE find the host names and IPv4 addresses a
// configuration tree names: internal names, the public site names, and
// every address but loopback, wildcards and networks.
var (
	treeNameRE = regexp.MustCompile(`[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(internal\.example|example\.com)\b`)
	treeIPRE   = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b(/\d+)?`)
)

// treeHosts returns every host name and address the files under root
// name, the public site names included (Caddy and Apache keep none of
// them; Varnish and Squid keep match strings, see treeAddrs).
func treeHosts(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range append(treeNameRE.FindAllString(string(b), -1), treeIPRE.FindAllString(string(b), -1)...) {
			if strings.Contains(m, "/") || strings.HasPrefix(m, "127.") || m == "0.0.0.0" || slices.Contains(out, m) {
				continue
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func caddyInput(conf, upstream string) Input {
	in := memInput("caddy", conf, upstream)
	in.Path = "/etc/caddy/Caddyfile"
	in.FS = memFS{in.Path: conf}
	return in
}

func TestRewriteCaddyRoutes(t *testing.T) {
	f := fixtureNamed(t, "caddy")
	tests := []struct {
		upstream, path, upPath, source string
	}{
		{"/api/*", "/api/", "/api/", "/etc/caddy/sites/shop.caddy:14"},
		{"api-2.internal.example:8080", "/api/", "/api/", "/etc/caddy/sites/shop.caddy:14"},
		{"/auth/*", "/auth/", "/auth/", "/etc/caddy/sites/shop.caddy:35"},
		{"192.168.40.12:8081", "/", "/", "/etc/caddy/sites/internal.caddy:13"},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			f.upstream = tt.upstream
			res, err := Rewrite(f.input(goldenDir, 0))
			if err != nil {
				t.Fatal(err)
			}
			if r := res.Route; r.Path != tt.path || r.UpstreamPath != tt.upPath || r.Source != tt.source {
				t.Errorf("route %+v, want path %s upstream path %s at %s", r, tt.path, tt.upPath, tt.source)
			}
			text := res.Files[CaddyConfigName]
			if !strings.Contains(text, testBackend) || !strings.Contains(text, "http://:18002 {") || !strings.Contains(text, "bind 127.0.0.1") {
				t.Errorf("rewrite lacks the backend or racelab's listener:\n%s", text)
			}
			for _, c := range res.Changes {
				if c.AltersPooling {
					t.Errorf("change %s alters pooling: racelab forces nothing on Caddy", c)
				}
			}
		})
	}
}

func TestRewriteCaddyHandlePathStrips(t *testing.T) {
	const conf = "shop.example.com {\n\thandle_path /v1/* {\n\t\treverse_proxy 10.1.1.1:80\n\t}\n}\n"
	res, err := Rewrite(caddyInput(conf, ""))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Route; r.Path != "/v1/" || r.UpstreamPath != "/" || r.Host != "shop.example.com" {
		t.Errorf("route %+v", r)
	}
	// One site without braces, with a matcher on the directive.
	res, err = Rewrite(caddyInput(":8080\nreverse_proxy /api/* 10.1.1.1:80\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Route; r.Path != "/api/" || r.Host != "" {
		t.Errorf("route %+v", r)
	}
}

func TestRewriteCaddyErrors(t *testing.T) {
	const two = "a.example.com {\n\treverse_proxy /a/* 10.1.1.1:80\n\treverse_proxy /b/* 10.1.1.2:80\n}\n"
	tests := []struct {
		name, conf, upstream string
		want                 []string
	}{
		{"ambiguous", two, "", []string{"2 reverse_proxy directives", "/etc/caddy/Caddyfile:2", "name the one under test"}},
		{"unknown", two, "/c/*", []string{`no reverse_proxy named "/c/*"`}},
		{"exact path", "a.example.com {\n\treverse_proxy /a 10.1.1.1:80\n}\n", "", []string{"/etc/caddy/Caddyfile:2: matcher /a is not a path prefix"}},
		{"regexp matcher", "a.example.com {\n\t@x path_regexp ^/a\n\treverse_proxy @x 10.1.1.1:80\n}\n", "", []string{"matcher @x (/etc/caddy/Caddyfile:2) is not one path prefix"}},
		{"none", "a.example.com {\n\tfile_server\n}\n", "", []string{"no reverse_proxy"}},
		{"unclosed", "a.example.com {\n\treverse_proxy 10.1.1.1:80\n", "", []string{"/etc/caddy/Caddyfile:1: block not closed"}},
		{"stray brace", "a.example.com {\n}\n}\n", "", []string{"/etc/caddy/Caddyfile:3: unexpected }"}},
		{"quote", "a.example.com {\n\trespond \"x\n}\n", "", []string{"/etc/caddy/Caddyfile:2: unterminated quote"}},
		{"heredoc", "a.example.com {\n\trespond <<EOF\n\tx\n\tEOF\n}\n", "", []string{"/etc/caddy/Caddyfile:2: heredoc"}},
		{"import missing", "import nope.caddy\n", "", []string{"/etc/caddy/Caddyfile:1: import \"nope.caddy\""}},
		{"import cycle", "import Caddyfile\n", "", []string{"import cycle"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Rewrite(caddyInput(tt.conf, tt.upstream))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRewriteCaddyScalesDefaultKeepalive(t *testing.T) {
	in := caddyInput("a.example.com {\n\treverse_proxy 10.1.1.1:80 {\n\t\tdynamic a b.internal.example 80\n\t}\n}\n", "")
	in.Timescale = 0.01
	res, err := Rewrite(in)
	if err != nil {
		t.Fatal(err)
	}
	text := res.Files[CaddyConfigName]
	for _, want := range []string{"keepalive 1200ms", "reverse_proxy " + testBackend} {
		if !strings.Contains(text, want) {
			t.Errorf("rewrite lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "dynamic") || strings.Contains(text, "b.internal.example") {
		t.Errorf("dynamic upstreams kept:\n%s", text)
	}
}

// Caddy's native JSON config is rewritten as the Caddyfile is, with
// positions from the JSON's own lines.
func TestRewriteCaddyJSON(t *testing.T) {
	f := fixtureNamed(t, "caddy-json")
	res, err := Rewrite(f.input(goldenDir, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	text := res.Files[CaddyJSONConfigName]
	for _, want := range []string{`"dial": "` + testBackend + `"`, `"dial": "` + testClosed + `"`, `"idle_timeout": "9000ms"`,
		`"listen": [` + "\n" + `            "` + testListen + `"`, `"disabled": true`, EvidenceLogName} {
		if !strings.Contains(text, want) {
			t.Errorf("rewrite lacks %q:\n%s", want, text)
		}
	}
	if r := res.Route; r.Path != "/api/" || r.Host != "racelab.invalid" || r.Source != "/etc/caddy/caddy.json:29" {
		t.Errorf("route %+v", r)
	}
	for _, tok := range treeHosts(t, f.root) {
		if hostAt(text, tok, 0) >= 0 {
			t.Errorf("rewrite keeps %q:\n%s", tok, text)
		}
	}
	idle := ""
	for _, s := range res.Effective {
		if s.Name == "idle_timeout" {
			idle = s.Value + " @" + s.Source
		}
	}
	if idle != "1m30s @/etc/caddy/caddy.json:34" {
		t.Errorf("idle_timeout %s", idle)
	}
	for _, c := range res.Changes {
		if c.Why == "" {
			t.Errorf("change without a reason: %+v", c)
		}
	}
	if testing.Verbose() {
		t.Log(report(res))
	}
	bin := findBinary(t, "caddy", "caddy")
	dir := t.TempDir()
	res, err = Rewrite(f.input(dir, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	writeResult(t, dir, res)
	cmd := exec.Command(bin, res.ValidateArgs...)
	cmd.Env = append(os.Environ(), res.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", bin, res.ValidateArgs, err, out)
	}
}
