package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/scenarios"
)

// One pass: an unknown field (a decoding problem) and a bad retry (a
// semantic one) are both reported, each with file:line:col.
func TestValidateOnePass(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "two.yaml")
	src := "name: two\nbase:\n  colour: blue\n  retry: sometimes\nmatrix:\n  proxy_idle: [5s, 60]\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "validate", file)
	if code != ExitUsage {
		t.Errorf("exit %d, want %d", code, ExitUsage)
	}
	if out != "" {
		t.Errorf("stdout for a bad file: %q", out)
	}
	for _, want := range []string{
		file + `:3:3: base: unknown field "colour"`,
		file + `:4:10: base.retry: retry "sometimes": want off, idempotent or all`,
		file + `:6:20: matrix.proxy_idle[1]: duration 60 has no unit`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
}

// A huge matrix does not overflow the estimate into a negative time.
func TestValidateEstimateSaturates(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "huge.yaml")
	var b strings.Builder
	b.WriteString("name: huge\nbase: {trials: 100000}\nmatrix:\n  backend_keepalive: [")
	for i := range 100 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString((time.Duration(i+1) * time.Second).String())
	}
	b.WriteString("]\n  method: [")
	for i := range 100 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("M" + string(rune('A'+i/26)) + string(rune('A'+i%26)))
	}
	b.WriteString("]\n")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "validate", file)
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "10000 cells, more than 10000h of trials") || strings.Contains(out, "-") {
		t.Errorf("estimate not saturated:\n%s", out)
	}
}

func TestEstimate(t *testing.T) {
	cell := scenarios.Cell{Mode: scenarios.ModeDeterministic, Trials: 10, Gap: 80 * time.Millisecond}
	est, over := estimate([]scenarios.Cell{cell, cell})
	if over || est != 2*10*(80+20)*time.Millisecond {
		t.Errorf("estimate = %v, %v; want 2s", est, over)
	}
	big := scenarios.Cell{Mode: scenarios.ModeDeterministic, Trials: scenarios.MaxTrialsPerCell, Gap: 1000 * time.Hour}
	est, over = estimate([]scenarios.Cell{big})
	if !over || est != maxEstimate {
		t.Errorf("estimate = %v, %v; want saturated", est, over)
	}
	if got := describeEstimate([]scenarios.Cell{big, big}); got != "more than 10000h" {
		t.Errorf("describeEstimate = %q", got)
	}
	if got := describeEstimate([]scenarios.Cell{cell}); got != "about 1s" {
		t.Errorf("describeEstimate = %q", got)
	}
}
