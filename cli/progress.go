package cli

import (
	"fmt"
	"io"
	"sync"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/results"
)

// progressPrinter prints a plain line per finished cell.
func progressPrinter(w io.Writer, quiet bool) func(lab.Progress) {
	if quiet {
		return nil
	}
	var mu sync.Mutex
	done := 0
	return func(p lab.Progress) {
		if p.Done == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done++
		fails := 0
		counts := map[results.Outcome]int{}
		for _, r := range p.Done.Records {
			counts[r.Outcome]++
			if r.Outcome.Failed() {
				fails++
			}
		}
		status := fmt.Sprintf("%d trials, %d failed (%s)", len(p.Done.Records), fails, results.Counts(counts))
		if p.Done.Err != nil {
			status += "; error: " + p.Done.Err.Error()
		}
		fmt.Fprintf(w, "[%d/%d] %s: %s\n", done, p.Total, p.Cell.ID, status)
	}
}
