// Package reports renders a racelab results file for people and for CI:
// a self-contained HTML report with charts, a Markdown summary for a
// pull-request comment, CSV (one row per cell), JSON (summaries, verdicts
// and race windows), JUnit XML (one test case per expectation verdict, or
// per cell when the run recorded no expectations) and the terminal table.
//
// A report is built from a results.Run read back from its JSON lines, so
// any recorded run re-renders, an interrupted one included: lines that
// could not be read (a line cut off mid-write) are listed in every format
// that has room for them, and what was complete is shown.
//
//	run, err := results.ReadFile("out.jsonl")
//	if err != nil { ... }
//	rep := reports.New(run, reports.WithSource("out.jsonl"))
//	err = rep.Write(os.Stdout, reports.Markdown)
//
// The HTML report fetches nothing: styles are inline, the heatmap of
// failure rate over margin × retry policy and the race-window chart are
// gonum.org/v1/plot SVGs inlined into the page, and the connection
// timeline of a sample failure is an SVG sequence diagram drawn from the
// record's measured times (the victim's send at t=0, the backend's close
// with FIN or RST, the proxy's response) and the proxy's evidence lines.
package reports
