package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// checkLead is how long before the send the client connection is checked.
const checkLead = 50 * time.Microsecond

// eventWait bounds the wait for a backend event that must follow a
// response (the backend records it right after its write returns).
const eventWait = 2 * time.Second

// trial runs one trial: a priming request that leaves one pooled upstream
// connection, an idle gap, then the victim request. It returns an error
// only when the lab itself cannot go on; every proxy or backend failure is
// a classified record.
func (cr *cellRun) trial(ctx context.Context, seq int, rng *rand.Rand) (results.Record, error) {
	c := cr.cell
	rec := results.Record{
		Type: results.TypeTrial, RunID: cr.cfg.env.RunID, Cell: c.ID, Seq: seq,
		Mode: c.Mode, Method: c.Method, Client: c.Client,
		RequestID: fmt.Sprintf("%d-%d-v", c.Index, seq),
	}
	from := cr.rec.Len()
	began := time.Now()
	// Keep the backend's events of this trial and the one before (a close
	// can trail its trial); older ones are in the record already.
	cr.rec.Forget(cr.prevFrom)
	cr.prevFrom = from
	var (
		anchor  time.Time // the gap starts here
		target  time.Time // the victim leaves here
		pooled  uint64
		primeOK bool
	)
	// The priming request is setup, not measurement: when it fails (in
	// timing mode it can itself meet the backend's idle close of the
	// previous victim's connection), it is sent once more, on the fresh
	// connection the proxy opens then, and the record says so.
	for attempt := 0; attempt < 2 && !primeOK && !c.BackendDown; attempt++ {
		primeID := fmt.Sprintf("%d-%d-p", c.Index, seq)
		if attempt > 0 {
			primeID += "2"
			rec.PrimeRetried, rec.PrimeError = rec.PrimeError, ""
		}
		pr := cr.prime(ctx, primeID)
		if ctx.Err() != nil {
			return rec, ctx.Err()
		}
		if pr.Err != nil {
			rec.PrimeError = pr.Err.Error()
			continue
		}
		resp, err := cr.waitEvent(ctx, from, func(e backends.Event) bool {
			return e.Kind == backends.EventResponse && e.RequestID == primeID
		})
		switch {
		case err == nil:
			primeOK = true
			pooled = resp.ConnID
			anchor = resp.Time
		case ctx.Err() != nil:
			return rec, ctx.Err()
		default:
			rec.PrimeError = fmt.Sprintf("priming request answered %d but the backend never answered it", pr.Status)
		}
	}
	if !primeOK {
		anchor = time.Now()
	}

	gap := cr.gap
	if c.Jitter > 0 {
		gap += time.Duration(rng.Int64N(int64(c.Jitter)))
	}
	var deadline time.Time
	switch {
	case c.Mode == scenarios.ModeTiming && primeOK:
		armed, err := cr.waitEvent(ctx, from, func(e backends.Event) bool {
			return e.Kind == backends.EventIdleArmed && e.ConnID == pooled
		})
		if err != nil {
			return rec, fmt.Errorf("backend idle timer not armed for conn %d: %w", pooled, err)
		}
		deadline = armed.Deadline
		off := c.Offsets[seq%len(c.Offsets)]
		sched := int64(off)
		rec.ScheduledOffsetNS = &sched
		target = deadline.Add(off)
		gap = target.Sub(anchor)
	default:
		target = anchor.Add(gap)
	}
	rec.GapScheduledNS = int64(gap)

	fault := backends.FaultNone
	if c.FaultArmed(gap) {
		fault = c.Fault
		rec.FaultArmed = true
	}
	victim := cr.client.request(rec.RequestID, c.Method, fault)
	if c.Body != nil {
		victim = victim.withBody(c.Body)
	}
	// One wait to just before the send, a non-blocking check that the
	// client connection survived the gap, then the last few microseconds.
	if err := waitUntil(ctx, target.Add(-checkLead)); err != nil {
		return rec, err
	}
	if err := cr.client.checkAlive(ctx); err != nil {
		return rec, err
	}
	if err := waitUntil(ctx, target); err != nil {
		return rec, err
	}
	var restarted chan error
	var afterWrite func()
	if c.RestartEvery > 0 && seq%c.RestartEvery == c.RestartEvery-1 {
		// A graceful restart at the unlucky moment: the backend closes its
		// idle connections as the victim leaves the client, so their FIN
		// and the proxy's forwarded request cross.
		restarted = make(chan error, 1)
		afterWrite = func() { go func() { restarted <- cr.restartBackend(ctx) }() }
		rec.BackendRestarted = true
	}
	resp := cr.client.doThen(ctx, victim, cr.cfg.responseTimeout+2*time.Second, afterWrite)
	if restarted != nil {
		if err := <-restarted; err != nil {
			return rec, err
		}
	}
	if ctx.Err() != nil {
		return rec, ctx.Err()
	}
	rec.Time = resp.Sent
	rec.GapActualNS = int64(resp.Sent.Sub(anchor))
	if !deadline.IsZero() {
		off := int64(resp.Sent.Sub(deadline))
		rec.OffsetNS = &off
	}
	rec.Status = resp.Status
	rec.LatencyNS = int64(resp.Done.Sub(resp.Sent))
	if resp.Err != nil {
		rec.ClientError = resp.Err.Error()
	}

	proxyEv := cr.proxyEvidence(ctx, rec.RequestID, fmt.Sprintf("%d-%d-s", c.Index, seq), resp)
	if ctx.Err() != nil {
		return rec, ctx.Err()
	}
	pooledClose, err := cr.settlePooledClose(ctx, pooled, rec.RequestID, resp.Status)
	if err != nil {
		return rec, err
	}
	v := classify(observation{
		resp: resp, events: cr.victimEvents(rec.RequestID), pooled: pooled,
		pooledClose: pooledClose, proxy: proxyEv, requestID: rec.RequestID, window: cr.cfg.attributionWindow + pathAttributionSlack(c),
		armed: rec.FaultArmed, primeDone: anchor, proxyIdle: cr.proxyIdle, gap: gap,
		newConnAfterClose: pooledClose != nil && cr.acceptedBetween(from, pooledClose.Time, resp.Done),
	})
	rec.Outcome, rec.Attributed, rec.Attribution = v.outcome, v.attributed, v.attribution
	rec.HiddenRetry, rec.Executions = v.hidden, v.executions
	rec.Duplicate = v.executions > 1
	rec.Backend = v.backend
	rec.Proxy = proxyEv
	cr.wireEvidence(ctx, &rec, pooled, began, resp.Sent)
	return rec, nil
}

