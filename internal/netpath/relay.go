package netpath

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"
)

// Bounds of what one direction of a connection holds in flight.
const (
	// ChunkSize is the largest chunk one read takes.
	ChunkSize = 32 << 10
	// MaxQueued is how many chunks one direction holds before its reader
	// waits for the writer.
	MaxQueued = 64
	// DialTimeout bounds the relay's connect to its target.
	DialTimeout = 5 * time.Second
	// resetProbe is how long after a write into a connection whose far
	// end had sent FIN the relay watches for the far end's kernel to
	// answer with RST (on loopback it answers within microseconds).
	resetProbe = 10 * time.Millisecond
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

	mu     sync.Mutex
	pairs  map[*pair]struct{}
	closed bool
	n      uint64
	wg     sync.WaitGroup
}

// Start listens on 127.0.0.1:0 and relays every accepted connection to
// target with cfg's delay. It returns once the listener exists; ctx bounds
// the relay's connects to the target. Close stops it.
func Start(ctx context.Context, target string, cfg Config) (*Relay, error) {
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
		p := newPair(r, c.(*net.TCPConn), r.n)
		r.pairs[p] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go p.run()
	}
}

func (r *Relay) forget(p *pair) {
	r.mu.Lock()
	delete(r.pairs, p)
	r.mu.Unlock()
}

// pair is one relayed connection: a is the accepted side, b the dialed.
type pair struct {
	r       *Relay
	a, b    *net.TCPConn
	ab, ba  *pipe
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	fins    int
	workers sync.WaitGroup
}

func newPair(r *Relay, a *net.TCPConn, n uint64) *pair {
	p := &pair{r: r, a: a, done: make(chan struct{})}
	p.ab = p.newPipe(r.cfg, n*2)
	p.ba = p.newPipe(r.cfg, n*2+1)
	p.ab.back, p.ba.back = p.ba, p.ab
	return p
}

// run dials the target and relays both directions until the pair ends.
func (p *pair) run() {
	defer p.r.wg.Done()
	defer p.r.forget(p)
	accepted := time.Now()
	d := net.Dialer{Timeout: DialTimeout}
	c, err := d.DialContext(p.r.ctx, "tcp", p.r.target)
	if err != nil {
		// The closest a relay comes to a refused connect: the proxy's
		// connection is reset one round trip after it was made.
		if waitUntil(accepted.Add(2*p.r.cfg.Latency), p.done) {
			_ = p.a.SetLinger(0)
		}
		p.close()
		return
	}
	p.mu.Lock()
	p.b = c.(*net.TCPConn)
	p.mu.Unlock()
	select {
	case <-p.done: // the relay closed while dialing
		p.close()
		return
	default:
	}
	p.ab.src, p.ab.dst = p.a, p.b
	p.ba.src, p.ba.dst = p.b, p.a
	p.workers.Add(4)
	go p.ab.read()
	go p.ab.write()
	go p.ba.read()
	go p.ba.write()
	p.workers.Wait()
	p.close()
}

// close ends the pair: both sockets closed, every goroutine told.
func (p *pair) close() {
	p.once.Do(func() {
		close(p.done)
		_ = p.a.Close()
		p.mu.Lock()
		b := p.b
		p.mu.Unlock()
		if b != nil {
			_ = b.Close()
		}
	})
}

// finDelivered counts the directions whose end of stream has been
// delivered; when both have, the connection is over.
func (p *pair) finDelivered() {
	p.mu.Lock()
	p.fins++
	both := p.fins == 2
	p.mu.Unlock()
	if both {
		p.close()
	}
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

// pipe is one direction of a pair: read from src, deliver to dst.
type pipe struct {
	p        *pair
	src, dst *net.TCPConn
	q        chan item
	back     *pipe // the opposite direction
	latency  time.Duration
	jitter   time.Duration

	mu   sync.Mutex
	rng  *rand.Rand
	last time.Time
	// srcEOF: src's peer sent FIN (read by this pipe's reader).
	srcEOF bool
}

func (p *pair) newPipe(cfg Config, stream uint64) *pipe {
	return &pipe{p: p, q: make(chan item, MaxQueued), latency: cfg.Latency, jitter: cfg.Jitter,
		rng: rand.New(rand.NewPCG(cfg.Seed, stream))}
}

// deliverAt is when something read at t arrives on the far side: t plus
// the delay, never before what was read before it.
func (pp *pipe) deliverAt(t time.Time) time.Time {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	d := pp.latency
	if pp.jitter > 0 {
		d += time.Duration(pp.rng.Int64N(int64(2*pp.jitter)+1)) - pp.jitter
		d = max(d, 0)
	}
	at := t.Add(d)
	if at.Before(pp.last) {
		at = pp.last
	}
	pp.last = at
	return at
}

// send queues it, unless the pair has ended.
func (pp *pipe) send(it item) bool {
	select {
	case pp.q <- it:
		return true
	case <-pp.p.done:
		return false
	}
}

func (pp *pipe) read() {
	defer pp.p.workers.Done()
	for {
		buf := make([]byte, ChunkSize)
		n, err := pp.src.Read(buf)
		now := time.Now()
		if n > 0 && !pp.send(item{at: pp.deliverAt(now), kind: kindData, data: buf[:n]}) {
			return
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			pp.mu.Lock()
			pp.srcEOF = true
			pp.mu.Unlock()
			pp.send(item{at: pp.deliverAt(now), kind: kindFIN})
		case errors.Is(err, net.ErrClosed):
			// The pair ended: nothing more to relay.
		default:
			// A reset, or any other end of the connection that is not an
			// orderly FIN, reaches the far side as a reset.
			pp.send(item{at: pp.deliverAt(now), kind: kindRST})
		}
		return
	}
}

func (pp *pipe) write() {
	defer pp.p.workers.Done()
	for {
		var it item
		select {
		case it = <-pp.q:
		case <-pp.p.done:
			return
		}
		if !waitUntil(it.at, pp.p.done) {
			return
		}
		switch it.kind {
		case kindData:
			if _, err := pp.dst.Write(it.data); err != nil {
				// The far side's kernel refused the bytes: its RST
				// travels back to the sender.
				pp.back.send(item{at: pp.back.deliverAt(time.Now()), kind: kindRST})
				continue
			}
			pp.back.mu.Lock()
			peerGone := pp.back.srcEOF
			pp.back.mu.Unlock()
			if peerGone {
				pp.probeReset()
			}
		case kindFIN:
			_ = pp.dst.CloseWrite()
			pp.p.finDelivered()
		case kindRST:
			_ = pp.dst.SetLinger(0)
			_ = pp.dst.Close()
			pp.p.close()
			return
		}
	}
}

// probeReset watches dst, just written to after its peer sent FIN, for
// the RST the peer's kernel answers with when its socket is closed, and
// sends that RST back to the writer's peer one latency later. A peer that
// only half-closed answers nothing and the probe ends quietly.
func (pp *pipe) probeReset() {
	pp.p.workers.Add(1)
	go func() {
		defer pp.p.workers.Done()
		end := time.Now().Add(resetProbe)
		for time.Now().Before(end) {
			if socketError(pp.dst) != nil {
				pp.back.send(item{at: pp.back.deliverAt(time.Now()), kind: kindRST})
				return
			}
			select {
			case <-pp.p.done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
}

// socketError reads (and clears) c's pending socket error: a reset the
// kernel received leaves ECONNRESET or EPIPE there.
func socketError(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var soErr int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		soErr, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	}); err != nil {
		return err
	}
	if gerr != nil {
		return gerr
	}
	if soErr != 0 {
		return syscall.Errno(soErr)
	}
	return nil
}
