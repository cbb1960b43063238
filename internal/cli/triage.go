package cli

import (
	"context"

	"github.com/racelab/racelab/triage"
)

func runTriage(ctx context.Context, e *env, args []string) int {
	fs := newFlagsAbout(e, "triage", triage.Synopsis, triage.About, triage.Examples)
	var f triage.Flags
	f.Register(fs)
	files, code, ok := parseInterleaved(e, fs, args)
	if !ok {
		return code
	}
	if err := f.Check(files); err != nil {
		e.errorf("triage: %v", err)
		return ExitUsage
	}
	race, err := triage.Run(ctx, &f, e.stdout)
	if err != nil {
		e.errorf("triage: %v", err)
	}
	return triage.ExitCode(race, err)
}
