package results

import (
	"fmt"
	"sort"
	"strings"
)

// Merge joins the results of shards of one scenario (racelab run --shard
// K/N) into one run: cells and records side by side, verdicts concatenated
// (each shard checked the expectations on its own cells). A cell that
// appears in two inputs, or inputs of different scenarios, is an error.
func Merge(names []string, runs []*Run) (*Run, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("merge: no results")
	}
	if len(runs) == 1 {
		return runs[0], nil
	}
	out := NewRun()
	from := map[string]string{}
	var ids []string
	for i, r := range runs {
		name := names[i]
		if r.Manifest != nil {
			if out.Manifest == nil {
				m := *r.Manifest
				out.Manifest = &m
			} else if r.Manifest.Scenario != out.Manifest.Scenario {
				return nil, fmt.Errorf("merge: %s is a run of %s, %s of %s", names[0], out.Manifest.Scenario, name, r.Manifest.Scenario)
			}
			ids = append(ids, r.Manifest.RunID)
		}
		for _, c := range r.Cells {
			if prev, dup := from[c.ID]; dup {
				return nil, fmt.Errorf("merge: cell %s is in both %s and %s", c.ID, prev, name)
			}
			from[c.ID] = name
			out.Cells = append(out.Cells, c)
			out.byID[c.ID] = c
		}
		out.Verdicts = append(out.Verdicts, r.Verdicts...)
		out.HasVerdicts = out.HasVerdicts || r.HasVerdicts
		for _, d := range r.Dropped {
			out.Dropped = append(out.Dropped, name+": "+d)
		}
	}
	sort.SliceStable(out.Cells, func(i, j int) bool { return out.Cells[i].Index < out.Cells[j].Index })
	if out.Manifest != nil {
		out.Manifest.RunID = strings.Join(ids, "+")
	}
	return out, nil
}
