package netpath

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Bounds of what one direction of a connection holds in flight.
const (
	// ChunkSize is the largest chunk one read takes.
	ChunkSize = 32 << 10
	// MaxQueued is how many chunks one direction holds before its source
	// is read no more until it drains.
	MaxQueued = 64
	// DialTimeout bounds the relay's connect to its target.
	DialTimeout = 5 * time.Second
)

// Config is the path's shape. The zero value is a path with no delay.
type Config struct {
	// Latency is the one-way delay, the same in both directions.
	Latency time.Duration
	// Jitter spreads each chunk's delay uniformly over
	// [Latency-Jitter, Latency+Jitter] (never below zero), clamped so that
	// a chunk is never delivered before the one read before it.
	Jitter time.Duration
	// Seed makes the jitter reproducible.
	Seed uint64
}

// Relay is a running path: it listens on 127.0.0.1 and forwards each
// connection to its target with the configured delay.
type Relay struct {
	cfg    Config
	target string
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	realtime error // the last thread's real-time priority outcome
	rtSeen   bool
	pairs    map[*pair]struct{}
	closed   bool
	n        uint64
	wg       sync.WaitGroup
}

// Start listens on 127.0.0.1:0 and relays every accepted connection to
// target with cfg's delay. It returns once the listener exists; ctx bounds
// the relay's connects to the target. Close stops it.
func Start(ctx context.Context, target string, cfg Config) (*Relay, error) {
	if !supported {
		return nil, errors.New("start relay: the latency path runs on Linux only")
	}
	if cfg.Latency < 0 || cfg.Jitter < 0 {
		return nil, fmt.Errorf("start relay: latency %s and jitter %s must not be negative", cfg.Latency, cfg.Jitter)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &Relay{cfg: cfg, target: target, ln: ln, ctx: rctx, cancel: cancel, pairs: map[*pair]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the relay's listening address: point the proxy's upstream here.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Realtime reports whether the relay's threads run at real-time priority
// (nil), or why not. Before the first connection it reports an error
// saying so.
func (r *Relay) Realtime() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.rtSeen {
		return errors.New("no connection relayed yet")
	}
	return r.realtime
}

func (r *Relay) noteRealtime(err error) {
	r.mu.Lock()
	r.realtime, r.rtSeen = err, true
	r.mu.Unlock()
}

// Target is where the relay forwards to.
func (r *Relay) Target() string { return r.target }

// Config is the path's shape.
func (r *Relay) Config() Config { return r.cfg }

// Close stops the listener, closes every relayed connection on both sides
// and waits for the relay's goroutines. It is safe to call more than once.
func (r *Relay) Close() error {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	pairs := make([]*pair, 0, len(r.pairs))
	for p := range r.pairs {
		pairs = append(pairs, p)
	}
	r.mu.Unlock()
	if already {
		return nil
	}
	r.cancel()
	err := r.ln.Close()
	for _, p := range pairs {
		p.close()
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("close relay: %d connections still closing after 5s", r.open())
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (r *Relay) open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pairs)
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			_ = c.Close()
			return
		}
		r.n++
		n := r.n
		p := newPair(r, c.(*net.TCPConn))
		r.pairs[p] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go p.run(n)
	}
}

func (r *Relay) forget(p *pair) {
	r.mu.Lock()
	delete(r.pairs, p)
	r.mu.Unlock()
}

// pair is one relayed connection: a is the accepted side, b the dialed.
// Once both are connected, one OS thread of its own (loop) carries both
// directions: it reads whatever arrives, stamps it, and delivers it at its
// time, sleeping in between in ppoll with a nanosecond timeout.
type pair struct {
	r    *Relay
	a, b *net.TCPConn
	done chan struct{}
	once sync.Once

	mu sync.Mutex
	// wake is an eventfd the loop polls: close writes it so the loop
	// leaves at once. -1 when there is none (before the loop, after it).
	wake int
}

func newPair(r *Relay, a *net.TCPConn) *pair {
	return &pair{r: r, a: a, done: make(chan struct{}), wake: -1}
}

// run dials the target and relays both directions until the pair ends,
// then closes both connections. Only run closes them: the loop uses their
// descriptors until it returns, and a descriptor closed under it could be
// reused by another file.
func (p *pair) run(n uint64) {
	defer p.r.wg.Done()
	defer p.r.forget(p)
	accepted := time.Now()
	d := net.Dialer{Timeout: DialTimeout}
	c, err := d.DialContext(p.r.ctx, "tcp", p.r.target)
	if err != nil {
		// The closest a relay comes to a refused connect: the proxy's
		// connection is reset one round trip after it was made.
		t := time.NewTimer(time.Until(accepted.Add(2 * p.r.cfg.Latency)))
		select {
		case <-t.C:
			_ = p.a.SetLinger(0)
		case <-p.done:
			t.Stop()
		}
		_ = p.a.Close()
		return
	}
	p.b = c.(*net.TCPConn)
	defer func() {
		_ = p.a.Close()
		_ = p.b.Close()
	}()
	p.loop(n)
}

// close tells the pair to end: the loop leaves and run closes both
// connections.
func (p *pair) close() {
	p.once.Do(func() {
		close(p.done)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.wake >= 0 {
			signalWake(p.wake)
		}
	})
}

type kind uint8

const (
	kindData kind = iota
	kindFIN
	kindRST
)

// item is one thing in flight in one direction.
type item struct {
	at   time.Time
	kind kind
	data []byte
}

// direction is one direction of a pair: read from src, deliver to dst.
// Only the pair's loop touches it.
type direction struct {
	src, dst int // descriptors
	q        []item
	// off is how much of q[0]'s data is written; blocked says dst's send
	// buffer is full and the loop waits for it to drain.
	off     int
	blocked bool

	latency, jitter time.Duration
	rng             *rand.Rand
	last            time.Time

	// srcDone: src gave end of stream or an error and is read no more.
	// srcReset: src's socket has reported its reset. finSent: FIN was
	// delivered to dst.
	srcDone, srcReset, finSent bool
}

func newDirection(cfg Config, stream uint64) *direction {
	return &direction{latency: cfg.Latency, jitter: cfg.Jitter, rng: rand.New(rand.NewPCG(cfg.Seed, stream))}
}

// deliverAt is when something read at t arrives on the far side: t plus
// the delay, never before what was read before it.
func (d *direction) deliverAt(t time.Time) time.Time {
	l := d.latency
	if d.jitter > 0 {
		l += time.Duration(d.rng.Int64N(int64(2*d.jitter)+1)) - d.jitter
		l = max(l, 0)
	}
	at := t.Add(l)
	if at.Before(d.last) {
		at = d.last
	}
	d.last = at
	return at
}

// push queues something read at t.
func (d *direction) push(t time.Time, k kind, data []byte) {
	d.q = append(d.q, item{at: d.deliverAt(t), kind: k, data: data})
}

// due reports whether q's head is to be delivered at now.
func (d *direction) due(now time.Time) bool {
	return len(d.q) > 0 && !d.q[0].at.After(now)
}
