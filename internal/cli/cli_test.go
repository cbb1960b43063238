package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/internal/images"
	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// The long tests here spend their time waiting on idle gaps and timers,
// not on the CPU (a whole run of the package uses about 40 s of CPU in
// five minutes), so the longest ones call t.Parallel and run two at a time
// (go test's -parallel, GOMAXPROCS by default). A test stays sequential
// when it changes the process environment (t.Setenv), kills processes, or
// checks what is left on the machine or the Docker engine afterwards:
// parallel tests only start once every sequential one has finished.

// runCLI runs racelab in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := MainContext(ctx, args, os.Getenv, &out, &errb)
	return code, out.String(), errb.String()
}

// requireProxy skips without the proxy, except in CI, where the test
// command installs nginx and HAProxy and a skip would hide a gap.
func requireProxy(t *testing.T, kind proxies.Kind) {
	t.Helper()
	if err := lab.Available(kind); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s must be installed in CI (scripts/test.sh installs it): %v", kind, err)
		}
		t.Skipf("%s not installed (apt-get install nginx-light haproxy varnish squid): %v", kind, err)
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nbase:\n  proxy_idle: 60\n  retyr: off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{nil, ExitUsage, "Usage:"},
		{[]string{"help"}, ExitOK, "Commands:"},
		{[]string{"--help"}, ExitOK, "Examples:"},
		{[]string{"nope"}, ExitUsage, `unknown command "nope"`},
		{[]string{"version"}, ExitOK, "racelab "},
		{[]string{"run"}, ExitUsage, "run takes one scenario"},
		{[]string{"run", "-h"}, ExitOK, "racelab run six-step"},
		{[]string{"run", bad}, ExitUsage, bad + ":3:15: base.proxy_idle: duration 60 has no unit: write 60s"},
		{[]string{"run", bad}, ExitUsage, bad + `:4:3: base: unknown field "retyr" (did you mean "retry"?)`},
		{[]string{"run", "no-such-builtin"}, ExitUsage, "no built-in scenario"},
		{[]string{"run", "six-step", "--shard", "5/4"}, ExitUsage, "--shard"},
		{[]string{"run", "six-step", "--runtime", "vm"}, ExitUsage, "--runtime"},
		{[]string{"run", "six-step", "--proxy", "lighttpd"}, ExitUsage, `proxy kind "lighttpd"`},
		{[]string{"run", "six-step", "--bogus"}, ExitUsage, "flag provided but not defined"},
		{[]string{"run", "six-step", "--pcap", dir, "--wire=false"}, ExitUsage, "--pcap needs the capture"},
		{[]string{"run", "six-step", "--pcap", bad}, ExitUsage, "not a directory"},
		{[]string{"validate", "six-step", "margin-sweep"}, ExitOK, "ok: scenario margin-sweep"},
		{[]string{"validate", bad}, ExitUsage, "duration 60 has no unit"},
		{[]string{"scenarios"}, ExitOK, "six-step"},
		{[]string{"scenarios", "production"}, ExitOK, "preset: [node"},
		{[]string{"demo", "extra"}, ExitUsage, "demo takes no arguments"},
		{[]string{"guard", "--backend-keepalive", "60", "--proxy-idle", "60s"}, ExitUsage, "60"},
		{[]string{"guard", "--backend-keepalive", "65s", "--proxy-idle", "60s", "--margin", "2s"}, ExitOK, "PASS"},
		{[]string{"guard", "--backend-keepalive", "5s", "--proxy-idle", "60s"}, ExitFail, "FAIL"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("racelab %s: exit %d (want %d), want %q in output:\n%s%s", strings.Join(c.args, " "), code, c.code, c.want, out, errOut)
		}
	}
}

// A violated expectation exits 1 with a message that names the cell, the
// expected value and the measured one with its interval.
func TestViolatedExpectationExits1(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "wrong.yaml")
	src := `name: wrong
timescale: 0.02
base: {proxy_idle: 10s, backend_keepalive: 1s, trials: 3}
expect:
  - name: nothing fails
    failure_rate: "0"
`
	if err := os.WriteFile(sc, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "run", sc, "-o", filepath.Join(dir, "out.jsonl"), "--quiet")
	want := "FAIL  nothing fails: cell wrong: failure rate: expected 0, measured 3/3 100% [44%, 100%]"
	if code != ExitFail || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want 1 and %q:\n%s%s", code, want, out, errOut)
	}
}

