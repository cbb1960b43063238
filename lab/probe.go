package lab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/probe"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// ProxyProbe is a proxy whose effective upstream idle lifetime
// ProbeProxy measures: racelab's configuration for Kind (IdleTimeout set,
// or the proxy's default when zero), or the user's own file (Config,
// with Root and Upstream as for `run --proxy-from`), run unscaled.
type ProxyProbe struct {
	Kind, Version, Runtime string
	IdleTimeout            time.Duration
	Config, Root, Upstream string
	// Samples is the number of idle lifetimes to measure (default
	// probe.DefaultSamples). One upstream connection is pooled, so they
	// run one after another.
	Samples int
	// MaxWait bounds each wait for the proxy's close (default
	// probe.DefaultMaxWait).
	MaxWait time.Duration
	// Progress, when set, is called every few seconds during a wait.
	Progress func(string)
}

// ProbeProxy measures how long the proxy keeps an idle upstream
// connection: it puts racelab's backend (no idle timeout, no request
// limit) behind the proxy, sends one request through it on a fresh
// client connection, and times from the backend's response to the
// proxy's close of that upstream connection, as the backend sees it.
// Every upstream in a user's file is rewritten to loopback first, as for
// a run: nothing the file names is contacted. The proxy and the backend
// are stopped on every path.
func ProbeProxy(ctx context.Context, pp ProxyProbe, opts ...Option) (*probe.Result, error) {
	if pp.Samples == 0 {
		pp.Samples = probe.DefaultSamples
	}
	if pp.MaxWait == 0 {
		pp.MaxWait = probe.DefaultMaxWait
	}
	switch {
	case pp.Samples < 1 || pp.Samples > probe.MaxSamples:
		return nil, fmt.Errorf("probe proxy: %d samples: want 1 to %d", pp.Samples, probe.MaxSamples)
	case pp.MaxWait < 0 || pp.IdleTimeout < 0:
		return nil, errors.New("probe proxy: durations must not be negative")
	case pp.Config != "" && pp.IdleTimeout > 0:
		return nil, errors.New("probe proxy: the configuration file sets the idle timeout: drop the explicit one")
	}
	cell, err := probeCell(pp)
	if err != nil {
		return nil, err
	}
	cr := &cellRun{cell: cell, cfg: newConfig(opts), rec: backends.NewRecorder(), proxyIdle: cell.ProxyIdle}
	defer func() { _ = cr.stop() }()
	if err := cr.start(ctx); err != nil {
		return nil, fmt.Errorf("probe proxy: %w", err)
	}
	subject, notes := cr.probeSubject(pp)
	var samples []probe.Sample
	for i := range pp.Samples {
		s, err := cr.lifetime(ctx, i, pp)
		if err != nil {
			return nil, fmt.Errorf("probe proxy: sample %d: %w", i+1, err)
		}
		samples = append(samples, s)
		if s.NeverClosed || s.NoKeepAlive {
			break // the next ones would say the same, after as long a wait
		}
	}
	return probe.NewResult("", subject, samples, pp.MaxWait, notes...), nil
}

// probeCell is the cell a probe runs: timing mode with no backend idle
// timeout, so the backend never closes the connection itself.
func probeCell(pp ProxyProbe) (*scenarios.Cell, error) {
	kind := proxies.Kind(pp.Kind)
	switch kind {
	case proxies.KindGo, proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy, proxies.KindCaddy, proxies.KindApache, proxies.KindVarnish, proxies.KindSquid:
	default:
		return nil, fmt.Errorf("probe proxy: kind %q: want go, nginx, haproxy, envoy, caddy, apache, varnish or squid", pp.Kind)
	}
	rt := pp.Runtime
	switch {
	case kind == proxies.KindGo && rt != "" && rt != string(proxies.RuntimeEmbedded):
		return nil, fmt.Errorf("probe proxy: kind go runs embedded, not as %s", rt)
	case kind == proxies.KindGo:
		rt = string(proxies.RuntimeEmbedded)
	case rt == "":
		rt = string(proxies.RuntimeProcess)
	case rt != string(proxies.RuntimeProcess) && rt != string(proxies.RuntimeContainer):
		return nil, fmt.Errorf("probe proxy: runtime %q: want process or container", rt)
	}
	if pp.Config != "" && kind == proxies.KindGo {
		return nil, errors.New("probe proxy: kind go has no configuration file")
	}
	return &scenarios.Cell{
		ID:        "probe-" + pp.Kind,
		Proxy:     scenarios.Proxy{Kind: pp.Kind, Version: pp.Version, Runtime: rt, Config: pp.Config, Root: pp.Root, Upstream: pp.Upstream},
		ProxyIdle: pp.IdleTimeout,
		Retry:     proxies.RetryOff,
		Method:    "GET",
		Client:    scenarios.ClientFresh,
		Mode:      scenarios.ModeTiming,
		Timescale: 1,
		Trials:    pp.Samples,
	}, nil
}

// probeSubject describes the proxy measured and the setting it runs.
func (cr *cellRun) probeSubject(pp ProxyProbe) (string, []string) {
	var b strings.Builder
	b.WriteString(pp.Kind)
	if v := cr.proxy.Version(); v != "" {
		b.WriteString(" " + v)
	}
	fmt.Fprintf(&b, " (%s)", cr.cell.Proxy.Runtime)
	setting := "its default upstream idle timeout"
	if pp.IdleTimeout > 0 {
		setting = "upstream idle timeout " + probe.FormatWait(pp.IdleTimeout)
	}
	if cr.config != nil {
		b.WriteString(" " + cr.config.Path)
		if cr.config.Upstream != "" {
			b.WriteString(" upstream " + cr.config.Upstream)
		}
		if s, ok := cr.config.Settings["idle_timeout"]; ok {
			setting = "idle_timeout " + s.Value
			if s.Source != "" {
				setting += " (" + s.Source + ")"
			} else {
				setting += " (default)"
			}
		}
	}
	b.WriteString(", " + setting)
	var notes []string
	if proxies.Kind(pp.Kind) == proxies.KindHAProxy {
		notes = append(notes, "HAProxy has no upstream idle timer: pool-purge-delay purges idle server connections, so an idle one lives 2 to 3 purge periods depending on the purge phase")
	}
	return b.String(), notes
}

