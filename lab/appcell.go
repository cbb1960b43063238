package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/appserver"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/probe"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// appRun is a real runtime behind the proxy, and what racelab measured
// of it before the first trial.
type appRun struct {
	server *appserver.Server
	// measured is the runtime's idle close as probed from outside.
	measured *probe.Result
	// offsets are the victims' offsets from the measured close.
	offsets []time.Duration
	// skip, when set, says why the cell runs no trial.
	skip string
}

// appSamples is how many idle closes are measured before the trials.
const appSamples = 3

// startApp starts the cell's runtime, measures its idle close and places
// the victims' offsets around it (unless the scenario gave them).
func (cr *cellRun) startApp(ctx context.Context) error {
	c := cr.cell
	if err := appserver.Available(appserver.Name(c.Runtime)); err != nil {
		cr.app = &appRun{skip: "skipped: " + err.Error()}
		return nil
	}
	s, err := appserver.Start(ctx, appserver.Spec{Name: appserver.Name(c.Runtime), KeepAlive: c.RuntimeKeepAlive},
		process.WithKeep(cr.cfg.env.Keep))
	cr.app = &appRun{server: s}
	if err != nil {
		return err
	}
	if want := c.RuntimeVersion; want != "" && !versionMatches(s.Version(), want) {
		return fmt.Errorf("runtime %s installed is %s, the scenario asks for %s", c.Runtime, s.Version(), want)
	}
	cr.upstream = s.Addr()
	maxWait := min(2*c.BackendKeepAlive+10*time.Second, probe.DefaultMaxWait)
	res, err := probe.Measure(ctx, s.URL(), probe.WithSamples(appSamples), probe.WithMaxWait(maxWait), probe.WithMaxRequests(0))
	if err != nil {
		return fmt.Errorf("measure %s idle close: %w", c.Runtime, err)
	}
	cr.app.measured = res
	switch {
	case !res.KeepAlive:
		cr.app.skip = fmt.Sprintf("no race possible: %s keeps no idle connection (it closes after every response)", c.Runtime)
		return nil
	case res.NeverClosed:
		cr.app.skip = fmt.Sprintf("no race possible within %s: %s closed no idle connection", probe.FormatWait(maxWait), c.Runtime)
		return nil
	}
	cr.app.offsets = c.Offsets
	if c.OffsetsAuto {
		cr.app.offsets = appOffsets(res.Max-res.Min, c.Trials)
	}
	if last := cr.app.offsets[len(cr.app.offsets)-1]; c.Proxy.Config == "" && cr.proxyIdle <= res.Median+last {
		cr.app.skip = fmt.Sprintf("not raced: the proxy drops its idle upstream connection after %s, before %s closes it (measured %s)",
			probe.FormatWait(cr.proxyIdle), c.Runtime, res.Median.Round(time.Millisecond))
	}
	return nil
}

// appOffsets spread trials victims over a runtime's measured close: the
// natural window (-0.5ms..+3ms of the close) widened by how much the
// close varied between samples, in at most trials steps of at least
// 100µs.
func appOffsets(spread time.Duration, trials int) []time.Duration {
	from, to := -500*time.Microsecond-spread/2, 3*time.Millisecond+spread/2
	n := max(min(trials, 16), 2)
	step := max((to-from)/time.Duration(n-1), 100*time.Microsecond)
	var out []time.Duration
	for o := from; o <= to; o += step {
		out = append(out, o.Round(10*time.Microsecond))
	}
	return out
}

// appFacts are the runtime's facts for the cell_end line.
func (cr *cellRun) appFacts() map[string]string {
	a := cr.app
	if a == nil || a.server == nil {
		return nil
	}
	rt := a.server.Runtime()
	f := a.server.Info()
	f["version"] = a.server.Version()
	f["documented_default"] = rt.Default.String()
	f["setting"] = rt.Setting
	if m := a.measured; m != nil && m.Measured() > 0 {
		f["measured_idle_ms"] = strconv.FormatFloat(float64(m.Median)/1e6, 'f', 1, 64)
		var ss []string
		for _, s := range m.Samples {
			ss = append(ss, strconv.FormatFloat(float64(s.Idle)/1e6, 'f', 1, 64))
		}
		f["samples_ms"] = strings.Join(ss, ",")
		f["close"] = m.Close
	}
	delete(f, "binary")
	return f
}

