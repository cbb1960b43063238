package reports

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The fixtures are real runs: testdata/matrix.jsonl is matrix.yaml on the
// embedded Go proxy, nginx 1.22.1, HAProxy 2.6.12 and a missing Envoy
// (every Envoy cell errored), with its verdicts line; window.jsonl is
// window.yaml (timing mode) on Go and nginx.
func readFixture(t *testing.T, name string) *results.Run {
	t.Helper()
	run, err := results.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	require.Empty(t, run.Dropped, "fixture %s must read cleanly", name)
	return run
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test ./reports -update")
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from %s (run go test ./reports -update after checking the change):\n%s", name, path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(no line differs)"
}

func render(t *testing.T, r *Report, f Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, r.Write(&buf, f))
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	matrix := New(readFixture(t, "matrix.jsonl"), WithSource("matrix.jsonl"))
	window := New(readFixture(t, "window.jsonl"), WithSource("window.jsonl"))
	noVerdicts := readFixture(t, "matrix.jsonl")
	noVerdicts.Verdicts, noVerdicts.HasVerdicts = nil, false
	cells := New(noVerdicts, WithSource("matrix.jsonl"))
	cases := []struct {
		name string
		rep  *Report
		f    Format
	}{
		{"matrix.md", matrix, Markdown},
		{"matrix.csv", matrix, CSV},
		{"matrix.junit.xml", matrix, JUnit},
		{"matrix-cells.junit.xml", cells, JUnit},
		{"matrix.table", matrix, Table},
		{"window.md", window, Markdown},
		{"window.json", window, JSON},
		{"window.csv", window, CSV},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { golden(t, c.name, render(t, c.rep, c.f)) })
	}
}

func TestFixtureFacts(t *testing.T) {
	// The goldens are only as good as what they render: check the facts
	// they must show against the fixture itself.
	r := New(readFixture(t, "matrix.jsonl"))
	require.Len(t, r.Summaries, 32)
	require.True(t, r.HasVerdicts)
	passed, failed := r.Counts()
	assert.Equal(t, 18, passed)
	assert.Equal(t, 10, failed)
	assert.False(t, r.Passed())

	md := string(render(t, r, Markdown))
	assert.Contains(t, md, "### ❌ racelab: proxy-matrix — 3 of 3 expectations failed (10 of 28 cell verdicts)")
	assert.Contains(t, md, "| `haproxy.2s.off.GET` | ❌ **fail** | failure rate: expected 0, measured 3/3 100% [44%, 100%] |")
	cells, verdicts := strings.Index(md, "\n| cell |"), strings.Index(md, "\n**Expectations**")
	require.True(t, cells >= 0 && verdicts > cells, "the cell table, then the expectations")
	assert.Equal(t, 1+32, strings.Count(md[cells:verdicts], "\n| "), "the table's header and one row per cell")
	assert.Equal(t, 3+28, strings.Count(md[verdicts:], "\n| "), "per expectation a header, and a row per verdict")
	assert.Equal(t, 3, strings.Count(md[verdicts:], "<details open>"), "every expectation failed somewhere")
	assert.NotContains(t, md, "What changed", "no versions, no change table")

	var junit junitSuites
	require.NoError(t, xml.Unmarshal(render(t, r, JUnit), &junit))
	assert.Equal(t, 28, junit.Tests)
	assert.Equal(t, 10, junit.Failures)
	find := func(class, name string) junitCase {
		for _, c := range junit.Suites[0].Cases {
			if c.Name == name && c.ClassName == class {
				return c
			}
		}
		t.Fatalf("no test case %s / %s", class, name)
		return junitCase{}
	}
	// A failure carries the evidence: counts, interval, a sample record's
	// attribution and what the proxy logged (HAProxy logs nothing when it
	// closes a persistent client connection).
	haproxyFix := find("the fix removes it", "haproxy.2s.off.GET")
	require.NotNil(t, haproxyFix.Failure)
	assert.Equal(t, "expectation", haproxyFix.Failure.Type)
	assert.Contains(t, haproxyFix.Failure.Body, "3/3 failed, 100% [44%, 100%] (95% Wilson)")
	assert.Contains(t, haproxyFix.Failure.Body, "attributed to the stale-connection race: backend conn")
	assert.Contains(t, haproxyFix.Failure.Body, "proxy: no evidence line for this request")
	nginxRace := find("the race reproduces when the backend closes first", "nginx.-9s.off.POST")
	assert.Nil(t, nginxRace.Failure)
	assert.Contains(t, nginxRace.SystemOut.Text, "proxy error: \"upstream prematurely closed connection while reading response header from upstream\"")
	assert.Contains(t, nginxRace.SystemOut.Text, "proxy access: status 502")

	noV := readFixture(t, "matrix.jsonl")
	noV.Verdicts, noV.HasVerdicts = nil, false
	require.NoError(t, xml.Unmarshal(render(t, New(noV), JUnit), &junit))
	assert.Equal(t, 32, junit.Tests, "one test case per cell without verdicts")
	assert.Equal(t, 8, junit.Errors, "the eight Envoy cells did not run")
	assert.Equal(t, 0, junit.Failures)
}

