package reports_test

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/racelab/racelab/reports"
	"github.com/racelab/racelab/results"
)

// exampleRun is a results file as lab.Run writes it: a manifest, a cell
// line, trials and a verdicts line.
func exampleRun() *results.Run {
	lines := []any{
		results.Manifest{Type: results.TypeManifest, RunID: "r1", Scenario: "six-step", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Racelab: "v0.1.0", GoVersion: "go1.26.0", OS: "linux/amd64", Seed: 1, Timescale: 0.02},
		results.Cell{Type: results.TypeCell, ID: "-9s.off.GET", Params: map[string]string{"margin": "-9s", "retry": "off", "method": "GET"}},
	}
	for i := range 4 {
		lines = append(lines, results.Record{Type: results.TypeTrial, Cell: "-9s.off.GET", Seq: i, Method: "GET",
			Outcome: results.Proxy502, Status: 502, Attributed: true})
	}
	lines = append(lines, results.NewVerdictsLine([]results.Verdict{{Expectation: "the race reproduces", Cell: "-9s.off.GET",
		Pass: true, Message: "cell -9s.off.GET: failure rate >0 (measured 4/4 100% [51%, 100%])"}}))
	var b strings.Builder
	w := results.NewWriter(&b)
	for _, l := range lines {
		if err := w.Write(l); err != nil {
			panic(err)
		}
	}
	run, err := results.Read(strings.NewReader(b.String()))
	if err != nil {
		panic(err)
	}
	return run
}

func ExampleReport_Markdown() {
	rep := reports.New(exampleRun())
	if err := rep.Markdown(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ### ✅ racelab: six-step — 1 expectation passed
	//
	// Run `r1` · started 2026-01-02 03:04:05Z · racelab v0.1.0 · go1.26.0 linux/amd64 · seed 1 · timescale 0.02
	//
	// | cell | margin | retry | method | trials | failure rate (95% CI) | outcomes | attributed | hidden retries | duplicate executions |
	// |---|---|---|---|--:|---|---|--:|--:|--:|
	// | `-9s.off.GET` | -9s | off | GET | 4 | 4/4 100% [51%, 100%] | proxy_502=4 | 4/4 | 0 | 0 |
	//
	// **Expectations**: 1 of 1 expectation passed
	//
	// ✅ PASS **the race reproduces** — cell -9s.off.GET: failure rate >0 (measured 4/4 100% [51%, 100%])
}

// The terminal report is what `racelab run` ends with.
func ExampleReport_Table() {
	rep := reports.New(exampleRun())
	if err := rep.Table(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// scenario six-step, run r1 (timescale 0.02): durations below are the scenario's; they ran 0.02x as long
	// CELL         MARGIN  METHOD  RETRY  TRIALS  OUTCOMES     FAIL RATE (95% CI)    ATTRIB  HIDDEN RETRY  DUP EXEC
	// -9s.off.GET  -9s     GET     off    4       proxy_502=4  4/4 100% [51%, 100%]  4/4     0             0
	//
	// Expectations:
	//   PASS  the race reproduces: cell -9s.off.GET: failure rate >0 (measured 4/4 100% [51%, 100%])
}

func ExampleReport_CSV() {
	rep := reports.New(exampleRun())
	if err := rep.CSV(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// cell,margin,retry,method,proxy_kind,proxy_version,proxy_runtime,trials,ok,ok_after_hidden_retry,not_reused,proxy_502,proxy_503,proxy_504,client_eof,client_reset,client_timeout,backend_5xx,other,failures,failure_rate,ci_low,ci_high,attributed,unattributed,hidden_retries,duplicates,duplicates_unsafe,error,note
	// -9s.off.GET,-9s,off,GET,,,,4,0,0,0,4,0,0,0,0,0,0,0,4,1.0000,0.5101,1.0000,4,0,0,0,0,,
}

func ExampleParseFormat() {
	for _, s := range []string{"html", "markdown", "junit", "pdf"} {
		f, err := reports.ParseFormat(s)
		fmt.Println(f, err)
	}
	// Output:
	// html <nil>
	// md <nil>
	// junit <nil>
	//  format "pdf": want one of table, html, md, csv, json, junit
}

func ExampleFormatNS() {
	fmt.Println(reports.FormatNS(586_916), reports.FormatNS(12_900_000), reports.FormatOffset(-245_744))
	// Output: 587µs 12.9ms -246µs
}
