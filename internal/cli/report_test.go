package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/results"
)

// reportScenario is small and deterministic on the embedded proxy: the
// cell at margin -9s fails every trial, the one at +2s none.
const reportScenario = `name: report-check
timescale: 0.01
base: {proxy_idle: 10s, trials: 2}
matrix: {margin: [-9s, 2s]}
expect:
  - {name: the race reproduces, where: {margin: "<0"}, failure_rate: ">0"}
  - {name: the fix removes it, where: {margin: ">0"}, failure_rate: "0"}
`

type reportResult struct {
	code           int
	stdout, stderr string
}

func reportCLI(t *testing.T, env func(string) string, args ...string) reportResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := MainContext(t.Context(), args, env, &out, &errb)
	return reportResult{code, out.String(), errb.String()}
}

// reportRecorded runs reportScenario through the CLI and returns the
// scenario file and the results file.
func reportRecorded(t *testing.T) (scenario, resultsFile string) {
	t.Helper()
	dir := t.TempDir()
	scenario, resultsFile = filepath.Join(dir, "report-check.yaml"), filepath.Join(dir, "run.jsonl")
	require.NoError(t, os.WriteFile(scenario, []byte(reportScenario), 0o644))
	r := reportCLI(t, progEnv(), "run", scenario, "-o", resultsFile, "--quiet")
	require.Equal(t, ExitOK, r.code, "racelab run: %s%s", r.stderr, r.stdout)
	return scenario, resultsFile
}

func TestReportFormats(t *testing.T) {
	sc, file := reportRecorded(t)
	for _, f := range []string{"table", "md", "csv", "json", "junit", "html"} {
		r := reportCLI(t, progEnv(), "report", file, "--format", f, "--scenario", sc)
		require.Equal(t, ExitOK, r.code, "format %s: %s", f, r.stderr)
		assert.NotEmpty(t, r.stdout, f)
	}
	r := reportCLI(t, progEnv(), "report", "--format", "junit", file, "--scenario", sc)
	var junit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	require.NoError(t, xml.Unmarshal([]byte(r.stdout), &junit))
	assert.Equal(t, 2, junit.Tests, "one test case per verdict")
	assert.Equal(t, 0, junit.Failures)

	// Without verdicts in the file or --scenario: one test case per cell.
	r = reportCLI(t, progEnv(), "report", file, "--format", "junit")
	require.Equal(t, ExitOK, r.code)
	require.NoError(t, xml.Unmarshal([]byte(r.stdout), &junit))
	assert.Equal(t, 2, junit.Tests)

	out := filepath.Join(t.TempDir(), "report.html")
	r = reportCLI(t, progEnv(), "report", file, "--format", "html", "-o", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "wrote html report to "+out)
	page, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(page), `<figure class="chart heatmap">`)
}

func TestReportFailedVerdictExitCode(t *testing.T) {
	_, file := reportRecorded(t)
	sc := filepath.Join(t.TempDir(), "wrong.yaml")
	require.NoError(t, os.WriteFile(sc, []byte(strings.Replace(reportScenario, `failure_rate: "0"`, `failure_rate: ">0"`, 1)), 0o644))
	r := reportCLI(t, progEnv(), "report", file, "--format", "md", "--scenario", sc)
	assert.Equal(t, ExitFail, r.code)
	assert.Contains(t, r.stdout, "1 of 2 expectations failed")
	assert.Contains(t, r.stderr, "1 expectation verdict(s) failed")
}

