package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// More reasons for a close, beside those in types.go.
const (
	// ReasonClientClose: the request carried "Connection: close" (or was
	// HTTP/1.0 without keep-alive); the backend answered it and closed.
	// The close is the backend's (Closer backend) but the peer asked for it,
	// so it is never evidence of a race.
	ReasonClientClose = "client-asked-close"
	// ReasonWriteError: writing a response failed for a reason other than
	// the peer closing or resetting the connection.
	ReasonWriteError = "write-error"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	addr     string
	observer Observer
	logger   *slog.Logger
	precise  bool
	closeTO  time.Duration
}

// DefaultAddr is where a backend listens unless WithAddr says otherwise.
const DefaultAddr = "127.0.0.1:0"

// DefaultCloseTimeout bounds how long Close waits for connection
// goroutines to exit before it reports what is stuck.
const DefaultCloseTimeout = 5 * time.Second

// WithCloseTimeout sets how long Close waits for connection goroutines
// before it reports what is stuck (default DefaultCloseTimeout).
func WithCloseTimeout(d time.Duration) Option { return func(o *options) { o.closeTO = d } }

// WithAddr sets the listen address (default DefaultAddr).
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithObserver sends every event to obs.
func WithObserver(obs Observer) Option { return func(o *options) { o.observer = obs } }

// WithLogger logs connection-level problems to l (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithPreciseTimers turns the precise idle timer on or off (default on).
//
// A read deadline alone fires up to a millisecond or two late, because the
// Go runtime waits for timers in whole milliseconds. With precise timers a
// connection waits out the last 2ms before an idle or lifetime deadline in
// a blocking ppoll, whose timeout the kernel keeps to within tens of
// microseconds. That lateness sets the tail of the measured race window,
// so it is on by default. At most a few connections poll precisely at
// once (each holds a thread), the others fall back to the read deadline;
// a connection in that stretch notices Close or Shutdown only when it
// ends. Linux only; elsewhere this option has no effect.
func WithPreciseTimers(on bool) Option { return func(o *options) { o.precise = on } }

// Server is a running backend.
type Server struct {
	cfg        Config
	ln         net.Listener
	obs        Observer
	log        *slog.Logger
	precise    bool
	pollers    chan struct{} // bounds concurrent precise polls
	closeWait  time.Duration
	nextID     atomic.Uint64
	acceptDone chan struct{}
	stopAccept chan struct{} // closed when the listener is closed on purpose

	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining bool
	stopped  bool
	wg       sync.WaitGroup

	stopOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
}

// maxPrecisePollers bounds how many connections poll precisely at once.
const maxPrecisePollers = 8

// Start listens and serves until Close. It returns once the listener
// exists; ctx bounds only the start, not the life of the server.
func Start(ctx context.Context, cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("start backend: %w", err)
	}
	o := options{addr: DefaultAddr, precise: true, closeTO: DefaultCloseTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.observer == nil {
		o.observer = func(Event) {}
	}
	if cfg.CloseStyle == "" {
		cfg.CloseStyle = CloseFIN
	}
	if cfg.ResponseStatus == 0 {
		cfg.ResponseStatus = 200
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("start backend: %w", err)
	}
	s := &Server{
		cfg:        cfg,
		ln:         ln,
		obs:        o.observer,
		log:        o.logger,
		precise:    o.precise,
		pollers:    make(chan struct{}, maxPrecisePollers),
		closeWait:  o.closeTO,
		acceptDone: make(chan struct{}),
		stopAccept: make(chan struct{}),
		conns:      make(map[*conn]struct{}),
	}
	go s.acceptLoop()
	return s, nil
}

// Addr is the listen address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Config is the configuration the server runs with, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	backoff := time.Duration(0)
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.stopAccept:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure (out of file descriptors, an aborted
			// handshake): back off and keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("backend accept", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.stopAccept:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		at := time.Now()
		tc, ok := nc.(*net.TCPConn)
		if !ok {
			s.log.Warn("backend accept: not a TCP connection", "addr", nc.RemoteAddr())
			_ = nc.Close()
			continue
		}
		c := newConn(s, s.nextID.Add(1), tc, at)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		// Accepted as the server stops: it ends at once (lock order:
		// s.mu, then c.mu).
		if s.stopped {
			c.requestStop(stopForce)
		} else if s.draining {
			c.requestStop(stopDrain)
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// stopListening closes the listener once and waits for the accept loop.
func (s *Server) stopListening() error {
	var err error
	s.stopOnce.Do(func() {
		close(s.stopAccept)
		err = s.ln.Close()
	})
	<-s.acceptDone
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// snapshot returns the live connections, sorted by id.
func (s *Server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *conn) int { return cmpUint64(a.id, b.id) })
	return out
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// allGone returns a channel closed once every connection goroutine exited.
func (s *Server) allGone() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ch)
	}()
	return ch
}

// Close stops accepting and closes every connection with the configured
// style (reason shutdown), interrupting requests in flight, then waits for
// the connection goroutines to exit. If some are still running after the
// close timeout (WithCloseTimeout) it returns an error naming them. Idempotent: later
// calls return the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	lnErr := s.stopListening()
	for _, c := range s.snapshot() {
		c.requestStop(stopForce)
	}
	t := time.NewTimer(s.closeWait)
	defer t.Stop()
	select {
	case <-s.allGone():
	case <-t.C:
		return errors.Join(lnErr, fmt.Errorf("close backend: after %v: %s", s.closeWait, s.describeStuck()))
	}
	if lnErr != nil {
		return fmt.Errorf("close backend: %w", lnErr)
	}
	return nil
}

func (s *Server) describeStuck() string {
	live := s.snapshot()
	parts := make([]string, 0, len(live))
	for _, c := range live {
		parts = append(parts, c.describe())
	}
	return fmt.Sprintf("%d connection(s) still running: %s", len(live), strings.Join(parts, ", "))
}

// Shutdown stops accepting, closes idle connections with the configured
// close style, lets in-flight requests finish with "Connection: close",
// and returns when all connections are gone or ctx is done. Every close is
// reported with reason shutdown. A request whose bytes arrive at an idle
// connection just as Shutdown closes it is dropped unanswered (counted in
// UnreadBytes): the residual race of a graceful restart. On ctx done the
// remaining connections keep running; call Close to end them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	lnErr := s.stopListening()
	for _, c := range s.snapshot() {
		c.requestStop(stopDrain)
	}
	select {
	case <-s.allGone():
	case <-ctx.Done():
		return fmt.Errorf("shutdown backend: %w (%s)", ctx.Err(), s.describeStuck())
	}
	if lnErr != nil {
		return fmt.Errorf("shutdown backend: %w", lnErr)
	}
	return nil
}
