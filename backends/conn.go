package backends

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stopKind is what the server asked a connection to do.
type stopKind int8

const (
	stopNone  stopKind = iota
	stopDrain          // Shutdown: close if idle, finish what is in flight
	stopForce          // Close: close now, interrupting what is in flight
)

// phase is what a connection goroutine is doing, for Close's report of
// what is stuck.
type phase int32

const (
	phaseIdle phase = iota
	phaseRead
	phaseHandler
	phaseWrite
	phaseClose
)

var phaseNames = [...]string{"idle", "reading a request", "in the handler", "writing a response", "closing"}

// preciseLead is the final stretch of an idle period that a connection
// waits out in a blocking poll with a precise timeout: longer than the
// runtime timer's usual lateness, short enough to hold a thread only
// briefly.
const preciseLead = 2 * time.Millisecond

// longAgo is a deadline in the past: setting it interrupts a blocked read
// or write at once.
var longAgo = time.Unix(1, 0)

// ending is how and why a connection ends.
type ending struct {
	closer   string
	reason   string
	fault    FaultKind
	reqID    string
	reqIndex int
}

// conn is one accepted connection. Its goroutine owns the socket; the
// server reaches it only through mu.
type conn struct {
	s       *Server
	id      uint64
	nc      *net.TCPConn
	raw     syscall.RawConn // nil if the socket offers none
	br      *bufio.Reader
	created time.Time
	quit    chan struct{} // closed on a forced stop; interrupts the delay
	reqs    int
	out     []byte
	phase   atomic.Int32
	inObs   atomic.Bool

	mu         sync.Mutex
	stop       stopKind
	idle       bool      // waiting for the first byte of a request
	deadline   time.Time // when the current idle period ends (zero: never)
	idleReason string    // why it ends then
}

func newConn(s *Server, id uint64, nc *net.TCPConn, created time.Time) *conn {
	c := &conn{
		s:       s,
		id:      id,
		nc:      nc,
		br:      bufio.NewReader(nc),
		created: created,
		quit:    make(chan struct{}),
		out:     make([]byte, 0, 256),
		idle:    true,
	}
	if raw, err := nc.SyscallConn(); err == nil {
		c.raw = raw
	}
	return c
}

// requestStop asks the connection to stop. A forced stop supersedes a
// drain; asking twice is harmless.
func (c *conn) requestStop(k stopKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k <= c.stop {
		return
	}
	c.stop = k
	switch {
	case k == stopForce:
		close(c.quit)
		_ = c.nc.SetDeadline(longAgo)
	case c.idle:
		_ = c.nc.SetReadDeadline(longAgo)
	}
}

func (c *conn) stopRequested() stopKind {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop
}

// describe names the connection and what it is doing, for Close's error.
func (c *conn) describe() string {
	s := fmt.Sprintf("conn %d %s", c.id, phaseNames[c.phase.Load()])
	if c.inObs.Load() {
		s += " (inside the observer)"
	}
	return s
}

func (c *conn) emit(e Event) {
	e.ConnID = c.id
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	c.inObs.Store(true)
	c.s.obs(e)
	c.inObs.Store(false)
}

func (c *conn) serve() {
	defer c.s.forget(c)
	c.emit(Event{Time: c.created, Kind: EventAccept, Remote: c.nc.RemoteAddr().String()})
	c.end(c.loop())
}

func (c *conn) loop() ending {
	// A fresh connection waits for its first request without an idle
	// timer (servers apply other, longer timeouts there); only its
	// lifetime applies.
	c.arm(c.created, false)
	for {
		if e, ok := c.awaitRequest(); !ok {
			return e
		}
		if e, ok := c.serveOne(); !ok {
			return e
		}
	}
}

