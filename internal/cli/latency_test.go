package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racelab/racelab/proxies"
)

func TestLatencyFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no unit", []string{"run", "six-step", "--latency", "5"}, ExitUsage, "--latency: duration 5 has no unit"},
		{"negative", []string{"run", "six-step", "--latency", "-1ms"}, ExitUsage, "--latency -1ms: want 0 to 1s"},
		{"too long", []string{"run", "six-step", "--latency", "2s"}, ExitUsage, "want 0 to 1s"},
		{"natural with a file", []string{"demo", "--natural", "--proxy-from", "nginx:x.conf"}, ExitUsage, "--natural runs racelab's own configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q (stdout %q); want exit %d and %q", code, errOut, out, tt.code, tt.want)
			}
		})
	}
	// The flag's value is every cell's latency, in the cell parameters.
	file := filepath.Join(t.TempDir(), "six.jsonl")
	code, out, errOut := runCLI(t, "run", "six-step", "--latency", "5ms", "--trials", "2", "--quiet", "-o", file)
	if code != ExitOK {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `"latency":"5ms"`); n != 8 {
		t.Errorf("%d cell lines carry latency 5ms, want 8", n)
	}
}

// racelab demo --natural reproduces the race with nothing forced at 20ms,
// with evidence, and shows the margin below the round trip failing and the
// one above it holding.
func TestDemoNatural(t *testing.T) {
	t.Parallel()
	for _, kind := range []proxies.Kind{proxies.KindGo, proxies.KindNginx} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			requireProxy(t, kind)
			file := filepath.Join(t.TempDir(), "natural.jsonl")
			code, out, errOut := runCLI(t, "demo", "--natural", "--proxy", string(kind), "--quiet", "-o", file)
			if code != ExitOK {
				t.Fatalf("exit %d:\n%s%s\nunattributed failures:\n%s", code, out, errOut, unattributed(t, file))
			}
			for _, want := range []string{
				"The natural keep-alive race on " + string(kind),
				"evidence for request",
				"which no handler answered",
				"A margin smaller than the round trip is not enough",
				"A margin above the round trip holds under latency: 0 of 24 failed at 20ms",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("demo --natural output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "NOT SHOWN") {
				t.Errorf("demo --natural did not show everything:\n%s", out)
			}
		})
	}
}
