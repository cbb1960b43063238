package labtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/reports"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// T is what labtest needs of a test: *testing.T and *testing.B satisfy
// it.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
	Logf(format string, args ...any)
	Context() context.Context
}

// Skipper is what SkipUnlessProxy needs of a test.
type Skipper interface {
	Helper()
	Skipf(format string, args ...any)
}

// Option configures a run and the cells a check looks at.
type Option func(*config)

type config struct {
	lab       []lab.Option
	where     map[string]string
	cell      string
	artifacts string
}

// WithLab passes options to lab.Run (parallelism, a logger, a results
// writer).
func WithLab(opts ...lab.Option) Option {
	return func(c *config) { c.lab = append(c.lab, opts...) }
}

// WithWhere selects the cells a check looks at by parameter, with the
// selector syntax of a scenario's expectations: "retry": "off",
// "margin": "<0", "method": "[GET, HEAD]". Default: every cell.
func WithWhere(sel map[string]string) Option { return func(c *config) { c.where = sel } }

// WithCell selects one cell by id.
func WithCell(id string) Option { return func(c *config) { c.cell = id } }

// WithArtifacts keeps the run's results file (<name>.jsonl, with the
// verdicts) and HTML report (<name>.html) in dir, named after the test.
func WithArtifacts(dir string) Option { return func(c *config) { c.artifacts = dir } }

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Scenario loads a scenario from YAML, failing the test on any problem.
func Scenario(t T, yaml string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Load([]byte(yaml), "scenario.yaml")
	require.NoError(t, err, "load scenario")
	return sc
}

// LoadScenario loads a scenario file or a built-in scenario by name,
// failing the test on any problem.
func LoadScenario(t T, ref string) *scenarios.Scenario {
	t.Helper()
	sc, err := scenarios.Resolve(ref)
	require.NoError(t, err, "load scenario %s", ref)
	return sc
}

// installHints says how to get a proxy binary.
var installHints = map[string]string{
	"nginx":   "apt-get install nginx-light (Debian/Ubuntu)",
	"haproxy": "apt-get install haproxy (Debian/Ubuntu)",
	"caddy":   "apt-get install caddy",
	"apache":  "apt-get install apache2",
	"envoy":   "install an envoy binary (https://www.envoyproxy.io/docs/envoy/latest/start/install) or run the container runtime with envoyproxy/envoy",
}

// SkipUnlessProxy skips the test when the proxy kind's binary is not
// installed, saying what to install. The embedded proxy ("go") is always
// available.
func SkipUnlessProxy(t Skipper, kind string) {
	t.Helper()
	if err := lab.Available(proxies.Kind(kind)); err != nil {
		hint := installHints[kind]
		if hint == "" {
			hint = "install it"
		}
		t.Skipf("proxy %s is not available (%v): %s to run this test", kind, err, hint)
	}
}

// Run runs the scenario and fails the test when it cannot run or a cell
// did not complete. It returns the report for further assertions.
func Run(t T, sc *scenarios.Scenario, opts ...Option) *results.Run {
	t.Helper()
	rep := run(t, sc, newConfig(opts))
	if err := rep.Err(); err != nil {
		require.Failf(t, "racelab: a cell did not complete", "%v", err)
	}
	return rep
}

