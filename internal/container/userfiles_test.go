package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racelab/racelab/proxies"
)

func TestWithUserFiles(t *testing.T) {
	root := t.TempDir()
	errDir := filepath.Join(root, "etc/haproxy/errors")
	if err := os.MkdirAll(errDir, 0o755); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(errDir, "503.http")
	long := filepath.Join(errDir, "503.http.bak")
	for _, f := range []string{page, long} {
		if err := os.WriteFile(f, []byte("HTTP/1.0 503\r\n\r\n"+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(root, "etc/haproxy/haproxy.cfg")
	b := &proxies.Bundle{Dir: "/etc/racelab/haproxy", Files: map[string]string{"haproxy.cfg": "# rewritten from " + cfg + "\n" +
		"defaults\n    errorfile 503 " + page + "\n    errorfile 504 " + long + "\n" +
		"    errorfile 502 /etc/haproxy/errors/502.http\n    pidfile /etc/racelab/haproxy/haproxy.pid\n"}}
	if err := withUserFiles(b, &proxies.UserConfig{Path: cfg, Root: root}); err != nil {
		t.Fatal(err)
	}
	got := b.Files["haproxy.cfg"]
	for _, want := range []string{
		"# rewritten from " + cfg + "\n", // a comment is not read
		"errorfile 503 /etc/racelab/haproxy/tree/etc/haproxy/errors/503.http\n",
		"errorfile 504 /etc/racelab/haproxy/tree/etc/haproxy/errors/503.http.bak\n",
		"errorfile 502 /etc/haproxy/errors/502.http\n", // not under the root: left as written
		"pidfile /etc/racelab/haproxy/haproxy.pid\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered file lacks %q:\n%s", want, got)
		}
	}
	if c := b.Files["tree/etc/haproxy/errors/503.http"]; !strings.HasSuffix(c, page) {
		t.Errorf("copied 503.http = %q", c)
	}
	if len(b.Files) != 3 || len(b.Changes) != 2 {
		t.Fatalf("files %d, changes %+v: want 3 files and 2 changes", len(b.Files), b.Changes)
	}
	if c := b.Changes[0]; c.Directive != "file" || c.Old != page || c.New != "/etc/racelab/haproxy/tree/etc/haproxy/errors/503.http" {
		t.Errorf("change %+v", c)
	}
	if _, err := bundleTar(b, 1000, 1000); err != nil {
		t.Fatalf("bundle with user files does not pack: %v", err)
	}

	// Without a root the configuration's directory bounds what is copied;
	// a bundle not rendered from a user's file is left alone.
	b2 := &proxies.Bundle{Dir: "/etc/racelab/haproxy", Files: map[string]string{"haproxy.cfg": "errorfile 503 " + page + "\n"}}
	if err := withUserFiles(b2, &proxies.UserConfig{Path: filepath.Join(root, "etc/haproxy/errors/x.cfg")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := b2.Files["tree/503.http"]; !ok {
		t.Errorf("without a root: files %v", b2.Files)
	}
	if err := withUserFiles(b2, nil); err != nil {
		t.Fatal(err)
	}
}
