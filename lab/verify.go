package lab

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// Verification settings: production values are scaled so the proxy's idle
// timeout lasts verifyProxyIdle in deterministic mode, and the backend's
// keep-alive lasts verifyTimingKeepAlive in timing mode (see timingScale
// for when it lasts longer).
const (
	verifyProxyIdle       = 200 * time.Millisecond
	verifyTimingKeepAlive = 50 * time.Millisecond
	verifyTrials          = 10
	verifyTimingTrials    = 60
	// verifyTimingMargin is the narrowest a positive margin is scaled to
	// in timing mode, unless the keep-alive would then pass
	// verifyTimingMaxKeepAlive.
	verifyTimingMargin       = 60 * time.Millisecond
	verifyTimingMaxKeepAlive = 800 * time.Millisecond
)

// timingScale is the timing cell's scale for a backend keep-alive and a
// proxy idle timeout. The keep-alive lasts verifyTimingKeepAlive, unless
// the proxy retires its connections first by a margin that would shrink
// below verifyTimingMargin: then the margin is kept that wide (the
// keep-alive lasting at most verifyTimingMaxKeepAlive). A production
// margin is seconds, far above the few milliseconds a proxy's idle timer
// fires late on a busy machine; scaled to 4 ms (65s against 60s at 50 ms)
// it would measure the machine's load instead of the values. 60 ms: nginx
// was seen reusing a connection 47-54 ms past its keepalive_timeout at load
// 10-16, and a 20 ms margin reproduced the race in 2-3 of 60 trials of a
// passing pair in CI.
func timingScale(keepAlive, proxyIdle time.Duration) float64 {
	s := float64(verifyTimingKeepAlive) / float64(keepAlive)
	if m := keepAlive - proxyIdle; m > 0 {
		s = max(s, min(float64(verifyTimingMargin)/float64(m), float64(verifyTimingMaxKeepAlive)/float64(keepAlive)))
	}
	return s
}

// GuardVerifier returns the guard's --verify: for the values it is given,
// it runs a deterministic cell (the victim sent just after the backend's
// keep-alive ran out) and a timing cell (the natural race swept around the
// backend's idle deadline), on the proxy named by the values' source when
// it is installed, else on the embedded proxy.
func GuardVerifier(opts ...Option) guard.Verifier {
	return func(ctx context.Context, req guard.VerifyRequest) (guard.VerifyResult, error) {
		if req.BackendKeepAlive <= 0 || req.ProxyIdle <= 0 {
			return guard.VerifyResult{}, fmt.Errorf("verify: need positive keep-alive and idle values")
		}
		if req.ProxyConfig != nil {
			return verifyConfig(ctx, req, opts)
		}
		kind := proxies.KindGo
		switch k := proxies.Kind(req.ProxyKind); k {
		case proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy, proxies.KindCaddy, proxies.KindApache, proxies.KindVarnish:
			// Squid is not among them: it never puts a POST on a pooled
			// connection and re-forwards a GET that met a closed one, so
			// its cells would show the values only through its retries.
			if Available(k) == nil {
				kind = k
			}
		}
		proxyIdle := req.ProxyIdle
		if kind == proxies.KindHAProxy {
			// The guard bounds HAProxy's idle lifetime by 3 x
			// pool-purge-delay; the adapter maps proxy_idle onto
			// pool-purge-delay.
			proxyIdle = req.ProxyIdle / 3
		}
		cell := func(scale float64) *scenarios.Cell {
			c := verifyCell(kind, proxyIdle, req.BackendKeepAlive, scale)
			switch kind {
			case proxies.KindCaddy, proxies.KindApache, proxies.KindVarnish:
				// Caddy's transport and Varnish retry a GET on a reused
				// connection by themselves; a POST shows the race (and
				// Varnish's retry of it is counted as the race).
				c.Method = "POST"
			}
			return c
		}
		return verifyPair(ctx, req, opts, kindScale(kind, proxyIdle, cell), hiddenIsReproduced)
	}
}

// kindScale adapts cell's timescale to a proxy whose idle setting cannot
// take every scaled value: httpd reads ttl= in whole seconds, rounded up
// (the rounding would decide the verdict), so the idle timeout is scaled
// to a whole number of seconds; a proxy with an idle floor
// (proxies.IdleFloor: Varnish's one second) is scaled no shorter.
func kindScale(kind proxies.Kind, proxyIdle time.Duration, cell func(scale float64) *scenarios.Cell) func(scale float64) *scenarios.Cell {
	switch floor := proxies.IdleFloor(kind); {
	case kind == proxies.KindApache && proxyIdle >= time.Second:
		return func(scale float64) *scenarios.Cell {
			secs := proxyIdle.Seconds()
			return cell(max(math.Ceil(secs*scale), 1) / secs)
		}
	case floor > 0 && proxyIdle > 0:
		return func(scale float64) *scenarios.Cell {
			return cell(max(scale, float64(floor)/float64(proxyIdle)))
		}
	}
	return cell
}

// hiddenIsReproduced counts a retry the proxy made by itself, behind the
// client's back, as the race reproduced: it happened, a retry hid it.
func hiddenIsReproduced(_ *scenarios.Cell, res *CellResult, r *guard.ScenarioResult) {
	if s := res.Summary(); s.HiddenRetry > 0 {
		r.Reproduced = true
		r.Summary += fmt.Sprintf(", %d hidden by the proxy's own retry", s.HiddenRetry)
	}
}

