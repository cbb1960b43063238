package triage

import (
	"bytes"
	"fmt"
	"time"

	"github.com/racelab/racelab/scenarios"
	"gopkg.in/yaml.v3"
)

// proxyFor maps a log format to the racelab proxy kind that reproduces
// it, and that proxy's documented default upstream idle timeout (used
// when --proxy-idle is not given). Load balancers racelab cannot run are
// stood in for by the embedded Go proxy with their idle timeout.
func proxyFor(f Format) (kind string, idle time.Duration, note string) {
	switch f {
	case FormatNginx:
		return "nginx", 60 * time.Second, "nginx's upstream keepalive_timeout default"
	case FormatHAProxy:
		return "haproxy", 5 * time.Second, "HAProxy's pool-purge-delay default"
	case FormatEnvoy:
		return "envoy", time.Hour, "Envoy's cluster idle_timeout default"
	case FormatALB:
		return "go", 60 * time.Second, "the ALB's idle timeout default, on the embedded Go proxy"
	case FormatGCLB:
		return "go", 600 * time.Second, "the Google Cloud load balancer's backend keep-alive, on the embedded Go proxy"
	}
	return "go", 2 * time.Minute, "Caddy's keepalive default, on the embedded Go proxy (Caddy uses Go's transport)"
}

// Scenario returns a racelab scenario that reproduces what the report
// found: the estimated backend keep-alive against the proxy's idle
// timeout on the proxy kind of the logs, and the parity fix beside it.
// It fails when there is no estimate to reproduce.
func (r *Report) Scenario() ([]byte, error) {
	e := r.KeepAlive
	if e == nil {
		return nil, fmt.Errorf("no estimated backend keep-alive: no race failure follows a known idle gap")
	}
	format := FormatNginx
	if len(r.Formats) == 1 {
		format = r.Formats[0]
	}
	kind, idle, note := proxyFor(format)
	source := "given with --proxy-idle"
	if r.ProxyIdle > 0 {
		idle = r.ProxyIdle
	} else {
		source = note
	}
	ka := e.Value.Round(time.Millisecond)
	if ka <= 0 {
		ka = time.Millisecond
	}
	fix := idle + DefaultMargin
	// Scale so the estimated keep-alive runs as about 100ms.
	ts := 1.0
	if ka > 100*time.Millisecond {
		ts = float64(100*time.Millisecond) / float64(ka)
	}
	d := func(x time.Duration) scenarios.Duration { return scenarios.Duration(x) }
	pi := d(idle)
	sc := scenarios.Scenario{
		Name: "triage-" + string(format),
		Description: fmt.Sprintf("Written by racelab triage from %d requests: %d of %d 5xx carry the race signature; "+
			"the backend's effective keep-alive is estimated at %s (%s estimate); the proxy's idle timeout is %s (%s). "+
			"The first keep-alive should race; the parity fix (proxy idle + %s) should not.",
			r.Lines, r.Race, r.Total5xx, FormatMS(ka), e.Strength, FormatMS(idle), source, FormatMS(DefaultMargin)),
		Timescale: ts,
		Base: scenarios.Settings{
			Proxy:     scenarios.Proxy{Kind: kind},
			ProxyIdle: &pi,
			Trials:    10,
		},
		Matrix: scenarios.Matrix{
			BackendKeepAlive: []scenarios.Duration{d(ka), d(fix)},
			Method:           []string{"GET", "POST"},
		},
	}
	if ka < fix {
		sc.Expect = []scenarios.Expectation{
			{Name: "the estimated backend keep-alive races the proxy's idle timeout",
				Where: map[string]string{"backend_keepalive": "<" + scenarios.FormatDuration(fix)}, FailureRate: ">0"},
			{Name: "backend_keepalive >= proxy_idle + margin removes the race",
				Where: map[string]string{"backend_keepalive": ">=" + scenarios.FormatDuration(fix)}, FailureRate: "0"},
		}
	} else {
		sc.Matrix.BackendKeepAlive = []scenarios.Duration{d(ka)}
		sc.Expect = []scenarios.Expectation{
			{Name: "the estimated keep-alive already meets the parity rule: the idle race should not reproduce", FailureRate: "0"},
		}
	}
	var buf bytes.Buffer
	buf.WriteString("# racelab scenario written by `racelab triage --emit-scenario`.\n# Run it: racelab run FILE\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&sc); err != nil {
		return nil, fmt.Errorf("encode scenario: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode scenario: %w", err)
	}
	// What racelab run would load: check it the same way.
	if _, err := scenarios.Load(buf.Bytes(), sc.Name+".yaml"); err != nil {
		return nil, fmt.Errorf("emitted scenario does not load: %w", err)
	}
	return buf.Bytes(), nil
}
