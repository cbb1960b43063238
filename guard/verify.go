package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// VerifyRequest asks the lab to run one backend/proxy pair.
type VerifyRequest struct {
	// BackendKeepAlive, ProxyIdle and Margin are the production values;
	// the lab scales them down in time as it sees fit.
	BackendKeepAlive time.Duration
	ProxyIdle        time.Duration
	Margin           time.Duration
	// ProxyKind is the proxy source kind (nginx, haproxy, envoy, alb-json),
	// or "" when the values were given explicitly.
	ProxyKind string
	// BackendKind is the backend source kind (gunicorn, node, ...), or "".
	BackendKind string
	// Backend and Proxy are the values with their sources, for a lab that
	// maps them to its own knobs (HAProxy's idle lifetime is derived from
	// pool-purge-delay).
	Backend Value
	Proxy   Value
	// GuardPass is the guard's verdict for the pair.
	GuardPass bool
	// ProxyConfig is set when the proxy side was read from a proxy's own
	// configuration file (nginx, HAProxy, Envoy): the lab runs that file
	// itself, not a rendered stand-in with the same number.
	ProxyConfig *ConfigRef
}

// ConfigRef names a proxy configuration file and the upstream (nginx
// upstream, HAProxy backend, Envoy cluster) one value came from.
type ConfigRef struct {
	Kind, Path, Root, Upstream string
}

// ScenarioResult is what one lab scenario observed.
type ScenarioResult struct {
	// Reproduced is true when the stale-connection race was observed.
	Reproduced bool `json:"reproduced"`
	// Trials and Failures count requests sent and requests failed by the race.
	Trials   int `json:"trials"`
	Failures int `json:"failures"`
	// Summary is one line for people.
	Summary string `json:"summary"`
}

// VerifyResult is the lab's answer for one pair: a deterministic scenario
// and a timing scenario.
type VerifyResult struct {
	Deterministic ScenarioResult `json:"deterministic"`
	Timing        ScenarioResult `json:"timing"`
}

// Reproduced is true when either scenario reproduced the race.
func (r VerifyResult) Reproduced() bool { return r.Deterministic.Reproduced || r.Timing.Reproduced }

func (r VerifyResult) validate() error {
	var errs []error
	for _, s := range []struct {
		name string
		r    ScenarioResult
	}{{"deterministic", r.Deterministic}, {"timing", r.Timing}} {
		if s.r.Trials < 0 || s.r.Failures < 0 || s.r.Failures > s.r.Trials {
			errs = append(errs, fmt.Errorf("%s scenario: %d failures in %d trials", s.name, s.r.Failures, s.r.Trials))
		}
	}
	return errors.Join(errs...)
}

// Verifier runs the lab for one pair and reports what it saw. The CLI
// calls it for `racelab guard --verify`.
type Verifier func(ctx context.Context, req VerifyRequest) (VerifyResult, error)

// Verification is one pair's lab result set against the guard's verdict.
type Verification struct {
	Pair    int          `json:"pair"`
	Result  VerifyResult `json:"result"`
	Agrees  bool         `json:"agrees"`
	Message string       `json:"message"`
}

// verifyPair runs v on one finite pair and compares its answer with the
// guard. A pass agrees with no reproduction and a fail with a
// reproduction. A pair that fails only on the margin (the backend does
// outlive the proxy, by less than the margin) also agrees with no
// reproduction: the margin is headroom for production, which a lab
// without network delay or load need not show.
func verifyPair(ctx context.Context, v Verifier, i int, r Result, proxyKind, backendKind string, config *ConfigRef) (Verification, error) {
	req := VerifyRequest{
		BackendKeepAlive: r.Backend.Duration, ProxyIdle: r.Proxy.Duration, Margin: r.Margin,
		ProxyKind: proxyKind, BackendKind: backendKind,
		Backend: r.Backend, Proxy: r.Proxy, GuardPass: r.Pass,
	}
	if config != nil {
		// Values name their upstream "upstream api", "backend api",
		// "cluster api".
		c := *config
		if f := strings.Fields(r.Proxy.Name); len(f) > 0 {
			c.Upstream = f[len(f)-1]
			if c.Kind == "apache" && len(f) > 1 && strings.HasPrefix(f[0], "ProxyPass") {
				c.Upstream = f[1] // "ProxyPass /api/ URL (vhost NAME)": the path
			}
		}
		req.ProxyConfig = &c
	}
	res, err := v(ctx, req)
	if err != nil {
		return Verification{}, fmt.Errorf("verify: %w", err)
	}
	if err := res.validate(); err != nil {
		return Verification{}, fmt.Errorf("verify: inconsistent lab result: %w", err)
	}
	reproduced := res.Reproduced()
	marginOnly := !r.Pass && r.Backend.Duration >= r.Proxy.Duration
	out := Verification{Pair: i, Result: res}
	switch {
	case r.Pass && !reproduced:
		out.Agrees, out.Message = true, "the lab agrees: no race reproduced with these values"
	case !r.Pass && reproduced:
		out.Agrees, out.Message = true, "the lab agrees: the race reproduced with these values"
	case marginOnly:
		out.Agrees, out.Message = true, "the lab did not reproduce the race: the backend outlives the proxy, by less than the margin the guard requires"
	case r.Pass:
		out.Message = "the lab contradicts the guard: the guard passes these values but the lab reproduced the race"
	default:
		out.Message = "the lab contradicts the guard: the backend closes first, yet the lab did not reproduce the race"
	}
	return out, nil
}
