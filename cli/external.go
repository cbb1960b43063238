package cli

import (
	"context"

	"github.com/racelab/racelab/images"
)

func runImages(ctx context.Context, e *env, args []string) int {
	return images.Command(ctx, args, e.stdout, e.stderr)
}
