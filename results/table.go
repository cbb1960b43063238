package results

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Table writes a terminal table of summaries: one row per cell with the
// axis values that differ between cells, the outcome counts, the failure
// rate with its 95% Wilson interval, and the evidence counts.
func Table(w io.Writer, sums []Summary) error {
	axes := VaryingParams(sums)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	head := append([]string{"CELL"}, upper(axes)...)
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
			row = append(row, fmt.Sprint(s.Trials), Counts(s.Counts), Rate(s),
				fmt.Sprintf("%d/%d", s.Attributed, s.Failures), fmt.Sprint(s.HiddenRetry), dup)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// Rate formats a cell's failure rate with its interval.
func Rate(s Summary) string {
	return fmt.Sprintf("%d/%d %s [%s, %s]", s.Failures, s.Trials, Percent(s.FailureRate), Percent(s.CILow), Percent(s.CIHigh))
}

// Percent formats a rate compactly: "0%", "9.5%", "72%", "100%".
func Percent(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f == 1:
		return "100%"
	case f < 0.1:
		return fmt.Sprintf("%.1f%%", f*100)
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

// Counts formats the non-zero outcome counts in report order.
func Counts(c map[Outcome]int) string {
	var parts []string
	for _, o := range Outcomes {
		if c[o] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", o, c[o]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// VaryingParams returns the parameter names whose values differ between
// summaries, sorted; with a single summary, every parameter.
func VaryingParams(sums []Summary) []string {
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

func upper(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToUpper(s)
	}
	return out
}
