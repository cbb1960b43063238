package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/probe"
	"github.com/racelab/racelab/results"
)

// The runtimes page notes a runtime whose measured close differs from its
// setting, and says why a cell was not raced.
func TestRuntimesPage(t *testing.T) {
	sample := func(d time.Duration) probe.Sample { return probe.Sample{Idle: d, Close: probe.CloseFIN, Status: 200} }
	node := probe.NewResult("http://127.0.0.1:1/", "", []probe.Sample{sample(6010 * time.Millisecond), sample(6000 * time.Millisecond), sample(6020 * time.Millisecond)}, time.Minute)
	uv := probe.NewResult("http://127.0.0.1:2/", "", []probe.Sample{sample(5001 * time.Millisecond), sample(5000 * time.Millisecond), sample(5002 * time.Millisecond)}, time.Minute)
	defaults := []RuntimeDefault{
		{Runtime: "node", Version: "20.20.2", Setting: "server.keepAliveTimeout", Documented: 5 * time.Second, Result: node},
		{Runtime: "uvicorn", Version: "0.17.6", Setting: "--timeout-keep-alive", Documented: 5 * time.Second, Result: uv},
		{Runtime: "tomcat", Setting: "keepAliveTimeout", Documented: time.Minute, Err: "runtime tomcat: java not found (install the Debian package tomcat10)"},
	}
	run := results.NewRun()
	for _, l := range []any{
		results.Manifest{Type: results.TypeManifest, RunID: "r", Scenario: "runtimes", Timescale: 0.1},
		results.Cell{Type: results.TypeCell, ID: "node", Params: map[string]string{"runtime": "node"}},
		results.Record{Type: results.TypeTrial, Cell: "node", Seq: 0, Outcome: results.Proxy502, Status: 502, Attributed: true,
			Wire: &results.WireEvidence{FirstClose: "backend", CloseKind: "fin"}},
		results.Record{Type: results.TypeTrial, Cell: "node", Seq: 1, Outcome: results.OK, Status: 200},
		results.Cell{Type: results.TypeCellEnd, ID: "node", Runtime: map[string]string{"runtime": "node", "version": "20.20.2",
			"keepalive": "500ms", "measured_idle_ms": "1501.3", "samples_ms": "1501.3,1499.4,1519.8", "close": "fin"}},
		results.Cell{Type: results.TypeCell, ID: "nginx", Params: map[string]string{"runtime": "nginx"}},
		results.Cell{Type: results.TypeCellEnd, ID: "nginx", Note: "not raced: the proxy drops its idle upstream connection after 6s, before nginx closes it (measured 7.501s)",
			Runtime: map[string]string{"runtime": "nginx", "keepalive": "7.5s", "measured_idle_ms": "7501.3", "samples_ms": "7501.3", "close": "fin"}},
	} {
		if err := run.Add(l); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	if err := RuntimesPage(&b, defaults, run, "nginx", "linux/amd64"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"| node | 20.20.2 | `server.keepAliveTimeout` | 5 s | 6010.0 ms [6000.0 ms..6020.0 ms] | fin | measured 1010 ms later than 5 s: Node.js 20 closes about 1 s after keepAliveTimeout",
		"| uvicorn | 0.17.6 | `--timeout-keep-alive` | 5 s | 5001.0 ms [5000.0 ms..5002.0 ms] | fin |  |",
		"| tomcat | – | `keepAliveTimeout` | 60 s | not measured | – | runtime tomcat: java not found",
		"| node 20.20.2 | 500ms | 1501.3 ms (1501.3, 1499.4, 1519.8) | fin | **yes**: 1 of 2 trials failed, 1 attributed (1 from the wire) | measured 1001 ms later than 500 ms",
		"| nginx | 7.5s | 7501.3 ms (7501.3) | fin | not run | not raced: the proxy drops",
		"at timescale 0.1",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("missing %q in:\n%s", want, page)
		}
	}
}