// proxyEvidence collects what the proxy logged about request id, whose
// outcome resp the client has seen. With an evidence barrier
// (proxies.Bundle.SyncPath) that is one request to the barrier, syncID,
// and the wait for its line: the victim's line, if the proxy writes one,
// is in by then, so a proxy that logs nothing for an outcome (HAProxy
// dropping a persistent client connection) costs a round trip, not a
// timeout. Without a barrier, or when the barrier does not answer, it
// waits for the access line (and after a failure for an error line) as
// long as evidenceWaits allows.
func (cr *cellRun) proxyEvidence(ctx context.Context, id, syncID string, resp response) []proxies.Evidence {
	evidence := cr.proxy.Evidence()
	if cr.syncPath != "" {
		// The barrier's proxy writes a request's evidence as one line.
		if evs := evidence.ForRequest(id); len(evs) > 0 {
			return evs
		}
		err := cr.sync(ctx, syncID)
		if err == nil {
			return evidence.ForRequest(id)
		}
		if ctx.Err() != nil {
			return evidence.ForRequest(id)
		}
		cr.cfg.logger.Warn("evidence barrier failed: waiting for the line instead", "cell", cr.cell.ID, "request", id, "err", err)
	}
	// The access line normally follows within a millisecond; a proxy that
	// drops the connection may log nothing.
	class := resp.Class
	if class == "" {
		class = statusOutcome(resp.Status)
	}
	waitStart := time.Now()
	ectx, cancel := context.WithTimeout(ctx, cr.waits.limit(class, cr.evidenceWait()))
	proxyEv, _ := evidence.Wait(ectx, id, "access")
	cancel()
	cr.waits.observe(class, hasSource(proxyEv, "access"), time.Since(waitStart))
	if resp.Status != 200 && !hasSource(proxyEv, "error") {
		// Error-log lines come on another stream than access lines (nginx:
		// stderr and stdout) and may trail them.
		ectx, cancel := context.WithTimeout(ctx, cr.waits.limit(class+"/error", cr.evidenceWait()/4))
		waitStart = time.Now()
		proxyEv, _ = evidence.Wait(ectx, id, "error")
		cancel()
		cr.waits.observe(class+"/error", hasSource(proxyEv, "error"), time.Since(waitStart))
	}
	return proxyEv
}

