package reports

import (
	"fmt"

	"github.com/racelab/racelab/results"
)

// VerdictGroup is one expectation with its verdicts, one per cell it
// matched (a single verdict with an empty cell when it matched none).
type VerdictGroup struct {
	Expectation string
	Verdicts    []results.Verdict
	Passed      int
	Failed      int
}

// Pass reports whether every verdict of the expectation passed.
func (g VerdictGroup) Pass() bool { return g.Failed == 0 }

// Failing returns the verdicts that failed, in order.
func (g VerdictGroup) Failing() []results.Verdict {
	var out []results.Verdict
	for _, v := range g.Verdicts {
		if !v.Pass {
			out = append(out, v)
		}
	}
	return out
}

// Ordered returns the verdicts failed first, each part in its original
// order: the order the report tables list them in.
func (g VerdictGroup) Ordered() []results.Verdict {
	out := g.Failing()
	for _, v := range g.Verdicts {
		if v.Pass {
			out = append(out, v)
		}
	}
	return out
}

// GroupVerdicts groups verdicts by expectation, in the order each
// expectation first appears.
func GroupVerdicts(vs []results.Verdict) []VerdictGroup {
	var out []VerdictGroup
	index := map[string]int{}
	for _, v := range vs {
		i, ok := index[v.Expectation]
		if !ok {
			i = len(out)
			index[v.Expectation] = i
			out = append(out, VerdictGroup{Expectation: v.Expectation})
		}
		g := &out[i]
		g.Verdicts = append(g.Verdicts, v)
		if v.Pass {
			g.Passed++
		} else {
			g.Failed++
		}
	}
	return out
}

// Groups returns the report's verdicts grouped by expectation.
func (r *Report) Groups() []VerdictGroup { return GroupVerdicts(r.Verdicts) }

// cellsText says how an expectation fared over its cells: "3/3 cells
// passed", "2 of 8 cells failed", or the message of a single verdict.
func (g VerdictGroup) cellsText() string {
	if len(g.Verdicts) == 1 {
		return g.Verdicts[0].Message
	}
	if g.Failed == 0 {
		return fmt.Sprintf("%d/%d cells passed", g.Passed, len(g.Verdicts))
	}
	return fmt.Sprintf("%d of %d cells failed", g.Failed, len(g.Verdicts))
}

// count formats n things: "1 expectation", "3 expectations".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// allOf formats every one of n things: "1 expectation", "all 3
// expectations".
func allOf(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("all %d %ss", n, thing)
}
