package wire

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ErrUnavailable is wrapped by Start's error when this process cannot
// capture: no root or CAP_NET_RAW, no such interface, or not Linux.
var ErrUnavailable = errors.New("capture unavailable")

// Filtering is where packets of other connections are dropped.
type Filtering string

const (
	// FilterKernel attaches a classic BPF program to the socket: only the
	// backend port's packets (arriving copies) reach this process.
	FilterKernel Filtering = "kernel"
	// FilterUser reads every packet on the interface and filters here.
	FilterUser Filtering = "user"
)

// Defaults for Config's zero values.
const (
	DefaultInterface  = "lo"
	DefaultSnapLen    = 512
	DefaultMaxConns   = 512
	DefaultMaxPackets = 128
)

// Config is what to capture. Port is required; the zero value of every
// other field is its default.
type Config struct {
	// Port is the backend's TCP port: packets to or from it are kept.
	Port uint16
	// Interface is the interface to capture on (DefaultInterface).
	Interface string
	// Filtering is FilterKernel (the default) or FilterUser.
	Filtering Filtering
	// SnapLen is how many bytes of each frame are kept (DefaultSnapLen):
	// enough for the headers and an HTTP request line.
	SnapLen int
	// MaxConns bounds the connections kept (DefaultMaxConns); the one
	// idle longest goes first.
	MaxConns int
	// MaxPackets bounds the packets kept per connection
	// (DefaultMaxPackets); the oldest go first.
	MaxPackets int
}

func (c Config) withDefaults() Config {
	if c.Interface == "" {
		c.Interface = DefaultInterface
	}
	if c.Filtering == "" {
		c.Filtering = FilterKernel
	}
	if c.SnapLen <= 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxPackets <= 0 {
		c.MaxPackets = DefaultMaxPackets
	}
	return c
}

func (c Config) validate() error {
	if c.Port == 0 {
		return fmt.Errorf("capture: no backend port")
	}
	switch c.Filtering {
	case FilterKernel, FilterUser:
	default:
		return fmt.Errorf("capture: filtering %q: want kernel or user", c.Filtering)
	}
	if c.SnapLen < 128 {
		return fmt.Errorf("capture: snap length %d: want at least 128 bytes", c.SnapLen)
	}
	return nil
}

// Stats counts what a capture saw.
type Stats struct {
	// Packets were filed under a connection.
	Packets int
	// Duplicates were lo's second copy of a packet, dropped (userspace
	// filtering; the kernel filter never passes them).
	Duplicates int
	// Other were read but belong to no connection of the port.
	Other int
	// Conns is how many connections are held now; Evicted how many the
	// bound on connections let go.
	Conns, Evicted int
	// KernelDrops is what the socket's receive queue dropped: evidence
	// lost, which a caller must report.
	KernelDrops int
	// RecvBuffer is the socket's receive buffer in bytes (0: unknown).
	RecvBuffer int
}

// Flow returns the connection whose proxy-side address is proxy.
func (c *Capture) Flow(proxy netip.AddrPort) (Flow, bool) { return c.flows.get(proxy) }

// FlowsWith returns the connections on which the proxy sent marker (a
// request id), in the order it went out on them.
func (c *Capture) FlowsWith(marker []byte) []Flow { return c.flows.with(marker) }

// FlowsSince returns the connections whose first captured packet is at
// or after t, in order.
func (c *Capture) FlowsSince(t time.Time) []Flow { return c.flows.since(t) }

// Prune drops the connections whose last packet is before t and reports
// how many: a long run keeps only what its open trials need.
func (c *Capture) Prune(before time.Time) int { return c.flows.prune(before) }

// Port is the backend port the capture follows.
func (c *Capture) Port() uint16 { return c.cfg.Port }
