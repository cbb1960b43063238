package guard

import (
	"errors"
	"fmt"
	"time"
)

// DefaultMargin is the headroom the backend's keep-alive must keep over
// the proxy's idle timeout when none is given. Five seconds is "a few
// seconds": it absorbs the proxy's idle clock starting one round trip and
// one response transfer after the backend's, idle timers that fire late on
// a loaded host, and an HAProxy purge that runs late; it is more than a
// thousand times the few-millisecond race window measured on loopback; and
// the common pairing of a 60 s load balancer with a 65 s backend passes
// exactly.
const DefaultMargin = 5 * time.Second

// Result is the verdict of one backend/proxy pair.
type Result struct {
	Pass    bool
	Backend Value
	Proxy   Value
	Margin  time.Duration
	// Required is Proxy.Duration + Margin when both sides are finite.
	Required time.Duration
	// Slack is Backend.Duration - Required when both sides are finite:
	// negative means short by that much.
	Slack time.Duration
	// Reason is one sentence on why the pair passes or fails.
	Reason string
	// Fix says what to change when the pair fails.
	Fix string
	// Err is set when the inputs are unusable; Pass is then false.
	Err error
}

// Check asserts backend >= proxy + margin for plain durations. Zero or
// negative timeouts and a negative margin are unusable input: the result
// fails and carries Err.
func Check(backend, proxy, margin time.Duration) Result {
	b := Finite(backend, "backend", "")
	p := Finite(proxy, "proxy", "")
	for _, in := range []struct {
		name string
		d    time.Duration
	}{{"backend keep-alive", backend}, {"proxy idle timeout", proxy}} {
		if in.d <= 0 {
			return Result{Backend: b, Proxy: p, Margin: margin,
				Err:    fmt.Errorf("check: %s %s must be positive", in.name, FormatMS(in.d)),
				Reason: "unusable input"}
		}
	}
	return CheckValues(b, p, margin)
}

// CheckValues asserts the parity rule for two Values:
//   - a proxy that does not reuse connections, or a backend without
//     keep-alive, leaves no pooled idle connection to race on: pass;
//   - a backend with no idle timer never closes an idle connection: pass;
//   - a proxy with no idle timer outlives any finite backend timeout: fail;
//   - otherwise backend >= proxy + margin.
func CheckValues(backend, proxy Value, margin time.Duration) Result {
	r := Result{Backend: backend, Proxy: proxy, Margin: margin}
	if err := errors.Join(checkInput("backend", backend), checkInput("proxy", proxy)); err != nil {
		r.Err, r.Reason = err, "unusable input"
		return r
	}
	if margin < 0 {
		r.Err, r.Reason = fmt.Errorf("check: margin %s is negative", FormatMS(margin)), "unusable input"
		return r
	}
	switch {
	case proxy.State == StateOff:
		r.Pass, r.Reason = true, "the proxy does not reuse idle upstream connections, so none can be reused while the backend closes it"
	case backend.State == StateOff:
		r.Pass, r.Reason = true, "the backend does not keep connections alive, so the proxy has no idle connection to reuse"
	case backend.State == StateUnbounded:
		r.Pass, r.Reason = true, "the backend has no idle timer, so it never closes an idle connection"
	case proxy.State == StateUnbounded:
		r.Reason = "the proxy keeps idle upstream connections with no idle limit, so the backend's timer always fires first"
		if lower := backend.Duration - margin; lower > 0 {
			r.Fix = fmt.Sprintf("give the proxy an upstream idle timeout of at most %s", FormatMS(lower))
		} else {
			r.Fix = "give the proxy an upstream idle timeout, and raise the backend keep-alive to at least that plus the margin"
		}
	default:
		r.Required = proxy.Duration + margin
		r.Slack = backend.Duration - r.Required
		r.Pass = r.Slack >= 0
		if r.Pass {
			r.Reason = fmt.Sprintf("the backend keeps idle connections %s longer than the proxy plus the margin", FormatMS(r.Slack))
		} else {
			r.Reason = fmt.Sprintf("the backend may close an idle connection the proxy still reuses: short by %s", FormatMS(-r.Slack))
			r.Fix = fmt.Sprintf("raise the backend keep-alive to at least %s", FormatMS(r.Required))
			if lower := backend.Duration - margin; lower > 0 {
				r.Fix += fmt.Sprintf(", or lower the proxy idle timeout to at most %s", FormatMS(lower))
			}
		}
	}
	return r
}

