package cli

import (
	"context"
	"fmt"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/scenarios"
)

// preflight checks, before a results file is opened, that every proxy
// binary, image and config file the scenario's cells (shard k of n; 0/0
// for all) need is here. When something is missing it prints one message
// that names each missing thing once and returns ExitUsage and false.
// Once all is here, it removes what killed racelab runs left (sweep).
func preflight(ctx context.Context, e *env, sc *scenarios.Scenario, k, n int) (int, bool) {
	cells, err := sc.Cells()
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return ExitUsage, false
	}
	if cells, err = lab.Shard(cells, k, n); err != nil {
		e.errorf("%v", err)
		return ExitUsage, false
	}
	if err := lab.Preflight(ctx, cells); err != nil {
		e.errorf("%v", err)
		return ExitUsage, false
	}
	if err := lab.CheckConfigs(ctx, cells); err != nil {
		e.errorf("%v", err)
		return ExitUsage, false
	}
	// Preflight found the engine answering when a cell needs it.
	sweepBeforeRun(ctx, e, usesContainers(cells))
	return 0, true
}