// lifetime sends one request through the proxy and times the proxy's
// close of the upstream connection that served it.
func (cr *cellRun) lifetime(ctx context.Context, i int, pp ProxyProbe) (probe.Sample, error) {
	id := fmt.Sprintf("probe-%d", i)
	from := cr.rec.Len()
	r := cr.client.do(ctx, cr.client.request(id, "GET", backends.FaultNone), cr.cfg.responseTimeout)
	cr.client.close()
	if r.Err != nil {
		return probe.Sample{}, fmt.Errorf("request through the proxy: %w", r.Err)
	}
	wctx, cancel := context.WithTimeout(ctx, cr.cfg.responseTimeout)
	resp, err := cr.rec.Wait(wctx, from, func(e backends.Event) bool {
		return e.Kind == backends.EventResponse && e.RequestID == id
	})
	cancel()
	if err != nil {
		return probe.Sample{}, fmt.Errorf("the request did not reach the backend (status %d): %w", r.Status, err)
	}
	s := probe.Sample{Status: r.Status, Proto: "HTTP/1.1"}
	wctx, cancel = context.WithDeadline(ctx, resp.Time.Add(pp.MaxWait))
	defer cancel()
	stop := progressEvery(pp.Progress, 5*time.Second, func(waited time.Duration) string {
		return fmt.Sprintf("sample %d of %d: the upstream connection has been idle %s (waiting at most %s)", i+1, pp.Samples, waited.Round(time.Second), probe.FormatWait(pp.MaxWait))
	})
	closed, err := cr.rec.Wait(wctx, from, func(e backends.Event) bool {
		return e.Kind == backends.EventClose && e.ConnID == resp.ConnID
	})
	stop()
	switch {
	case err != nil && ctx.Err() == nil:
		s.NeverClosed = true
		return s, nil
	case err != nil:
		return s, ctx.Err()
	case closed.Closer == backends.CloserBackend && closed.Reason == backends.ReasonClientClose:
		// The proxy asked for Connection: close: it does not pool.
		s.NoKeepAlive = true
		return s, nil
	case closed.Closer != backends.CloserPeer:
		return s, fmt.Errorf("the backend closed the connection (%s), not the proxy", closed.Reason)
	}
	s.Idle, s.Close = closed.Time.Sub(resp.Time), probe.CloseFIN
	if closed.Reason == backends.ReasonPeerReset {
		s.Close = probe.CloseRST
	}
	return s, nil
}

// progressEvery calls f(line(waited)) every period until stop; nothing
// when f is nil.
func progressEvery(f func(string), period time.Duration, line func(time.Duration) string) (stop func()) {
	if f == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	began := time.Now()
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f(line(time.Since(began)))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// ConfigPaths makes a --proxy-from file and its root absolute and checks
// the kind takes a configuration file.
func ConfigPaths(kind, path, root string) (absPath, absRoot string, err error) {
	switch proxies.Kind(kind) {
	case proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy, proxies.KindCaddy, proxies.KindApache, proxies.KindVarnish, proxies.KindSquid:
	default:
		return "", "", fmt.Errorf("kind %q: want nginx, haproxy, envoy, caddy, apache, varnish or squid (kind go has no config file)", kind)
	}
	if absPath, err = filepath.Abs(path); err != nil {
		return "", "", err
	}
	if root != "" {
		if absRoot, err = filepath.Abs(root); err != nil {
			return "", "", err
		}
	}
	return absPath, absRoot, nil
}

// Check reports a probe that cannot run before anything starts: bad
// settings, a proxy that is not installed (as a run's preflight says it),
// and a configuration file the proxy rejects (or that has no route to
// the upstream under test), with its file and line.
func (pp ProxyProbe) Check(ctx context.Context) error {
	cell, err := probeCell(pp)
	if err != nil {
		return err
	}
	cells := []scenarios.Cell{*cell}
	if err := Preflight(ctx, cells); err != nil {
		return err
	}
	if pp.Config == "" {
		return nil
	}
	return CheckConfigs(ctx, cells)
}

// GuardProxyProber returns the guard's --proxy-from probe:KIND[:PATH]:
// ProbeProxy on racelab's configuration for kind (its default idle
// timeout), or on the file at path, checked first like a run's.
func GuardProxyProber(opts ...Option) guard.ProxyProber {
	return func(ctx context.Context, kind, path, root, upstream string, samples int, maxWait time.Duration) (*probe.Result, error) {
		pp := ProxyProbe{Kind: kind, Upstream: upstream, Samples: samples, MaxWait: maxWait}
		if path != "" {
			abs, absRoot, err := ConfigPaths(kind, path, root)
			if err != nil {
				return nil, err
			}
			pp.Config, pp.Root = abs, absRoot
		}
		if err := pp.Check(ctx); err != nil {
			return nil, err
		}
		res, err := ProbeProxy(ctx, pp, opts...)
		if err != nil {
			return nil, &guard.LabError{Err: err}
		}
		return res, nil
	}
}
