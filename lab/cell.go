package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/netpath"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// cellRun is one cell in flight.
type cellRun struct {
	cell     *scenarios.Cell
	cfg      *config
	rec      *backends.Recorder
	backend  *backends.Server
	upstream string
	// path is the relay between proxy and backend (nil: none).
	path   *netpath.Relay
	proxy  proxies.Instance
	client *client
	sink   func(results.Record) error
	// gap is the deterministic idle gap (the cell's, or placed by a user's
	// configuration's idle timeout); config what racelab made of that file.
	gap    time.Duration
	config *results.ConfigFacts
	// proxyIdle is the proxy's upstream idle timeout as run: the cell's,
	// or a user's configuration's, scaled.
	proxyIdle time.Duration
	// prevFrom is where the previous trial's backend events start.
	prevFrom int
	// generation counts backend starts (restarts included).
	generation int
	waits      evidenceWaits
	// logReader: the proxy's evidence comes through a log reader of its
	// own (Varnish's varnishncsa), which polls and may trail the answer.
	logReader bool
	// unexpressed is what the cell asks that its proxy cannot do
	// (proxies.Bundle.Unexpressed), for the cell's note.
	unexpressed []string
	// syncPath is the proxy's evidence barrier (proxies.Bundle.SyncPath),
	// empty when it has none.
	syncPath string
	// app is the cell's real runtime, when it has one.
	app *appRun
	// wire is the capture of the backend port (nil: off).
	wire *cellWire
}

// CellResult is what running one cell produced.
type CellResult struct {
	Cell *scenarios.Cell
	// Result is the cell in the run model: its cell line (proxy facts,
	// note, error), the aggregate of its records and a bounded sample of
	// them (every record went to the results file).
	Result *results.CellRun
	Err    error
	// Setup is how long the backend and proxy took to start and answer
	// end to end; Elapsed is the whole cell, setup and teardown included.
	Setup, Elapsed time.Duration
}

// Summary is the cell's aggregate.
func (r *CellResult) Summary() results.Summary { return r.Result.Summary() }

// RunCell runs one cell: it starts the backend and the proxy on fresh
// loopback ports, sends the cell's trials, and stops both, on every path.
// Lines go to the writer given by WithResults as they are made.
func RunCell(ctx context.Context, cell *scenarios.Cell, opts ...Option) *CellResult {
	cfg := newConfig(opts)
	return runCell(ctx, cell, cfg, results.NewStream(cfg.writer, results.NewRun()))
}

// runCell runs one cell and streams its cell line, its records and its
// cell_end line to out.
func runCell(ctx context.Context, cell *scenarios.Cell, cfg *config, out *results.Stream) (res *CellResult) {
	res = &CellResult{Cell: cell}
	if err := out.Write(results.Cell{Type: results.TypeCell, ID: cell.ID, Index: cell.Index, Params: cell.Params}); err != nil {
		res.Err = err
	}
	res.Result = out.Cell(cell.ID)
	cr := &cellRun{cell: cell, cfg: cfg, rec: backends.NewRecorder(), gap: cell.Gap, proxyIdle: cell.ProxyIdle}
	cr.sink = func(r results.Record) error {
		err := out.Write(r)
		if cfg.progress != nil {
			cfg.progress(Progress{Cell: cell, Record: &r})
		}
		return err
	}
	var proxy map[string]string
	defer func() {
		if p := recover(); p != nil {
			res.Err = errors.Join(res.Err, fmt.Errorf("panic: %v", p))
		}
		res.Err = errors.Join(res.Err, cr.stop())
		end := results.Cell{Type: results.TypeCellEnd, ID: cell.ID, Proxy: proxy, Note: cr.note(res.Result.Summary()),
			Config: cr.config, Runtime: cr.appFacts()}
		if cr.app != nil && cr.app.skip != "" {
			end.Note = cr.app.skip
		}
		if res.Err != nil {
			end.Error = res.Err.Error()
		}
		res.Err = errors.Join(res.Err, out.Write(end))
	}()
	began := time.Now()
	defer func() { res.Elapsed = time.Since(began) }()
	if err := cr.start(ctx); err != nil {
		res.Err = err
		proxy = cr.proxyInfo()
		return res
	}
	res.Setup = time.Since(began)
	proxy = cr.proxyInfo()
	res.Err = cr.trials(ctx)
	return res
}

