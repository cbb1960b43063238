package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// triage reads the package's fixtures: no proxy runs, milliseconds.
func TestTriageCommand(t *testing.T) {
	alb := filepath.Join("..", "..", "triage", "testdata", "written", "alb.log")
	emit := filepath.Join(t.TempDir(), "triage.yaml")
	code, out, errOut := runCLI(t, "triage", alb, "--format", "alb", "--json", "--proxy-idle", "60s", "--emit-scenario", emit)
	if code != ExitFail {
		t.Fatalf("exit %d, want %d (race found); stderr %s", code, ExitFail, errOut)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if j["race"] != float64(12) || j["estimated_backend_keepalive_ms"] != 5000.6 {
		t.Errorf("race %v, keep-alive %v; want 12 and 5000.6", j["race"], j["estimated_backend_keepalive_ms"])
	}
	// The emitted scenario is one racelab validate accepts.
	if code, out, errOut := runCLI(t, "validate", emit); code != ExitOK {
		t.Errorf("validate emitted scenario: exit %d\n%s%s", code, out, errOut)
	}

	// No race: exit 0, and the verdict says so.
	ctl := filepath.Join("..", "..", "triage", "testdata", "nginx-race", "access.log")
	code, out, _ = runCLI(t, "triage", "--format", "nginx", ctl)
	if code != ExitOK || !strings.Contains(out, "No 5xx carries the race's signature") {
		t.Errorf("nginx access log alone: exit %d\n%s", code, out)
	}
}

func TestTriageUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"triage"}, "give at least one log file"},
		{[]string{"triage", "--format", "iis", "x.log"}, `format "iis"`},
		{[]string{"triage", "--proxy-idle", "60", "x.log"}, "has no unit"},
		{[]string{"triage", "/nonexistent/access.log"}, "no such file"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, ExitUsage, tc.want)
		}
	}
	code, out, _ := runCLI(t, "triage", "-h")
	if code != ExitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--emit-scenario") {
		t.Errorf("triage -h: exit %d\n%s", code, out)
	}
}
