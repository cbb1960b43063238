package reports

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/racelab/racelab/results"
)

// Markdown writes a summary for a pull-request comment: a headline with
// the expectation counts; when the run spans proxy versions, one sentence
// and the change tables (what each upgrade changed) before anything else;
// the run manifest, the per-cell table, the expectations grouped (one
// collapsible block each, with a table of its cells), the race windows,
// and what was dropped from a cut-off results file.
func (r *Report) Markdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	name := r.Scenario()
	if name == "" {
		name = "(no manifest)"
	}
	groups := r.Groups()
	failedGroups := 0
	for _, g := range groups {
		if !g.Pass() {
			failedGroups++
		}
	}
	passed, failed := r.Counts()
	cellVerdicts, cellsPassed := "", ""
	if passed+failed != len(groups) {
		cellVerdicts = fmt.Sprintf(" (%d of %d cell verdicts)", failed, passed+failed)
		cellsPassed = fmt.Sprintf(" (%d cell verdicts)", passed)
	}
	switch {
	case !r.HasVerdicts:
		fmt.Fprintf(bw, "### racelab: %s\n\n", mdText(name))
	case failed == 0:
		fmt.Fprintf(bw, "### ✅ racelab: %s — %s passed%s\n\n", mdText(name), allOf(len(groups), "expectation"), cellsPassed)
	default:
		fmt.Fprintf(bw, "### ❌ racelab: %s — %d of %s failed%s\n\n", mdText(name), failedGroups, count(len(groups), "expectation"), cellVerdicts)
	}
	if tables := ChangeTables(r.Summaries); len(tables) > 0 {
		fmt.Fprintf(bw, "%s\n", mdText(changeSentence(tables, r.Summaries)))
		mdChanges(bw, tables)
		fmt.Fprintln(bw)
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
	r.mdCells(bw)
	if r.HasVerdicts {
		mdVerdicts(bw, groups, failedGroups)
	}
	r.mdWindows(bw)
	r.mdWire(bw)
	configMarkdown(bw, ConfigSections(r.Run))
	return bw.Flush()
}

// mdChanges writes one table per proxy kind: a row per setting, a column
// per version, changed rows marked and the cells that changed in bold.
func mdChanges(w io.Writer, tables []ChangeTable) {
	for _, t := range tables {
		fmt.Fprintf(w, "\n| **%s** |", mdText(t.Kind))
		for _, a := range t.Axes {
			fmt.Fprintf(w, " %s |", mdCell(a))
		}
		for i := range t.Versions {
			fmt.Fprintf(w, " %s |", mdCell(t.VersionLabel(i)))
		}
		fmt.Fprint(w, "\n|---|")
		for range t.Axes {
			fmt.Fprint(w, "---|")
		}
		for range t.Versions {
			fmt.Fprint(w, "---|")
		}
		fmt.Fprintln(w)
		for _, row := range t.Rows {
			mark := ""
			if row.Changed {
				mark = "⚠️ **changed**"
			}
			fmt.Fprintf(w, "| %s |", mark)
			for _, a := range t.Axes {
				fmt.Fprintf(w, " %s |", mdCell(row.Params[a]))
			}
			for _, c := range row.Cells {
				if c.Differs {
					fmt.Fprintf(w, " **%s** |", mdText(c.Text))
				} else {
					fmt.Fprintf(w, " %s |", mdCell(c.Text))
				}
			}
			fmt.Fprintln(w)
		}
	}
	for _, t := range tables {
		if c := t.CommonText(); c != "" {
			fmt.Fprintf(w, "\n%s, every row: %s", mdText(t.Kind), mdText(c))
		}
	}
	fmt.Fprintln(w)
}

// mdVerdicts writes one collapsible block per expectation: PASS or FAIL
// and how many cells passed, then a table of its cells (failed blocks
// open).
func mdVerdicts(w io.Writer, groups []VerdictGroup, failed int) {
	fmt.Fprintf(w, "\n**Expectations**: %d of %s passed\n", len(groups)-failed, count(len(groups), "expectation"))
	for _, g := range groups {
		mark, open := "✅ PASS", ""
		if !g.Pass() {
			mark, open = "❌ FAIL", " open"
		}
		if len(g.Verdicts) == 1 {
			fmt.Fprintf(w, "\n%s **%s** — %s\n", mark, mdText(g.Expectation), mdText(g.cellsText()))
			continue
		}
		fmt.Fprintf(w, "\n<details%s><summary>%s <b>%s</b> — %s</summary>\n\n", open, mark,
			html.EscapeString(g.Expectation), html.EscapeString(g.cellsText()))
		fmt.Fprintln(w, "| cell | verdict | measured |")
		fmt.Fprintln(w, "|---|---|---|")
		for _, v := range g.Ordered() {
			cell, verdict := "–", "✅ pass"
			if v.Cell != "" {
				cell = "`" + strings.ReplaceAll(v.Cell, "`", "'") + "`"
			}
			if !v.Pass {
				verdict = "❌ **fail**"
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", cell, verdict, mdCell(verdictDetail(v)))
		}
		fmt.Fprintln(w, "\n</details>")
	}
}

// verdictDetail is a verdict's message without the "cell ID: " it starts
// with, for a table that names the cell in its own column.
func verdictDetail(v results.Verdict) string {
	if v.Cell != "" {
		if rest, ok := strings.CutPrefix(v.Message, "cell "+v.Cell+": "); ok {
			return rest
		}
	}
	return v.Message
}

func (r *Report) mdCells(w io.Writer) {
	if len(r.Summaries) == 0 {
		fmt.Fprintf(w, "\nNo cells recorded.\n")
		return
	}
	axes := SortParams(VaryingParams(r.Summaries))
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
