package labtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/labtest"
	"github.com/racelab/racelab/scenarios"
)

// One run, several checks: the race reproduces when the backend's
// keep-alive is shorter than the proxy's idle timeout, and the fix (a
// backend keep-alive 2s longer) removes it. On the embedded Go proxy
// every trial of the broken cell fails with evidence, so the output is
// stable.
func ExampleCheckRace() {
	sc, err := scenarios.Load([]byte(`name: example
timescale: 0.01
base: {proxy_idle: 10s, trials: 2}
matrix: {margin: [-9s, 2s]}
`), "example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := lab.Run(context.Background(), sc)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range rep.Summaries() {
		fmt.Printf("cell %s: %d/%d failed, %d attributed to the race\n", s.Cell, s.Failures, s.Trials, s.Attributed)
	}
	fmt.Println("race where margin < 0:", labtest.CheckRace(rep, labtest.WithWhere(map[string]string{"margin": "<0"})) == nil)
	fmt.Println("no race where margin > 0:", labtest.CheckNoRace(rep, labtest.WithWhere(map[string]string{"margin": ">0"})) == nil)
	// Output:
	// cell -9s: 2/2 failed, 2 attributed to the race
	// cell 2s: 0/2 failed, 0 attributed to the race
	// race where margin < 0: true
	// no race where margin > 0: true
}

// In a test, RequireExpectations runs a scenario and fails with the
// evidence when an expectation does not hold; SkipUnlessProxy skips, with
// what to install, when the proxy is missing.
func ExampleRequireExpectations() {
	var t *testing.T // the test's t
	labtest.SkipUnlessProxy(t, "nginx")
	sc := labtest.LoadScenario(t, "six-step")
	sc.OverrideProxy(scenarios.Proxy{Kind: "nginx"})
	rep := labtest.RequireExpectations(t, sc, labtest.WithArtifacts("racelab-artifacts"))
	require.Empty(t, rep.Err())
}
