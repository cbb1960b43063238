package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racelab/racelab/proxies"
)

// TestSixStepOnVarnishAndSquid: six-step exits 0 on each, its own
// expectations checked: Varnish hides the race for GET behind its built-in
// retry even with retry off and answers 503 to a POST with a body; Squid
// answers 502 with retries off and keeps every POST off its pooled
// connection. Each cell's note says what the proxy could not express and
// why the cell ran at a larger timescale.
func TestSixStepOnVarnishAndSquid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind  proxies.Kind
		pass  []string
		notes []string
	}{
		{proxies.KindVarnish, []string{"PASS  Varnish retries a recycled connection by itself, even with retry off", "PASS  Varnish does not retry a POST with a body", "PASS  the fix removes it"},
			[]string{"timescale 0.05 raised to 0.1 for varnish", "not expressible on this proxy: retry off: Varnish 7.1 retries"}},
		{proxies.KindSquid, []string{"PASS  Squid answers 502 with retries off", "PASS  Squid keeps a POST off its pooled connection", "PASS  retries hide it for GET"},
			[]string{"timescale 0.05 raised to 0.5 for squid", "does not reuse its pooled upstream connection here"}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			t.Parallel()
			requireProxy(t, tc.kind)
			file := filepath.Join(t.TempDir(), "six-step.jsonl")
			code, out, errOut := runCLI(t, "run", "six-step", "--proxy", string(tc.kind), "--trials", "4", "--parallel", "8", "--quiet", "-o", file)
			if code != ExitOK {
				t.Fatalf("exit %d:\n%s%s\nunattributed failures:\n%s", code, out, errOut, unattributed(t, file))
			}
			for _, p := range tc.pass {
				if !strings.Contains(out, p) {
					t.Errorf("no %q in:\n%s", p, out)
				}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var notes []string
			for _, line := range strings.Split(string(data), "\n") {
				var c struct {
					Type, Note string
				}
				if json.Unmarshal([]byte(line), &c) == nil && c.Type == "cell_end" {
					notes = append(notes, c.Note)
				}
			}
			all := strings.Join(notes, "\n")
			for _, n := range tc.notes {
				if !strings.Contains(all, n) {
					t.Errorf("no cell note says %q; notes:\n%s", n, all)
				}
			}
		})
	}
}
