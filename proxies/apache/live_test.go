package apache_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/labtest"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/apache"
	"github.com/racelab/racelab/proxies/proxytest"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// startApache starts a racelab backend and apache2 in front of it.
func startApache(t *testing.T, spec proxies.Spec) *process.Proxy {
	t.Helper()
	labtest.SkipUnlessProxy(t, "apache")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	be, err := backends.Start(ctx, backends.Config{})
	t.Cleanup(func() { _ = be.Close() })
	require.NoError(t, err)
	spec.Kind, spec.Upstream, spec.Listen = proxies.KindApache, be.Addr(), proxytest.FreeAddr(t)
	p, err := process.Start(ctx, apache.Adapter{}, spec, process.WithStartTimeout(30*time.Second))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	return p
}

// get sends a GET on a fresh client connection and returns the backend
// connection that served it.
func get(t *testing.T, addr, id string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/r/"+id, nil)
	require.NoError(t, err)
	req.Header.Set(backends.RequestIDHeader, id)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	conn := resp.Header.Get(backends.ConnHeader)
	require.NotEmpty(t, conn)
	return conn
}

// TestLiveOnePooledConnection: one process, one thread, max=1 — sequential
// requests on fresh client connections share one upstream connection,
// and ttl= retires it once idle.
func TestLiveOnePooledConnection(t *testing.T) {
	p := startApache(t, proxies.Spec{IdleTimeout: time.Second, Retry: proxies.RetryOff})
	require.Regexp(t, `^2\.4\.\d+$`, p.Version())
	first := get(t, p.Addr(), "a")
	for _, id := range []string{"b", "c", "d"} {
		require.Equal(t, first, get(t, p.Addr(), id), "request %s on another upstream connection", id)
	}
	ev, err := p.Evidence().Wait(t.Context(), "d", "access")
	require.NoError(t, err)
	require.Equal(t, 200, ev[0].Status)

	time.Sleep(2500 * time.Millisecond) // past ttl=1
	require.NotEqual(t, first, get(t, p.Addr(), "e"), "the pooled connection outlived ttl=1")
}

// sixStep is the built-in six-step scenario on apache, at 3 trials a cell.
func sixStep(t *testing.T) *scenarios.Scenario {
	sc := labtest.LoadScenario(t, "six-step")
	sc.OverrideProxy(scenarios.Proxy{Kind: "apache", Runtime: "process"})
	sc.Base.Trials = 3
	return sc
}

// TestLiveSixStep: every broken cell fails with AH01102, attributed;
// Apache has no retry to hide GET; and at 1/20 scale the fix cells fail
// too, because ttl= rounds the 500 ms idle timeout up to 1 s.
func TestLiveSixStep(t *testing.T) {
	labtest.SkipUnlessProxy(t, "apache")
	rep := labtest.RequireExpectations(t, sixStep(t))
	var sawAH bool
	for _, c := range rep.Cells {
		s := c.Summary()
		require.Contains(t, s.Note, "ttl= takes whole seconds", s.Cell)
		if s.Params["retry"] == "idempotent" {
			require.Contains(t, s.Note, "retry idempotent", s.Cell)
		}
		for _, r := range c.Records() {
			for _, e := range r.Proxy {
				sawAH = sawAH || strings.HasPrefix(e.Message, "AH01102: ")
			}
		}
	}
	require.True(t, sawAH, "no failure carried Apache's AH01102")
}

// TestLiveFixWholeSeconds: at 1/10 scale the idle timeout is a whole
// second (10 s → ttl=1) and the fix holds: the backend's 1.2 s keep-alive
// outlasts it, so no trial fails.
func TestLiveFixWholeSeconds(t *testing.T) {
	labtest.SkipUnlessProxy(t, "apache")
	sc := labtest.Scenario(t, `name: apache-fix
timescale: 0.1
base: {proxy_idle: 10s, margin: 2s, trials: 3, retry: "off", proxy: {kind: apache, runtime: process}}
matrix: {method: [GET, POST]}
expect:
  - {name: the fix removes it, failure_rate: "0"}
`)
	rep := labtest.RequireExpectations(t, sc)
	for _, c := range rep.Cells {
		s := c.Summary()
		require.NotContains(t, s.Note, "whole seconds", s.Cell)
		var why []string
		for _, r := range c.Records() {
			if r.Outcome != results.OK {
				why = append(why, fmt.Sprintf("%s: %s (%s)", r.RequestID, r.Outcome, r.Attribution))
			}
		}
		require.Zero(t, s.Counts[results.NotReused]+s.Failures, "%s: %s", s.Cell, strings.Join(why, "; "))
	}
}
