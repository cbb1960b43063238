package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/racelab/racelab/probe"
)

// ProbePrefix starts a source that is measured rather than read:
// --backend-from probe:URL measures a live server with the probe package;
// --proxy-from probe:KIND or probe:KIND:PATH measures a proxy (racelab's
// configuration, or the file at PATH with its upstreams rewritten to
// loopback) through the ProxyProber given WithProxyProber.
const ProbePrefix = "probe:"

// ProxyProber measures a proxy's effective upstream idle lifetime: kind
// is go, nginx, haproxy, envoy, varnish or squid; path a configuration file ("" for
// racelab's own with the proxy's default idle timeout), root and
// upstream as for --proxy-from. The racelab CLI passes the lab's.
type ProxyProber func(ctx context.Context, kind, path, root, upstream string, samples int, maxWait time.Duration) (*probe.Result, error)

// WithProxyProber sets what measures --proxy-from probe:KIND[:PATH].
func WithProxyProber(p ProxyProber) Option { return func(c *command) { c.proxyProber = p } }

// IsProbe reports whether a source spec is measured (probe:...).
func IsProbe(spec string) bool { return strings.HasPrefix(spec, ProbePrefix) }

// probeSettings bound a measurement.
type probeSettings struct {
	samples int
	maxWait time.Duration
}

// probeBackend measures a live backend's keep-alive. wait is how long to
// wait for its idle close: a backend still holding the connection then
// keeps idle connections at least that long.
func (c *command) probeBackend(ctx context.Context, spec string, ps probeSettings, capped bool) ([]Value, error) {
	url := strings.TrimPrefix(spec, ProbePrefix)
	c.log.Debug("probe backend", "url", url, "max_wait", ps.maxWait)
	res, err := probe.Measure(ctx, url, probe.WithSamples(ps.samples), probe.WithMaxWait(ps.maxWait), probe.WithMaxRequests(0))
	if err != nil {
		return nil, fmt.Errorf("--backend-from %s: %w", spec, err)
	}
	return []Value{backendMeasured(res, capped)}, nil
}

// backendMeasured turns a measurement of a backend into a Value: the
// median idle close; a server that never closed within the wait keeps
// idle connections at least that long.
func backendMeasured(res *probe.Result, capped bool) Value {
	v := Value{Source: res.Subject(), Explanation: "measured by probe: " + res.Summary(), Notes: res.Notes}
	switch {
	case !res.KeepAlive:
		v.State = StateOff
	case res.NeverClosed:
		v.State, v.Duration = StateFinite, res.MaxWait
		v.Explanation += fmt.Sprintf(": it keeps idle connections at least %s", FormatMS(res.MaxWait))
		if capped {
			v.Notes = append(v.Notes, "the probe waited no longer than the rule needs: the proxy's idle timeout plus the margin, and a second")
		}
	default:
		v.State, v.Duration = StateFinite, max(res.Median.Round(time.Millisecond), time.Millisecond)
	}
	return v
}

// probeProxy measures a proxy's upstream idle lifetime.
func (c *command) probeProxy(ctx context.Context, spec, root, upstream string, ps probeSettings) ([]Value, error) {
	rest := strings.TrimPrefix(spec, ProbePrefix)
	kind, path, _ := strings.Cut(rest, ":")
	if kind == "" {
		return nil, fmt.Errorf("--proxy-from %s: want probe:KIND or probe:KIND:PATH, KIND one of go, nginx, haproxy, envoy, caddy, apache, varnish, squid", spec)
	}
	if path == "" && (root != "" || upstream != "") {
		return nil, errors.New("--upstream and --root go with a configuration file: probe:KIND:PATH")
	}
	if c.proxyProber == nil {
		return nil, errors.New("--proxy-from probe: no lab is configured in this build to run the proxy")
	}
	c.log.Debug("probe proxy", "kind", kind, "path", path, "max_wait", ps.maxWait)
	res, err := c.proxyProber(ctx, kind, path, root, upstream, ps.samples, ps.maxWait)
	if err != nil {
		return nil, fmt.Errorf("--proxy-from %s: %w", spec, err)
	}
	return []Value{proxyMeasured(res)}, nil
}

// proxyMeasured turns a measurement of a proxy into a Value: the longest
// idle lifetime seen (HAProxy's varies with the phase of its purge);
// a proxy that never closed within the wait counts as having no limit.
func proxyMeasured(res *probe.Result) Value {
	v := Value{Source: res.Subject(), Explanation: "measured by probe: " + res.Summary(), Notes: res.Notes}
	switch {
	case !res.KeepAlive:
		v.State = StateOff
	case res.NeverClosed:
		v.State = StateUnbounded
		v.Explanation += ": counted as no idle limit"
	default:
		v.State, v.Duration = StateFinite, max(res.Max.Round(time.Millisecond), time.Millisecond)
		if res.Measured() > 1 {
			v.Explanation += "; the guard takes the longest"
		}
	}
	return v
}