func TestCSVOneRowPerCell(t *testing.T) {
	r := New(readFixture(t, "matrix.jsonl"))
	out := render(t, r, CSV)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 33)
	head := strings.Split(lines[0], ",")
	assert.Equal(t, []string{"cell", "proxy", "proxy_idle", "backend_keepalive", "margin", "retry", "method"}, head[:7])
	for _, o := range results.Outcomes {
		assert.Contains(t, head, string(o))
	}
}

func TestJSONDocument(t *testing.T) {
	r := New(readFixture(t, "window.jsonl"))
	var doc JSONReport
	require.NoError(t, json.Unmarshal(render(t, r, JSON), &doc))
	require.Len(t, doc.Windows, 2)
	assert.Equal(t, "go", doc.Windows[0].Cell)
	assert.Equal(t, 2, doc.Passed)
	assert.NotNil(t, doc.Dropped)
	for _, w := range doc.Windows {
		assert.Positive(t, w.Window.Failures)
		require.NotNil(t, w.SweepFromNS)
		assert.Equal(t, int64(-500_000), *w.SweepFromNS)
		assert.Equal(t, int64(3_000_000), *w.SweepToNS)
	}
}

// cutOff returns the fixture cut in the middle of line n (1-based), as an
// interrupted run leaves it.
func cutOff(t *testing.T, name string, n int) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	require.Greater(t, len(lines), n)
	out := bytes.Join(lines[:n-1], nil)
	return append(out, lines[n-1][:len(lines[n-1])/2]...)
}

func TestCutOffRunRendersWhatIsComplete(t *testing.T) {
	data := cutOff(t, "matrix.jsonl", 14)
	run, err := results.Read(bytes.NewReader(data))
	require.NoError(t, err)
	require.Len(t, run.Dropped, 1)
	assert.Contains(t, run.Dropped[0], "line 14: cut off (no newline)")
	r := New(run)
	assert.False(t, r.HasVerdicts, "the verdicts line was never written")

	md := string(render(t, r, Markdown))
	assert.Contains(t, md, "**Incomplete results file**: 1 line(s) could not be read")
	assert.Contains(t, md, "line 14: cut off")
	golden(t, "cutoff.md", []byte(md))

	var junit junitSuites
	require.NoError(t, xml.Unmarshal(render(t, r, JUnit), &junit))
	assert.Contains(t, junit.Suites[0].SystemErr.Text, "line 14: cut off")
	assert.Positive(t, junit.Skipped, "cells that had not run yet are skipped")

	html := string(render(t, r, HTML))
	assert.Contains(t, html, `id="dropped"`)
	assert.Contains(t, html, "line 14: cut off")

	table := string(render(t, r, Table))
	assert.Contains(t, table, "incomplete results file: 1 line(s) dropped")
}

func TestVerdictsLineRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := results.NewWriter(&buf)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, w.Write(results.Manifest{Type: results.TypeManifest, RunID: "r", Scenario: "s", Started: ts}))
	require.NoError(t, w.Write(results.Cell{Type: results.TypeCell, ID: "a", Params: map[string]string{"retry": "off"}}))
	vs := []results.Verdict{{Expectation: "e", Cell: "a", Pass: false, Message: "cell a: failure rate: expected 0, measured 1/1"}}
	require.NoError(t, w.Write(results.NewVerdictsLine(vs)))
	run, err := results.Read(&buf)
	require.NoError(t, err)
	require.Empty(t, run.Dropped)
	assert.True(t, run.HasVerdicts)
	assert.Equal(t, []results.Verdict{{Expectation: "e", Cell: "a", Message: "cell a: failure rate: expected 0, measured 1/1"}}, run.Verdicts)
	r := New(run)
	assert.False(t, r.Passed())

	// A run without expectations records an empty verdicts line: no
	// verdicts to show, and no failure.
	buf.Reset()
	require.NoError(t, w.Write(results.NewVerdictsLine(nil)))
	run, err = results.Read(&buf)
	require.NoError(t, err)
	assert.True(t, run.HasVerdicts)
	assert.Empty(t, run.Verdicts)
	assert.False(t, New(run).HasVerdicts)

	// Several verdicts lines: the last one counts.
	buf.Reset()
	require.NoError(t, w.Write(results.NewVerdictsLine(vs)))
	require.NoError(t, w.Write(results.NewVerdictsLine([]results.Verdict{{Expectation: "e", Cell: "a", Pass: true, Message: "ok"}})))
	run, err = results.Read(&buf)
	require.NoError(t, err)
	require.Len(t, run.Verdicts, 1)
	assert.True(t, run.Verdicts[0].Pass)
}

func TestWithExpectationsReplacesRecordedVerdicts(t *testing.T) {
	run := readFixture(t, "matrix.jsonl")
	sc, err := scenarios.LoadFile(filepath.Join("testdata", "matrix.yaml"))
	require.NoError(t, err)
	sc.Expect = sc.Expect[:1] // only "the race reproduces when the backend closes first"
	r := New(run, WithExpectations(sc.Expect))
	require.True(t, r.HasVerdicts)
	for _, v := range r.Verdicts {
		assert.Equal(t, "the race reproduces when the backend closes first", v.Expectation)
	}
	passed, failed := r.Counts()
	assert.Equal(t, 6, passed)
	assert.Equal(t, 2, failed, "the two Envoy cells did not run")

	r = New(run, WithVerdicts([]results.Verdict{{Expectation: "x", Cell: "go.-9s.off.GET", Pass: true, Message: "ok"}}))
	assert.Len(t, r.Verdicts, 1)
	assert.True(t, r.Passed())
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"html": HTML, "md": Markdown, "markdown": Markdown, "CSV": CSV,
		"json": JSON, "junit": JUnit, "xml": JUnit, "table": Table} {
		got, err := ParseFormat(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseFormat("pdf")
	assert.EqualError(t, err, `format "pdf": want one of table, html, md, csv, json, junit`)
	assert.Error(t, New(nil).Write(&bytes.Buffer{}, Format("pdf")))
}

func TestEmptyRun(t *testing.T) {
	// A file with nothing readable still renders, in every format.
	run := results.NewRun()
	run.Dropped = []string{"line 1: not JSON: invalid character 'h' looking for beginning of value"}
	r := New(run)
	for _, f := range Formats() {
		out := render(t, r, f)
		if f != CSV {
			assert.Contains(t, string(out), "line 1: not JSON", "format %s", f)
		}
	}
}