// appTrial is one natural-race trial against a real runtime: a priming
// request, then the victim sent at the runtime's measured idle close
// (from the priming response's arrival at the client) plus the trial's
// offset. The runtime's request log counts executions; the proxy's log
// and the wire say what happened to a failure.
func (cr *cellRun) appTrial(ctx context.Context, seq int, _ *rand.Rand) (results.Record, error) {
	c := cr.cell
	rec := results.Record{
		Type: results.TypeTrial, RunID: cr.cfg.env.RunID, Cell: c.ID, Seq: seq,
		Mode: scenarios.ModeTiming, Method: c.Method, Client: c.Client,
		RequestID: fmt.Sprintf("%d-%d-v", c.Index, seq),
	}
	began := time.Now()
	var anchor time.Time
	for attempt := 0; attempt < 2 && anchor.IsZero(); attempt++ {
		primeID := fmt.Sprintf("%d-%d-p", c.Index, seq)
		if attempt > 0 {
			primeID += "2"
			rec.PrimeRetried, rec.PrimeError = rec.PrimeError, ""
		}
		pr := cr.prime(ctx, primeID)
		if ctx.Err() != nil {
			return rec, ctx.Err()
		}
		switch {
		case pr.Err != nil:
			rec.PrimeError = pr.Err.Error()
		case pr.Status != 200:
			rec.PrimeError = fmt.Sprintf("priming request answered %d", pr.Status)
		default:
			anchor = pr.Done
		}
	}
	if anchor.IsZero() {
		anchor = time.Now()
	}
	off := cr.app.offsets[seq%len(cr.app.offsets)]
	sched := int64(off)
	rec.ScheduledOffsetNS = &sched
	deadline := anchor.Add(cr.app.measured.Median)
	target := deadline.Add(off)
	rec.GapScheduledNS = int64(target.Sub(anchor))
	victim := cr.client.request(rec.RequestID, c.Method, backends.FaultNone)
	if err := waitUntil(ctx, target.Add(-checkLead)); err != nil {
		return rec, err
	}
	if err := cr.client.checkAlive(ctx); err != nil {
		return rec, err
	}
	if err := waitUntil(ctx, target); err != nil {
		return rec, err
	}
	resp := cr.client.do(ctx, victim, cr.cfg.responseTimeout+2*time.Second)
	if ctx.Err() != nil {
		return rec, ctx.Err()
	}
	rec.Time = resp.Sent
	rec.GapActualNS = int64(resp.Sent.Sub(anchor))
	offNS := int64(resp.Sent.Sub(deadline))
	rec.OffsetNS = &offNS
	rec.Status = resp.Status
	rec.LatencyNS = int64(resp.Done.Sub(resp.Sent))
	if resp.Err != nil {
		rec.ClientError = resp.Err.Error()
	}
	rec.Proxy = cr.proxyEvidence(ctx, rec.RequestID, fmt.Sprintf("%d-%d-s", c.Index, seq), resp)
	if ctx.Err() != nil {
		return rec, ctx.Err()
	}
	execs := cr.appExecutions(ctx, rec.RequestID, resp.Status == 200)
	v := classifyApp(resp, execs, rec.Proxy)
	rec.Outcome, rec.Attribution = v.outcome, v.attribution
	rec.HiddenRetry, rec.Executions, rec.Duplicate = v.hidden, execs, execs > 1
	rec.Backend = results.BackendEvidence{Arrivals: execs, Responses: execs}
	if execs > 0 {
		rec.Backend.Status = 200
	}
	// The reused connection is the one that carried the victim's id.
	cr.wireEvidence(ctx, &rec, 0, began, resp.Sent)
	if rec.Outcome.Failed() && execs == 0 {
		rec.Attributed, rec.Attribution = attributeApp(rec.Wire, rec.Proxy, cr.cfg.attributionWindow)
	}
	return rec, nil
}

