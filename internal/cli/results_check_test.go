package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/racelab/racelab/results"
)

// checkResultsAndPIDs checks that every line of a results file parses and
// that every proxy process it records is gone.
func checkResultsAndPIDs(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines, trials, pids := 0, 0, 0
	for sc.Scan() {
		lines++
		var v struct {
			Type  string          `json:"type"`
			Proxy json.RawMessage `json:"proxy"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d does not parse: %v: %s", lines, err, sc.Text())
		}
		if v.Type == "trial" {
			trials++
		}
		var info map[string]string
		if v.Type == "cell_end" {
			if err := json.Unmarshal(v.Proxy, &info); err != nil {
				t.Fatalf("line %d: proxy facts: %v", lines, err)
			}
		}
		if info["pid"] != "" {
			pid, err := strconv.Atoi(info["pid"])
			if err != nil {
				t.Fatal(err)
			}
			pids++
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("proxy pid %d still exists after the run (kill 0: %v)", pid, err)
			}
		}
	}
	if trials < 5 || pids == 0 {
		t.Fatalf("results: %d lines, %d trials, %d proxy pids", lines, trials, pids)
	}
}

// unattributed describes the failed trials of a results file that carry
// no attribution, with the lab's own reason, for a test's failure message.
func unattributed(t *testing.T, path string) string {
	t.Helper()
	run, err := results.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, c := range run.Cells {
		for _, r := range c.Records() {
			if r.Outcome.Failed() && !r.Attributed {
				fmt.Fprintf(&b, "  %s seq %d %s: %s (backend %+v, prime error %q)\n", r.Cell, r.Seq, r.Outcome, r.Attribution, r.Backend, r.PrimeError)
			}
		}
	}
	return b.String()
}
