package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/reports"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// runFlags are the flags shared by run and demo.
type runFlags struct {
	out      string
	proxy    string
	version  string
	runtime  string
	parallel int
	shard    string
	trials   int
	keep     bool
	quiet    bool
	// proxyFrom (KIND:PATH), upstream and root run the user's own proxy
	// configuration file.
	proxyFrom, upstream, root string
	// wire captures the proxy↔backend traffic; pcap is where failing
	// trials' packets go.
	wire bool
	pcap string
	// latency (run only) replaces every cell's path latency.
	latency string
}

func (f *runFlags) register(fs *flag.FlagSet, demo bool) {
	fs.StringVar(&f.out, "o", "", "write results (JSON lines) to this file (default racelab-results/<scenario>-<run>.jsonl)")
	fs.StringVar(&f.proxy, "proxy", "", "run on this proxy kind instead of the scenario's: go, nginx, haproxy, envoy, caddy, apache, varnish, squid")
	fs.StringVar(&f.version, "proxy-version", "", "proxy version: picks the container image, or for the process runtime a binary built at it in $GOPATH/racelab-BINARY/VERSION/ (caddy 2.11)")
	fs.StringVar(&f.runtime, "runtime", "", "runtime for external proxies: process or container")
	fs.StringVar(&f.proxyFrom, "proxy-from", "", "run your own proxy configuration, `KIND:PATH` (nginx, haproxy, envoy, caddy, apache, varnish, squid): the file as written, with racelab's substitutions listed in the results")
	fs.StringVar(&f.upstream, "upstream", "", "with --proxy-from: the nginx upstream, HAProxy backend, Envoy cluster, Caddy reverse_proxy (site address, path matcher or upstream), Apache ProxyPass (path, URL or balancer), Varnish backend or director, or Squid cache_peer (name or host) under test (default: the only one)")
	fs.StringVar(&f.root, "root", "", "with --proxy-from: resolve absolute include paths under `DIR`")
	fs.IntVar(&f.parallel, "parallel", lab.DefaultParallel(), "deterministic cells run at once (timing cells always run alone)")
	fs.IntVar(&f.trials, "trials", 0, "override trials per cell")
	fs.BoolVar(&f.keep, "keep", false, "keep proxies' temp dirs for debugging")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&f.wire, "wire", true, "capture the proxy↔backend traffic on lo and add what it shows to failing records (needs root or CAP_NET_RAW; without them the records say \"capture unavailable\"); --wire=false turns it off")
	fs.StringVar(&f.pcap, "pcap", "", "write each failing trial's reused connection to `DIR`/RUN_CELL_SEQ.pcap, for Wireshark or tshark -r (implies --wire)")
	if !demo {
		fs.StringVar(&f.shard, "shard", "", "run shard K of N of the cells (K/N), for CI jobs that split a matrix")
		fs.StringVar(&f.latency, "latency", "", "one-way latency `DUR` between proxy and backend for every cell (like 5ms; replaces path.latency and the latency axis; never scaled)")
	}
}

// splitProxyFrom splits a --proxy-from value, KIND:PATH.
func splitProxyFrom(v string) (kind, path string, err error) {
	kind, path, ok := strings.Cut(v, ":")
	if !ok || path == "" {
		return "", "", fmt.Errorf("--proxy-from %q: want KIND:PATH, like nginx:/etc/nginx/nginx.conf", v)
	}
	return kind, path, nil
}

