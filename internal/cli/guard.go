package cli

import (
	"context"
	"errors"

	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/lab"
)

func runGuard(ctx context.Context, e *env, args []string) int {
	fs := newFlagsAbout(e, "guard", guard.Synopsis, guard.About, guard.Examples)
	var f guard.Flags
	f.Register(fs)
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if err := f.Check(fs.Args()); err != nil {
		e.errorf("guard: %v", err)
		return ExitUsage
	}
	pass, err := guard.Run(ctx, &f, e.stdout, guard.WithVerifier(sweepingVerifier(ctx, e, lab.GuardVerifier())), guard.WithProxyProber(sweepingProber(ctx, e, lab.GuardProxyProber())))
	var le *guard.LabError
	switch {
	case errors.As(err, &le):
		e.errorf("guard: %v", err)
		return ExitFail
	case err != nil:
		e.errorf("guard: %v", err)
		return ExitUsage
	case !pass:
		return ExitFail
	}
	return ExitOK
}