// arm starts an idle period at now. It ends at the earlier of the idle
// deadline (after a response) and the end of the connection's lifetime.
func (c *conn) arm(now time.Time, afterResponse bool) (deadline time.Time, reason string) {
	cfg := &c.s.cfg
	if afterResponse && cfg.IdleTimeout > 0 {
		deadline, reason = now.Add(cfg.IdleTimeout), ReasonIdle
	}
	if cfg.MaxConnLifetime > 0 {
		if end := c.created.Add(cfg.MaxConnLifetime); deadline.IsZero() || end.Before(deadline) {
			deadline, reason = end, ReasonLifetime
		}
	}
	c.mu.Lock()
	c.idle = true
	c.deadline, c.idleReason = deadline, reason
	c.setReadDeadlineLocked(deadline)
	c.mu.Unlock()
	return deadline, reason
}

// setReadDeadlineLocked sets the read deadline unless a stop was requested,
// which keeps it in the past. c.mu must be held.
func (c *conn) setReadDeadlineLocked(d time.Time) {
	if c.stop != stopNone {
		d = longAgo
	}
	_ = c.nc.SetReadDeadline(d)
}

func (c *conn) setReadDeadline(d time.Time) {
	c.mu.Lock()
	c.setReadDeadlineLocked(d)
	c.mu.Unlock()
}

