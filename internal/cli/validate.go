package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/racelab/racelab/scenarios"
)

// maxEstimate caps the time estimate validate prints: past it the number
// means nothing (and a time.Duration sum would overflow).
const maxEstimate = 10000 * time.Hour

func runValidate(_ context.Context, e *env, args []string) int {
	fs := newFlagsAbout(e, "validate", "validate FILE...",
		"Decodes and checks scenario files (or built-in names) and reports every\nproblem at once, decoding and semantic alike, each with file:line:col.",
		"  racelab validate scenario.yaml other.yaml\n  racelab validate six-step\n")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		e.errorf("validate needs at least one scenario file")
		return ExitUsage
	}
	code := ExitOK
	for _, path := range fs.Args() {
		sc, err := scenarios.Resolve(path)
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			code = ExitUsage
			continue
		}
		cells, err := sc.Cells()
		if err != nil {
			fmt.Fprintln(e.stderr, err)
			code = ExitUsage
			continue
		}
		fmt.Fprintf(e.stdout, "%s: ok: scenario %s, %d cells, %s of trials (one cell at a time)\n",
			path, sc.Name, len(cells), describeEstimate(cells))
	}
	return code
}

// estimate is the time the cells' trials take one cell at a time, from
// Cell.TrialBudget; over reports a sum past maxEstimate (est is then
// maxEstimate).
func estimate(cells []scenarios.Cell) (est time.Duration, over bool) {
	var sum float64 // nanoseconds: a product of two large numbers fits
	for i := range cells {
		sum += float64(cells[i].Trials) * float64(cells[i].TrialBudget())
		if sum > float64(maxEstimate) {
			return maxEstimate, true
		}
	}
	return time.Duration(sum), false
}

func describeEstimate(cells []scenarios.Cell) string {
	est, over := estimate(cells)
	if over {
		return "more than " + scenarios.FormatDuration(maxEstimate)
	}
	return "about " + est.Round(100*time.Millisecond).String()
}
