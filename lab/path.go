package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/racelab/racelab/internal/netpath"
	"github.com/racelab/racelab/scenarios"
)

// startPath puts the cell's network path between the proxy and the
// backend at backendAddr, and returns the address the proxy's upstream
// must point at: the backend's own when the cell has no latency. The
// kernel's netem is not used (it needs a kernel module many machines do
// not have); the userspace relay keeps TCP's order of data, FIN and RST.
func (cr *cellRun) startPath(ctx context.Context, backendAddr string) (string, error) {
	c := cr.cell
	if c.Latency == 0 && c.PathJitter == 0 {
		return backendAddr, nil
	}
	r, err := netpath.Start(ctx, backendAddr, netpath.Config{Latency: c.Latency, Jitter: c.PathJitter,
		Seed: uint64(c.Seed)<<16 ^ uint64(c.Index)})
	if err != nil {
		return "", fmt.Errorf("start path: %w", err)
	}
	cr.path = r
	return r.Addr(), nil
}

// pathAttributionSlack widens the attribution window by the path's round
// trip: the backend's close reaches the proxy one latency after it
// happened, and the proxy's request reaches the backend one latency after
// it left.
func pathAttributionSlack(c *scenarios.Cell) time.Duration {
	return 2*c.Latency + 2*c.PathJitter
}
