package proxyconf

import (
	"strings"
	"testing"
)

func apacheInput(conf, upstream string) Input {
	in := memInput("apache", conf, upstream)
	in.Path = "/etc/apache2/apache2.conf"
	in.FS = memFS{in.Path: conf}
	in.ErrorLogFormat = "e"
	return in
}

func TestRewriteApacheRoutes(t *testing.T) {
	f := fixtureNamed(t, "apache-debian")
	tests := []struct {
		upstream, path, upPath string
		backendIn              string // the directive that must name the backend
	}{
		{"/api/", "/api/", "/api/", "BalancerMember http://" + testBackend + " ttl=60 retry=10 max=32"},
		{"api", "/api/", "/api/", "BalancerMember http://" + testBackend},
		{"/legacy/", "/legacy/", "/", "ProxyPass /legacy/ http://" + testBackend + "/ retry=0"},
		{"static.internal.example", "/static/", "/", "ProxyPass /static/ http://" + testBackend + "/ ttl=30"},
	}
	for _, tt := range tests {
		t.Run(tt.upstream, func(t *testing.T) {
			f.upstream = tt.upstream
			res, err := Rewrite(f.input(goldenDir, 0))
			if err != nil {
				t.Fatal(err)
			}
			if r := res.Route; r.Path != tt.path || r.UpstreamPath != tt.upPath || r.Host != "shop.example.com" {
				t.Errorf("route %+v, want path %s upstream path %s", r, tt.path, tt.upPath)
			}
			text := res.Files[ApacheConfigName]
			if !strings.Contains(text, tt.backendIn) {
				t.Errorf("rewrite lacks %q:\n%s", tt.backendIn, text)
			}
			pooling := 0
			for _, c := range res.Changes {
				if c.AltersPooling {
					pooling++
				}
			}
			if pooling == 0 {
				t.Error("no change says it alters pooling: racelab runs one child process")
			}
		})
	}
}

func TestRewriteApacheTTLRounding(t *testing.T) {
	const conf = "Listen 80\n<VirtualHost *:80>\n ProxyPass /a/ http://10.1.1.1:8080/ ttl=5\n</VirtualHost>\n"
	in := apacheInput(conf, "")
	in.Timescale = 0.05
	res, err := Rewrite(in)
	if err != nil {
		t.Fatal(err)
	}
	text := res.Files[ApacheConfigName]
	if !strings.Contains(text, "ProxyPass /a/ http://"+testBackend+"/ ttl=1 retry=3") {
		t.Errorf("ttl=5 at 0.05 is 250ms: want ttl=1 (whole seconds) and httpd's default retry=60 scaled to 3:\n%s", text)
	}
	found := false
	for _, c := range res.Changes {
		if strings.Contains(c.Why, "250ms, rounded up to whole seconds") {
			found = true
		}
	}
	if !found {
		t.Errorf("no change notes the rounding: %v", res.Changes)
	}
	if !strings.Contains(strings.Join(res.Notes, " "), "fragment") || !strings.Contains(text, "LoadModule proxy_http_module") {
		t.Errorf("a file without LoadModule is not read as a fragment: notes %q", res.Notes)
	}
}

func TestRewriteApacheErrors(t *testing.T) {
	const two = "<VirtualHost *:80>\n ProxyPass /a/ http://10.1.1.1/\n ProxyPass /b/ http://10.1.1.2/\n</VirtualHost>\n"
	tests := []struct {
		name, conf, upstream string
		want                 []string
	}{
		{"ambiguous", two, "", []string{"2 ProxyPass directives", "/etc/apache2/apache2.conf:2", "name the one under test"}},
		{"unknown", two, "/c/", []string{`no ProxyPass named "/c/"`}},
		{"shadowed", "<VirtualHost *:80>\n ProxyPass / http://10.1.1.1/\n ProxyPass /b/ http://10.1.1.2/\n</VirtualHost>\n", "/b/",
			[]string{"requests under /b/ go to the ProxyPass at /etc/apache2/apache2.conf:2 first"}},
		{"none", "Listen 80\n", "", []string{"no ProxyPass to an http, https or balancer URL"}},
		{"unclosed", "<VirtualHost *:80>\n ProxyPass / http://10.1.1.1/\n", "", []string{"/etc/apache2/apache2.conf:1: <VirtualHost> section not closed"}},
		{"stray close", "</VirtualHost>\n", "", []string{"/etc/apache2/apache2.conf:1: </VirtualHost> without matching"}},
		{"no bracket", "<VirtualHost *:80\n", "", []string{"/etc/apache2/apache2.conf:1: <VirtualHost *:80: section directive missing closing '>'"}},
		{"quote", "ProxyPass / \"http://10.1.1.1/\n", "", []string{"/etc/apache2/apache2.conf:1: unterminated quote"}},
		{"include missing", "Include nope.conf\n", "", []string{"/etc/apache2/apache2.conf:1: Include \"nope.conf\""}},
		{"include cycle", "Include apache2.conf\n", "", []string{"include cycle"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Rewrite(apacheInput(tt.conf, tt.upstream))
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
