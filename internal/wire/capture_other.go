//go:build !linux

package wire

import (
	"context"
	"fmt"
	"runtime"
)

// Capture is unavailable outside Linux.
type Capture struct {
	cfg   Config
	flows *flows
}

// Start reports that capture needs Linux's AF_PACKET.
func Start(ctx context.Context, cfg Config) (*Capture, error) {
	return nil, fmt.Errorf("%w: AF_PACKET capture needs Linux (this is %s)", ErrUnavailable, runtime.GOOS)
}

// Sync returns at once.
func (c *Capture) Sync(ctx context.Context) error { return nil }

// Drain does nothing.
func (c *Capture) Drain() error { return nil }

// Stats is empty.
func (c *Capture) Stats() Stats { return Stats{} }

// Close does nothing.
func (c *Capture) Close() error { return nil }