// verifyPair runs the verification's two cells, made by cell for a
// timescale: a deterministic one scaled so the proxy's idle timeout lasts
// verifyProxyIdle, and a timing one scaled by timingScale. note may amend
// each cell's result.
func verifyPair(ctx context.Context, req guard.VerifyRequest, opts []Option, cell func(scale float64) *scenarios.Cell,
	note func(*scenarios.Cell, *CellResult, *guard.ScenarioResult)) (guard.VerifyResult, error) {
	det := cell(float64(verifyProxyIdle) / float64(req.ProxyIdle))
	det.Mode, det.Trials, det.GapAuto = scenarios.ModeDeterministic, verifyTrials, det.Proxy.Config != ""
	det.Gap = scenarios.AutoGap(det.BackendKeepAlive, det.ProxyIdle)
	tim := cell(timingScale(req.BackendKeepAlive, req.ProxyIdle))
	tim.Mode, tim.Trials, tim.Offsets = scenarios.ModeTiming, verifyTimingTrials, scenarios.DefaultOffsets()
	tim.Index = 1
	var out guard.VerifyResult
	for _, c := range []struct {
		cell *scenarios.Cell
		dst  *guard.ScenarioResult
	}{{det, &out.Deterministic}, {tim, &out.Timing}} {
		res := RunCell(ctx, c.cell, opts...)
		if res.Err != nil {
			return out, fmt.Errorf("verify %s cell: %w", c.cell.Mode, res.Err)
		}
		*c.dst = scenarioResult(c.cell, res)
		note(c.cell, res, c.dst)
	}
	return out, nil
}

func verifyCell(kind proxies.Kind, proxyIdle, keepAlive time.Duration, scale float64) *scenarios.Cell {
	rt := proxies.RuntimeProcess
	if kind == proxies.KindGo {
		rt = proxies.RuntimeEmbedded
	}
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale).Round(time.Millisecond) }
	c := &scenarios.Cell{
		Proxy:            scenarios.Proxy{Kind: string(kind), Runtime: string(rt), Variant: string(proxies.VariantExplicit)},
		ProxyIdle:        max(sc(proxyIdle), time.Millisecond),
		BackendKeepAlive: max(sc(keepAlive), time.Millisecond),
		Retry:            proxies.RetryOff,
		Method:           "GET",
		Client:           scenarios.ClientPersistent,
		Close:            backends.CloseFIN,
		Fault:            backends.FaultCloseOnReuse,
		Seed:             1,
	}
	c.Margin = c.BackendKeepAlive - c.ProxyIdle
	c.ID = fmt.Sprintf("verify-%s-keepalive-%s-idle-%s", kind, scenarios.FormatDuration(c.BackendKeepAlive), scenarios.FormatDuration(c.ProxyIdle))
	c.Params = map[string]string{"proxy": string(kind), "kind": string(kind)}
	return c
}

func scenarioResult(c *scenarios.Cell, res *CellResult) guard.ScenarioResult {
	s := res.Summary()
	attributed := s.Attributed
	r := guard.ScenarioResult{Trials: s.Trials, Failures: s.Failures, Reproduced: attributed > 0}
	lo, hi := s.CILow, s.CIHigh
	r.Summary = fmt.Sprintf("%s on %s (backend keep-alive %s, proxy idle %s as run): %d of %d requests failed [%.0f%%, %.0f%%], %d attributed to the race",
		c.Mode, c.Proxy.Kind, scenarios.FormatDuration(c.BackendKeepAlive), scenarios.FormatDuration(c.ProxyIdle),
		r.Failures, r.Trials, lo*100, hi*100, attributed)
	return r
}

// verifyConfig runs the user's own configuration file (the guard read the
// proxy's idle timeout from it): a deterministic and a timing cell with
// that file as the proxy, POST victims (no proxy hides a POST behind a
// retry by default), scaled so the file's idle timeout lasts
// verifyProxyIdle (deterministic) and the backend's keep-alive
// verifyTimingKeepAlive (timing). A hidden retry counts as the race
// reproduced: it happened, a retry hid it.
func verifyConfig(ctx context.Context, req guard.VerifyRequest, opts []Option) (guard.VerifyResult, error) {
	ref := req.ProxyConfig
	kind := proxies.Kind(ref.Kind)
	if err := Available(kind); err != nil {
		return guard.VerifyResult{}, fmt.Errorf("verify %s: the file runs on %s itself: %w", ref.Path, kind, err)
	}
	cell := func(scale float64) *scenarios.Cell {
		sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale).Round(time.Millisecond) }
		c := &scenarios.Cell{
			Proxy:            scenarios.Proxy{Kind: ref.Kind, Runtime: string(proxies.RuntimeProcess), Config: ref.Path, Root: ref.Root, Upstream: ref.Upstream},
			ProxyIdle:        max(sc(req.ProxyIdle), time.Millisecond),
			BackendKeepAlive: max(sc(req.BackendKeepAlive), time.Millisecond),
			Retry:            proxies.RetryOff,
			Method:           "POST",
			Client:           scenarios.ClientPersistent,
			Close:            backends.CloseFIN,
			Fault:            backends.FaultCloseOnReuse,
			Seed:             1,
			Timescale:        scale,
		}
		c.ID = fmt.Sprintf("verify-%s-%s-keepalive-%s", kind, ref.Upstream, scenarios.FormatDuration(req.BackendKeepAlive))
		c.Params = map[string]string{"proxy": string(kind), "kind": string(kind), "config": ref.Path, "upstream": ref.Upstream}
		return c
	}
	if kind == proxies.KindApache {
		// The file's ttl runs a whole number of seconds (kindScale).
		cell = kindScale(kind, req.ProxyIdle, cell)
	}
	return verifyPair(ctx, req, opts, cell, func(c *scenarios.Cell, res *CellResult, r *guard.ScenarioResult) {
		hiddenIsReproduced(c, res, r)
		r.Summary = "your file " + ref.Path + ": " + r.Summary
	})
}