// awaitRequest waits for the first byte of the next request, or for the
// idle period to end.
func (c *conn) awaitRequest() (ending, bool) {
	c.phase.Store(int32(phaseIdle))
	err := c.waitIdle()
	now := time.Now()
	c.mu.Lock()
	c.idle = false
	stop, deadline, reason := c.stop, c.deadline, c.idleReason
	// A deadline that has passed wins over bytes that are waiting, even
	// if they arrived a moment before it: like an event loop that runs due
	// timers before I/O callbacks. The bytes stay unread.
	expired := !deadline.IsZero() && !now.Before(deadline)
	proceed := stop == stopNone && !expired && err == nil
	if proceed {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	switch {
	case proceed:
		return ending{}, true
	case stop != stopNone:
		return ending{closer: CloserBackend, reason: ReasonShutdown}, false
	case expired && (err == nil || isTimeout(err)):
		return ending{closer: CloserBackend, reason: reason}, false
	}
	return c.failed(err), false
}

// waitIdle returns when the next request has begun to arrive (nil), the
// peer closed or failed, the idle deadline passed or a stop was requested
// (a timeout). With precise timers it waits on the runtime's poller until
// preciseLead before the deadline, then in a blocking poll whose timeout
// the kernel keeps to within tens of microseconds; the runtime's own
// timers fire up to a millisecond or two late.
func (c *conn) waitIdle() error {
	if c.br.Buffered() > 0 {
		return nil
	}
	deadline := c.deadline // written only by this goroutine
	if !c.s.precise || !havePrecisePoll || c.raw == nil || deadline.IsZero() {
		return c.waitReadable()
	}
	if early := deadline.Add(-preciseLead); time.Now().Before(early) {
		c.setReadDeadline(early)
		if err := c.waitReadable(); !isTimeout(err) {
			return err
		}
	}
	if c.stopRequested() != stopNone {
		return os.ErrDeadlineExceeded
	}
	select {
	case c.s.pollers <- struct{}{}:
		defer func() { <-c.s.pollers }()
		var err error
		if cerr := c.raw.Control(func(fd uintptr) { err = pollReadable(fd, deadline) }); cerr != nil {
			return cerr
		}
		return err
	default:
		// Enough threads poll precisely already: use the read deadline.
		c.setReadDeadline(deadline)
		return c.waitReadable()
	}
}

// waitReadable returns when the socket has data, end of stream or an
// error, or the read deadline passes. It consumes nothing, so bytes that
// arrive as the deadline passes stay in the kernel's receive buffer.
func (c *conn) waitReadable() error {
	if !haveRawPeek || c.raw == nil {
		_, err := c.br.Peek(1)
		return err
	}
	var perr error
	err := c.raw.Read(func(fd uintptr) bool {
		ready, e := peekReady(fd)
		perr = e
		return ready
	})
	if err != nil {
		return err
	}
	return perr
}

// serveOne reads and answers one request. It returns false with the
// ending when the connection must close.
func (c *conn) serveOne() (ending, bool) {
	c.phase.Store(int32(phaseRead))
	req, err := http.ReadRequest(c.br)
	if err != nil {
		return c.badRequest(err), false
	}
	c.reqs++
	idx, id := c.reqs, requestID(req)
	c.emit(Event{Kind: EventRequest, RequestID: id, ReqIndex: idx, Method: req.Method})
	fault := c.victim(req, idx)
	done := ending{closer: CloserBackend, reqID: id, reqIndex: idx}
	if fault == FaultCloseOnReuse {
		// Read the rest of the request so that a FIN close really is a
		// FIN (unread bytes would turn it into an RST), unless the
		// client waits for "100 Continue" before it sends a body.
		if !expectsContinue(req) {
			if err := drain(req); err != nil {
				return c.failedWith(err, done), false
			}
		}
		done.reason, done.fault = ReasonCloseOnReuse, fault
		return done, false
	}

	c.phase.Store(int32(phaseHandler))
	if expectsContinue(req) {
		if _, err := c.nc.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			return c.failedWith(err, done), false
		}
	}
	if err := drain(req); err != nil {
		return c.failedWith(err, done), false
	}
	if !c.delay() {
		done.reason = ReasonShutdown
		return done, false
	}
	c.emit(Event{Kind: EventHandler, RequestID: id, ReqIndex: idx, Method: req.Method})
	if fault == FaultProcessedThenDropped {
		done.reason, done.fault = ReasonProcessedThenDropped, fault
		return done, false
	}

	closing := c.closeAfter(req, idx)
	status := c.s.cfg.ResponseStatus
	c.phase.Store(int32(phaseWrite))
	c.out = appendResponse(c.out[:0], status, id, c.id, closing != "", req.Method == http.MethodHead)
	_, err = c.nc.Write(c.out)
	now := time.Now()
	if err != nil {
		return c.failedWith(err, done), false
	}
	if closing != "" {
		c.emit(Event{Time: now, Kind: EventResponse, RequestID: id, ReqIndex: idx, Method: req.Method, Status: status})
		done.reason = closing
		return done, false
	}
	// Arm before telling the observer, so that a slow observer cannot
	// delay the deadline it is told about.
	deadline, reason := c.arm(now, true)
	c.emit(Event{Time: now, Kind: EventResponse, RequestID: id, ReqIndex: idx, Method: req.Method, Status: status})
	if !deadline.IsZero() {
		c.emit(Event{Time: now, Kind: EventIdleArmed, RequestID: id, ReqIndex: idx, Deadline: deadline, Reason: reason})
	}
	return ending{}, true
}

// victim returns the fault that fires on request number idx, if any.
func (c *conn) victim(req *http.Request, idx int) FaultKind {
	f := c.s.cfg.Fault
	if f.Kind == FaultNone || idx < 2 {
		return FaultNone
	}
	if f.Index == idx || (f.Index == 0 && req.Header.Get(FaultHeader) == string(f.Kind)) {
		return f.Kind
	}
	return FaultNone
}

// closeAfter returns why the response to request idx must close the
// connection, or "" to keep it open.
func (c *conn) closeAfter(req *http.Request, idx int) string {
	cfg := &c.s.cfg
	switch {
	case req.Close:
		return ReasonClientClose
	case cfg.MaxRequestsPerConn > 0 && idx >= cfg.MaxRequestsPerConn:
		return ReasonMaxRequests
	case cfg.MaxConnLifetime > 0 && time.Since(c.created) >= cfg.MaxConnLifetime:
		return ReasonLifetime
	case c.stopRequested() != stopNone:
		return ReasonShutdown
	}
	return ""
}