// backendConfig is the backend for the cell's mode. In deterministic mode
// the backend's keep-alive is modelled by the fault: a victim sent after
// the keep-alive ran out is closed on reuse (a real idle timer would let
// the proxy notice the FIN first). In timing mode the real timer runs.
func (cr *cellRun) backendConfig() backends.Config {
	c := cr.cell
	cfg := backends.Config{
		CloseStyle:         c.Close,
		MaxRequestsPerConn: c.MaxRequests,
		MaxConnLifetime:    c.MaxLifetime,
		ResponseDelay:      c.ResponseDelay,
		ResponseStatus:     c.ResponseStatus,
	}
	if c.Mode == scenarios.ModeTiming || c.Fault == backends.FaultNone {
		cfg.IdleTimeout = c.BackendKeepAlive
	} else {
		cfg.Fault = backends.Fault{Kind: c.Fault}
	}
	return cfg
}

func (cr *cellRun) start(ctx context.Context) error {
	c := cr.cell
	if !cr.cfg.wireOff {
		cr.wire = &cellWire{remote: map[uint64]string{}, closed: map[uint64]bool{}}
	}
	switch {
	case c.Runtime != "":
		if err := cr.startApp(ctx); err != nil || cr.app.skip != "" {
			return err
		}
	case c.BackendDown:
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		cr.upstream = addr
	default:
		b, err := backends.Start(ctx, cr.backendConfig(), backends.WithObserver(cr.observer()))
		if err != nil {
			return err // "start backend: ..."
		}
		cr.backend = b
		cr.upstream = b.Addr()
	}
	cr.startWire(ctx, cr.upstream)
	proxyUpstream, err := cr.startPath(ctx, cr.upstream)
	if err != nil {
		return err
	}
	spec := proxies.Spec{
		Kind:            proxies.Kind(c.Proxy.Kind),
		Upstream:        proxyUpstream,
		IdleTimeout:     c.ProxyIdle,
		ResponseTimeout: cr.cfg.responseTimeout,
		Retry:           c.Retry,
		Variant:         proxies.Variant(c.Proxy.Variant),
		Reuse:           c.Proxy.Reuse,
		// Request buffering matters to a slow body (scenarios.Body).
		RequestBuffering: c.Proxy.RequestBuffering,
	}
	if c.Proxy.Config != "" {
		// The user's file decides idle timeout, retries and reuse; every
		// other upstream in it points at a port nothing listens on.
		closed, err := freeAddr()
		if err != nil {
			return err
		}
		spec.Config = &proxies.UserConfig{Path: c.Proxy.Config, Root: c.Proxy.Root, Upstream: c.Proxy.Upstream,
			Timescale: c.Timescale, Closed: closed}
		spec.IdleTimeout, spec.Retry, spec.Variant, spec.Reuse = 0, proxies.RetryOff, "", ""
	}
	p, err := startProxy(ctx, c, spec, &cr.cfg.env)
	cr.proxy = p
	if err != nil {
		return err
	}
	cr.client = newClient(p.Addr(), c.Client == scenarios.ClientPersistent)
	if r, ok := p.(proxies.Rendered); ok && r.Bundle() != nil {
		cr.syncPath = r.Bundle().SyncPath
		cr.unexpressed = r.Bundle().Unexpressed
		cr.logReader = r.Bundle().Logger != nil
	}
	if spec.Config != nil {
		if err := cr.useConfig(p); err != nil {
			return err
		}
	}
	return cr.ready(ctx)
}

