package results

import (
	"fmt"
	"strings"
)

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