// apply applies the overrides to a scenario.
func (f *runFlags) apply(sc *scenarios.Scenario) error {
	if f.proxyFrom != "" {
		kind, path, err := splitProxyFrom(f.proxyFrom)
		if err != nil {
			return err
		}
		if f.proxy != "" || f.version != "" {
			return fmt.Errorf("--proxy-from runs the file's own proxy: drop --proxy and --proxy-version")
		}
		if err := sc.OverrideProxyConfig(kind, path, f.root, f.upstream); err != nil {
			return err
		}
	} else if f.upstream != "" || f.root != "" {
		return fmt.Errorf("--upstream and --root go with --proxy-from")
	}
	if f.proxy != "" {
		sc.OverrideProxy(scenarios.Proxy{Kind: f.proxy, Version: f.version, Runtime: f.runtime})
	} else if f.version != "" {
		return fmt.Errorf("--proxy-version needs --proxy")
	}
	if f.runtime != "" {
		if f.runtime != "process" && f.runtime != "container" {
			return fmt.Errorf("--runtime %q: want process or container", f.runtime)
		}
		sc.OverrideRuntime(f.runtime)
	}
	if f.trials < 0 || f.trials > scenarios.MaxTrialsPerCell {
		return fmt.Errorf("--trials %d: want 1..%d", f.trials, scenarios.MaxTrialsPerCell)
	}
	if f.trials > 0 {
		sc.Base.Trials = f.trials
		if sc.Base.MaxTrials > 0 && sc.Base.MaxTrials < f.trials {
			sc.Base.MaxTrials = f.trials
		}
	}
	if f.parallel < 1 {
		return fmt.Errorf("--parallel %d: want 1 or more", f.parallel)
	}
	if f.pcap != "" {
		if !f.wire {
			return fmt.Errorf("--pcap needs the capture: drop --wire=false")
		}
		if st, err := os.Stat(f.pcap); err == nil && !st.IsDir() {
			return fmt.Errorf("--pcap %s: not a directory", f.pcap)
		}
	}
	if f.latency != "" {
		d, err := scenarios.ParseDuration(f.latency)
		if err != nil {
			return fmt.Errorf("--latency: %w", err)
		}
		if d < 0 || d > scenarios.MaxLatency {
			return fmt.Errorf("--latency %s: want 0 to %s", f.latency, scenarios.FormatDuration(scenarios.MaxLatency))
		}
		sc.OverrideLatency(d)
	}
	return nil
}

// wireOptions checks the capture before the run: with --pcap a capture
// that cannot run is an error; otherwise it is said once here, and every
// failing record says it again.
func (f *runFlags) wireOptions(ctx context.Context, e *env) ([]lab.Option, error) {
	if !f.wire {
		return []lab.Option{lab.WithWire(false)}, nil
	}
	if err := lab.WireAvailable(ctx); err != nil {
		if f.pcap != "" {
			return nil, fmt.Errorf("--pcap %s: %w", f.pcap, err)
		}
		fmt.Fprintf(e.stderr, "racelab: %v; records carry no wire evidence (--wire=false silences this)\n", err)
		return nil, nil
	}
	if f.pcap != "" {
		return []lab.Option{lab.WithPcapDir(f.pcap)}, nil
	}
	return nil, nil
}

func (f *runFlags) shardKN() (int, int, error) {
	if f.shard == "" {
		return 0, 0, nil
	}
	ks, ns, ok := strings.Cut(f.shard, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return 0, 0, fmt.Errorf("--shard %q: want K/N with 1 <= K <= N, like 2/4", f.shard)
	}
	return k, n, nil
}