// useConfig takes what a user's configuration became from the running
// proxy's bundle: the route the client must send to, the facts for the
// results, and — when the scenario left the gap to racelab — a gap placed
// by the file's own idle timeout.
func (cr *cellRun) useConfig(p proxies.Instance) error {
	r, ok := p.(proxies.Rendered)
	if !ok || r.Bundle() == nil {
		return fmt.Errorf("proxy %s runs no rendered configuration", cr.cell.Proxy.Kind)
	}
	b := r.Bundle()
	cr.client.route = b.Route
	c := cr.cell
	cr.config = &results.ConfigFacts{Path: c.Proxy.Config, Upstream: c.Proxy.Upstream, Route: b.Route,
		Changes: b.Changes, Settings: b.Effective}
	idle, err := configIdle(proxies.Kind(c.Proxy.Kind), b.Effective)
	if err != nil {
		return err
	}
	// A proxy with an idle floor runs at least that (the rewrite raised it).
	cr.proxyIdle = max(time.Duration(float64(idle)*c.Timescale), proxies.IdleFloor(proxies.Kind(c.Proxy.Kind)))
	if c.Mode == scenarios.ModeDeterministic && c.GapAuto {
		cr.gap = scenarios.AutoGap(c.BackendKeepAlive, cr.proxyIdle)
		cr.config.GapNS = int64(cr.gap)
	}
	return nil
}

// readyRequestTimeout bounds one readiness request. It outlasts a
// configuration's own short upstream read timeout (2s is common) in front
// of a backend that delays every answer: the proxy's 504 is an answer, and
// a client that gave up at the same instant raced it.
const readyRequestTimeout = 5 * time.Second

// ready sends requests through the proxy until one comes back from the
// backend: the whole path works before the first trial.
func (cr *cellRun) ready(ctx context.Context) error {
	if cr.cell.BackendDown {
		return nil
	}
	deadline := time.Now().Add(cr.cfg.readyTimeout)
	var last string
	for i := 0; time.Now().Before(deadline); i++ {
		id := fmt.Sprintf("ready-%d", i)
		r := cr.client.do(ctx, cr.client.request(id, "GET", backends.FaultNone), readyRequestTimeout)
		if r.Err == nil && cr.reached(ctx, id) {
			cr.client.close()
			return nil
		}
		last = fmt.Sprintf("status %d, %v", r.Status, r.Err)
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("proxy %s not forwarding to the backend after %s (last: %s)", cr.proxy.Addr(), cr.cfg.readyTimeout, last)
}

// reached reports whether request id reached the backend (for a real
// runtime: whether its log has the id, waiting briefly for the line).
func (cr *cellRun) reached(ctx context.Context, id string) bool {
	if cr.app == nil {
		return len(cr.rec.ForRequest(id)) > 0
	}
	wctx, cancel := context.WithTimeout(ctx, eventWait)
	defer cancel()
	_, err := cr.app.server.Evidence().Wait(wctx, id, "access")
	return err == nil
}

func (cr *cellRun) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	if cr.client != nil {
		cr.client.close()
	}
	if cr.proxy != nil {
		if err := cr.proxy.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop proxy: %w", err))
		}
	}
	if cr.path != nil {
		if err := cr.path.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop path: %w", err))
		}
	}
	if cr.backend != nil {
		if err := cr.backend.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop backend: %w", err))
		}
	}
	if cr.app != nil {
		if err := cr.app.server.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cr.wire.close(); err != nil {
		errs = append(errs, err)
	}
	cr.wire = nil
	return errors.Join(errs...)
}

func (cr *cellRun) proxyInfo() map[string]string {
	info := map[string]string{"kind": cr.cell.Proxy.Kind, "runtime": cr.cell.Proxy.Runtime}
	if cr.proxy == nil {
		return info
	}
	for k, v := range cr.proxy.Info() {
		info[k] = v
	}
	info["version"] = cr.proxy.Version()
	return info
}

