package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/reports"
)

// tableLines returns the Markdown table rows of a behaviour page.
func tableLines(page string) []string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "|") {
			out = append(out, l)
		}
	}
	return out
}

// The behaviour table in the docs is what a fresh run on this machine
// produces. Deterministic mode makes every trial alike, so the table is
// stable; a change in a proxy's behaviour (or version) shows up here.
func TestBehaviourTableMatchesDocs(t *testing.T) {
	t.Parallel()
	docs, err := os.ReadFile("../../docs/behaviour.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"nginx", "haproxy"} {
		if !strings.Contains(string(docs), "| "+k+" ") && !strings.Contains(string(docs), " "+k+" ") {
			t.Fatalf("docs/behaviour.md has no %s column", k)
		}
	}
	// Squid runs at half of real time (its idle floor), which makes its
	// cells the slowest. Deterministic cells are alike however many run at
	// once (each has its own proxy and backend), so three do.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	kinds := lab.AvailableKinds()
	rep, err := lab.Run(ctx, lab.BehaviourScenario(kinds, 2), lab.WithParallel(3))
	if err != nil || rep.Err() != nil {
		t.Fatalf("run: %v %v", err, rep.Err())
	}
	var buf bytes.Buffer
	if err := reports.BehaviourPage(&buf, reports.BehaviourCells(rep), "test"); err != nil {
		t.Fatal(err)
	}
	want, got := tableLines(string(docs)), tableLines(buf.String())
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("docs/behaviour.md differs from a fresh run: if the proxies or their versions changed on purpose, regenerate with `racelab behaviour -o docs/behaviour.md`\n--- fresh run\n%s\n--- docs\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
