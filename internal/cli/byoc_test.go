package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racelab/racelab/internal/images"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// byocOriginals are the hostnames and private addresses the example trees
// name (upstream servers, resolvers, syslog targets, health-check
// addresses): none may be what a change writes.
var byocOriginals = []string{
	"api-1.internal.example", "api-2.internal.example", "static.internal.example",
	"metrics.internal.example", "legacy.internal.example", "web.service.internal.example",
	"api.internal.example", "cache-admin.internal.example", "cache-1.internal.example", "edge-2.internal.example",
	"certs.internal.example", "logs.internal.example", "admin.internal.example",
	"10.0.3.17", "10.0.3.18", "10.0.0.2", "10.0.0.3", "10.0.5.20",
	"192.168.40.12", "192.168.40.13",
}

// runBYOC runs a scenario through the CLI, wants exit 0, and returns the
// run read back from its results file.
func runBYOC(t *testing.T, scenario string, extra ...string) *results.Run {
	t.Helper()
	out := filepath.Join(t.TempDir(), "results.jsonl")
	args := append([]string{"run", scenario, "-o", out, "--quiet"}, extra...)
	code, stdout, stderr := runCLI(t, args...)
	if code != ExitOK {
		t.Fatalf("racelab %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	run, err := results.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// TestBYOCExamples runs examples/byoc through the CLI: each passes its
// expectations, and every cell's config facts show the file's route and a
// repointed upstream, with no original address written anywhere.
func TestBYOCExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind     proxies.Kind
		scenario string
		host     string // the route's Host ("" when any host routes)
		repoint  string // the directive naming api-1 before the change
		old      string // how that directive names it
	}{
		{proxies.KindNginx, "../../examples/byoc/nginx.yaml", "shop.example.com", "server", "api-1.internal.example:8080"},
		{proxies.KindHAProxy, "../../examples/byoc/haproxy.yaml", "", "server", "api-1.internal.example:8080"},
		{proxies.KindVarnish, "../../examples/byoc/varnish.yaml", "shop.example.com", ".host", `.host = "api-1.internal.example"; .port = "8080";`},
		{proxies.KindSquid, "../../examples/byoc/squid.yaml", "shop.example.com", "cache_peer", "cache_peer api-1.internal.example parent 8080 "},
		{proxies.KindCaddy, "../../examples/byoc/caddy.yaml", "shop.example.com", "reverse_proxy", "api-1.internal.example:8080"},
		{proxies.KindApache, "../../examples/byoc/apache.yaml", "shop.example.com", "ProxyPass", "api-1.internal.example:8080"},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			t.Parallel() // each example waits on its own idle gaps
			requireProxy(t, c.kind)
			run := runBYOC(t, c.scenario)
			if len(run.Cells) == 0 {
				t.Fatal("no cells in the results")
			}
			for _, cell := range run.Cells {
				cf := cell.Config
				if cf == nil {
					t.Errorf("%s: cell_end has no config facts", cell.ID)
					continue
				}
				if cf.Route.Path != "/api/" || cf.Route.Host != c.host {
					t.Errorf("%s: route %+v, want path /api/ and Host %q", cell.ID, cf.Route, c.host)
				}
				repointed := false
				for _, ch := range cf.Changes {
					if ch.Directive == c.repoint && strings.Contains(ch.Old, c.old) &&
						strings.Contains(ch.New, "127.0.0.1") {
						repointed = true
					}
					for _, a := range byocOriginals {
						if strings.Contains(ch.New, a) {
							t.Errorf("%s: change %s:%d %q → %q writes %s", cell.ID, ch.File, ch.Line, ch.Old, ch.New, a)
						}
					}
				}
				if !repointed {
					t.Errorf("%s: no change repoints %s to 127.0.0.1: %+v", cell.ID, c.old, cf.Changes)
				}
			}
		})
	}
}

// copyTree copies the example tree src to dst and applies edits to the
// HAProxy file (old → new, each must match once).
func copyHAProxyTree(t *testing.T, dst string, edits ...[2]string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS("../../examples/byoc/haproxy/before")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dst, "etc/haproxy/haproxy.cfg")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, e := range edits {
		if strings.Count(s, e[0]) != 1 {
			t.Fatalf("%q occurs %d times in the example, want once", e[0], strings.Count(s, e[0]))
		}
		s = strings.Replace(s, e[0], e[1], 1)
	}
	if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBYOCHAProxyRetryOnDecidesReuse runs two edits of the HAProxy