func run(t T, sc *scenarios.Scenario, cfg *config) *results.Run {
	t.Helper()
	opts := append([]lab.Option(nil), cfg.lab...)
	var w *results.Writer
	var file *os.File
	if cfg.artifacts != "" {
		require.NoError(t, os.MkdirAll(cfg.artifacts, 0o755), "artifacts dir")
		var err error
		file, err = os.Create(filepath.Join(cfg.artifacts, artifactName(t, sc)+".jsonl"))
		require.NoError(t, err, "artifacts: results file")
		w = results.NewWriter(file)
		opts = append(opts, lab.WithResults(w))
	}
	rep, err := lab.Run(t.Context(), sc, opts...)
	if file != nil {
		werr := error(nil)
		if rep != nil {
			werr = writeArtifacts(file, rep)
		}
		require.NoError(t, errors.Join(werr, file.Close()), "artifacts")
		t.Logf("racelab: results and report in %s", strings.TrimSuffix(file.Name(), ".jsonl")+".{jsonl,html}")
	}
	require.NoError(t, err, "racelab: run scenario %s", sc.Name)
	return rep
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func artifactName(t T, sc *scenarios.Scenario) string {
	name := sc.Name
	if n, ok := t.(interface{ Name() string }); ok {
		name = n.Name()
	}
	return strings.Trim(unsafeName.ReplaceAllString(name, "_"), "_")
}

func writeArtifacts(file *os.File, run *results.Run) error {
	html, err := os.Create(strings.TrimSuffix(file.Name(), ".jsonl") + ".html")
	if err != nil {
		return fmt.Errorf("create html report: %w", err)
	}
	r := reports.New(run, reports.WithSource(filepath.Base(file.Name())))
	return errors.Join(r.HTML(html), html.Close())
}

// RequireRace runs the scenario and requires the race to reproduce in
// every selected cell (WithWhere, WithCell; default every cell): at least
// one failed trial attributed to the stale-connection race by backend
// evidence.
func RequireRace(t T, sc *scenarios.Scenario, opts ...Option) *results.Run {
	t.Helper()
	cfg := newConfig(opts)
	rep := run(t, sc, cfg)
	if err := check(rep, cfg, raced, "the race did not reproduce", "want failed trials attributed to the stale-connection race"); err != nil {
		require.Fail(t, err.Error())
	}
	return rep
}

// RequireNoRace runs the scenario and requires no race in every selected
// cell: no failed trial, and no duplicate execution of a non-idempotent
// request. A hidden retry (the proxy retried the stale connection and the
// client saw success) passes, and is logged.
func RequireNoRace(t T, sc *scenarios.Scenario, opts ...Option) *results.Run {
	t.Helper()
	cfg := newConfig(opts)
	rep := run(t, sc, cfg)
	if err := check(rep, cfg, clean, "the race reproduced", "want no failed trial and no duplicate execution of a non-idempotent request"); err != nil {
		require.Fail(t, err.Error())
	}
	for _, s := range selectedOrAll(rep, cfg) {
		if s.HiddenRetry > 0 {
			t.Logf("cell %s: %d hidden retries: the proxy retried a stale connection and the client saw success", s.Cell, s.HiddenRetry)
		}
	}
	return rep
}

// RequireExpectations runs the scenario and requires every one of its
// expectations to pass. A scenario without expectations fails: a gate
// that checks nothing is a defect.
func RequireExpectations(t T, sc *scenarios.Scenario, opts ...Option) *results.Run {
	t.Helper()
	rep := run(t, sc, newConfig(opts))
	if err := CheckExpectations(rep, sc.Expect); err != nil {
		require.Fail(t, err.Error())
	}
	return rep
}

// CheckRace is RequireRace's check on a report: nil when every selected
// cell has a failed trial attributed to the race.
func CheckRace(rep *results.Run, opts ...Option) error {
	return check(rep, newConfig(opts), raced, "the race did not reproduce", "want failed trials attributed to the stale-connection race")
}

// CheckNoRace is RequireNoRace's check on a report: nil when no selected
// cell has a failed trial or a duplicate non-idempotent execution.
func CheckNoRace(rep *results.Run, opts ...Option) error {
	return check(rep, newConfig(opts), clean, "the race reproduced", "want no failed trial and no duplicate execution of a non-idempotent request")
}

// CheckExpectations evaluates exps against the report: nil when every
// verdict passes, else an error listing each failed verdict with the
// cell's evidence.
func CheckExpectations(rep *results.Run, exps []scenarios.Expectation) error {
	if len(exps) == 0 {
		return fmt.Errorf("the scenario has no expectations: nothing to check")
	}
	r := reports.New(rep, reports.WithExpectations(exps))
	verdicts := r.Verdicts
	var b strings.Builder
	failed := 0
	for _, v := range verdicts {
		if v.Pass {
			continue
		}
		failed++
		fmt.Fprintf(&b, "\nFAIL %s: %s", v.Expectation, v.Message)
		if s, ok := r.Summary(v.Cell); ok {
			fmt.Fprintf(&b, "\n%s", indent(r.Evidence(s)))
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d expectation verdicts failed:%s", failed, len(verdicts), b.String())
}

// raced: the cell reproduced the race, with evidence.
func raced(s results.Summary) bool { return s.Error == "" && s.Attributed > 0 }

// clean: no failure the proxy caused, no unsafe duplicate execution.
func clean(s results.Summary) bool {
	return s.Error == "" && s.Trials > 0 && s.Failures == 0 && s.DuplicatesUnsafe == 0
}

func check(rep *results.Run, cfg *config, ok func(results.Summary) bool, headline, want string) error {
	sel, err := selectCells(rep, cfg)
	if err != nil {
		return err
	}
	r := reports.New(rep)
	var bad []string
	for _, s := range sel {
		if !ok(s) {
			bad = append(bad, indent(r.Evidence(s)))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s in %d of %d selected cells (%s):\n%s", headline, len(bad), len(sel), want, strings.Join(bad, "\n"))
}

// selectCells returns the summaries the options select; none is an error.
func selectCells(rep *results.Run, cfg *config) ([]results.Summary, error) {
	var out []results.Summary
	var ids []string
	sel := scenarios.Expectation{Where: cfg.where}
	for _, s := range rep.Summaries() {
		ids = append(ids, s.Cell)
		if cfg.cell != "" && s.Cell != cfg.cell {
			continue
		}
		m, err := sel.Matches(s.Params)
		if err != nil {
			return nil, fmt.Errorf("select cells: %w", err)
		}
		if m {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		sort.Strings(ids)
		return nil, fmt.Errorf("no cell matches the selection (cell %q, where %v); the run's cells: %s", cfg.cell, cfg.where, strings.Join(ids, ", "))
	}
	return out, nil
}

func selectedOrAll(rep *results.Run, cfg *config) []results.Summary {
	s, err := selectCells(rep, cfg)
	if err != nil {
		return rep.Summaries()
	}
	return s
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