func TestReportCutOffFile(t *testing.T) {
	_, file := reportRecorded(t)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	// Cut the file in the middle of the last trial line, as a killed run
	// leaves it.
	last := 0
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"type":"trial"`)) {
			last = i
		}
	}
	require.Positive(t, last)
	cut := append(bytes.Join(lines[:last], nil), lines[last][:len(lines[last])/2]...)
	cutFile := filepath.Join(t.TempDir(), "cut.jsonl")
	require.NoError(t, os.WriteFile(cutFile, cut, 0o644))
	full, err := results.ReadFile(file)
	require.NoError(t, err)

	r := reportCLI(t, progEnv(), "report", cutFile, "--format", "json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "cut.jsonl is incomplete: 1 line(s) dropped; rendering what is complete")
	assert.Contains(t, r.stderr, "dropped line "+strconv.Itoa(last+1)+": cut off (no newline)")
	var doc struct {
		Dropped   []string          `json:"dropped"`
		Summaries []results.Summary `json:"summaries"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	require.Len(t, doc.Dropped, 1)
	trials := 0
	for _, s := range doc.Summaries {
		trials += s.Trials
	}
	assert.Equal(t, full.Trials()-1, trials, "every complete trial is rendered, the cut one is not")

	r = reportCLI(t, progEnv(), "report", cutFile, "--format", "md")
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stdout, "**Incomplete results file**: 1 line(s) could not be read")
	r = reportCLI(t, progEnv(), "report", cutFile)
	assert.Contains(t, r.stdout, "incomplete results file: 1 line(s) dropped")
}

func TestReportUsage(t *testing.T) {
	_, file := reportRecorded(t)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"report"}, ExitUsage, "report takes a results file (or several"},
		{[]string{"report", file, "--format", "pdf"}, ExitUsage, `--format: format "pdf": want one of table, html, md, csv, json, junit`},
		{[]string{"report", file, "--scenario", "no-such-scenario"}, ExitUsage, `no built-in scenario "no-such-scenario"`},
		{[]string{"report", filepath.Join(t.TempDir(), "missing.jsonl")}, ExitFail, "no such file"},
		{[]string{"report", file, "--complete"}, ExitUsage, "--complete checks the cells of a scenario: give it with --scenario"},
		{[]string{"report", "-h"}, ExitOK, ""},
	}
	for _, c := range cases {
		r := reportCLI(t, progEnv(), c.args...)
		assert.Equal(t, c.code, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.msg, "%v", c.args)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.jsonl")
	require.NoError(t, os.WriteFile(garbage, []byte("hello\n"), 0o644))
	r := reportCLI(t, progEnv(), "report", garbage)
	assert.Equal(t, ExitFail, r.code)
	assert.Contains(t, r.stderr, "holds no racelab results")
}

// racelab run ends with exactly the text racelab report FILE --format
// table prints for its results file: one run model, one renderer. The
// matrix runs its cells in parallel (start order differs from matrix
// order) and the timing sweep has a race window.
func TestRunTextEqualsReportTable(t *testing.T) {
	for name, src := range map[string]string{
		"matrix": `name: same-matrix
timescale: 0.01
base: {proxy_idle: 10s, trials: 3}
matrix:
  margin: [-9s, 2s]
  retry: ["off", idempotent]
  method: [GET, POST]
expect:
  - {name: the race reproduces, where: {margin: "<0", retry: "off"}, failure_rate: ">0"}
  - {name: the fix removes it, where: {margin: ">0"}, failure_rate: "0"}
`,
		"timing": `name: same-timing
base:
  mode: timing
  proxy_idle: 200ms
  backend_keepalive: 50ms
  sweep: {from: -500us, to: 2ms, step: 500us}
  trials: 12
`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			scenario, file := filepath.Join(dir, name+".yaml"), filepath.Join(dir, name+".jsonl")
			require.NoError(t, os.WriteFile(scenario, []byte(src), 0o644))
			run := reportCLI(t, progEnv(), "run", scenario, "-o", file, "--quiet", "--parallel", "2")
			require.Equal(t, ExitOK, run.code, "racelab run: %s%s", run.stderr, run.stdout)
			report := reportCLI(t, progEnv(), "report", file, "--format", "table")
			require.Equal(t, ExitOK, report.code, report.stderr)
			got := strings.TrimSuffix(run.stdout, "results: "+file+"\n")
			require.NotEqual(t, got, run.stdout, "run ends with the results path")
			assert.Equal(t, report.stdout, got)
			if name == "timing" {
				assert.Contains(t, got, "Race window of")
			} else {
				assert.Contains(t, got, "Expectations:")
			}
		})
	}
}
