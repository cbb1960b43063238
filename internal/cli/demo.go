package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/reports"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// demoProxy picks nginx when it is installed, else the embedded proxy, and
// says which and why.
func demoProxy(e *env, asked string) string {
	if asked != "" {
		return asked
	}
	if lab.Available("nginx") == nil {
		return "nginx"
	}
	fmt.Fprintln(e.stdout, "nginx is not on PATH: running on the embedded Go proxy (net/http/httputil.ReverseProxy).")
	fmt.Fprintln(e.stdout, "To see the same on nginx: apt-get install nginx-light (Debian/Ubuntu), then run racelab demo again.")
	fmt.Fprintln(e.stdout)
	return "go"
}

func runDemo(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "demo", "demo [flags]", `  racelab demo                 # on nginx when installed, else on the embedded Go proxy
  racelab demo --proxy haproxy # on HAProxy
  racelab demo --proxy go -o demo.jsonl
  racelab demo --pcap pcaps    # each failing trial's packets, for Wireshark
  racelab demo --proxy-from nginx:/etc/nginx/nginx.conf --upstream api   # your own file
`)
	var f runFlags
	f.register(fs, true)
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		e.errorf("demo takes no arguments")
		return ExitUsage
	}
	if f.proxyFrom != "" {
		return demoConfig(ctx, e, &f)
	}
	f.proxy = demoProxy(e, f.proxy)
	if f.out != "" && !strings.HasSuffix(f.out, ".jsonl") {
		e.errorf("-o %q: demo writes two results files; give a path ending in .jsonl", f.out)
		return ExitUsage
	}
	out := f.out
	var sums []results.Summary
	var verdicts []results.Verdict
	var files []string
	var runErr error
	var proxyDesc string
	var sample *results.Record
	// Both scenarios are checked before the first runs: a missing proxy
	// fails once, before any results file exists.
	names := []string{"six-step", "duplicates"}
	scs := make([]*scenarios.Scenario, len(names))
	for i, name := range names {
		sc, err := scenarios.LoadBuiltin(name)
		if err != nil {
			e.errorf("%v", err)
			return ExitFail
		}
		if err := f.apply(sc); err != nil {
			e.errorf("%v", err)
			return ExitUsage
		}
		if code, ok := preflight(ctx, e, sc, 0, 0); !ok {
			return code
		}
		scs[i] = sc
	}
	for i, name := range names {
		sc := scs[i]
		if out != "" {
			f.out = strings.TrimSuffix(out, ".jsonl") + "-" + name + ".jsonl"
		}
		fmt.Fprintf(e.stderr, "running %s on %s...\n", name, f.proxy)
		run, path, err := execute(ctx, e, sc, &f)
		if run == nil {
			e.errorf("%v", err)
			return ExitFail
		}
		files = append(files, path)
		if err != nil {
			runErr = err
		}
		if err := run.Err(); err != nil {
			runErr = err
		}
		sums = append(sums, run.Summaries()...)
		verdicts = append(verdicts, run.Verdicts...)
		for _, c := range run.Cells {
			if sample == nil && c.Params["retry"] == "off" {
				if rec, ok := reports.SampleFailure(c.Records()); ok && rec.Attributed {
					sample = &rec
				}
			}
			if c.Proxy["version"] != "" && proxyDesc == "" {
				proxyDesc = fmt.Sprintf("%s %s", c.Proxy["kind"], c.Proxy["version"])
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	if proxyDesc == "" {
		proxyDesc = f.proxy
	}
	reports.DemoText(e.stdout, proxyDesc, sums, sample)
	reports.VerdictsText(e.stdout, verdicts)
	ok := results.AllPass(verdicts)
	fmt.Fprintf(e.stdout, "\nresults: %s\n", strings.Join(files, ", "))
	if runErr != nil {
		e.errorf("%v", runErr)
		return ExitFail
	}
	if !ok {
		return ExitFail
	}
	return ExitOK
}

// demoConfig is demo --proxy-from: the user's own file against a backend
// that closes first and one that outlives the file's idle timeout, with
// the table, the file's settings and racelab's changes, and the verdict.
func demoConfig(ctx context.Context, e *env, f *runFlags) int {
	kind, path, err := splitProxyFrom(f.proxyFrom)
	if err != nil {
		e.errorf("%v", err)
		return ExitUsage
	}
	if f.proxy != "" || f.version != "" {
		e.errorf("--proxy-from runs the file's own proxy: drop --proxy and --proxy-version")
		return ExitUsage
	}
	sc, err := lab.ConfigDemoScenario(proxies.Kind(kind), path, f.root, f.upstream)
	if err != nil {
		e.errorf("%v", err)
		return ExitUsage
	}
	if f.runtime != "" {
		sc.OverrideRuntime(f.runtime)
	}
	if code, ok := preflight(ctx, e, sc, 0, 0); !ok {
		return code
	}
	fmt.Fprintf(e.stderr, "running your %s configuration %s...\n", kind, path)
	run, file, err := execute(ctx, e, sc, f)
	if run == nil {
		e.errorf("%v", err)
		return ExitFail
	}
	rep := reports.New(run, reports.WithSource(sourceName([]string{file})))
	_ = rep.Table(e.stdout)
	reports.ConfigDemoText(e.stdout, run.Summaries())
	fmt.Fprintf(e.stdout, "\nresults: %s\n", file)
	if err := errors.Join(err, run.Err()); err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	if !rep.Passed() {
		return ExitFail
	}
	return ExitOK
}