// sync sends request id to the proxy's evidence barrier on a connection
// of its own and waits for the proxy's line about it, both within the
// evidence wait.
func (cr *cellRun) sync(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, cr.cfg.evidenceWait)
	defer cancel()
	c := newClient(cr.client.addr, false)
	defer c.close()
	r := c.do(ctx, newRequest(id, "GET", backends.FaultNone, cr.syncPath, "racelab"), cr.cfg.evidenceWait)
	if r.Err != nil {
		return fmt.Errorf("evidence barrier %s: %w", cr.syncPath, r.Err)
	}
	if r.Status != http.StatusNoContent {
		return fmt.Errorf("evidence barrier %s: status %d, want 204", cr.syncPath, r.Status)
	}
	if _, err := cr.proxy.Evidence().Wait(ctx, id, "access"); err != nil {
		return fmt.Errorf("evidence barrier %s: no log line: %w", cr.syncPath, err)
	}
	return nil
}

// prime sends the priming request, reconnecting once if the client
// connection was closed by the previous trial's fallout.
func (cr *cellRun) prime(ctx context.Context, id string) response {
	if err := cr.client.checkAlive(ctx); err != nil {
		return response{Err: err}
	}
	return cr.client.do(ctx, cr.client.request(id, "GET", backends.FaultNone), cr.cfg.responseTimeout+2*time.Second)
}

// waitEvent waits, briefly, for a backend event recorded from index from on.
func (cr *cellRun) waitEvent(ctx context.Context, from int, match func(backends.Event) bool) (backends.Event, error) {
	wctx, cancel := context.WithTimeout(ctx, eventWait)
	defer cancel()
	return cr.rec.Wait(wctx, from, match)
}

