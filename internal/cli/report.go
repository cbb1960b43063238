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

A results file cut off mid-line (an interrupted run) renders what is
complete; the dropped lines are listed on stderr and in the report.
Exit codes: 0 rendered (every verdict passed), 1 a verdict failed or the
file cannot be read, 2 usage error.
`)
	format := fs.String("format", string(reports.Table), "output format: "+strings.Join(names, ", "))
	out := fs.String("o", "", "write the report to this file instead of stdout")
	scenario := fs.String("scenario", "", "evaluate this scenario's expectations (a file or a built-in name) instead of the verdicts recorded in the results file")
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
	if !rep.Passed() {
		_, failed := rep.Counts()
		e.errorf("%d expectation verdict(s) failed", failed)
		return ExitFail
	}
	return ExitOK
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