func TestDemoOnNginx(t *testing.T) {
	t.Parallel()
	requireProxy(t, proxies.KindNginx)
	code, out, errOut := runCLI(t, "demo", "-o", filepath.Join(t.TempDir(), "demo.jsonl"), "--quiet")
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"The keep-alive race on nginx",
		"(a) backend keep-alive 1s < proxy idle 10s",
		"the proxy's error log: upstream prematurely closed connection",
		"(b) the fix", "(c) timeouts still wrong", "(d) the backend ran the handler",
		"every failure carries the backend's evidence",
		"hidden retries the client never saw",
		"retries execute the request twice",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NOT SHOWN") || strings.Contains(out, "FAIL ") {
		t.Errorf("demo did not show everything:\n%s", out)
	}
}

// With nginx absent from PATH the demo runs on the embedded proxy and says
// how to install nginx.
func TestDemoWithoutNginx(t *testing.T) {
	t.Parallel()
	code, out, errOut := racelabChild(t, 5*time.Minute, []string{"PATH=" + t.TempDir()}, "demo", "-o", filepath.Join(t.TempDir(), "demo.jsonl"), "--quiet")
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"nginx is not on PATH: running on the embedded Go proxy",
		"apt-get install nginx-light",
		"The keep-alive race on go ",
		"16 of 16 requests failed",
		"0 of 16 requests failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NOT SHOWN") {
		t.Errorf("demo did not show everything:\n%s", out)
	}
}

// Every built-in scenario runs green on the embedded proxy, nginx and
// HAProxy (the version ladder, which needs containers, has its own test).
func TestBuiltinsGreen(t *testing.T) {
	t.Parallel()
	trials := map[string]string{"race-window": "150", "residual": "30", "latency-window": "99", "natural-race": "24"}
	for _, kind := range []proxies.Kind{proxies.KindGo, proxies.KindNginx, proxies.KindHAProxy} {
		for _, name := range []string{"six-step", "duplicates", "margin-sweep", "retry-boundary", "production", "residual", "race-window", "latency-window", "natural-race"} {
			if name == "natural-race" && kind != proxies.KindHAProxy {
				continue // TestDemoNatural runs it on go and nginx
			}
			t.Run(string(kind)+"/"+name, func(t *testing.T) {
				t.Parallel()
				requireProxy(t, kind)
				n := trials[name]
				if n == "" {
					n = "4"
				}
				file := filepath.Join(t.TempDir(), name+".jsonl")
				code, out, errOut := runCLI(t, "run", name, "--proxy", string(kind), "--trials", n, "--quiet", "-o", file)
				if code != ExitOK {
					t.Fatalf("exit %d:\n%s%s\nunattributed failures:\n%s", code, out, errOut, unattributed(t, file))
				}
				if !strings.Contains(out, "PASS") {
					t.Fatalf("no expectation checked:\n%s", out)
				}
				if (name == "race-window" || name == "latency-window") && !strings.Contains(out, "width") {
					t.Errorf("no race window reported:\n%s", out)
				}
			})
		}
	}
}

// SIGINT in the middle of a run on nginx: the command exits, no nginx it
// started is left, and every line of the results file parses.
func TestSIGINTLeavesNoProxyAndValidResults(t *testing.T) {
	t.Parallel()
	requireProxy(t, proxies.KindNginx)
	out, code, stderr, _ := interruptRun(t, 5, 30*time.Second, "run", "margin-sweep", "--proxy", "nginx", "--trials", "50")
	if code != ExitFail {
		t.Errorf("exit %d, want 1 for an interrupted run", code)
	}
	if !strings.Contains(stderr, "interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", stderr)
	}
	checkResultsAndPIDs(t, out)
}

// interruptRun builds racelab, runs it with args (and -o FILE), sends
// SIGINT once the results file holds minTrials trials, and waits up to
// stopWithin for it to exit. It returns the results file, the exit code,
// stderr and the process id (the owner mark of what it started).
func interruptRun(t *testing.T, minTrials int, stopWithin time.Duration, args ...string) (string, int, string, int) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "racelab")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/racelab").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out.jsonl")
	cmd := exec.Command(bin, append(args, "-o", out, "--quiet")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(out)
		if bytes.Count(data, []byte(`"type":"trial"`)) >= minTrials {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(stopWithin):
		_ = cmd.Process.Kill()
		t.Fatalf("racelab did not stop within %s of SIGINT:\n%s", stopWithin, stderr.String())
	}
	return out, cmd.ProcessState.ExitCode(), stderr.String(), cmd.Process.Pid
}

