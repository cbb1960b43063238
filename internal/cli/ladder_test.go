package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/images"
)

// requireEngine skips without a Docker engine (failing in CI, which has
// one), and builds the proxy images of the given suites when missing, with
// no registry.
func requireEngine(t *testing.T, suites ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := container.Available(ctx); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI has a Docker engine, but: %v", err)
		}
		t.Skipf("docker engine not reachable: %v (start a Docker engine to run this test)", err)
	}
	for _, s := range suites {
		start := time.Now()
		img, err := images.Build(ctx, s)
		if err != nil {
			t.Fatalf("build %s image: %v", s, err)
		}
		t.Logf("image %s (%v) ready in %s", img.Ref, img.Versions, time.Since(start).Round(time.Second))
	}
}

// The version ladder runs nginx 1.22/1.26/1.30 and HAProxy 2.6/3.0/3.2 in
// containers from images built here, with explicit and default configs,
// and names every behaviour that changed between versions.
func TestVersionLadder(t *testing.T) {
	// Beside the other tests, two cells at once. The ladder compares exact
	// outcome counts across versions: a loaded machine once changed one (a
	// Caddy 2.6 victim read as not reused, because the backend goroutine
	// that records the retired pooled connection's close ran after the
	// victim was classified; the trial now waits for that record). The
	// tests that check nothing is left behind check only their own
	// containers.
	t.Parallel()
	requireEngine(t, "bookworm", "trixie", "sid")
	code, out, errOut := runCLI(t, "run", "version-ladder", "--quiet", "-o", filepath.Join(t.TempDir(), "ladder.jsonl"))
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"nginx-1.22@container", "nginx-1.26@container", "nginx-1.30@container",
		"haproxy-2.6@container", "haproxy-3.0@container", "haproxy-3.2@container",
		"nginx-1.30(defaults)@container", "haproxy-3.2(defaults)@container",
		"What changed between versions:",
		// nginx 1.29.7 made upstream keep-alive the default: the race
		// appears in the defaults variant.
		"nginx (defaults) retry=off method=POST client=fresh fault=close-on-reuse margin=-9s: 1.26 not_reused=3 -> 1.30 proxy_502=3",
		// HAProxy 3.0 drops a fresh client connection where 2.6 said 502.
		"haproxy (explicit) retry=off method=GET client=fresh fault=close-on-reuse margin=-9s: 2.6 proxy_502=3 -> 3.0 client_eof=3",
		// Caddy, Varnish and Squid behave alike across their versions here,
		// and the ladder says so.
		"varnish-7.1@container", "varnish-7.7@container", "squid-5.7@container", "squid-6.13@container", "squid-7.7@container",
		"caddy 2.6 -> 2.11: no change in outcomes (4 settings)",
		"varnish 7.1 -> 7.7: no change in outcomes (4 settings)",
		"squid 5.7 -> 6.13 -> 7.7: no change in outcomes (4 settings)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ladder output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	// This run's containers only.
	m := regexp.MustCompile(`, run (\S+) \(`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in the output:\n%s", out)
	}
	left, err := container.List(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range left {
		t.Errorf("racelab container of run %s left behind: %s (%s, %s)", m[1], c.ID, c.Image, c.State)
	}
}

// SIGINT in the middle of a container run leaves no racelab container.
func TestSIGINTLeavesNoContainer(t *testing.T) {
	t.Parallel()
	requireEngine(t, "bookworm")
	out, _, _, pid := interruptRun(t, 3, 60*time.Second, "run", "six-step", "--proxy", "nginx", "--runtime", "container", "--trials", "50")
	for _, c := range runContainers(t, pid) {
		t.Errorf("racelab container of the interrupted run left behind: %s (%s, %s)", c.ID, c.Image, c.State)
	}
	data, err := os.ReadFile(out)
	if err != nil || bytes.Count(data, []byte(`"type":"trial"`)) < 3 {
		t.Fatalf("results: %v\n%s", err, data)
	}
}