// trials runs the cell's trials, bounded in count and in time.
func (cr *cellRun) trials(ctx context.Context) error {
	c := cr.cell
	maxTrials := c.Trials
	if c.MaxTrials > maxTrials {
		maxTrials = c.MaxTrials
	}
	perTrial := c.TrialBudget() + max(cr.gap-c.Gap, 0)
	trial := cr.trial
	if cr.app != nil {
		if cr.app.skip != "" {
			return nil
		}
		trial = cr.appTrial
		perTrial = cr.app.measured.Max + cr.app.offsets[len(cr.app.offsets)-1] + 20*time.Millisecond
	}
	budget := time.Duration(maxTrials)*(perTrial+cr.cfg.responseTimeout/10)*3 + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	rng := c.Rand()
	failures := 0
	for seq := 0; seq < maxTrials; seq++ {
		if seq >= c.Trials && c.MaxTrials > 0 {
			lo, hi := results.Wilson(failures, seq)
			if (hi-lo)/2 <= c.TargetHalfWidth {
				break
			}
		}
		rec, err := trial(ctx, seq, rng)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("cell %s stopped after %d trials: %w", c.ID, seq, context.Cause(ctx))
			}
			return fmt.Errorf("cell %s trial %d: %w", c.ID, seq, err)
		}
		if rec.Outcome.Failed() {
			failures++
		}
		if err := cr.sink(rec); err != nil {
			return err
		}
	}
	return nil
}

// restartBackend models a graceful backend restart: shut down (idle
// connections closed, in-flight ones finished) and listen again on the
// same address.
func (cr *cellRun) restartBackend(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := cr.backend.Shutdown(sctx); err != nil {
		return fmt.Errorf("restart backend: %w", err)
	}
	var err error
	for i := 0; i < 50; i++ {
		var b *backends.Server
		b, err = backends.Start(ctx, cr.backendConfig(), backends.WithAddr(cr.upstream), backends.WithObserver(cr.observer()))
		if err == nil {
			cr.backend = b
			return nil
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("restart backend on %s: %w", cr.upstream, err)
}

// observer records a backend generation's events with connection ids
// made unique across restarts: each new backend numbers its connections
// from 1 again.
func (cr *cellRun) observer() backends.Observer {
	cr.generation++
	base := uint64(cr.generation-1) * 1_000_000
	cw := cr.wire
	return func(e backends.Event) {
		e.ConnID += base
		cr.rec.Observe(e)
		if cw != nil {
			cw.observe(e)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// note is the cell_end line's note: why the cell ran at a larger
// timescale, what of the cell its proxy cannot express
// (proxies.Bundle.Unexpressed, each part prefixed for the behaviour
// table), what the rendered configuration says of itself
// (proxies.Bundle.Notes), and the reuse note.
func (cr *cellRun) note(s results.Summary) string {
	var parts []string
	if cr.cell.ScaleNote != "" {
		parts = append(parts, cr.cell.ScaleNote)
	}
	for _, u := range cr.unexpressed {
		parts = append(parts, "not expressible on this proxy: "+u)
	}
	if r, ok := cr.proxy.(proxies.Rendered); ok && r.Bundle() != nil {
		parts = append(parts, r.Bundle().Notes...)
	}
	if n := reuseNote(s); n != "" {
		parts = append(parts, n)
	}
	return strings.Join(parts, "; ")
}

// reuseNote says, for a cell's cell_end line, when victims did not go out
// on the pooled connection: all of them means the race cannot happen with
// this proxy configuration.
func reuseNote(s results.Summary) string {
	n := s.Counts[results.NotReused]
	switch {
	case n == 0:
		return ""
	case n == s.Trials:
		return fmt.Sprintf("this proxy configuration does not reuse its pooled upstream connection here: the race cannot happen (0 of %d victims went out on a reused connection)", s.Trials)
	}
	return fmt.Sprintf("%d of %d victims did not go out on the pooled connection (not_reused)", n, s.Trials)
}
