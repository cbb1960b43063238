package labtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/results"
)

// raceYAML is the six-step experiment, small: on the embedded proxy the
// cell at margin -9s fails every trial (attributed), the one at +2s none.
const raceYAML = `name: labtest
timescale: 0.01
base: {proxy_idle: 10s, trials: 2}
matrix: {margin: [-9s, 2s]}
expect:
  - {name: the race reproduces, where: {margin: "<0"}, failure_rate: "==1", attributed: "==1"}
  - {name: the fix removes it, where: {margin: ">0"}, failure_rate: "0"}
`

// fakeT records what a check reports; FailNow stops the calling
// goroutine like testing.T's does.
type fakeT struct {
	ctx    context.Context
	mu     sync.Mutex
	errs   []string
	logs   []string
	skip   string
	failed bool
}

func newFakeT(t *testing.T) *fakeT { return &fakeT{ctx: t.Context()} }

func (f *fakeT) Helper()                  {}
func (f *fakeT) Context() context.Context { return f.ctx }
func (f *fakeT) Name() string             { return "TestFake/sub case" }
func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeT) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeT) FailNow() {
	f.failed = true
	panic(failNow{})
}
func (f *fakeT) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	panic(failNow{})
}

type failNow struct{}

// do runs fn, absorbing a FailNow or Skipf.
func (f *fakeT) do(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(failNow); !ok {
				panic(p)
			}
		}
	}()
	fn()
}

func (f *fakeT) output() string { return strings.Join(f.errs, "\n") }

var (
	sharedOnce sync.Once
	sharedRep  *results.Run
	sharedErr  error
)

// report runs raceYAML once for the Check tests.
func report(t *testing.T) *results.Run {
	t.Helper()
	sharedOnce.Do(func() {
		sc := Scenario(t, raceYAML)
		sharedRep, sharedErr = lab.Run(context.Background(), sc)
	})
	require.NoError(t, sharedErr)
	require.NoError(t, sharedRep.Err())
	return sharedRep
}

func where(kv ...string) Option {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return WithWhere(m)
}

func TestCheckRace(t *testing.T) {
	rep := report(t)
	assert.NoError(t, CheckRace(rep, where("margin", "<0")))
	assert.NoError(t, CheckRace(rep, WithCell("-9s")))

	err := CheckRace(rep)
	require.Error(t, err)
	msg := err.Error()
	// The message names the cell that did not race, with its counts and
	// interval; the cell that did is not listed.
	assert.Contains(t, msg, "the race did not reproduce in 1 of 2 selected cells")
	assert.Contains(t, msg, "cell 2s: 0/2 failed, 0% [0%, 66%] (95% Wilson); outcomes ok=2; attributed 0/0")
	assert.Contains(t, msg, "params: proxy=go proxy_idle=10s backend_keepalive=12s margin=2s")
	assert.NotContains(t, msg, "cell -9s:")
}

func TestCheckNoRace(t *testing.T) {
	rep := report(t)
	assert.NoError(t, CheckNoRace(rep, where("margin", ">0")))

	err := CheckNoRace(rep, where("margin", "<0"))
	require.Error(t, err)
	msg := err.Error()
	// The evidence: counts, interval, a sample record's attribution,
	// backend close and the proxy's own log line.
	assert.Contains(t, msg, "the race reproduced in 1 of 1 selected cells")
	assert.Contains(t, msg, "cell -9s: 2/2 failed, 100% [34%, 100%] (95% Wilson); outcomes proxy_502=2; attributed 2/2")
	assert.Contains(t, msg, "sample failure: trial 0 of cell -9s")
	assert.Contains(t, msg, "attributed to the stale-connection race: backend conn")
	assert.Contains(t, msg, "closed by backend (close-on-reuse, FIN)")
	assert.Contains(t, msg, `proxy error: "http: proxy error: EOF"`)
	assert.Contains(t, msg, "proxy access: status 502")
}