// example. With retry-on reduced to conn-failure, http-reuse safe keeps a
// fresh client's first request off the pooled connection (not_reused, and
// the cell says the race cannot happen), while a persistent client's
// second request can meet the closed connection and fail: the example's
// retry-on both hid that failure and let first requests be reused
// (HAProxy treats conn-failure + empty-response + response-timeout as
// retry-safe). With "http-request disable-l7-retry if !METH_GET", a POST
// the backend ran fails instead of running twice.
//
// The persistent cells assert ">0", not "==1": each of the two servers has
// its own pool and roundrobin alternates them, and HAProxy closes an idle
// connection beyond the one it needs, so only some victims find a stale
// pooled connection (2 of 4 on HAProxy 2.6). A failed request that was not
// the client connection's first is answered by closing the client
// connection (client_eof), not by a 502, so the client may retry it.
func TestBYOCHAProxyRetryOnDecidesReuse(t *testing.T) {
	requireProxy(t, proxies.KindHAProxy)
	dir := t.TempDir()
	copyHAProxyTree(t, filepath.Join(dir, "connfail"),
		[2]string{"retry-on conn-failure empty-response response-timeout", "retry-on conn-failure"})
	copyHAProxyTree(t, filepath.Join(dir, "nowrite"),
		[2]string{"    http-check expect status 200\n", "    http-check expect status 200\n    http-request disable-l7-retry if !METH_GET\n"})
	scenario := filepath.Join(dir, "reuse.yaml")
	yaml := `name: byoc-haproxy-reuse
timescale: 0.02
base:
  backend_keepalive: 5s
  trials: 4
  fault: processed-then-dropped
matrix:
  proxy:
    - {name: connfail, kind: haproxy, config: connfail/etc/haproxy/haproxy.cfg, root: connfail, upstream: api}
    - {name: nowrite, kind: haproxy, config: nowrite/etc/haproxy/haproxy.cfg, root: nowrite, upstream: api}
  method: [GET, POST]
  client: [persistent, fresh]
expect:
  - name: http-reuse safe keeps a fresh client's first request off the pooled connection
    where: {proxy: connfail, client: fresh}
    not_reused: ">0"
    failure_rate: "0"
  - name: without empty-response retries a reused dead connection fails, with evidence
    where: {proxy: connfail, client: persistent}
    failure_rate: ">0"
    attributed: "==1"
  - name: no layer-7 retry for POST, a failure instead of a second execution
    where: {proxy: nowrite, method: POST}
    failure_rate: ">0"
    attributed: "==1"
    duplicates: "0"
  - name: GET is still retried
    where: {proxy: nowrite, method: GET}
    failure_rate: "0"
    hidden_retries: ">0"
`
	if err := os.WriteFile(scenario, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := runBYOC(t, scenario)
	fresh := 0
	for _, cell := range run.Cells {
		s := cell.Summary()
		if cell.Params["client"] == "persistent" && cell.Params["method"] == "POST" {
			// Not the client connection's first request: HAProxy closes
			// the client connection instead of answering 502.
			if n := s.Counts[results.ClientEOF]; n == 0 || s.Counts[results.Proxy502] != 0 {
				t.Errorf("%s: outcomes %v, want client_eof and no proxy_502", cell.ID, s.Counts)
			}
		}
		if cell.Params["proxy"] != "connfail" || cell.Params["client"] != "fresh" {
			continue
		}
		fresh++
		if n := s.Counts[results.NotReused]; n != s.Trials {
			t.Errorf("%s: %d of %d victims not_reused (%v), want all", cell.ID, n, s.Trials, s.Counts)
		}
		if !strings.Contains(cell.Note, "the race cannot happen") {
			t.Errorf("%s: note %q does not say the race cannot happen", cell.ID, cell.Note)
		}
	}
	if fresh != 2 {
		t.Fatalf("%d fresh-client cells of connfail, want 2", fresh)
	}
}

// TestBYOCContainer runs the examples' before configurations in containers
// of the bookworm image (nginx 1.22, HAProxy 2.6): the rewritten file runs
// there as on the host. nginx fails every POST with an attributed 502 and
// its own log line for it; HAProxy reads its errorfile from the copy the
// container runtime injects and replays the POST the backend ran.
func TestBYOCContainer(t *testing.T) {
	requireEngine(t, "bookworm")
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ex, err := filepath.Abs("../../examples/byoc")
	if err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(t.TempDir(), "container.yaml")
	yaml := `name: byoc-container
timescale: 0.02
base:
  backend_keepalive: 5s
  trials: 4
  method: POST
matrix:
  proxy:
    - {name: nginx, kind: nginx, runtime: container, version: "1.22", config: ` + ex + `/nginx/before/etc/nginx/nginx.conf, root: ` + ex + `/nginx/before, upstream: api_backend}
    - {name: haproxy, kind: haproxy, runtime: container, version: "2.6", config: ` + ex + `/haproxy/before/etc/haproxy/haproxy.cfg, root: ` + ex + `/haproxy/before, upstream: api}
  fault: [processed-then-dropped]
expect:
  - name: nginx 1.22 in a container fails POST on the reused connection, with evidence
    where: {proxy: nginx}
    failure_rate: "==1"
    attributed: "==1"
    not_reused: "0"
  - name: HAProxy 2.6 in a container replays the POST the backend ran
    where: {proxy: haproxy}
    failure_rate: "0"
    duplicates: ">0"
    not_reused: "0"
`
	if err := os.WriteFile(scenario, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := runBYOC(t, scenario)
	if len(run.Cells) != 2 {
		t.Fatalf("%d cells, want 2", len(run.Cells))
	}
	for _, cell := range run.Cells {
		if cell.Proxy["runtime"] != "container" || cell.Proxy["image_id"] == "" {
			t.Errorf("%s: proxy facts %v, want a container with an image id", cell.ID, cell.Proxy)
		}
		if cell.Config == nil || cell.Config.Route.Path != "/api/" {
			t.Errorf("%s: config facts %+v, want route /api/", cell.ID, cell.Config)
		}
		switch cell.Params["proxy"] {
		case "nginx":
			if v := cell.Proxy["version"]; !strings.HasPrefix(v, "1.22.") {
				t.Errorf("%s: nginx %s, want 1.22", cell.ID, v)
			}
			evidence := false
			for _, r := range cell.Sample {
				for _, ev := range r.Proxy {
					if strings.Contains(ev.Raw, "upstream prematurely closed connection") {
						evidence = true
					}
				}
			}
			if !evidence {
				t.Errorf("%s: no nginx log line says the upstream closed the connection", cell.ID)
			}
		case "haproxy":
			copied := false
			for _, ch := range cell.Config.Changes {
				if ch.Directive == "file" && strings.HasSuffix(ch.Old, "/errors/503.http") {
					copied = true
				}
			}
			if !copied {
				t.Errorf("%s: no change copies the errorfile into the container: %+v", cell.ID, cell.Config.Changes)
			}
		}
	}
}

// TestBYOCContainerCaddyApache runs the Caddy and Apache examples' before
// configurations in containers of the trixie image: the rewritten files
// run there as on the host (Caddy's HOME is the container's own), and
// both fail every POST with the race's evidence.
func TestBYOCContainerCaddyApache(t *testing.T) {
	t.Parallel()
	requireEngine(t)
	img, err := images.Build(t.Context(), "trixie")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := filepath.Abs("../../examples/byoc")
	if err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(t.TempDir(), "container.yaml")
	yaml := `name: byoc-container-caddy-apache
timescale: 0.4
base:
  backend_keepalive: 5s
  trials: 2
  method: POST
matrix:
  proxy:
    - {name: caddy, kind: caddy, runtime: container, version: "` + img.Versions["caddy"] + `", config: ` + ex + `/caddy/before/etc/caddy/Caddyfile, root: ` + ex + `/caddy/before, upstream: /api/*}
    - {name: apache, kind: apache, runtime: container, version: "` + img.Versions["apache"] + `", config: ` + ex + `/apache/before/etc/apache2/apache2.conf, root: ` + ex + `/apache/before, upstream: /api/}
expect:
  - name: both fail every POST on the reused connection, with evidence
    failure_rate: "==1"
    attributed: "==1"
    not_reused: "0"
`
	if err := os.WriteFile(scenario, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	run := runBYOC(t, scenario)
	if len(run.Cells) != 2 {
		t.Fatalf("%d cells, want 2", len(run.Cells))
	}
	for _, cell := range run.Cells {
		if cell.Proxy["runtime"] != "container" || cell.Proxy["image_id"] == "" {
			t.Errorf("%s: proxy facts %v, want a container with an image id", cell.ID, cell.Proxy)
		}
		if cell.Config == nil || cell.Config.Route.Path != "/api/" {
			t.Errorf("%s: config facts %+v, want route /api/", cell.ID, cell.Config)
		}
	}
}