// openResults creates the results file (and its directory).
func openResults(path, scenario, runID string) (*os.File, string, error) {
	if path == "" {
		path = filepath.Join("racelab-results", fmt.Sprintf("%s-%s.jsonl", scenario, runID))
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, "", fmt.Errorf("create results dir: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("create results file: %w", err)
	}
	return f, path, nil
}

func runRun(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "run", "run [flags] SCENARIO", `  racelab run six-step                      # built-in scenario (racelab scenarios lists them)
  racelab run six-step --proxy nginx        # on nginx (process runtime)
  racelab run six-step --proxy caddy --proxy-version 2.11 --runtime process   # the go-installed Caddy 2.11.9
  racelab run matrix.yaml -o out.jsonl --parallel 2
  racelab run matrix.yaml --shard 1/4       # a CI job's quarter of the cells
  racelab run six-step --pcap pcaps         # failing trials' packets: tshark -r pcaps/RUN_CELL_SEQ.pcap
  racelab run race-window --latency 5ms     # 5ms one way between proxy and backend
`)
	var f runFlags
	f.register(fs, false)
	pos, code, ok := parseInterleaved(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		e.errorf("run takes one scenario (a file or a built-in name); got %d", len(pos))
		return ExitUsage
	}
	sc, err := scenarios.Resolve(pos[0])
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return ExitUsage
	}
	if err := f.apply(sc); err != nil {
		e.errorf("%v", err)
		return ExitUsage
	}
	k, n, err := f.shardKN()
	if err != nil {
		e.errorf("%v", err)
		return ExitUsage
	}
	if _, err := sc.Cells(); err != nil {
		fmt.Fprintln(e.stderr, err)
		return ExitUsage
	}
	if code, ok := preflight(ctx, e, sc, k, n); !ok {
		return code
	}
	run, path, err := execute(ctx, e, sc, &f, lab.WithShard(k, n))
	if run == nil {
		e.errorf("%v", err)
		return ExitFail
	}
	code = ExitOK
	// The same text racelab report FILE --format table prints.
	rep := reports.New(run, reports.WithSource(sourceName([]string{path})))
	_ = rep.Table(e.stdout)
	if !rep.Passed() {
		code = ExitFail
	}
	if err != nil || run.Err() != nil {
		e.errorf("%v", errors.Join(err, run.Err()))
		code = ExitFail
	}
	fmt.Fprintf(e.stdout, "results: %s\n", path)
	return code
}

// execute runs a scenario with results streamed to a file.
func execute(ctx context.Context, e *env, sc *scenarios.Scenario, f *runFlags, extra ...lab.Option) (*results.Run, string, error) {
	runID := lab.NewRunID()
	wireOpts, err := f.wireOptions(ctx, e)
	if err != nil {
		return nil, "", err
	}
	file, path, err := openResults(f.out, sc.Name, runID)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		_ = file.Sync() // the last second's lines (results.SyncEvery)
		_ = file.Close()
	}()
	prog := newProgress(e, f.quiet, progressCells(sc, f), progressOptions{})
	defer prog.Close()
	opts := append([]lab.Option{
		lab.WithRunID(runID),
		lab.WithResults(results.NewWriter(file)),
		lab.WithParallel(f.parallel),
		lab.WithKeep(f.keep),
		lab.WithProgress(prog.callback()),
		lab.WithArgs(os.Args),
	}, append(wireOpts, extra...)...)
	start := time.Now()
	run, err := lab.Run(ctx, sc, opts...)
	prog.Close()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(e.stderr, "racelab: interrupted after %s; every proxy started was stopped; results so far: %s\n", time.Since(start).Round(time.Millisecond), path)
	}
	return run, path, err
}

func runScenarios(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "scenarios", "scenarios [NAME]", "  racelab scenarios            # list\n  racelab scenarios six-step   # print its YAML\n")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() == 1 {
		src, err := scenarios.BuiltinSource(fs.Arg(0))
		if err != nil {
			e.errorf("%v", err)
			return ExitUsage
		}
		_, _ = e.stdout.Write(src)
		return ExitOK
	}
	for _, name := range scenarios.Builtin() {
		sc, err := scenarios.LoadBuiltin(name)
		if err != nil {
			e.errorf("built-in %s: %v", name, err)
			return ExitFail
		}
		cells, _ := sc.Cells()
		desc := sc.Description
		if i := strings.Index(desc, ". "); i > 0 {
			desc = desc[:i+1]
		}
		fmt.Fprintf(e.stdout, "%-22s %3d cells  %s\n", name, len(cells), desc)
	}
	return ExitOK
}
