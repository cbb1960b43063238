package lab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/racelab/racelab/backends"
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
	proxy    proxies.Instance
	client   *client
	sink     func(results.Record) error
	// generation counts backend starts (restarts included).
	generation int
	waits      evidenceWaits
}

// CellResult is what running one cell produced.
type CellResult struct {
	Cell    *scenarios.Cell
	Records []results.Record
	// Proxy holds facts about the proxy that ran: kind, version, runtime,
	// image id.
	Proxy map[string]string
	Note  string
	Err   error
	// Setup is how long the backend and proxy took to start and answer
	// end to end; Elapsed is the whole cell, setup and teardown included.
	Setup, Elapsed time.Duration
}

// RunCell runs one cell: it starts the backend and the proxy on fresh
// loopback ports, sends the cell's trials, and stops both, on every path.
// Records go to the writer given by WithResults as they are made.
func RunCell(ctx context.Context, cell *scenarios.Cell, opts ...Option) *CellResult {
	cfg := newConfig(opts)
	return runCell(ctx, cell, cfg)
}

func runCell(ctx context.Context, cell *scenarios.Cell, cfg *config) (res *CellResult) {
	res = &CellResult{Cell: cell}
	cr := &cellRun{cell: cell, cfg: cfg, rec: backends.NewRecorder()}
	cr.sink = func(r results.Record) error {
		res.Records = append(res.Records, r)
		if cfg.progress != nil {
			cfg.progress(Progress{Cell: cell, Record: &r})
		}
		if cfg.writer != nil {
			return cfg.writer.Write(r)
		}
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			res.Err = errors.Join(res.Err, fmt.Errorf("panic: %v", p))
		}
		res.Err = errors.Join(res.Err, cr.stop())
	}()
	began := time.Now()
	defer func() { res.Elapsed = time.Since(began) }()
	if err := cr.start(ctx); err != nil {
		res.Err = err
		res.Proxy = cr.proxyInfo()
		return res
	}
	res.Setup = time.Since(began)
	res.Proxy = cr.proxyInfo()
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
	if c.Mode == scenarios.ModeTiming {
		cfg.IdleTimeout = c.BackendKeepAlive
	} else {
		cfg.Fault = backends.Fault{Kind: c.Fault}
	}
	return cfg
}

func (cr *cellRun) start(ctx context.Context) error {
	c := cr.cell
	if c.BackendDown {
		addr, err := FreeAddr()
		if err != nil {
			return err
		}
		cr.upstream = addr
	} else {
		b, err := backends.Start(ctx, cr.backendConfig(), backends.WithObserver(cr.observer()))
		if err != nil {
			return fmt.Errorf("start backend: %w", err)
		}
		cr.backend = b
		cr.upstream = b.Addr()
	}
	spec := proxies.Spec{
		Kind:            proxies.Kind(c.Proxy.Kind),
		Upstream:        cr.upstream,
		IdleTimeout:     c.ProxyIdle,
		ResponseTimeout: cr.cfg.responseTimeout,
		Retry:           c.Retry,
		Variant:         proxies.Variant(c.Proxy.Variant),
		Reuse:           c.Proxy.Reuse,
	}
	p, err := startProxy(ctx, c, spec, &cr.cfg.env)
	cr.proxy = p
	if err != nil {
		return err
	}
	cr.client = newClient(p.Addr(), c.Client == scenarios.ClientPersistent)
	return cr.ready(ctx)
}

// ready sends requests through the proxy until one comes back from the
// backend: the whole path works before the first trial.
func (cr *cellRun) ready(ctx context.Context) error {
	if cr.cell.BackendDown {
		return nil
	}
	deadline := time.Now().Add(cr.cfg.readyTimeout)
	var last string
	for i := 0; time.Now().Before(deadline); i++ {
		r := cr.client.do(ctx, newRequest(fmt.Sprintf("ready-%d", i), "GET", backends.FaultNone), 2*time.Second)
		if r.Err == nil && len(cr.rec.ForRequest(fmt.Sprintf("ready-%d", i))) > 0 {
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
	if cr.backend != nil {
		if err := cr.backend.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop backend: %w", err))
		}
	}
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
	budget := time.Duration(maxTrials)*(c.TrialBudget()+cr.cfg.responseTimeout/10)*3 + 30*time.Second
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
		rec, err := cr.trial(ctx, seq, rng)
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
	return func(e backends.Event) {
		e.ConnID += base
		cr.rec.Observe(e)
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
