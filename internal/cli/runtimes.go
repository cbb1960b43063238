package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/racelab/racelab/internal/appserver"
	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/reports"
	"github.com/racelab/racelab/scenarios"
)

// runtimeDefaultWait bounds each wait for a runtime's close at its
// default keep-alive (nginx's 75 s is the longest documented).
const runtimeDefaultWait = 3 * time.Minute

// runBehaviourRuntimes measures every installed runtime at its documented
// default keep-alive, runs the built-in runtimes scenario behind proxy,
// and writes the runtimes page.
func runBehaviourRuntimes(ctx context.Context, e *env, proxy string, trials int, out string, quiet bool) int {
	if err := lab.Available(proxies.Kind(proxy)); err != nil {
		e.errorf("--proxy %s: %v", proxy, err)
		return ExitUsage
	}
	if trials < 0 || trials > 1000 {
		e.errorf("--trials %d: want 1..1000", trials)
		return ExitUsage
	}
	sc, err := scenarios.LoadBuiltin("runtimes")
	if err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	sc.OverrideProxy(scenarios.Proxy{Kind: proxy})
	if trials > 0 {
		sc.Base.Trials = trials
	}
	sweepBeforeRun(ctx, e, false)

	if !quiet {
		fmt.Fprintf(e.stderr, "racelab: measuring every installed runtime at its default keep-alive (up to %s)\n", probeWaitText(runtimeDefaultWait))
	}
	rts := appserver.Runtimes()
	defaults := make([]reports.RuntimeDefault, len(rts))
	var wg sync.WaitGroup
	for i, rt := range rts {
		wg.Go(func() {
			m := lab.MeasureRuntime(ctx, string(rt.Name), 0, 3, runtimeDefaultWait)
			d := reports.RuntimeDefault{Runtime: string(rt.Name), Version: m.Version, Setting: rt.Setting,
				Documented: rt.Default, DocumentedNote: rt.DefaultNote, Result: m.Result, Caveat: rt.Note}
			if m.Err != nil {
				d.Err = m.Err.Error()
			}
			defaults[i] = d
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		e.errorf("%v", ctx.Err())
		return ExitFail
	}
	rep, err := lab.Run(ctx, sc, lab.WithProgress(progressPrinter(e.stderr, quiet)))
	if err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	var buf bytes.Buffer
	if err := reports.RuntimesPage(&buf, defaults, rep, proxy, runtime.GOOS+"/"+runtime.GOARCH); err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	if out == "" {
		_, _ = e.stdout.Write(buf.Bytes())
		return ExitOK
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", out)
	return ExitOK
}

func probeWaitText(d time.Duration) string { return d.String() }