func checkInput(side string, v Value) error {
	if err := v.validate(); err != nil {
		return fmt.Errorf("check: %s %s: %w", side, v.Where(), err)
	}
	return nil
}

// Inequality is the rule with this pair's numbers, all in milliseconds.
func (r Result) Inequality() string {
	b, p := r.Backend, r.Proxy
	if b.State == StateFinite && p.State == StateFinite {
		return fmt.Sprintf("backend_keepalive %s >= proxy_idle %s + margin %s = %s",
			FormatMS(b.Duration), FormatMS(p.Duration), FormatMS(r.Margin), FormatMS(r.Required))
	}
	if b.State == StateOff || p.State == StateOff {
		return fmt.Sprintf("backend_keepalive %s, proxy_idle %s: no pooled idle connection, the rule does not apply", b.Show(), p.Show())
	}
	return fmt.Sprintf("backend_keepalive %s >= proxy_idle %s + margin %s", b.Show(), p.Show(), FormatMS(r.Margin))
}

// String is the verdict on one line: "PASS backend_keepalive 65000ms >=
// proxy_idle 60000ms + margin 5000ms = 65000ms: ...".
func (r Result) String() string {
	if r.Err != nil {
		return "ERROR " + r.Err.Error()
	}
	verdict := "FAIL"
	if r.Pass {
		verdict = "PASS"
	}
	return verdict + " " + r.Inequality() + ": " + r.Reason
}

type resultJSON struct {
	Pass       bool     `json:"pass"`
	Inequality string   `json:"inequality"`
	Backend    Value    `json:"backend"`
	Proxy      Value    `json:"proxy"`
	MarginMS   float64  `json:"margin_ms"`
	RequiredMS *float64 `json:"required_ms,omitempty"`
	SlackMS    *float64 `json:"slack_ms,omitempty"`
	Reason     string   `json:"reason"`
	Fix        string   `json:"fix,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// MarshalJSON writes every duration in milliseconds.
func (r Result) MarshalJSON() ([]byte, error) {
	out := resultJSON{Pass: r.Pass, Inequality: r.Inequality(), Backend: r.Backend, Proxy: r.Proxy,
		MarginMS: ms(r.Margin), Reason: r.Reason, Fix: r.Fix}
	if r.Backend.State == StateFinite && r.Proxy.State == StateFinite && r.Err == nil {
		req, slack := ms(r.Required), ms(r.Slack)
		out.RequiredMS, out.SlackMS = &req, &slack
	}
	if r.Err != nil {
		out.Error = r.Err.Error()
	}
	return marshal(out)
}

// Report is the verdict over every backend/proxy pair of two sources.
type Report struct {
	// Pass is true when every pair passes; an empty report does not pass.
	Pass    bool
	Results []Result
}

// CheckAll checks every backend value against every proxy value: a
// source can hold several (nginx upstreams, Envoy clusters, virtual
// hosts), and the shortest backend against the longest proxy decides.
func CheckAll(backends, proxies []Value, margin time.Duration) Report {
	var rep Report
	for _, p := range proxies {
		for _, b := range backends {
			rep.Results = append(rep.Results, CheckValues(b, p, margin))
		}
	}
	rep.Pass = len(rep.Results) > 0
	for _, r := range rep.Results {
		rep.Pass = rep.Pass && r.Pass
	}
	return rep
}

// Failed counts the pairs that did not pass.
func (rep Report) Failed() int {
	n := 0
	for _, r := range rep.Results {
		if !r.Pass {
			n++
		}
	}
	return n
}

// RequireExplicit reports every value that a source left to the
// software's default, for checks that must not trust defaults: a default
// can change with a version or a base image while the configuration looks
// the same.
func RequireExplicit(vals []Value) error {
	var errs []error
	for _, v := range vals {
		if v.Default {
			errs = append(errs, fmt.Errorf("%s: not set, the default %s applies (%s); set it explicitly", v.Where(), v.Show(), v.Explanation))
		}
	}
	return errors.Join(errs...)
}
