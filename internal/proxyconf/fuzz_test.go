package proxyconf

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The fuzz targets feed any text to the parsers and the rewriter: none
// panics or hangs, and a rewrite that succeeds holds racelab's listener
// and backend.
const fuzzLimit = 64 << 10

func seed(f *testing.F, dir string) {
	f.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(string(data))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

func FuzzRewriteNginx(f *testing.F) {
	seed(f, "testdata/nginx-debian")
	f.Add(`events {} http { upstream u { server a.example; keepalive 2; } server { location / { proxy_pass http://u; } } }`)
	f.Fuzz(func(t *testing.T, conf string) {
		if len(conf) > fuzzLimit {
			return
		}
		fs := memFS{"/etc/nginx/nginx.conf": conf, "/etc/nginx/inc.conf": conf}
		if _, err := ParseNginx(fs, "/etc/nginx/nginx.conf", ""); err != nil {
			// A rejection says where: the file (and line) of the problem.
			if !contains(err.Error(), "/etc/nginx/") {
				t.Fatalf("parse error without a file: %v", err)
			}
			return
		}
		res, err := Rewrite(memInput("nginx", conf, ""))
		if err != nil {
			return
		}
		text := res.Files[NginxConfigName]
		if !contains(text, testListen) {
			t.Fatalf("rewrite without racelab's listener:\n%s", text)
		}
	})
}

func FuzzRewriteHAProxy(f *testing.F) {
	seed(f, "testdata/haproxy-root")
	f.Add("global\nfrontend f\n bind :80\n default_backend b\nbackend b\n server s a.example:80\n")
	f.Fuzz(func(t *testing.T, conf string) {
		if len(conf) > fuzzLimit {
			return
		}
		if _, err := ParseHAProxySections("f", []byte(conf)); err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("parse error without a position: %v", err)
			}
			return
		}
		in := memInput("haproxy", conf, "")
		in.SyncPath = "/racelab-sync"
		res, err := Rewrite(in)
		if err != nil {
			return
		}
		text := res.Files[HAProxyConfigName]
		if !contains(text, "bind "+testListen) {
			t.Fatalf("rewrite without racelab's listener:\n%s", text)
		}
		if res.SyncPath != in.SyncPath || !contains(text, "http-request return status 204 if { path /racelab-sync }") {
			t.Fatalf("rewrite without the evidence barrier (sync path %q):\n%s", res.SyncPath, text)
		}
	})
}

// FuzzRewriteVarnish: a rejection names the file; an accepted rewrite
// points every backend at loopback, keeps only addresses in ACLs, sends
// no PROXY header and holds racelab's readiness answer.
func FuzzRewriteVarnish(f *testing.F) {
	seed(f, "testdata/varnish-root/etc/varnish")
	f.Add("vcl 4.1;\nbackend a { .host = \"a.example\"; .port = \"80\"; }\nacl x { \"b.example\"; \"10.1.1.1\"/8; }\n")
	f.Fuzz(func(t *testing.T, conf string) {
		if len(conf) > fuzzLimit {
			return
		}
		in := memInput("varnish", conf, "")
		in.FS = memFS{"/etc/varnish/default.vcl": conf, "/etc/varnish/backends.vcl": conf}
		in.ReadyPath = "/racelab-ready"
		res, err := Rewrite(in)
		if err != nil {
			if !contains(err.Error(), "/etc/varnish/") {
				t.Fatalf("error without a file: %v", err)
			}
			return
		}
		text := res.Files[VarnishVCLName]
		toks, err := lexVCL("out", []byte(text))
		if err != nil {
			t.Fatalf("rewritten VCL does not lex: %v\n%s", err, text)
		}
		inACL := false
		for i, x := range toks {
			switch {
			case x.text == "acl":
				inACL = true
			case inACL && x.text == "}":
				inACL = false
			case inACL && x.kind == 's':
				if _, err := netip.ParseAddr(unquoteVCL(x.text)); err != nil {
					t.Fatalf("ACL entry %s is not an address:\n%s", x.text, text)
				}
			case x.text == ".host" && i+2 < len(toks):
				if toks[i+2].text != `"127.0.0.1"` {
					t.Fatalf(".host = %s survives:\n%s", toks[i+2].text, text)
				}
			case x.text == ".path" || x.text == ".proxy_header" || x.text == ".via" || x.text == ".host_header":
				t.Fatalf("%s survives:\n%s", x.text, text)
			}
		}
		if !contains(text, `if (req.url == "/racelab-ready")`) {
			t.Fatalf("no readiness answer:\n%s", text)
		}
	})
}

