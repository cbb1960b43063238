package proxytest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/images"
)

// Image returns the image a container test runs: the one the environment
// variable env names, or racelab's local image of the Debian suite, built
// when absent (a build another process has begun, such as the test
// script's, is waited for and reused). Without a container engine the
// test is skipped, except in CI, which has one: there a skip would hide a
// gap.
func Image(t testing.TB, env, suite string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := container.Available(ctx); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI has a container engine, but: %v", err)
		}
		t.Skipf("no container engine: %v", err)
	}
	if ref := os.Getenv(env); ref != "" {
		return ref
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer bcancel()
	img, err := images.Build(bctx, suite)
	require.NoError(t, err, "image of %s (racelab images build)", suite)
	return img.Ref
}