// Shards of one matrix run separately and merge into one report: every
// cell once, and expectations whose cells sit in the other shard do not
// fail a shard.
func TestShardsMergeIntoOneReport(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, k := range []string{"1/2", "2/2"} {
		f := filepath.Join(dir, strings.Replace(k, "/", "of", 1)+".jsonl")
		code, out, errOut := runCLI(t, "run", "retry-boundary", "--proxy", "go", "--trials", "2", "--shard", k, "--quiet", "-o", f)
		if code != ExitOK {
			t.Fatalf("shard %s: exit %d\n%s%s", k, code, out, errOut)
		}
		files = append(files, f)
	}
	code, out, errOut := runCLI(t, append([]string{"report", "--format", "csv"}, files...)...)
	if code != ExitOK {
		t.Fatalf("merged report: exit %d\n%s%s", code, out, errOut)
	}
	if rows := strings.Count(strings.TrimSpace(out), "\n"); rows != 12 {
		t.Errorf("merged CSV has %d cell rows, want the matrix's 12:\n%s", rows, out)
	}
	code, _, errOut = runCLI(t, "report", files[0], files[0])
	if code != ExitFail || !strings.Contains(errOut, "is in both") {
		t.Errorf("the same shard twice: exit %d, %s", code, errOut)
	}

	// --complete: both shards hold every cell; one shard alone passes its
	// expectations but misses half the cells, and says which.
	code, _, errOut = runCLI(t, append([]string{"report", "--scenario", "retry-boundary", "--complete"}, files...)...)
	if code != ExitOK {
		t.Errorf("both shards, --complete: exit %d, %s", code, errOut)
	}
	junit := filepath.Join(dir, "junit.xml")
	code, _, errOut = runCLI(t, "report", files[0], "--scenario", "retry-boundary", "--complete", "--format", "junit", "-o", junit)
	if code != ExitFail || !strings.Contains(errOut, "6 problem(s) with the cells of scenario retry-boundary") ||
		!strings.Contains(errOut, "(index 1) is not in the results") {
		t.Errorf("one shard of two, --complete: exit %d, %s", code, errOut)
	}
	if _, err := os.Stat(junit); err != nil {
		t.Errorf("an incomplete merge still writes its report: %v", err)
	}
}

func TestIncomplete(t *testing.T) {
	cells := []scenarios.Cell{{ID: "a", Index: 0}, {ID: "b", Index: 1}, {ID: "c", Index: 2}}
	got := incomplete(cells, []results.Summary{
		{Cell: "a", Trials: 3},
		{Cell: "b", Trials: 1, Error: "start proxy: boom"},
		{Cell: "z", Trials: 3},
	})
	want := []string{
		"cell b did not run to the end: start proxy: boom",
		"cell c (index 2) is not in the results",
		"cell z is not a cell of the scenario",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := incomplete(cells[:1], []results.Summary{{Cell: "a"}}); len(got) != 1 || got[0] != "cell a recorded no trial" {
		t.Errorf("a cell with no trial: %q", got)
	}
	if got := incomplete(cells[:1], []results.Summary{{Cell: "a", Trials: 1}}); len(got) != 0 {
		t.Errorf("a complete run: %q", got)
	}
}

// -h prints the usage exactly once, on stdout, and exits 0, for every
// command; so does help COMMAND.
func TestHelpOncePerCommand(t *testing.T) {
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}} {
			code, out, errOut := runCLI(t, args...)
			if code != ExitOK {
				t.Errorf("racelab %s: exit %d, want 0", strings.Join(args, " "), code)
			}
			if n := strings.Count(out, "Usage:"); n != 1 {
				t.Errorf("racelab %s: usage printed %d times on stdout, want once:\n%s", strings.Join(args, " "), n, out)
			}
			if !strings.Contains(out, "Usage: racelab "+c.name) || !strings.Contains(out, "Examples:\n  racelab "+c.name) {
				t.Errorf("racelab %s: help lacks its synopsis or an example:\n%s", strings.Join(args, " "), out)
			}
			if errOut != "" {
				t.Errorf("racelab %s: stderr %q, want nothing", strings.Join(args, " "), errOut)
			}
		}
	}
	// Subcommands of images too.
	for _, sub := range []string{"build", "list", "prune"} {
		code, out, errOut := runCLI(t, "images", sub, "-h")
		if code != ExitOK || strings.Count(out, "Usage:") != 1 || errOut != "" {
			t.Errorf("racelab images %s -h: exit %d, stdout:\n%s\nstderr:\n%s", sub, code, out, errOut)
		}
	}
}