// FuzzRewriteSquid: a rejection names the file; an accepted rewrite
// listens on racelab's address only, points every cache_peer at loopback,
// asks only a loopback name server and never goes direct.
func FuzzRewriteSquid(f *testing.F) {
	seed(f, "testdata/squid-root")
	f.Add("http_port 80 accel\ncache_peer a.example parent 80 0 originserver\nacl x src 10.0.0.1\n")
	f.Fuzz(func(t *testing.T, conf string) {
		if len(conf) > fuzzLimit {
			return
		}
		in := memInput("squid", conf, "")
		in.FS = memFS{"/etc/squid/squid.conf": conf, "/etc/squid/conf.d/a.conf": conf}
		res, err := Rewrite(in)
		if err != nil {
			if !contains(err.Error(), "/etc/squid/") {
				t.Fatalf("error without a file: %v", err)
			}
			return
		}
		text := res.Files[SquidConfigName]
		for _, line := range strings.Split(text, "\n") {
			w := strings.Fields(line)
			if len(w) == 0 {
				continue
			}
			switch w[0] {
			case "http_port":
				if w[1] != testListen {
					t.Fatalf("listener %s:\n%s", line, text)
				}
			case "cache_peer", "dns_nameservers":
				if w[1] != "127.0.0.1" {
					t.Fatalf("%s:\n%s", line, text)
				}
			case "https_port", "always_direct", "tcp_outgoing_address", "url_rewrite_program", "icap_service", "external_acl_type":
				t.Fatalf("%s survives:\n%s", w[0], text)
			case "acl":
				if len(w) > 3 && (w[2] == "src" || w[2] == "dst") {
					for _, v := range w[3:] {
						if !strings.HasPrefix(v, "-") && v != "all" && !squidAddrValue(v) {
							t.Fatalf("acl value %s is not an address:\n%s", v, text)
						}
					}
				}
			}
		}
		if !contains(text, "never_direct allow all\n") {
			t.Fatalf("rewrite may go direct:\n%s", text)
		}
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// fuzzAddrs are the addresses a configuration names in address
// positions, read with the parser (not the rewriter), and every
// non-loopback IPv4 address anywhere in it.
func fuzzAddrs(ds []*Directive, where func(d *Directive) []string) []string {
	var out []string
	var walk func(ds []*Directive)
	walk = func(ds []*Directive) {
		for _, d := range ds {
			for _, a := range where(d) {
				out = appendHost(out, a)
			}
			walk(d.Block)
		}
	}
	walk(ds)
	return out
}

// assertNoAddr fails when text holds a host of hosts or a non-loopback
// IPv4 address of conf.
func assertNoAddr(t *testing.T, conf, text string, hosts []string) {
	t.Helper()
	for _, m := range treeIPRE.FindAllString(conf, -1) {
		if !strings.Contains(m, "/") && appendHost(nil, m) != nil {
			hosts = append(hosts, m)
		}
	}
	for _, h := range hosts {
		if i := hostAt(text, h, 0); i >= 0 {
			t.Fatalf("rewrite keeps %q of the file: ...%s...\n%s", h, text[max(0, i-40):min(len(text), i+len(h)+40)], text)
		}
	}
}

// dialRE finds the dial addresses of a Caddy JSON config.
var dialRE = regexp.MustCompile(`"dial"\s*:\s*"([^"]*)"`)

func FuzzRewriteCaddy(f *testing.F) {
	seed(f, "testdata/caddy-root")
	seed(f, "testdata/caddy-json")
	f.Add("a.example.com {\n\treverse_proxy /api/* 10.1.1.1:80 b.internal.example:80 {\n\t\ttransport http {\n\t\t\tkeepalive 90s\n\t\t}\n\t}\n}\n")
	f.Fuzz(func(t *testing.T, conf string) {
		if len(conf) > fuzzLimit {
			return
		}
		in := caddyInput(conf, "")
		in.Timescale = 0.1
		res, err := Rewrite(in)
		if err != nil {
			if !contains(err.Error(), "/etc/caddy/Caddyfile") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		text := res.Files[CaddyConfigName]
		if text == "" && res.Files[CaddyJSONConfigName] != "" {
			text = res.Files[CaddyJSONConfigName]
			if !contains(text, testListen) {
				t.Fatalf("rewrite without racelab's listener:\n%s", text)
			}
		} else if !contains(text, "http://:18002 {") || !contains(text, "bind 127.0.0.1") {
			t.Fatalf("rewrite without racelab's listener:\n%s", text)
		}
		if isCaddyJSON(in.Path, []byte(conf)) {
			var hosts []string
			for _, m := range dialRE.FindAllStringSubmatch(conf, -1) {
				hosts = appendHost(hosts, m[1])
			}
			assertNoAddr(t, conf, res.Files[CaddyJSONConfigName], hosts)
			return
		}
		p := &CaddyfileParser{FS: in.FS}
		top, err := p.Parse(in.Path)
		if err != nil {
			t.Fatalf("the rewriter read what the parser refuses: %v", err)
		}
		hosts := fuzzAddrs(top, func(d *Directive) []string {
			switch {
			case caddyUpstreamDirectives[d.Name]:
				_, ups := upstreamArgs(d)
				return ups
			case d.Name == "to":
				return d.Args
			}
			return nil
		})
		if len(top) > 0 && top[0].Name == "" {
			top = top[1:] // global options
		}
		for i, d := range top {
			if i == 0 && !d.HasBlock {
				for _, a := range siteAddrs(d) { // one site without braces
					hosts = appendHost(hosts, a)
				}
				break
			}
			if d.HasBlock && !strings.HasPrefix(d.Name, "(") {
				for _, a := range siteAddrs(d) {
					hosts = appendHost(hosts, a)
				}
			}
		}
		assertNoAddr(t, conf, text, hosts)
	})
}

func FuzzRewriteApache(f *testing.F) {
	seed(f, "testdata/apache-debian")
	f.Add("Listen 80\n<VirtualHost *:80>\n ServerName a.example.com\n ProxyPass /api/ http://10.1.1.1:8080/api/ ttl=60\n ProxyPassReverse /api/ http://10.1.1.1:8080/api/\n</VirtualHost>\n")
	f.Fuzz(func(t *testing.T, conf string) {
		if len(conf) > fuzzLimit {
			return
		}
		in := apacheInput(conf, "")
		in.Timescale = 0.1
		res, err := Rewrite(in)
		if err != nil {
			if !contains(err.Error(), "/etc/apache2/apache2.conf") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		text := res.Files[ApacheConfigName]
		if !contains(text, "Listen "+testListen) {
			t.Fatalf("rewrite without racelab's listener:\n%s", text)
		}
		p := &ApacheParser{FS: in.FS}
		top, err := p.Parse(in.Path)
		if err != nil {
			t.Fatalf("the rewriter read what the parser refuses: %v", err)
		}
		hosts := fuzzAddrs(top, func(d *Directive) []string {
			var out []string
			for _, a := range d.Args {
				switch n := lname(d); {
				case strings.Contains(a, "://"), n == "servername", n == "serveralias", n == "listen", n == "virtualhost":
					out = append(out, a)
				}
			}
			return out
		})
		assertNoAddr(t, conf, text, hosts)
	})
}