// settlePooledClose returns the backend's record of the pooled
// connection's close, once the backend's view of the victim has settled:
// the close that raced the request, or that the proxy made as it retired
// the pooled connection and opened another, is recorded by that
// connection's goroutine, which may run a moment after the proxy
// answered. A 200 that came over the pooled connection needs no close; a
// 200 that came over another one has one (the proxy retired the pooled
// connection) or none (the proxy kept it open: not_reused), and a loaded
// machine can run that goroutine well after the answer, so the wait is
// longer then. It returns nil when there is no close to wait for.
func (cr *cellRun) settlePooledClose(ctx context.Context, pooled uint64, id string, status int) (*backends.Event, error) {
	wait := cr.cfg.settle
	if status == http.StatusOK {
		wait = max(wait, reuseSettle)
	}
	settle := time.Now().Add(wait)
	for {
		var pooledClose *backends.Event
		if pooled != 0 {
			for _, e := range cr.rec.ForConn(pooled) {
				if e.Kind == backends.EventClose {
					e := e
					pooledClose = &e
				}
			}
		}
		if pooledClose != nil || !time.Now().Before(settle) || (status == http.StatusOK && cr.onConn(id, pooled)) {
			return pooledClose, nil
		}
		if err := sleepCtx(ctx, time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// reuseSettle bounds the wait for the pooled connection's close after a
// victim answered 200 on another connection: long enough for a goroutine
// a loaded machine (the race detector, a parallel test run) runs late.
const reuseSettle = 250 * time.Millisecond

// onConn reports whether request id reached the backend on connection
// conn (or nothing is known to tell otherwise: no pooled connection, or
// the request never arrived).
func (cr *cellRun) onConn(id string, conn uint64) bool {
	if conn == 0 {
		return true
	}
	arrived := false
	for _, e := range cr.rec.ForRequest(id) {
		if e.Kind != backends.EventRequest {
			continue
		}
		if e.ConnID == conn {
			return true
		}
		arrived = true
	}
	return !arrived
}

// victimEvents are the backend's events for the victim's request id plus
// the close of every connection it arrived on: a fault's close names the
// connection, and the victim's request event names both.
func (cr *cellRun) victimEvents(id string) []backends.Event {
	evs := cr.rec.ForRequest(id)
	seen := map[uint64]bool{}
	for _, e := range evs {
		if e.Kind != backends.EventRequest || seen[e.ConnID] {
			continue
		}
		seen[e.ConnID] = true
		for _, ce := range cr.rec.ForConn(e.ConnID) {
			if ce.Kind == backends.EventClose && ce.RequestID != id && ce.Time.After(e.Time) {
				evs = append(evs, ce)
			}
		}
	}
	return evs
}

func hasSource(evs []proxies.Evidence, source string) bool {
	for _, e := range evs {
		if e.Source == source {
			return true
		}
	}
	return false
}

// readerEvidenceWait is the least a cell waits for a line that comes
// through a proxy's log reader, where there is no evidence barrier:
// varnishncsa polls Varnish's shared-memory log, and on a loaded machine
// (three test packages' proxies at once) its line came more than 100 ms
// after the answer, and the behaviour table lost Varnish's "503, 200".
// The wait ends when the line comes, and learns after three trials.
const readerEvidenceWait = time.Second

// evidenceWait bounds the wait for a victim's access line.
func (cr *cellRun) evidenceWait() time.Duration {
	if cr.logReader && cr.syncPath == "" {
		return max(cr.cfg.evidenceWait, readerEvidenceWait)
	}
	return cr.cfg.evidenceWait
}

// evidenceWaits learns, per outcome class, how long a proxy takes to log a
// trial, so a proxy that never logs a class (HAProxy dropping a persistent
// client connection writes no line) does not cost the full wait on every
// trial. The first learnTrials of a class always get the full wait.
type evidenceWaits struct {
	seen    map[results.Outcome]int
	arrived map[results.Outcome]int
	slowest map[results.Outcome]time.Duration
}

const (
	learnTrials     = 3
	minEvidenceWait = 5 * time.Millisecond
)

func (w *evidenceWaits) limit(class results.Outcome, full time.Duration) time.Duration {
	if w.seen == nil || w.seen[class] < learnTrials {
		return full
	}
	if w.arrived[class] == 0 {
		return minEvidenceWait
	}
	return min(full, max(minEvidenceWait, 4*w.slowest[class]))
}

func (w *evidenceWaits) observe(class results.Outcome, arrived bool, took time.Duration) {
	if w.seen == nil {
		w.seen, w.arrived, w.slowest = map[results.Outcome]int{}, map[results.Outcome]int{}, map[results.Outcome]time.Duration{}
	}
	w.seen[class]++
	if arrived {
		w.arrived[class]++
		w.slowest[class] = max(w.slowest[class], took)
	}
}

// acceptedBetween reports whether the backend accepted a connection in
// [from, to], looking at events recorded from index start on.
func (cr *cellRun) acceptedBetween(start int, from, to time.Time) bool {
	for _, e := range cr.rec.Events(start) {
		if e.Kind == backends.EventAccept && !e.Time.Before(from) && !e.Time.After(to) {
			return true
		}
	}
	return false
}
