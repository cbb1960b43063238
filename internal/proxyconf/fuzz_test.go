package proxyconf

import (
	"os"
	"path/filepath"
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

func contains(s, sub string) bool { return strings.Contains(s, sub) }
