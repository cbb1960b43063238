package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/owner"
	"github.com/racelab/racelab/probe"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

const cleanAbout = `Removes what racelab processes that are gone left behind: their proxies'
process groups, their temporary directories (racelab-* under $TMPDIR) and their
containers. A racelab killed with SIGKILL (a CI runner's cancel, the OOM killer)
normally has its keeper process remove these at once; clean is for when the
keeper could not (it was killed too), and every racelab command that starts
proxies does the same sweep first.

Only what carries a racelab owner mark whose owner is gone is removed: the
owner's PID no longer exists, or belongs to a process that started at another
time. What a live racelab owns, what has no owner mark (a directory kept with
--keep, containers of an older racelab: see 'racelab images prune' and
'docker rm'), and containers an owner on another machine or in another PID
namespace created on a shared engine are never touched. Containers are checked
when a Docker engine answers.

Prints one line per thing removed ("would remove" with --dry-run).
Exit codes: 0 done (also when nothing was left), 1 something could not be
removed, 2 usage error.`

func runClean(ctx context.Context, e *env, args []string) int {
	fs := newFlagsAbout(e, "clean", "clean [--dry-run]", cleanAbout, `  racelab clean             # remove what killed racelab runs left behind
  racelab clean --dry-run   # only list it
`)
	dryRun := fs.Bool("dry-run", false, "list what would be removed; remove nothing")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		e.errorf("clean takes no arguments; got %q", fs.Args())
		return ExitUsage
	}
	if err := sweep(ctx, e, e.stdout, "", true, *dryRun); err != nil {
		e.errorf("clean: %v", err)
		return ExitFail
	}
	return ExitOK
}

// sweep removes what gone racelab processes left (see racelab clean),
// writing one line per removal to w, each after prefix. Containers are
// swept when containers is set; a clean (the only caller that asks
// without knowing an engine answers) notes an absent engine on stderr.
func sweep(ctx context.Context, e *env, w io.Writer, prefix string, containers, dryRun bool) error {
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	rs, err := owner.SweepLocal(dryRun)
	if containers {
		if aerr := container.Available(ctx); aerr != nil {
			fmt.Fprintf(e.stderr, "%scontainers not checked: %v\n", prefix, aerr)
		} else {
			crs, cerr := container.SweepGone(ctx, dryRun)
			rs = append(rs, crs...)
			err = errors.Join(err, cerr)
		}
	}
	for _, r := range rs {
		fmt.Fprintf(w, "%s%s %s\n", prefix, verb, r)
	}
	return err
}

// sweepBeforeRun is the sweep every command that starts proxies does
// first, on stderr. A failure to remove something is reported, not fatal:
// the run does not need it gone.
func sweepBeforeRun(ctx context.Context, e *env, containers bool) {
	if err := sweep(ctx, e, e.stderr, "racelab: ", containers, false); err != nil {
		e.errorf("sweep: %v", err)
	}
}

// usesContainers reports whether any cell runs a proxy in a container.
func usesContainers(cells []scenarios.Cell) bool {
	for _, c := range cells {
		if proxies.Runtime(c.Proxy.Runtime) == proxies.RuntimeContainer {
			return true
		}
	}
	return false
}

// sweepingVerifier sweeps once, before the first verification starts a
// proxy.
func sweepingVerifier(ctx context.Context, e *env, v guard.Verifier) guard.Verifier {
	var once sync.Once
	return func(vctx context.Context, req guard.VerifyRequest) (guard.VerifyResult, error) {
		once.Do(func() { sweepBeforeRun(ctx, e, false) })
		return v(vctx, req)
	}
}

// sweepingProber sweeps once, before the first proxy probe starts a
// proxy.
func sweepingProber(ctx context.Context, e *env, p guard.ProxyProber) guard.ProxyProber {
	var once sync.Once
	return func(pctx context.Context, kind, path, root, upstream string, samples int, maxWait time.Duration) (*probe.Result, error) {
		once.Do(func() { sweepBeforeRun(ctx, e, false) })
		return p(pctx, kind, path, root, upstream, samples, maxWait)
	}
}