// A bad flag prints the error and a hint on stderr, not the whole usage,
// and exits 2: the same for every command.
func TestBadFlagOncePerCommand(t *testing.T) {
	for _, c := range commands() {
		if c.run == nil {
			continue
		}
		args := []string{c.name, "--no-such-flag"}
		if c.name == "images" {
			args = []string{"images", "build", "--no-such-flag"}
		}
		code, out, errOut := runCLI(t, args...)
		if code != ExitUsage || out != "" {
			t.Errorf("racelab %s: exit %d (want 2), stdout %q", strings.Join(args, " "), code, out)
		}
		if strings.Count(errOut, "flag provided but not defined: -no-such-flag") != 1 || strings.Contains(errOut, "Usage:") {
			t.Errorf("racelab %s: stderr:\n%s", strings.Join(args, " "), errOut)
		}
		if !strings.Contains(errOut, "-h' for usage") {
			t.Errorf("racelab %s: no usage hint:\n%s", strings.Join(args, " "), errOut)
		}
	}
}

// images and guard use the CLI's flags, help and exit codes.
func TestImagesAndGuardDialect(t *testing.T) {
	if guard.ExitPass != ExitOK || guard.ExitFail != ExitFail || guard.ExitUnusable != ExitUsage ||
		images.ExitOK != ExitOK || images.ExitFail != ExitFail || images.ExitUsage != ExitUsage {
		t.Fatal("exit codes differ between cli, guard and images")
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"images"}, ExitUsage, "Usage: racelab images <command>"},
		{[]string{"images", "help"}, ExitOK, "racelab images build -suite bookworm"},
		{[]string{"images", "push"}, ExitUsage, `images: unknown command "push"`},
		{[]string{"images", "build", "-suite", "bookworm,jammy"}, ExitUsage, `-suite: "jammy" is not a Debian suite`},
		{[]string{"images", "build", "-suite", ","}, ExitUsage, "names no suite"},
		{[]string{"images", "list", "extra"}, ExitUsage, `unexpected argument "extra"`},
		{[]string{"images", "build", "-h"}, ExitOK, "-mirror url"},
		{[]string{"guard", "-h"}, ExitOK, "backend_keepalive >= proxy_idle + margin"},
		{[]string{"guard", "-h"}, ExitOK, "-proxy-from KIND:PATH"},
		{[]string{"guard"}, ExitUsage, "guard: give exactly one of --backend-keepalive and --backend-from"},
		{[]string{"guard", "--backend-keepalive", "65s", "--proxy-idle", "60s", "extra"}, ExitUsage, `unexpected argument "extra"`},
		{[]string{"guard", "--backend-keepalive", "65s", "--proxy-from", "nginx:/no/such.conf"}, ExitUsage, "no such file"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("racelab %s: exit %d (want %d), want %q in output:\n%s%s", strings.Join(c.args, " "), code, c.code, c.want, out, errOut)
		}
	}
}

// A run whose proxy is not installed stops before any cell, with one
// message that names the missing binary once, exit 2, and no results
// file.
func TestRunPreflightMissingProxy(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	out := filepath.Join(dir, "results", "out.jsonl")
	code, stdout, errOut := runCLI(t, "run", "six-step", "--proxy", "envoy", "--quiet", "-o", out)
	if code != ExitUsage {
		t.Errorf("exit %d, want 2\n%s%s", code, stdout, errOut)
	}
	if n := strings.Count(errOut, "- envoy binary ("); n != 1 {
		t.Errorf("envoy named %d times, want once:\n%s", n, errOut)
	}
	for _, want := range []string{"racelab: preflight: 1 thing the run needs is missing", "Debian does not package Envoy", "--runtime container"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "start envoy") {
		t.Errorf("cells ran:\n%s", errOut)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("results file written: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(out)); !os.IsNotExist(err) {
		t.Errorf("results dir created: %v", err)
	}
	// The embedded proxy needs nothing on PATH: preflight lets it run.
	code, _, errOut = runCLI(t, "run", "six-step", "--proxy", "go", "--trials", "1", "--quiet", "-o", out)
	if code != ExitOK {
		t.Errorf("embedded proxy: exit %d\n%s", code, errOut)
	}
}
