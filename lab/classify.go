package lab

import (
	"fmt"
	"strings"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// DefaultAttributionWindow is how near the victim's send a backend close of
// the pooled connection must be for a failure to count as the race. The
// natural window is about 3 ms wide on loopback; the slack covers a busy
// scheduler without reaching back to an unrelated close.
const DefaultAttributionWindow = 50 * time.Millisecond

// observation is everything known about one victim request.
type observation struct {
	resp response
	// events are the backend's events carrying the victim's request id.
	events []backends.Event
	// pooled is the connection that served the priming request (0: none).
	pooled uint64
	// pooledClose is the backend-side end of the pooled connection, if it
	// ended during the trial.
	pooledClose *backends.Event
	proxy       []proxies.Evidence
	window      time.Duration
	// armed: the victim carried the fault header (deterministic mode,
	// sent after the backend's keep-alive ran out); primeDone is when the
	// backend answered the priming request on the pooled connection.
	armed     bool
	primeDone time.Time
	// proxyIdle is the proxy's upstream idle timeout as run (0: unknown).
	proxyIdle time.Duration
	// newConnAfterClose: the backend accepted a connection between the
	// pooled connection's close and the response. Without one, a request
	// that reached no handler can only have gone down the closed pooled
	// connection.
	newConnAfterClose bool
}

// verdict is the classification of one victim.
type verdict struct {
	outcome     results.Outcome
	attributed  bool
	attribution string
	hidden      bool
	executions  int
	backend     results.BackendEvidence
}

// classify decides the outcome class from evidence, not from the status
// code alone: a 5xx the backend itself produced is backend_5xx; a failure
// is attributed to the stale-connection race only when the backend closed
// the connection the proxy reused near the request and no handler answered
// it; a success the backend saw fail first is ok_after_hidden_retry.
func classify(o observation) verdict {
	var v verdict
	b := &v.backend
	b.PooledConn = o.pooled
	var faultClose *backends.Event
	seenConn := map[uint64]bool{}
	for i := range o.events {
		e := &o.events[i]
		switch e.Kind {
		case backends.EventRequest:
			b.Arrivals++
			if !seenConn[e.ConnID] {
				seenConn[e.ConnID] = true
				b.Conns = append(b.Conns, e.ConnID)
			}
		case backends.EventHandler:
			v.executions++
		case backends.EventResponse:
			b.Responses++
			b.Status = e.Status
		case backends.EventClose:
			if e.Fault != backends.FaultNone && faultClose == nil {
				faultClose = e
			}
		}
	}
	closeEv := faultClose
	if closeEv == nil {
		closeEv = o.pooledClose
	}
	if closeEv != nil {
		b.Close = &results.CloseEvidence{
			Conn:        closeEv.ConnID,
			Closer:      closeEv.Closer,
			Reason:      closeEv.Reason,
			Style:       string(closeEv.Style),
			Fault:       string(closeEv.Fault),
			UnreadBytes: closeEv.UnreadBytes,
			SinceSendNS: int64(closeEv.Time.Sub(o.resp.Sent)),
		}
	}
	attempts := 0
	for _, ev := range o.proxy {
		attempts = max(attempts, ev.Attempts)
	}

	// The outcome the client saw.
	switch {
	case o.resp.Err != nil && o.resp.Status == 0:
		v.outcome = o.resp.Class
		if v.outcome == "" {
			v.outcome = results.Other
		}
	case o.resp.Status >= 500 && b.Responses > 0 && b.Status == o.resp.Status:
		v.outcome = results.Backend5xx
	case o.resp.Err != nil:
		v.outcome = results.Other
	default:
		v.outcome = statusOutcome(o.resp.Status)
	}

	// Evidence that the request died on a connection before this answer.
	diedOnce := faultClose != nil ||
		(o.pooledClose != nil && o.pooledClose.UnreadBytes > 0 && o.pooledClose.Closer == backends.CloserBackend) ||
		b.Arrivals > 1 || attempts > 1
	if v.outcome == results.OK && diedOnce {
		v.outcome = results.OKAfterHiddenRetry
		v.hidden = true
	}

	if v.outcome == results.OK {
		if why, ok := notReused(o, b); ok {
			v.outcome, v.attribution = results.NotReused, why
		}
	}
	if v.outcome.Failed() {
		v.attributed, v.attribution = attribute(o, faultClose, b)
	}
	return v
}

// notReused tells an armed victim that went out on a new connection
// because the proxy does not reuse (it kept the pooled connection open
// and opened another, asked the backend to close after the response, or
// closed the pooled one well before its idle timeout) from one whose
// pooled connection the proxy retired by its idle timer (the fix: ok).
func notReused(o observation, b *results.BackendEvidence) (string, bool) {
	if !o.armed || o.pooled == 0 || len(b.Conns) == 0 {
		return "", false
	}
	for _, c := range b.Conns {
		if c == o.pooled {
			return "", false
		}
	}
	pc := o.pooledClose
	if pc == nil {
		return fmt.Sprintf("the proxy kept pooled conn %d open and sent the request on conn %d: it did not reuse the pooled connection", o.pooled, b.Conns[0]), true
	}
	if pc.Reason == backends.ReasonClientClose {
		return fmt.Sprintf("the proxy asked the backend to close conn %d after its response (Connection: close): it does not keep idle upstream connections", o.pooled), true
	}
	if pc.Closer == backends.CloserBackend {
		return "", false
	}
	if idle := pc.Time.Sub(o.primeDone); !o.primeDone.IsZero() && o.proxyIdle > 0 && idle < o.proxyIdle/2 {
		return fmt.Sprintf("the proxy closed pooled conn %d %s after its response, well before its %s idle timeout, and sent the request on conn %d (no pooling, or a surplus idle connection it drops at once)", o.pooled, fmtDur(idle), o.proxyIdle, b.Conns[0]), true
	}
	return "", false
}

// attribute decides whether a failure is the stale-connection race.
func attribute(o observation, faultClose *backends.Event, b *results.BackendEvidence) (bool, string) {
	if b.Responses > 0 {
		return false, fmt.Sprintf("not attributed: the backend answered the request (%d)", b.Status)
	}
	if faultClose != nil {
		what := "closed it without an answer"
		if faultClose.Fault == backends.FaultProcessedThenDropped {
			what = "ran the handler, then closed without an answer"
		}
		return true, fmt.Sprintf("backend conn %d: request arrived on the reused connection and the backend %s (%s, %s)",
			faultClose.ConnID, what, faultClose.Fault, faultClose.Style)
	}
	pc := o.pooledClose
	if pc == nil {
		return false, "not attributed: no backend close of the pooled connection during the trial"
	}
	if pc.Closer != backends.CloserBackend {
		return false, fmt.Sprintf("not attributed: the pooled connection was closed by the proxy (%s)", pc.Reason)
	}
	since := pc.Time.Sub(o.resp.Sent)
	switch {
	case since > o.window:
		return false, fmt.Sprintf("not attributed: the backend closed the pooled connection %s after the request, outside %s", fmtDur(since), o.window)
	case since < -o.window && o.newConnAfterClose:
		return false, fmt.Sprintf("not attributed: the backend closed the pooled connection %s before the request and the proxy opened a new connection since", fmtDur(since))
	case since < -o.window:
		// A stalled proxy (or scheduler) reused a connection the backend
		// had closed well before: no new connection reached the backend,
		// so the request went down the closed one.
		return true, fmt.Sprintf("backend conn %d closed (%s, %s) %s before the request and the proxy opened no new connection: it reused the closed one, and no handler answered",
			pc.ConnID, pc.Reason, pc.Style, fmtDur(-since))
	}
	extra := ""
	if pc.UnreadBytes > 0 {
		extra = fmt.Sprintf(", %d request bytes unread (kernel RST)", pc.UnreadBytes)
	}
	return true, fmt.Sprintf("backend conn %d closed (%s, %s) %s from the request, which no handler answered%s",
		pc.ConnID, pc.Reason, pc.Style, fmtDur(since), extra)
}

func fmtDur(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + d.Round(10*time.Microsecond).String()
}

// AttributeWire decides from the wire alone whether a failed request met
// the stale-connection race, for a backend that reports no events (a
// real runtime): the backend sent its FIN or RST on the reused connection
// before the proxy closed it, within window after the request's first
// byte on that connection (or any time before it), and no response bytes
// followed the request there. w is Analyze's reading of that connection
// (internal/wire); the caller has already decided the request failed.
// The reason says what the wire showed either way.
func AttributeWire(w *results.WireEvidence, window time.Duration) (bool, string) {
	switch {
	case w == nil:
		return false, "not attributed: no capture"
	case w.Unavailable != "":
		return false, "not attributed: " + w.Unavailable
	case w.RequestBytes == 0:
		return false, "not attributed: the request went out on no captured proxy↔backend connection"
	case w.FirstClose == "":
		return false, fmt.Sprintf("not attributed: neither side closed %s after the request", w.Conn)
	case w.FirstClose != "backend":
		return false, fmt.Sprintf("not attributed: the proxy closed %s first (%s)", w.Conn, w.CloseKind)
	case w.ResponseBytes > 0:
		return false, fmt.Sprintf("not attributed: the backend answered on %s (%d response bytes after the request)", w.Conn, w.ResponseBytes)
	case w.CloseSinceRequestNS == nil:
		return false, fmt.Sprintf("not attributed: the backend's close on %s cannot be timed against the request", w.Conn)
	}
	since := time.Duration(*w.CloseSinceRequestNS)
	if since > window {
		return false, fmt.Sprintf("not attributed: the backend closed %s %s after the request, outside %s", w.Conn, fmtDur(since), window)
	}
	extra := ""
	if w.RequestIntoClosed {
		extra = ", and the request bytes reached the closed socket (backend RST)"
	}
	return true, fmt.Sprintf("wire %s: the backend's %s came first, %s from the request's first byte, with no response bytes%s",
		w.Conn, strings.ToUpper(w.CloseKind), fmtDur(since), extra)
}