// delay sleeps the response delay; it returns false if Close interrupted it.
func (c *conn) delay() bool {
	d := c.s.cfg.ResponseDelay
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.quit:
		return false
	}
}

// badRequest ends the connection after a request could not be read: the
// peer went away, Close interrupted the read, or the request is malformed
// (answered 400).
func (c *conn) badRequest(err error) ending {
	if c.stopRequested() == stopForce || isPeerGone(err) {
		return c.failed(err)
	}
	c.s.log.Debug("backend bad request", "conn", c.id, "err", err)
	c.out = appendBadRequest(c.out[:0], c.id)
	if _, werr := c.nc.Write(c.out); werr == nil {
		c.emit(Event{Kind: EventResponse, Status: http.StatusBadRequest})
	}
	return ending{closer: CloserBackend, reason: ReasonReadError}
}

// failed classifies an error that ends the connection.
func (c *conn) failed(err error) ending {
	return c.failedWith(err, ending{})
}

func (c *conn) failedWith(err error, e ending) ending {
	switch {
	case c.stopRequested() == stopForce:
		e.closer, e.reason = CloserBackend, ReasonShutdown
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e.closer, e.reason = CloserPeer, ReasonPeerEOF
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		e.closer, e.reason = CloserPeer, ReasonPeerReset
	case c.phase.Load() == int32(phaseWrite):
		e.closer, e.reason = CloserBackend, ReasonWriteError
		c.s.log.Debug("backend write", "conn", c.id, "err", err)
	default:
		e.closer, e.reason = CloserBackend, ReasonReadError
		c.s.log.Debug("backend read", "conn", c.id, "err", err)
	}
	return e
}

// end closes the socket and reports the one close event of the connection.
func (c *conn) end(e ending) {
	c.phase.Store(int32(phaseClose))
	c.mu.Lock()
	c.idle = false
	c.mu.Unlock()
	ev := Event{Kind: EventClose, Closer: e.closer, Reason: e.reason, RequestID: e.reqID, ReqIndex: e.reqIndex}
	if e.closer == CloserBackend {
		ev.Style, ev.Fault = c.s.cfg.CloseStyle, e.fault
		var id string
		ev.UnreadBytes, id = c.unread()
		if ev.RequestID == "" {
			ev.RequestID = id
		}
		if ev.Style == CloseRST {
			_ = c.nc.SetLinger(0)
		}
	}
	// The FIN or RST leaves at the start of the close call; the call
	// itself can take a while longer when the kernel runs the woken peer
	// first, so the event's time is taken just before it.
	ev.Time = time.Now()
	if err := c.nc.Close(); err != nil {
		c.s.log.Debug("backend close", "conn", c.id, "err", err)
	}
	c.emit(ev)
}

// unread counts the request bytes that arrived but were never parsed:
// those in the process's buffer and those still in the kernel's receive
// buffer. It also returns the request id found in them, if any.
func (c *conn) unread() (int, string) {
	var head [2048]byte
	n := copy(head[:], peekBuffered(c.br))
	buffered := c.br.Buffered()
	pending := 0
	if c.raw != nil {
		_ = c.raw.Control(func(fd uintptr) {
			var copied int
			pending, copied = pendingBytes(fd, head[n:])
			n += copied
		})
	}
	if buffered+pending == 0 {
		return 0, ""
	}
	return buffered + pending, requestIDFromRaw(head[:n])
}

func peekBuffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

func drain(req *http.Request) error {
	_, err := io.Copy(io.Discard, req.Body)
	if cerr := req.Body.Close(); err == nil {
		err = cerr
	}
	return err
}

func expectsContinue(req *http.Request) bool {
	return req.ProtoAtLeast(1, 1) && req.ContentLength != 0 &&
		len(req.Header["Expect"]) == 1 && strings.EqualFold(req.Header.Get("Expect"), "100-continue")
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

func isPeerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
