package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/racelab/racelab/reports"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

func runReport(_ context.Context, e *env, args []string) int {
	names := make([]string, 0, len(reports.Formats()))
	for _, f := range reports.Formats() {
		names = append(names, string(f))
	}
	fs := newFlags(e, "report", "report [flags] RESULTS.jsonl [MORE.jsonl...]", `  racelab report out.jsonl                              # terminal table
  racelab report shard1.jsonl shard2.jsonl --format junit -o junit.xml  # shards of one run, merged
  racelab report out.jsonl --format html -o report.html # self-contained HTML with charts
  racelab report out.jsonl --format md                  # Markdown for a pull-request comment
  racelab report out.jsonl --format junit -o junit.xml --scenario six-step
  racelab report out.jsonl --format csv -o cells.csv
  racelab report shards/*.jsonl --scenario matrix.yaml --complete --format junit -o junit.xml
                                     # CI's merge step: every cell there, every expectation met

A results file cut off mid-line (an interrupted run) renders what is
complete; the dropped lines are listed on stderr and in the report.
Exit codes: 0 rendered (every verdict passed), 1 a verdict failed, the
file cannot be read, or (--complete) a cell is missing or did not run to
the end; 2 usage error. The report is written in every case it can be.
`)
	format := fs.String("format", string(reports.Table), "output format: "+strings.Join(names, ", "))
	out := fs.String("o", "", "write the report to this file instead of stdout")
	scenario := fs.String("scenario", "", "evaluate this scenario's expectations (a file or a built-in name) instead of the verdicts recorded in the results file")
	complete := fs.Bool("complete", false, "with --scenario: also fail (exit 1) unless the results hold every cell of the scenario, each run to the end (for merged shards: a lost shard or a cell that could not run fails the check)")
	pos, code, ok := parseInterleaved(e, fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		e.errorf("report takes a results file (or several: the shards of one run, merged)")
		return ExitUsage
	}
	f, err := reports.ParseFormat(*format)
	if err != nil {
		e.errorf("--format: %v", err)
		return ExitUsage
	}
	if *complete && *scenario == "" {
		e.errorf("--complete checks the cells of a scenario: give it with --scenario")
		return ExitUsage
	}
	var opts []reports.Option
	var sc *scenarios.Scenario
	if *scenario != "" {
		if sc, err = scenarios.Resolve(*scenario); err != nil {
			fmt.Fprintln(e.stderr, err)
			return ExitUsage
		}
		opts = append(opts, reports.WithExpectations(sc.Expect))
	}
	var runs []*results.Run
	for _, p := range pos {
		r, err := results.ReadFile(p)
		if err != nil {
			e.errorf("report: %v", err)
			return ExitFail
		}
		if len(r.Dropped) > 0 {
			e.errorf("%s is incomplete: %d line(s) dropped; rendering what is complete", p, len(r.Dropped))
			for _, d := range r.Dropped {
				fmt.Fprintf(e.stderr, "  dropped %s\n", d)
			}
		}
		runs = append(runs, r)
	}
	run, err := results.Merge(pos, runs)
	if err != nil {
		e.errorf("report: %v", err)
		return ExitFail
	}
	path := strings.Join(pos, ", ")
	if run.Manifest == nil && len(run.Cells) == 0 {
		e.errorf("report: %s holds no racelab results (no manifest, cell or trial line)", path)
		return ExitFail
	}
	if sc != nil && run.Manifest != nil && run.Manifest.Scenario != sc.Name {
		e.errorf("note: evaluating scenario %s's expectations on a run of %s", sc.Name, run.Manifest.Scenario)
	}
	rep := reports.New(run, append([]reports.Option{reports.WithSource(sourceName(pos))}, opts...)...)
	if err := writeReport(e.stdout, *out, rep, f); err != nil {
		e.errorf("report: %v", err)
		return ExitFail
	}
	if *out != "" {
		fmt.Fprintf(e.stderr, "racelab: wrote %s report to %s\n", f, *out)
	}
	code = ExitOK
	if *complete {
		cells, err := sc.Cells()
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			return ExitUsage
		}
		if gaps := incomplete(cells, rep.Summaries); len(gaps) > 0 {
			e.errorf("%s: %d problem(s) with the cells of scenario %s:", path, len(gaps), sc.Name)
			for _, g := range gaps {
				fmt.Fprintf(e.stderr, "  %s\n", g)
			}
			code = ExitFail
		}
	}
	if !rep.Passed() {
		_, failed := rep.Counts()
		e.errorf("%d expectation verdict(s) failed", failed)
		code = ExitFail
	}
	return code
}

// incomplete lists what keeps results from being a whole run of a
// scenario's cells: a cell missing (a shard's file lost or cut short), a
// cell that did not run to the end or recorded no trial, and a cell the
// scenario does not have (another scenario's file among the inputs).
func incomplete(cells []scenarios.Cell, sums []results.Summary) []string {
	got := make(map[string]results.Summary, len(sums))
	for _, s := range sums {
		got[s.Cell] = s
	}
	want := make(map[string]bool, len(cells))
	var out []string
	for _, c := range cells {
		want[c.ID] = true
		s, ok := got[c.ID]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("cell %s (index %d) is not in the results", c.ID, c.Index))
		case s.Error != "":
			out = append(out, fmt.Sprintf("cell %s did not run to the end: %s", c.ID, s.Error))
		case s.Trials == 0:
			out = append(out, fmt.Sprintf("cell %s recorded no trial", c.ID))
		}
	}
	for _, s := range sums {
		if !want[s.Cell] {
			out = append(out, fmt.Sprintf("cell %s is not a cell of the scenario", s.Cell))
		}
	}
	return out
}

// writeReport renders rep to path, or to stdout when path is empty. A
// file that could not be written completely is removed.
func writeReport(stdout io.Writer, path string, rep *reports.Report, f reports.Format) error {
	if path == "" {
		return rep.Write(stdout, f)
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create report file: %w", err)
	}
	err = rep.Write(file, f)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(err, os.Remove(path))
	}
	return nil
}

func sourceName(paths []string) string {
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return strings.Join(names, " + ")
}
