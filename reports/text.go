package reports

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/racelab/racelab/results"
)

// Table writes the terminal report, the text `racelab run` ends with: the
// per-cell table (CellTable), the race window of each timing-mode cell
// bin by bin, what changed between proxy versions, the expectations
// grouped (one line each, the failed cells under a failed one), and what
// was dropped from a cut-off results file.
func (r *Report) Table(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if m := r.Run.Manifest; m != nil {
		fmt.Fprintf(bw, "scenario %s, run %s (timescale %g): durations below are the scenario's; they ran %gx as long\n",
			m.Scenario, m.RunID, m.Timescale, m.Timescale)
	}
	if err := CellTable(bw, r.Summaries); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, cw := range r.Windows {
		WindowText(bw, cw)
	}
	configText(bw, ConfigSections(r.Run))
	if tables := ChangeTables(r.Summaries); len(tables) > 0 {
		changes := false
		heading := func() {
			if !changes {
				fmt.Fprintln(bw, "\nWhat changed between versions:")
				changes = true
			}
		}
		for _, t := range tables {
			for _, row := range t.Rows {
				for _, c := range row.Changes {
					heading()
					fmt.Fprintf(bw, "  %s (%s) %s: %s %s -> %s %s\n", t.Kind, row.Params["variant"], t.Setting(row),
						c.From, c.BeforeCounts, c.To, c.AfterCounts)
				}
			}
		}
		// A kind whose versions all behaved alike says so: an upgrade
		// that changes nothing is a finding too.
		for _, t := range tables {
			if t.ChangedRows() == 0 {
				heading()
				fmt.Fprintf(bw, "  %s %s: no change in outcomes (%d settings)\n", t.Kind, strings.Join(t.Versions, " -> "), len(t.Rows))
			}
		}
	}
	if r.HasVerdicts {
		VerdictsText(bw, r.Verdicts)
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintf(bw, "\nincomplete results file: %d line(s) dropped:\n", len(r.Dropped))
		for _, d := range r.Dropped {
			fmt.Fprintf(bw, "  %s\n", d)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// CellTable writes a terminal table of summaries: one row per cell with
// the axis values that differ between cells, the outcome counts, the
// failure rate with its 95% Wilson interval, and the evidence counts.
func CellTable(w io.Writer, sums []results.Summary) error {
	axes := VaryingParams(sums)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	head := []string{"CELL"}
	for _, a := range axes {
		head = append(head, strings.ToUpper(a))
	}
	head = append(head, "TRIALS", "OUTCOMES", "FAIL RATE (95% CI)", "ATTRIB", "HIDDEN RETRY", "DUP EXEC")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, s := range sums {
		row := []string{s.Cell}
		for _, a := range axes {
			row = append(row, s.Params[a])
		}
		if s.Error != "" && s.Trials == 0 {
			row = append(row, "0", "error: "+s.Error, "-", "-", "-", "-")
		} else {
			dup := fmt.Sprint(s.Duplicates)
			if s.DuplicatesUnsafe > 0 {
				dup = fmt.Sprintf("%d (%d unsafe)", s.Duplicates, s.DuplicatesUnsafe)
			}
			row = append(row, fmt.Sprint(s.Trials), results.Counts(s.Counts), results.Rate(s),
				fmt.Sprintf("%d/%d", s.Attributed, s.Failures), fmt.Sprint(s.HiddenRetry), dup)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// WindowText writes a timing-mode cell's race window for a terminal: one
// line per offset bin with its failures, a bar and the 95% interval, then
// the leading edge, plateau, tail and width.
func WindowText(w io.Writer, cw CellWindow) {
	win := cw.Window
	fmt.Fprintf(w, "\nRace window of %s (offset of the request from the backend's idle deadline, measured; %d trials):\n", cw.Cell, win.Trials)
	for _, b := range win.Bins {
		bar := strings.Repeat("#", int(b.Rate*40+0.5))
		fmt.Fprintf(w, "  %+7.2fms .. %+7.2fms  %3d/%-3d %-40s %s\n", float64(b.FromNS)/1e6, float64(b.ToNS)/1e6, b.Failures, b.Trials, bar, pctRange(b.Lo, b.Hi))
	}
	if win.Failures == 0 {
		fmt.Fprintln(w, "  no failure: the race did not bite in this sweep")
		return
	}
	fmt.Fprintf(w, "  leading edge %+.2fms, plateau %+.2fms..%+.2fms (peak %.0f%%), tail %+.2fms: width %.2fms\n",
		float64(win.LeadNS)/1e6, float64(win.PlateauFromNS)/1e6, float64(win.PlateauToNS)/1e6, win.PeakRate*100,
		float64(win.TailNS)/1e6, float64(win.WidthNS)/1e6)
	if m := cw.ModelText(); m != "" {
		fmt.Fprintf(w, "  %s\n", m)
	}
}

func pctRange(lo, hi float64) string {
	return fmt.Sprintf("[%.0f%%, %.0f%%]", lo*100, hi*100)
}

// VaryingParams returns the parameter names whose values differ between
// summaries, sorted; with a single summary, every parameter.
func VaryingParams(sums []results.Summary) []string {
	values := map[string]map[string]bool{}
	for _, s := range sums {
		for k, v := range s.Params {
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][v] = true
		}
	}
	var out []string
	for k, vs := range values {
		if len(sums) == 1 || len(vs) > 1 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// VerdictsText writes the "Expectations:" section: one line per
// expectation, PASS or FAIL with how its cells fared, and the message of
// every failing cell.
func VerdictsText(w io.Writer, vs []results.Verdict) {
	fmt.Fprintln(w, "\nExpectations:")
	for _, g := range GroupVerdicts(vs) {
		mark := "PASS"
		if !g.Pass() {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", mark, g.Expectation, g.cellsText())
		if len(g.Verdicts) > 1 {
			for _, v := range g.Failing() {
				fmt.Fprintf(w, "        %s\n", v.Message)
			}
		}
	}
}
