package lab

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// originalAddrs are the hostnames and IPv4 addresses a configuration tree
// names: internal names and every address but loopback and wildcards.
// Networks (allow 10.0.0.0/8) are access rules, not places racelab could
// contact, and are left out.
var (
	internalName = regexp.MustCompile(`[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.internal\.example`)
	ipv4         = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b(/\d+)?`)
)

func originalAddrs(t *testing.T, root string) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range internalName.FindAllString(string(b), -1) {
			seen[m] = true
		}
		for _, m := range ipv4.FindAllString(string(b), -1) {
			if strings.Contains(m, "/") || strings.HasPrefix(m, "127.") || m == "0.0.0.0" {
				continue
			}
			seen[m] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for a := range seen {
		out = append(out, a)
	}
	return out
}

// TestConfigRenderedHasNoOriginalAddress runs one cell of each example
// configuration with the proxy's directory kept, and reads every file
// racelab wrote there: no hostname or address of the user's tree may
// survive, so none can be resolved or contacted.
func TestConfigRenderedHasNoOriginalAddress(t *testing.T) {
	cases := []struct {
		kind     proxies.Kind
		scenario string
		tree     string
		// must is a name the test's pattern has to find in the tree, so an
		// empty list cannot pass by accident.
		must []string
		// aclKept are addresses the rewrite keeps on purpose: values of an
		// access-control list, which the proxy matches a client or
		// destination address against and never contacts. They must be
		// in the tree; the search leaves them out.
		aclKept []string
	}{
		{proxies.KindNginx, "../examples/byoc/nginx.yaml", "../examples/byoc/nginx/before",
			[]string{"api-1.internal.example", "10.0.3.17", "10.0.0.2", "metrics.internal.example", "192.168.40.12"}, nil},
		{proxies.KindHAProxy, "../examples/byoc/haproxy.yaml", "../examples/byoc/haproxy/before",
			[]string{"api-1.internal.example", "10.0.3.17", "10.0.0.2", "_http._tcp.web.service.internal.example", "10.0.5.20", "192.168.40.13"}, nil},
		{proxies.KindVarnish, "../examples/byoc/varnish.yaml", "../examples/byoc/varnish/before",
			[]string{"api-1.internal.example", "api.internal.example", "10.0.3.17", "192.168.40.12", "cache-admin.internal.example"},
			[]string{"192.168.40.0", "10.0.5.20"}},
		{proxies.KindSquid, "../examples/byoc/squid.yaml", "../examples/byoc/squid/before",
			[]string{"api-1.internal.example", "edge-2.internal.example", "10.0.3.17", "10.0.0.2", "192.168.40.12", "legacy.internal.example"},
			[]string{"192.168.40.13"}},
		{proxies.KindCaddy, "../examples/byoc/caddy.yaml", "../examples/byoc/caddy/before",
			[]string{"api-1.internal.example", "10.0.3.17", "10.0.0.2", "_http._tcp.web.service.internal.example", "certs.internal.example", "192.168.40.12"}, nil},
		{proxies.KindApache, "../examples/byoc/apache.yaml", "../examples/byoc/apache/before",
			[]string{"api-1.internal.example", "10.0.3.17", "10.0.0.2", "logs.internal.example", "metrics.internal.example", "192.168.40.12"}, nil},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			if err := Available(c.kind); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s must be installed in CI: %v", c.kind, err)
				}
				t.Skipf("%s not installed (apt-get install nginx-light haproxy caddy apache2): %v", c.kind, err)
			}
			addrs := originalAddrs(t, c.tree)
			for _, k := range c.aclKept {
				if !slices.Contains(addrs, k) {
					t.Fatalf("kept ACL address %s is not in the tree's addresses %v", k, addrs)
				}
				addrs = slices.DeleteFunc(addrs, func(a string) bool { return a == k })
			}
			for _, m := range c.must {
				if !slices.Contains(addrs, m) {
					t.Fatalf("the tree's addresses %v lack %s: the pattern misses some", addrs, m)
				}
			}
			sc, err := scenarios.LoadFile(c.scenario)
			if err != nil {
				t.Fatal(err)
			}
			cells, err := sc.Cells()
			if err != nil {
				t.Fatal(err)
			}
			var cell *scenarios.Cell
			for i := range cells {
				if cells[i].Params["proxy"] == "before" {
					cell = &cells[i]
					break
				}
			}
			if cell == nil {
				t.Fatalf("%s has no cell of proxy before", c.scenario)
			}
			cell.Trials = 1
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var buf bytes.Buffer
			res := RunCell(ctx, cell, WithKeep(true), WithResults(results.NewWriter(&buf)))
			dir := res.Result.Cell.Proxy["dir"]
			if dir == "" {
				dir = res.Result.Cell.Proxy["config_dir"]
			}
			if dir != "" {
				t.Cleanup(func() { os.RemoveAll(dir) })
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if dir == "" {
				t.Fatalf("cell_end proxy facts name no directory: %v", res.Result.Cell.Proxy)
			}
			read := 0
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				read++
				for _, a := range addrs {
					if bytes.Contains(b, []byte(a)) {
						t.Errorf("%s names %s of the user's configuration", path, a)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("read %d files racelab wrote in %s; none names any of %d original addresses", read, dir, len(addrs))
			if read == 0 {
				t.Fatalf("no file in %s", dir)
			}
			for _, ch := range res.Result.Cell.Config.Changes {
				for _, a := range addrs {
					if strings.Contains(ch.New, a) {
						t.Errorf("change %s:%d %q → %q keeps %s", ch.File, ch.Line, ch.Old, ch.New, a)
					}
				}
			}
		})
	}
}

// With no envoy binary to ask, CheckConfigs still renders a bootstrap and
// checks it against Envoy's schema: an unknown cluster is named, with the
// ones that exist, before any cell runs. (With a binary it runs
// `envoy --mode validate`; nginx and HAProxy are covered by the CLI's
// bad-config test.)
func TestCheckConfigsEnvoyOffline(t *testing.T) {
	edge, err := filepath.Abs("../proxies/envoy/testdata/user/edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cell := func(cluster string) scenarios.Cell {
		return scenarios.Cell{ID: "c", Timescale: 0.01, Proxy: scenarios.Proxy{Kind: "envoy", Config: edge, Upstream: cluster}}
	}
	if err := CheckConfigs(context.Background(), []scenarios.Cell{cell("payments")}); err != nil {
		t.Fatalf("a good bootstrap: %v", err)
	}
	err = CheckConfigs(context.Background(), []scenarios.Cell{cell("nope"), cell("nope")})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "payments") {
		t.Fatalf("unknown cluster: %v", err)
	}
	if strings.Count(err.Error(), `no cluster "nope"`) != 1 || strings.Count(err.Error(), edge) != 1 {
		t.Errorf("the same file is checked once: %v", err)
	}
}
