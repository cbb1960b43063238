package regression

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/labtest"
	"github.com/racelab/racelab/scenarios"
)

// artifacts returns the options that keep each run's results file and
// HTML report when RACELAB_ARTIFACTS names a directory.
func artifacts() []labtest.Option {
	dir := os.Getenv("RACELAB_ARTIFACTS")
	if dir == "" {
		return nil
	}
	return []labtest.Option{labtest.WithArtifacts(filepath.Join(dir, "regression"))}
}

// TestKeepAliveRegression runs the scenario's expectations on every proxy
// kind a team ships: the race reproduces with the broken timeouts (a
// positive control: a suite that cannot see the race proves nothing), the
// fix holds, retries hide the race for GET and never replay POST.
func TestKeepAliveRegression(t *testing.T) {
	for _, kind := range []string{"go", "nginx", "haproxy"} {
		t.Run(kind, func(t *testing.T) {
			labtest.SkipUnlessProxy(t, kind)
			sc := labtest.LoadScenario(t, filepath.Join("testdata", "keepalive.yaml"))
			sc.OverrideProxy(scenarios.Proxy{Kind: kind})
			labtest.RequireExpectations(t, sc, artifacts()...)
		})
	}
}

// TestProductionValues checks a team's own numbers, scaled down 100×: a
// proxy with a 60s upstream idle timeout (an ALB's default) in front of
// Node.js with its 5s keep-alive default races; raising the backend's
// keep-alive to 65s fixes it. One run, two checks.
func TestProductionValues(t *testing.T) {
	sc := labtest.Scenario(t, `
name: node-behind-alb
timescale: 0.01
base:
  proxy: {kind: go}
  proxy_idle: 60s
  trials: 3
matrix:
  backend_keepalive: [5s, 65s]
`)
	rep := labtest.Run(t, sc, artifacts()...)
	require.NoError(t, labtest.CheckRace(rep, labtest.WithWhere(map[string]string{"backend_keepalive": "5s"})),
		"Node's default keep-alive behind a 60s proxy idle timeout must race")
	require.NoError(t, labtest.CheckNoRace(rep, labtest.WithWhere(map[string]string{"backend_keepalive": "65s"})),
		"a 65s backend keep-alive must fix it")
}
