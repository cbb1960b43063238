package cli

import (
	"context"

	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/lab"
)

func runGuard(ctx context.Context, e *env, args []string) int {
	return guard.Command(ctx, args, e.stdout, e.stderr, guard.WithVerifier(lab.GuardVerifier()))
}