func TestCheckSelection(t *testing.T) {
	rep := report(t)
	err := CheckRace(rep, where("margin", ">100s"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no cell matches the selection")
	assert.Contains(t, err.Error(), "the run's cells: -9s, 2s")

	err = CheckRace(rep, where("colour", "blue"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cells have no parameter "colour"`)

	err = CheckRace(rep, WithCell("nope"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no cell matches the selection (cell "nope"`)
}

func TestCheckExpectations(t *testing.T) {
	rep := report(t)
	sc := Scenario(t, raceYAML)
	assert.NoError(t, CheckExpectations(rep, sc.Expect))

	sc.Expect[1].FailureRate = ">0" // wrong on purpose: the fix holds
	err := CheckExpectations(rep, sc.Expect)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of 2 expectation verdicts failed")
	assert.Contains(t, err.Error(), "FAIL the fix removes it: cell 2s: failure rate: expected >0, measured 0/2 0% [0%, 66%]")
	assert.Contains(t, err.Error(), "params: proxy=go")

	assert.EqualError(t, CheckExpectations(rep, nil), "the scenario has no expectations: nothing to check")
}

func TestRequireFunctions(t *testing.T) {
	sc := Scenario(t, raceYAML)

	ok := newFakeT(t)
	ok.do(func() { RequireExpectations(ok, sc) })
	assert.False(t, ok.failed, ok.output())

	ft := newFakeT(t)
	ft.do(func() { RequireRace(ft, sc) })
	assert.True(t, ft.failed)
	assert.Contains(t, ft.output(), "the race did not reproduce in 1 of 2 selected cells")
	assert.Contains(t, ft.output(), "cell 2s: 0/2 failed")

	ft = newFakeT(t)
	var rep *results.Run
	ft.do(func() { rep = RequireNoRace(ft, sc, where("margin", "<0")) })
	assert.True(t, ft.failed)
	assert.Nil(t, rep, "a failed require stops the test")
	assert.Contains(t, ft.output(), "the race reproduced in 1 of 1 selected cells")
	assert.Contains(t, ft.output(), `proxy error: "http: proxy error: EOF"`)

	// Retries hide the race from the client: no failure, and the hidden
	// retries are logged.
	retry := Scenario(t, strings.Replace(raceYAML, "trials: 2}", "trials: 2, retry: idempotent}", 1))
	ft = newFakeT(t)
	ft.do(func() { RequireNoRace(ft, retry) })
	assert.False(t, ft.failed, ft.output())
	assert.Contains(t, strings.Join(ft.logs, "\n"), "cell -9s: 2 hidden retries")
}

func TestRunFailsOnCellError(t *testing.T) {
	sc := Scenario(t, `name: broken
timescale: 0.01
base: {proxy: {kind: envoy}, proxy_idle: 10s, trials: 1}
`)
	if lab.Available("envoy") == nil {
		t.Skip("envoy is installed: this test needs a proxy that cannot start")
	}
	ft := newFakeT(t)
	ft.do(func() { Run(ft, sc) })
	assert.True(t, ft.failed)
	assert.Contains(t, ft.output(), "racelab: a cell did not complete")
	assert.Contains(t, ft.output(), "envoy")
}

func TestSkipUnlessProxy(t *testing.T) {
	ft := newFakeT(t)
	ft.do(func() { SkipUnlessProxy(ft, "go") })
	assert.Empty(t, ft.skip)
	ft.do(func() { SkipUnlessProxy(ft, "traefik") })
	assert.Contains(t, ft.skip, "proxy traefik is not available")
}

func TestWithArtifacts(t *testing.T) {
	dir := t.TempDir()
	sc := Scenario(t, raceYAML)
	ft := newFakeT(t)
	ft.do(func() { RequireExpectations(ft, sc, WithArtifacts(dir)) })
	require.False(t, ft.failed, ft.output())
	run, err := results.ReadFile(filepath.Join(dir, "TestFake_sub_case.jsonl"))
	require.NoError(t, err)
	assert.Empty(t, run.Dropped)
	assert.Len(t, run.Cells, 2)
	assert.Equal(t, 4, run.Trials())
	require.True(t, run.HasVerdicts)
	assert.Len(t, run.Verdicts, 2)
	html, err := os.ReadFile(filepath.Join(dir, "TestFake_sub_case.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), `<figure class="chart heatmap">`)
	assert.Contains(t, string(html), "2 passed")
}
