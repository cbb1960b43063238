package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/reports"
)

func runBehaviour(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "behaviour", "behaviour [-o FILE] | behaviour --runtimes [--proxy KIND] [-o FILE]", `  racelab behaviour                        # print the table for every proxy installed here
  racelab behaviour -o docs/behaviour.md   # regenerate the docs page
  racelab behaviour --runtimes -o docs/runtimes.md
                                           # measure every installed runtime (Node.js, gunicorn,
                                           # uvicorn, Puma, Tomcat, Apache, nginx) at its default
                                           # keep-alive, run the built-in runtimes scenario, write the page
`)
	out := fs.String("o", "", "write the Markdown page to this file instead of stdout")
	trials := fs.Int("trials", 2, "trials per cell (deterministic: every trial behaves alike; with --runtimes: the scenario's 12 when unset)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	rts := fs.Bool("runtimes", false, "measure the real runtimes instead of the proxies (docs/runtimes.md)")
	proxy := fs.String("proxy", "nginx", "with --runtimes: the proxy in front of the runtimes (go, nginx, haproxy, envoy)")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if *rts {
		n := 0
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "trials" {
				n = *trials
			}
		})
		return runBehaviourRuntimes(ctx, e, *proxy, n, *out, *quiet)
	}
	if fs.NArg() > 0 || *trials < 1 || *trials > 100 {
		e.errorf("behaviour takes no arguments and --trials 1..100")
		return ExitUsage
	}
	kinds := lab.AvailableKinds()
	sc := lab.BehaviourScenario(kinds, *trials)
	sweepBeforeRun(ctx, e, false)
	rep, err := lab.Run(ctx, sc, lab.WithProgress(progressPrinter(e.stderr, *quiet)))
	if err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	if err := rep.Err(); err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	var buf bytes.Buffer
	if err := reports.BehaviourPage(&buf, reports.BehaviourCells(rep), runtime.GOOS+"/"+runtime.GOARCH); err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	if *out == "" {
		_, _ = e.stdout.Write(buf.Bytes())
		return ExitOK
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return ExitOK
}
