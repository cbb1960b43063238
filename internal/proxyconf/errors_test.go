package proxyconf

import (
	"strings"
	"testing"
)

func memInput(kind, conf, upstream string) Input {
	name := map[string]string{"nginx": "/etc/nginx/nginx.conf", "haproxy": "/etc/haproxy/haproxy.cfg",
		"varnish": "/etc/varnish/default.vcl", "squid": "/etc/squid/squid.conf"}[kind]
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

// Varnish and Squid refuse what would resolve a name, run a program or
// module of the user's, or that racelab cannot route to, naming the file
// and line.
func TestRewriteVarnishSquidErrors(t *testing.T) {
	const vcl = "vcl 4.1;\nbackend a { .host = \"a.example\"; }\nbackend b { .host = \"b.example\"; }\n"
	const sq = "http_port 80 accel\ncache_peer a.example parent 80 0 originserver name=a\n"
	tests := []struct {
		name, kind, conf, upstream string
		want                       []string
	}{
		{"vmod not shipped", "varnish", "vcl 4.1;\nimport dynamic;\nbackend a { .host = \"a.example\"; }\n", "", []string{"/etc/varnish/default.vcl:2", "import dynamic", "not a vmod Varnish ships"}},
		{"vmod from a file", "varnish", "vcl 4.1;\nimport std from \"/opt/libvmod_std.so\";\nbackend a { .host = \"a.example\"; }\n", "", []string{"default.vcl:2", "import from a file"}},
		{"inline C", "varnish", "vcl 4.1;\nbackend a { .host = \"a.example\"; }\nC{ int x; }C\n", "", []string{"default.vcl:3", "inline C"}},
		{"std.ip resolves", "varnish", "vcl 4.1;\nimport std;\nbackend a { .host = \"a.example\"; }\nsub vcl_recv {\n  set req.http.x = std.ip(req.http.y, \"0.0.0.0\");\n}\n", "", []string{"default.vcl:5", "std.ip() resolves"}},
		{"missing include", "varnish", "vcl 4.1;\ninclude \"nope.vcl\";\n", "", []string{"default.vcl:2", `include "nope.vcl"`, "not found"}},
		{"ambiguous", "varnish", vcl, "", []string{"2 backend or directors (a, b): name the one under test"}},
		{"unknown backend", "varnish", vcl, "c", []string{`no backend or director named "c" (found: a, b)`}},
		{"no route", "varnish", vcl, "b", []string{"no listener routes to b"}},
		{"url regex", "varnish", vcl + "sub vcl_recv { if (req.url ~ \"\\.png$\") { set req.backend_hint = b; } }\n", "b", []string{"default.vcl:4", "needs a URL matching"}},
		{"no vcl line", "varnish", "backend a { .host = \"a.example\"; }\n", "", []string{"default.vcl: neither a VCL file nor a varnishd command line"}},
		{"dst host", "squid", sq + "acl x dst db.example\n", "", []string{"/etc/squid/squid.conf:3", "acl x dst db.example", "resolves a host name"}},
		{"src file", "squid", sq + "acl x src \"/etc/squid/nets\"\n", "", []string{"squid.conf:3", "reads its values from"}},
		{"icap", "squid", sq + "icap_service svc reqmod_precache icap://10.1.1.1:1344/req\n", "", []string{"squid.conf:3", "icap_service", "ICAP service"}},
		{"external acl", "squid", sq + "external_acl_type t %SRC /usr/bin/helper\n", "", []string{"squid.conf:3", "external ACL helper"}},
		{"conditional", "squid", sq + "if ${process_number} = 1\nendif\n", "", []string{"squid.conf:3", "conditional configuration"}},
		{"no accel", "squid", "http_port 3128\ncache_peer a.example parent 80 0 name=a\n", "", []string{"no http_port with accel"}},
		{"unknown peer", "squid", sq, "b", []string{`no cache_peer named "b" (found: a)`}},
		{"no peer", "squid", "http_port 80 accel\n", "", []string{"no cache_peer in the configuration"}},
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

// The Varnish route comes from the backend_hint that names the backend or
// its director and the conditions around it, or from being the first
// backend declared.
func TestRewriteVarnishRoutes(t *testing.T) {
	const backends = "vcl 4.1;\nimport directors;\nbackend a1 { .host = \"a1.example\"; }\nbackend a2 { .host = \"a2.example\"; }\nbackend b { .host = \"b.example\"; }\n" +
		"sub vcl_init { new api = directors.round_robin(); api.add_backend(a1); api.add_backend(a2); }\n"
	tests := []struct {
		name, conf, upstream string
		path, host           string
		under                []string // backends pointed at racelab's backend
		note                 string
	}{
		{"first backend is the default", "vcl 4.1;\nbackend a { .host = \"a.example\"; }\n", "", "/", "", []string{"a"}, "Varnish's default"},
		{"director", backends + "sub vcl_recv {\n if (req.http.Host == \"shop.example\") {\n  if (req.url ~ \"^/api/v[0-9]+/\") { set req.backend_hint = api.backend(); }\n }\n}\n", "api",
			"/api/v", "shop.example", []string{"a1", "a2"}, ""},
		{"a director's backend", backends + "sub vcl_recv { if (req.url ~ \"^/x\") { set req.backend_hint = api.backend(); } }\n", "a2",
			"/x", "", []string{"a2"}, "one of director api"},
		{"else branch", backends + "sub vcl_recv { if (req.url ~ \"^/x\") { set req.backend_hint = a1; } else { set req.backend_hint = b; } }\n", "b",
			"/", "", []string{"b"}, "else branch"},
		{"or", backends + "sub vcl_recv { if (req.url ~ \"^/y/\" || req.url ~ \"^/z/\") { set req.backend_hint = b; } }\n", "b",
			"/y/", "", []string{"b"}, "first alternative"},
		{"condition not read", backends + "sub vcl_recv { if (req.method == \"GET\" && req.url ~ \"^/g\") { set req.backend_hint = b; } }\n", "b",
			"/g", "", []string{"b"}, `condition "req.method == \"GET\"" not read`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Rewrite(memInput("varnish", tt.conf, tt.upstream))
			if err != nil {
				t.Fatal(err)
			}
			if res.Route.Path != tt.path || res.Route.Host != tt.host {
				t.Errorf("route %+v, want path %s host %q", res.Route, tt.path, tt.host)
			}
			var under []string
			for _, c := range res.Changes {
				if c.Directive == ".host" && strings.Contains(c.New, `"`+strings.Split(testBackend, ":")[1]+`"`) {
					under = append(under, strings.Split(strings.Split(c.Old, `"`)[1], ".")[0])
				}
			}
			if strings.Join(under, " ") != strings.Join(tt.under, " ") {
				t.Errorf("backends under test %v, want %v", under, tt.under)
			}
			if tt.note != "" && !strings.Contains(strings.Join(res.Notes, "\n"), tt.note) {
				t.Errorf("notes %q lack %q", res.Notes, tt.note)
			}
		})
	}
}

// A Squid cache_peer is named by name= or by its host; an unnamed peer
// gets a name of racelab's, and its access lines follow it.
func TestRewriteSquidPeers(t *testing.T) {
	const conf = "http_port 80 accel vhost\n" +
		"cache_peer app-1.example parent 8080 0 originserver name=app\n" +
		"cache_peer 10.9.9.9 parent 80 0 originserver\n" +
		"acl img urlpath_regex -i ^/img/\n" +
		"acl site dstdomain .shop.example\n" +
		"cache_peer_access 10.9.9.9 allow site img\n" +
		"cache_peer_access app deny img\n"
	for _, tt := range []struct{ upstream, path, host, line string }{
		{"app-1.example", "/", "", "cache_peer 127.0.0.1 parent 18001 0 originserver name=app no-query no-digest"},
		{"10.9.9.9", "/img/", "shop.example", "cache_peer 127.0.0.1 parent 18001 0 originserver name=peer1 no-query no-digest"},
	} {
		res, err := Rewrite(memInput("squid", conf, tt.upstream))
		if err != nil {
			t.Fatal(err)
		}
		text := res.Files[SquidConfigName]
		if res.Route.Path != tt.path || res.Route.Host != tt.host || !strings.Contains(text, tt.line+"\n") {
			t.Errorf("upstream %s: route %+v, want %s %q; file:\n%s", tt.upstream, res.Route, tt.path, tt.host, text)
		}
		if !strings.Contains(text, "cache_peer_access peer1 allow site img\n") || strings.Contains(text, "10.9.9.9") {
			t.Errorf("upstream %s: the unnamed peer's access line does not follow it:\n%s", tt.upstream, text)
		}
	}
}
