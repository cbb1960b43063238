package reports

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/racelab/racelab/results"
)

// Markdown writes a summary for a pull-request comment: a headline with
// the verdict counts, the run manifest, failed expectations in full and
// passed ones folded, the per-cell table, the race windows, and what was
// dropped from a cut-off results file.
func (r *Report) Markdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	name := r.Scenario()
	if name == "" {
		name = "(no manifest)"
	}
	passed, failed := r.Counts()
	switch {
	case !r.HasVerdicts:
		fmt.Fprintf(bw, "### racelab: %s\n\n", mdText(name))
	case failed == 0:
		fmt.Fprintf(bw, "### ✅ racelab: %s — all %d expectations passed\n\n", mdText(name), passed)
	default:
		fmt.Fprintf(bw, "### ❌ racelab: %s — %d of %d expectations failed\n\n", mdText(name), failed, passed+failed)
	}
	if m := r.Run.Manifest; m != nil {
		fmt.Fprintf(bw, "Run `%s` · started %s · racelab %s · %s %s · seed %d · timescale %g\n",
			m.RunID, m.Started.UTC().Format("2006-01-02 15:04:05Z"), mdText(m.Racelab), m.GoVersion, m.OS, m.Seed, m.Timescale)
	} else {
		fmt.Fprintln(bw, "The results file has no manifest line.")
	}
	if ps := r.Proxies(); len(ps) > 0 {
		fmt.Fprintf(bw, "\nProxies: %s\n", mdText(strings.Join(ps, "; ")))
	}
	if len(r.Dropped) > 0 {
		fmt.Fprintf(bw, "\n> ⚠️ **Incomplete results file**: %d line(s) could not be read and were dropped; the tables show what was complete.\n", len(r.Dropped))
		for _, d := range r.Dropped {
			fmt.Fprintf(bw, "> - %s\n", mdText(d))
		}
	}
	if r.HasVerdicts {
		r.mdVerdicts(bw, failed, passed)
	}
	r.mdCells(bw)
	r.mdWindows(bw)
	return bw.Flush()
}

func (r *Report) mdVerdicts(w io.Writer, failed, passed int) {
	if failed > 0 {
		fmt.Fprintf(w, "\n**Failed expectations**\n\n")
		for _, v := range r.Verdicts {
			if !v.Pass {
				fmt.Fprintf(w, "- ❌ **%s** — %s\n", mdText(v.Expectation), mdText(v.Message))
			}
		}
	}
	if passed > 0 {
		fmt.Fprintf(w, "\n<details><summary>Passed expectations (%d)</summary>\n\n", passed)
		for _, v := range r.Verdicts {
			if v.Pass {
				fmt.Fprintf(w, "- ✅ **%s** — %s\n", mdText(v.Expectation), mdText(v.Message))
			}
		}
		fmt.Fprintf(w, "\n</details>\n")
	}
}

func (r *Report) mdCells(w io.Writer) {
	if len(r.Summaries) == 0 {
		fmt.Fprintf(w, "\nNo cells recorded.\n")
		return
	}
	axes := SortParams(results.VaryingParams(r.Summaries))
	fmt.Fprintf(w, "\n| cell |")
	for _, a := range axes {
		fmt.Fprintf(w, " %s |", mdCell(a))
	}
	fmt.Fprintf(w, " trials | failure rate (95%% CI) | outcomes | attributed | hidden retries | duplicate executions |\n|---|")
	for range axes {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w, "--:|---|---|--:|--:|--:|")
	for _, s := range r.Summaries {
		fmt.Fprintf(w, "| `%s` |", strings.ReplaceAll(s.Cell, "`", "'"))
		for _, a := range axes {
			fmt.Fprintf(w, " %s |", mdCell(s.Params[a]))
		}
		rate, outcomes := results.Rate(s), results.Counts(s.Counts)
		if s.Error != "" {
			outcomes += " — error: " + s.Error
		}
		dup := fmt.Sprint(s.Duplicates)
		if s.DuplicatesUnsafe > 0 {
			dup = fmt.Sprintf("%d (%d non-idempotent)", s.Duplicates, s.DuplicatesUnsafe)
		}
		fmt.Fprintf(w, " %d | %s | %s | %d/%d | %d | %s |\n", s.Trials, mdCell(rate), mdCell(outcomes),
			s.Attributed, s.Failures, s.HiddenRetry, dup)
	}
	var notes []string
	for _, s := range r.Summaries {
		if s.Note != "" {
			notes = append(notes, fmt.Sprintf("- `%s`: %s", s.Cell, mdText(s.Note)))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n%s\n", strings.Join(notes, "\n"))
	}
}

func (r *Report) mdWindows(w io.Writer) {
	if len(r.Windows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**Race window** (timing mode: failure rate against the request's offset from the backend's idle deadline)\n\n")
	fmt.Fprintln(w, "| cell | trials | failures | earliest failure | latest failure | width | plateau (≥ half the peak) | peak bin rate |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|---|--:|")
	for _, cw := range r.Windows {
		win := cw.Window
		if win.Failures == 0 {
			fmt.Fprintf(w, "| `%s` | %d | 0 | – | – | – | – | 0%% |\n", cw.Cell, win.Trials)
			continue
		}
		fmt.Fprintf(w, "| `%s` | %d | %d | %s | %s | %s | %s … %s | %s |\n", cw.Cell, win.Trials, win.Failures,
			FormatOffset(win.LeadNS), FormatOffset(win.TailNS), FormatNS(win.WidthNS),
			FormatOffset(win.PlateauFromNS), FormatOffset(win.PlateauToNS), Percent(win.PeakRate))
	}
}

// mdText escapes text for Markdown prose, list items and table cells:
// what could start code, emphasis or HTML, or end a cell. Underscores
// inside words and brackets without a link target render as text.
func mdText(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "*", "\\*", "`", "\\`", "<", "&lt;", "|", "\\|", "\n", " ")
	return r.Replace(s)
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	if s == "" {
		return "–"
	}
	return mdText(s)
}
