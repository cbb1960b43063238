package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/owner"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// configIdle is the upstream idle timeout a user's configuration sets for
// the upstream under test, read from the rendered bundle's effective
// settings ("idle_timeout", in the proxy's own time syntax, unscaled).
// For HAProxy it is pool-purge-delay: an idle connection lives 2 to 3
// times that long.
func configIdle(kind proxies.Kind, eff map[string]proxies.Setting) (time.Duration, error) {
	s, ok := eff["idle_timeout"]
	if !ok || s.Value == "" {
		return 0, fmt.Errorf("%s configuration: no idle timeout for the upstream under test", kind)
	}
	var d time.Duration
	var err error
	switch kind {
	case proxies.KindNginx:
		d, err = proxyconf.ParseNginxTime(s.Value, true)
	case proxies.KindHAProxy:
		d, err = proxyconf.ParseHAProxyTime(s.Value)
	case proxies.KindEnvoy:
		d, err = proxyconf.ParseProtoDuration(s.Value)
	case proxies.KindVarnish:
		d, err = proxyconf.ParseVarnishSeconds(s.Value)
	case proxies.KindSquid:
		d, err = proxyconf.ParseSquidTime(s.Value)
	case proxies.KindCaddy:
		if s.Value == "off" {
			return 0, fmt.Errorf("caddy configuration: keepalive off (%s): no pooled upstream connection, nothing to race", s.Source)
		}
		d, err = proxyconf.ParseCaddyDuration(s.Value)
	case proxies.KindApache:
		if s.Value == "none" {
			return 0, nil // no ttl=: kept until the backend closes it
		}
		d, err = time.ParseDuration(s.Value)
	default:
		return 0, fmt.Errorf("proxy kind %s takes no configuration file", kind)
	}
	if err != nil {
		where := s.Source
		if where == "" {
			where = "default"
		}
		return 0, fmt.Errorf("%s configuration: idle timeout %q (%s): %w", kind, s.Value, where, err)
	}
	return d, nil
}

