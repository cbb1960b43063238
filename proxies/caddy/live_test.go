package caddy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/labtest"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/caddy"
	"github.com/racelab/racelab/proxies/proxytest"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// startCaddy starts a racelab backend and caddy (at bin, or on PATH when
// empty) in front of it with spec's policy.
func startCaddy(t *testing.T, bin string, spec proxies.Spec) (*process.Proxy, *backends.Server) {
	t.Helper()
	labtest.SkipUnlessProxy(t, "caddy")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	be, err := backends.Start(ctx, backends.Config{})
	t.Cleanup(func() { _ = be.Close() })
	require.NoError(t, err)
	spec.Kind, spec.Upstream = proxies.KindCaddy, be.Addr()
	spec.Listen = proxytest.FreeAddr(t)
	opts := []process.Option{process.WithStartTimeout(30 * time.Second)}
	if bin != "" {
		opts = append(opts, process.WithBinary(bin))
	}
	p, err := process.Start(ctx, caddy.Adapter{}, spec, opts...)
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	return p, be
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

// TestLiveOnePooledConnection: sequential requests on fresh client
// connections all go out on one upstream connection, and the idle
// timeout (keepalive) retires it.
func TestLiveOnePooledConnection(t *testing.T) {
	const idle = 400 * time.Millisecond
	p, _ := startCaddy(t, "", proxies.Spec{IdleTimeout: idle, Retry: proxies.RetryOff})
	first := get(t, p.Addr(), "a")
	for _, id := range []string{"b", "c", "d"} {
		require.Equal(t, first, get(t, p.Addr(), id), "request %s on another upstream connection", id)
	}
	ev, err := p.Evidence().Wait(t.Context(), "d", "access")
	require.NoError(t, err)
	require.Equal(t, 200, ev[0].Status)

	// Past the idle timeout Caddy has closed the pooled connection.
	time.Sleep(3 * idle)
	require.NotEqual(t, first, get(t, p.Addr(), "e"), "the pooled connection outlived keepalive %v", idle)
}

// sixStep is the built-in six-step scenario on caddy, at 3 trials a cell.
func sixStep(t *testing.T, version string) *scenarios.Scenario {
	sc := labtest.LoadScenario(t, "six-step")
	sc.OverrideProxy(scenarios.Proxy{Kind: "caddy", Version: version, Runtime: "process"})
	sc.Base.Trials = 3
	return sc
}

// TestLiveSixStep runs six-step on the caddy on PATH: Go's transport
// hides the race for GET even with retry off, POST fails with 502 and
// Caddy's "EOF", and the fix removes it.
func TestLiveSixStep(t *testing.T) {
	labtest.SkipUnlessProxy(t, "caddy")
	rep := labtest.RequireExpectations(t, sixStep(t, ""))
	checkSixStep(t, rep.Cells)
}

// TestLiveSixStepCurrent runs six-step on the current Caddy built with go
// install (scripts/test.sh builds it).
func TestLiveSixStepCurrent(t *testing.T) {
	labtest.SkipUnlessProxy(t, "caddy")
	const version = "2.11"
	if _, err := process.LookVersioned(caddy.Adapter{}, version); err != nil {
		t.Skipf("no caddy %s built for racelab (%v): GOBIN=%s/2.11.9 go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9",
			version, err, process.VersionedDir(caddy.Adapter{}))
	}
	rep := labtest.RequireExpectations(t, sixStep(t, version))
	for _, c := range rep.Cells {
		require.True(t, strings.HasPrefix(c.Proxy["version"], "2.11."), c.Proxy["version"])
	}
	checkSixStep(t, rep.Cells)
}

// checkSixStep checks what the expectations do not: Caddy's own words for
// the failures, and the note that retry off is not what Caddy does.
func checkSixStep(t *testing.T, cells []*results.CellRun) {
	t.Helper()
	var sawEOF bool
	for _, c := range cells {
		s := c.Summary()
		if s.Params["retry"] == "off" {
			require.Contains(t, s.Note, "not expressible on this proxy: retry off", s.Cell)
		}
		for _, r := range c.Records() {
			if r.Outcome != results.Proxy502 {
				continue
			}
			for _, e := range r.Proxy {
				sawEOF = sawEOF || (e.Source == "error" && e.Message == "EOF")
			}
		}
	}
	require.True(t, sawEOF, "no 502 carried Caddy's EOF error line")
}
