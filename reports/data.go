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