// CheckConfigs renders every user configuration the cells run, once each,
// and has the proxy check it (nginx -t, haproxy -c; an Envoy bootstrap is
// validated offline against Envoy's schema when no binary is here): a
// file the proxy rejects, an upstream that does not exist, or a file
// with no listener that routes to it is reported before any cell runs,
// with the user's file and line. Nothing is started and nothing from the
// file is contacted. Missing binaries are Preflight's to report.
func CheckConfigs(ctx context.Context, cells []scenarios.Cell) error {
	var errs []error
	seen := map[string]bool{}
	for i := range cells {
		p := cells[i].Proxy
		if p.Config == "" {
			continue
		}
		key := strings.Join([]string{p.Kind, p.Config, p.Root, p.Upstream}, "\x00")
		if seen[key] {
			continue
		}
		seen[key] = true
		if err := checkConfig(ctx, &cells[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkConfig(ctx context.Context, c *scenarios.Cell) error {
	p := c.Proxy
	a, spec, err := offlineSpec(proxies.Kind(p.Kind), p.Config, p.Root, p.Upstream, c.Timescale)
	if err == nil {
		if _, lerr := process.LookPath(a); lerr != nil {
			// No binary to ask: render (and, for Envoy, schema-validate).
			_, err = renderOffline(a, spec)
		} else {
			_, err = process.Validate(ctx, a, spec)
		}
	}
	if err != nil && !strings.Contains(err.Error(), p.Config) {
		// The proxy's own check names the included file and line; say
		// which configuration it was about.
		return fmt.Errorf("config %s: %w", p.Config, err)
	}
	return err
}

// offlineSpec is the spec of a user's configuration rendered only to be
// read or checked: placeholder loopback addresses, nothing started.
func offlineSpec(kind proxies.Kind, path, root, upstream string, timescale float64) (proxies.Adapter, proxies.Spec, error) {
	a, ok := adapterFor(kind)
	if !ok {
		return nil, proxies.Spec{}, fmt.Errorf("proxy kind %q takes no configuration file here", kind)
	}
	return a, proxies.Spec{Kind: kind, Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", AdminListen: "127.0.0.1:3",
		Retry: proxies.RetryOff, Config: &proxies.UserConfig{Path: path, Root: root, Upstream: upstream,
			Timescale: timescale, Closed: "127.0.0.1:4"}}, nil
}

// renderOffline renders spec into a temporary directory it removes.
func renderOffline(a proxies.Adapter, spec proxies.Spec) (*proxies.Bundle, error) {
	dir, err := owner.TempDir(owner.DirPrefix + "inspect-")
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	if err != nil {
		return nil, err
	}
	return a.Render(spec, dir)
}

// inspectConfig renders a user's proxy configuration without starting
// anything and returns what it became: the route, the file's own
// settings (Effective) and racelab's changes.
func inspectConfig(kind proxies.Kind, path, root, upstream string) (*proxies.Bundle, error) {
	a, spec, err := offlineSpec(kind, path, root, upstream, 0)
	if err != nil {
		return nil, err
	}
	return renderOffline(a, spec)
}

// ConfigDemoScenario is racelab demo --proxy-from: the user's own file
// against a backend whose keep-alive is a twelfth of the file's idle
// timeout (the backend closes first) and one that outlives it (for
// HAProxy, three times pool-purge-delay) by a margin, for GET and POST,
// with a request that never ran and one the backend ran before dropping
// the connection. Time runs scaled so the file's idle timeout lasts
// 500ms. The one expectation is the fix: no failure with the longer
// keep-alive.
func ConfigDemoScenario(kind proxies.Kind, path, root, upstream string) (*scenarios.Scenario, error) {
	b, err := inspectConfig(kind, path, root, upstream)
	if err != nil {
		return nil, err
	}
	idle, err := configIdle(kind, b.Effective)
	if err != nil {
		return nil, err
	}
	if idle <= 0 && kind == proxies.KindApache {
		return nil, fmt.Errorf("%s: the ProxyPass under test sets no ttl=: httpd keeps an idle connection until the backend closes it, so every backend keep-alive races and there is no fix to show; run a scenario with racelab run --proxy-from", path)
	}
	if idle <= 0 {
		return nil, fmt.Errorf("%s: the idle timeout of the upstream under test is %s: nothing to race", path, idle)
	}
	// The largest of 1, 0.5, 0.2, 0.1, 0.05, ... that makes the idle
	// timeout last at most 500ms: a timescale a person can read.
	scale := 1.0
	for steps := []float64{0.5, 0.4, 0.5}; float64(idle)*scale > float64(500*time.Millisecond) && scale > 1e-6; {
		scale *= steps[0]
		steps = append(steps[1:], steps[0])
	}
	if floor := proxies.IdleFloor(kind); float64(idle)*scale < float64(floor) {
		scale = float64(floor) / float64(idle) // the proxy runs no shorter
	}
	lifetime := idle
	switch kind {
	case proxies.KindHAProxy:
		lifetime = 3 * idle // idle connections live 2-3 purge periods
	case proxies.KindSquid:
		lifetime = idle * 3 / 2 // closes up to ~2s late at its 5s floor
	}
	short := max(idle/12, time.Millisecond).Round(time.Millisecond)
	long := (lifetime + max(lifetime/10, 2*time.Second)).Round(time.Second)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if root != "" {
		if root, err = filepath.Abs(root); err != nil {
			return nil, err
		}
	}
	sc := &scenarios.Scenario{
		Name:        "demo-config",
		Description: "racelab demo --proxy-from " + string(kind) + ":" + path,
		Timescale:   scale,
		Base: scenarios.Settings{
			Proxy:  scenarios.Proxy{Name: "yours", Kind: string(kind), Config: abs, Root: root, Upstream: upstream},
			Trials: 6,
		},
		Matrix: scenarios.Matrix{
			BackendKeepAlive: []scenarios.Duration{scenarios.Duration(short), scenarios.Duration(long)},
			Method:           []string{"GET", "POST"},
			Fault:            []string{string(backends.FaultCloseOnReuse), string(backends.FaultProcessedThenDropped)},
		},
		Expect: []scenarios.Expectation{{
			Name:        fmt.Sprintf("with a backend keep-alive of %s (above the file's %s idle timeout), nothing fails", scenarios.FormatDuration(long), scenarios.FormatDuration(idle)),
			Where:       map[string]string{"backend_keepalive": scenarios.FormatDuration(long)},
			FailureRate: "0",
		}},
	}
	if probs := sc.Validate(); len(probs) > 0 {
		return nil, probs
	}
	return sc, nil
}