// appExecutions counts the runtime's log lines for id: after an answer
// it waits for the first (the application logs before it answers; the
// line may trail on its pipe), then for the settle time, so a second
// execution (a proxy's retry) is counted too.
func (cr *cellRun) appExecutions(ctx context.Context, id string, answered bool) int {
	if answered {
		wctx, cancel := context.WithTimeout(ctx, eventWait)
		_, _ = cr.app.server.Evidence().Wait(wctx, id, "access")
		cancel()
	}
	_ = sleepCtx(ctx, cr.cfg.settle)
	return cr.app.server.Executions(id)
}

// classifyApp decides a real-runtime victim's outcome class; a failure
// the runtime ran is not the race. A failure it never ran is attributed
// by attributeApp once the wire has been read.
func classifyApp(resp response, execs int, proxyEv []proxies.Evidence) verdict {
	var v verdict
	v.executions = execs
	attempts := 0
	for _, ev := range proxyEv {
		attempts = max(attempts, ev.Attempts)
	}
	switch {
	case resp.Err != nil && resp.Status == 0:
		v.outcome = resp.Class
		if v.outcome == "" {
			v.outcome = results.Other
		}
	case resp.Err != nil:
		v.outcome = results.Other
	default:
		v.outcome = statusOutcome(resp.Status)
	}
	if v.outcome == results.OK && (execs > 1 || attempts > 1) {
		v.outcome, v.hidden = results.OKAfterHiddenRetry, true
	}
	if v.outcome.Failed() && execs > 0 {
		v.attribution = fmt.Sprintf("not attributed: the runtime ran the request (%d times) and answered it", execs)
	}
	return v
}

// attributeApp decides whether a failure the runtime never ran is the
// race. The application always answers, so it is only with evidence that
// the runtime closed the connection the proxy reused: the wire
// (AttributeWire: the runtime's FIN or RST first, near the request, no
// answer), or, when there is no capture, the proxy's own log naming the
// upstream's close or reset.
func attributeApp(wire *results.WireEvidence, proxyEv []proxies.Evidence, window time.Duration) (bool, string) {
	if wire != nil && wire.Unavailable == "" {
		return AttributeWire(wire, window)
	}
	note := " (no wire capture)"
	if wire != nil {
		note = " (no wire capture: " + wire.Unavailable + ")"
	}
	for _, ev := range proxyEv {
		if ev.Source == "error" && upstreamClosed(ev.Message) {
			return true, fmt.Sprintf("the runtime ran no handler for the request and the proxy logged the upstream's close: %q%s", ev.Message, note)
		}
	}
	return false, "not attributed: the runtime ran no handler for the request, but nothing shows it closed the reused connection" + note
}

// upstreamClosed reports whether a proxy's error-log message says the
// upstream closed or reset the connection.
func upstreamClosed(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"prematurely closed", "connection reset by peer", "upstream connection closed", "broken pipe"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// RuntimeMeasure is a runtime's idle close measured from outside, at one
// keep-alive setting.
type RuntimeMeasure struct {
	Runtime appserver.Runtime
	Version string
	// KeepAlive is the setting (0: the runtime's default).
	KeepAlive time.Duration
	Result    *probe.Result
	// Err says why the runtime could not be measured (not installed, ...).
	Err error
}

// MeasureRuntime starts runtime name with keep-alive ka (0: its default),
// measures its idle close from outside (samples connections at once,
// each wait bounded by maxWait) and stops it.
func MeasureRuntime(ctx context.Context, name string, ka time.Duration, samples int, maxWait time.Duration) RuntimeMeasure {
	rt, ok := appserver.Lookup(name)
	m := RuntimeMeasure{Runtime: rt, KeepAlive: rt.KeepAlive(ka)}
	if !ok {
		m.Err = fmt.Errorf("unknown runtime %q: want one of %s", name, appserver.Names())
		return m
	}
	if err := appserver.Available(rt.Name); err != nil {
		m.Err = err
		return m
	}
	s, err := appserver.Start(ctx, appserver.Spec{Name: rt.Name, KeepAlive: ka})
	defer func() { _ = s.Stop(context.Background()) }()
	if err != nil {
		m.Err = err
		return m
	}
	m.Version = s.Version()
	m.Result, m.Err = probe.Measure(ctx, s.URL(), probe.WithSamples(samples), probe.WithMaxWait(maxWait), probe.WithMaxRequests(0))
	return m
}
