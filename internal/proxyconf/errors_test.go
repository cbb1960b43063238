package proxyconf

import (
	"strings"
	"testing"
)

func memInput(kind, conf, upstream string) Input {
	name := "/etc/nginx/nginx.conf"
	if kind == "haproxy" {
		name = "/etc/haproxy/haproxy.cfg"
	}
	return Input{Kind: kind, Path: name, Upstream: upstream, FS: memFS{name: conf},
		Backend: testBackend, Closed: testClosed, Listen: testListen, Dir: goldenDir,
		LogFormat: "x", RequestIDHeader: "X-Racelab-Request-Id"}
}

func TestRewriteErrors(t *testing.T) {
	const twoUpstreams = `events {} http {
  upstream a { server 10.1.1.1; } upstream b { server 10.1.1.2; }
  server { listen 80; location /a/ { proxy_pass http://a; } }
}`
	const haTwo = "global\ndefaults\n mode http\nfrontend fe\n bind :80\n default_backend a\nbackend a\n server s 10.1.1.1:80\nbackend b\n server s 10.1.1.2:80\n"
	tests := []struct {
		name, kind, conf, upstream string
		want                       []string
	}{
		{"unknown upstream", "nginx", twoUpstreams, "c", []string{`no upstream named "c"`, "found: a, b"}},
		{"ambiguous", "nginx", twoUpstreams, "", []string{"2 upstreams (a, b): name the one under test"}},
		{"no route", "nginx", twoUpstreams, "b", []string{"no listener routes to upstream b"}},
		{"regex only", "nginx", `events {} http { upstream a { server x.example; } server { location ~ ^/a { proxy_pass http://a; } } }`, "",
			[]string{"no listener routes", "not a plain prefix location"}},
		{"shadowed", "nginx", `events {} http { upstream a { server x.example; } server { location /a/ { proxy_pass http://a; } location ~ /r/ { return 404; } } }`, "",
			[]string{"go to the location at /etc/nginx/nginx.conf:1"}},
		{"no upstream", "nginx", `events {} http { server { location / { proxy_pass http://x.example; } } }`, "", []string{"no upstream in the configuration"}},
		{"parse error", "nginx", "events {} http { server {", "", []string{"/etc/nginx/nginx.conf:1: unexpected end of file"}},
		{"haproxy unknown backend", "haproxy", haTwo, "c", []string{`no backend named "c" (found: a, b)`}},
		{"haproxy no route", "haproxy", haTwo, "b", []string{"no listener routes to backend b"}},
		{"haproxy shadowed", "haproxy", "global\nfrontend fe\n bind :80\n acl api path_beg /api\n use_backend a if { path_beg / }\n use_backend b if api\nbackend a\n server s 10.1.1.1:80\nbackend b\n server s 10.1.1.2:80\n", "b",
			[]string{"go to the rule at /etc/haproxy/haproxy.cfg:5 first"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Rewrite(memInput(tt.kind, tt.conf, tt.upstream))
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

func TestRewriteInputChecked(t *testing.T) {
	in := memInput("nginx", "", "")
	in.Backend = "10.0.0.1:80"
	in.Dir = "relative"
	_, err := Rewrite(in)
	if err == nil || !strings.Contains(err.Error(), "backend address") || !strings.Contains(err.Error(), "dir") {
		t.Fatalf("error %v: want both the backend and the dir reported", err)
	}
}

func TestNginxRoundTrip(t *testing.T) {
	// Arguments survive emitting: regexes keep their backslashes, quotes
	// and variables stay.
	const conf = `events {} http { map $uri $x { ~^/a\d+ 1; default "a b"; }
  upstream u { server 10.9.9.9:80; }
  server { listen 80; server_name .shop.example;
    location ~ "^/img/(\d+)\.png$" { return 200 "it's \"ok\""; }
    location /u/ { proxy_set_header X-Q '$arg_q;x'; proxy_pass http://u/v/; } } }`
	fs := memFS{"/c/nginx.conf": conf}
	top, err := ParseNginx(fs, "/c/nginx.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := EmitNginx(top)
	again, err := ParseNginx(memFS{"/c/nginx.conf": text}, "/c/nginx.conf", "")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	a, _ := EmitNginx(top)
	b, _ := EmitNginx(again)
	if a != b {
		t.Fatalf("not stable:\n%s\n%s", a, b)
	}
	if !strings.Contains(text, `"^/img/(\\d+)\\.png$"`) || !strings.Contains(text, `"~^/a\\d+"`) {
		t.Errorf("regex escapes lost:\n%s", text)
	}
	res, err := Rewrite(Input{Kind: "nginx", Path: "/c/nginx.conf", FS: fs, Backend: testBackend, Closed: testClosed,
		Listen: testListen, Dir: goldenDir, LogFormat: "x", RequestIDHeader: "X-Id"})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Route; r.Path != "/u/" || r.UpstreamPath != "/v/" || r.Host != "shop.example" {
		t.Errorf("route %+v", r)
	}
}

// A sync path that would break out of the HAProxy rule it goes into is
// refused before anything is read.
func TestRewriteRefusesBadSyncPath(t *testing.T) {
	for _, p := range []string{"racelab-sync", "/a }", "/a b", "/a#b", `/a"`} {
		in := memInput("haproxy", "global\nfrontend f\n bind :80\n default_backend b\nbackend b\n server s a.example:80\n", "")
		in.SyncPath = p
		if _, err := Rewrite(in); err == nil || !strings.Contains(err.Error(), "sync path") {
			t.Errorf("sync path %q: error %v, want one naming the sync path", p, err)
		}
	}
}
