package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/racelab/racelab/results"
)

// CSV writes one row per cell: the cell id, every parameter (one column
// each, the union over cells in display order), the proxy facts, the
// trial count, one column per outcome class, and the failure rate with
// its 95% Wilson interval and the evidence counts.
func (r *Report) CSV(w io.Writer) error {
	params := map[string]bool{}
	for _, s := range r.Summaries {
		for k := range s.Params {
			params[k] = true
		}
	}
	var names []string
	for k := range params {
		names = append(names, k)
	}
	names = SortParams(names)
	cw := csv.NewWriter(w)
	head := append([]string{"cell"}, names...)
	head = append(head, "proxy_kind", "proxy_version", "proxy_runtime", "trials")
	for _, o := range results.Outcomes {
		head = append(head, string(o))
	}
	head = append(head, "failures", "failure_rate", "ci_low", "ci_high", "attributed", "unattributed",
		"hidden_retries", "duplicates", "duplicates_unsafe", "error", "note")
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, s := range r.Summaries {
		row := []string{s.Cell}
		for _, k := range names {
			row = append(row, s.Params[k])
		}
		row = append(row, s.Proxy["kind"], s.Proxy["version"], s.Proxy["runtime"], strconv.Itoa(s.Trials))
		for _, o := range results.Outcomes {
			row = append(row, strconv.Itoa(s.Counts[o]))
		}
		row = append(row, strconv.Itoa(s.Failures), ratio(s.FailureRate), ratio(s.CILow), ratio(s.CIHigh),
			strconv.Itoa(s.Attributed), strconv.Itoa(s.Unattributed), strconv.Itoa(s.HiddenRetry),
			strconv.Itoa(s.Duplicates), strconv.Itoa(s.DuplicatesUnsafe), s.Error, s.Note)
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

func ratio(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }

// JSONReport is the document JSON writes.
type JSONReport struct {
	Manifest *results.Manifest `json:"manifest"`
	Source   string            `json:"source,omitempty"`
	// Dropped lists the lines of the results file that could not be read.
	Dropped   []string          `json:"dropped"`
	Summaries []results.Summary `json:"summaries"`
	// Verdicts are the expectation verdicts; Passed and Failed count them.
	Verdicts []results.Verdict `json:"verdicts"`
	Passed   int               `json:"passed"`
	Failed   int               `json:"failed"`
	// Windows are the race windows of the timing-mode cells.
	Windows []CellWindow `json:"windows"`
}

// JSON writes the summaries, verdicts and race windows as one indented
// JSON document (JSONReport).
func (r *Report) JSON(w io.Writer) error {
	doc := JSONReport{
		Manifest: r.Run.Manifest, Source: r.Source, Dropped: r.Dropped, Summaries: r.Summaries,
		Verdicts: r.Verdicts, Windows: r.Windows,
	}
	doc.Passed, doc.Failed = r.Counts()
	if doc.Dropped == nil {
		doc.Dropped = []string{}
	}
	if doc.Summaries == nil {
		doc.Summaries = []results.Summary{}
	}
	if doc.Verdicts == nil {
		doc.Verdicts = []results.Verdict{}
	}
	if doc.Windows == nil {
		doc.Windows = []CellWindow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// Table writes the terminal table (results.Table), then the verdicts, the
// race windows and what was dropped.
func (r *Report) Table(w io.Writer) error {
	if m := r.Run.Manifest; m != nil {
		fmt.Fprintf(w, "scenario %s, run %s (timescale %g): durations are the scenario's; they ran %gx as long\n",
			m.Scenario, m.RunID, m.Timescale, m.Timescale)
	}
	if err := results.Table(w, r.Summaries); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, cw := range r.Windows {
		win := cw.Window
		if win.Failures == 0 {
			fmt.Fprintf(w, "\nrace window %s: no failures in %d trials\n", cw.Cell, win.Trials)
			continue
		}
		fmt.Fprintf(w, "\nrace window %s: %d/%d failed, from %s to %s (width %s), plateau %s … %s, peak bin %s\n",
			cw.Cell, win.Failures, win.Trials, FormatOffset(win.LeadNS), FormatOffset(win.TailNS), FormatNS(win.WidthNS),
			FormatOffset(win.PlateauFromNS), FormatOffset(win.PlateauToNS), Percent(win.PeakRate))
	}
	if r.HasVerdicts {
		fmt.Fprintln(w, "\nExpectations:")
		for _, v := range r.Verdicts {
			mark := "PASS"
			if !v.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(w, "  %s  %s: %s\n", mark, v.Expectation, v.Message)
		}
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintf(w, "\nincomplete results file: %d line(s) dropped:\n", len(r.Dropped))
		for _, d := range r.Dropped {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	return nil
}
