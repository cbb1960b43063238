package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/racelab/racelab/results"
)

// BehaviourCell is one cell of a behaviour run (lab.BehaviourScenario):
// its summary (parameters proxy, client, fault, retry and method, the
// proxy's facts, the outcome counts) and records of it (all of them or a
// sample), from which the proxy's own evidence is drawn.
type BehaviourCell struct {
	Summary results.Summary
	Records []results.Record
}

// BehaviourTable writes a behaviour run as a Markdown table: one row per
// fault, retry policy and method, one column per proxy and client
// connection mode; each cell says what the client saw, the proxy's own
// evidence in backticks, hidden retries and handlers that ran twice.
func BehaviourTable(w io.Writer, cells []BehaviourCell) error {
	type col struct{ proxy, client string }
	var cols []col
	seenCol := map[col]bool{}
	type row struct{ fault, retry, method string }
	var rows []row
	seenRow := map[row]bool{}
	byRow := map[row]map[col]*BehaviourCell{}
	versions := map[string]string{}
	for i := range cells {
		c := &cells[i]
		p := c.Summary.Params
		cl := col{p["proxy"], p["client"]}
		rw := row{p["fault"], p["retry"], p["method"]}
		if !seenCol[cl] {
			seenCol[cl] = true
			cols = append(cols, cl)
		}
		if !seenRow[rw] {
			seenRow[rw] = true
			rows = append(rows, rw)
		}
		if byRow[rw] == nil {
			byRow[rw] = map[col]*BehaviourCell{}
		}
		byRow[rw][cl] = c
		if v := c.Summary.Proxy["version"]; v != "" {
			versions[p["proxy"]] = v
		}
	}
	sort.SliceStable(cols, func(i, j int) bool { return cols[i].proxy < cols[j].proxy })
	// Rows in the scenario's matrix order (retry, then method, then
	// fault), whatever order the cells started in.
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		for _, k := range [][2]int{
			{axisRank(behaviourRetry, a.retry), axisRank(behaviourRetry, b.retry)},
			{axisRank(behaviourMethod, a.method), axisRank(behaviourMethod, b.method)},
			{axisRank(behaviourFault, a.fault), axisRank(behaviourFault, b.fault)},
		} {
			if k[0] != k[1] {
				return k[0] < k[1]
			}
		}
		return false
	})
	var head, rule []string
	head = append(head, "request", "retry", "method")
	rule = append(rule, "---", "---", "---")
	for _, c := range cols {
		head = append(head, fmt.Sprintf("%s %s (%s client)", c.proxy, versions[c.proxy], c.client))
		rule = append(rule, "---")
	}
	if _, err := fmt.Fprintf(w, "| %s |\n| %s |\n", strings.Join(head, " | "), strings.Join(rule, " | ")); err != nil {
		return fmt.Errorf("write behaviour table: %w", err)
	}
	for _, r := range rows {
		what := "never ran (close-on-reuse)"
		if r.fault == "processed-then-dropped" {
			what = "ran, then dropped"
		}
		line := []string{what, r.retry, r.method}
		for _, c := range cols {
			line = append(line, behaviourText(byRow[r][c]))
		}
		if _, err := fmt.Fprintf(w, "| %s |\n", strings.Join(line, " | ")); err != nil {
			return fmt.Errorf("write behaviour table: %w", err)
		}
	}
	return nil
}

// The behaviour matrix's axis values in the order its rows are shown.
var (
	behaviourRetry  = []string{"off", "idempotent", "all"}
	behaviourMethod = []string{"GET", "POST"}
	behaviourFault  = []string{"close-on-reuse", "processed-then-dropped"}
)

// axisRank is v's position in order; values not in it come after, in
// the order they were first seen.
func axisRank(order []string, v string) int {
	for i, o := range order {
		if o == v {
			return i
		}
	}
	return len(order)
}

// behaviourText describes what a cell's trials did, in a few words:
// outcome classes, evidence the proxy left, hidden retries, duplicates.
func behaviourText(c *BehaviourCell) string {
	if c == nil {
		return "-"
	}
	s := c.Summary
	if s.Error != "" && s.Trials == 0 {
		return "error: " + s.Error
	}
	evidence := map[string]bool{}
	var evOrder []string
	for _, r := range c.Records {
		for _, e := range evidenceNotes(r) {
			if !evidence[e] {
				evidence[e] = true
				evOrder = append(evOrder, e)
			}
		}
	}
	var parts []string
	for _, o := range results.Outcomes {
		n := s.Counts[o]
		if n == 0 {
			continue
		}
		w := outcomeWords[o]
		if n != s.Trials {
			w += fmt.Sprintf(" %d/%d", n, s.Trials)
		}
		parts = append(parts, w)
	}
	text := strings.Join(parts, ", ")
	if s.HiddenRetry > 0 {
		text += ", hidden retry"
	}
	if s.Duplicates > 0 {
		text += ", **ran twice**"
	}
	// Error and access lines arrive on two streams in either order.
	sort.Strings(evOrder)
	if len(evOrder) > 0 {
		text += " (" + strings.Join(evOrder, "; ") + ")"
	} else if s.Counts[results.ClientEOF]+s.Counts[results.ClientReset] > 0 {
		text += " (no log line)"
	}
	if u := unexpressed(s.Note); len(u) > 0 {
		text += " — *not expressible here: " + strings.Join(u, "; ") + "*"
	}
	return text
}

// unexpressedPrefix starts each part of a cell's note that names a
// setting its proxy cannot express (lab: proxies.Bundle.Unexpressed).
const unexpressedPrefix = "not expressible on this proxy: "

// unexpressed names, in a few words each ("retry off", "idle timeout
// 500ms"), the settings a cell's note says its proxy cannot express.
func unexpressed(note string) []string {
	var out []string
	for _, part := range strings.Split(note, "; ") {
		rest, ok := strings.CutPrefix(part, unexpressedPrefix)
		if !ok {
			continue
		}
		what, _, _ := strings.Cut(rest, ":")
		out = append(out, what)
	}
	return out
}

var outcomeWords = map[results.Outcome]string{
	results.OK: "200", results.OKAfterHiddenRetry: "200", results.NotReused: "200 (not on the pooled connection)", results.Proxy502: "502", results.Proxy503: "503",
	results.Proxy504: "504", results.ClientEOF: "connection dropped", results.ClientReset: "connection reset",
	results.ClientTimeout: "timeout", results.Backend5xx: "backend 5xx", results.Other: "other",
}

// evidenceNotes picks the proxy's own words for a trial: termination
// flags, per-attempt upstream statuses, the first words of an error line.
func evidenceNotes(r results.Record) []string {
	var out []string
	for _, e := range r.Proxy {
		switch {
		case e.Flags != "" && e.Flags != "----":
			out = append(out, "`"+e.Flags+"`")
		case strings.Contains(e.UpstreamStatus, ","):
			out = append(out, "`"+e.UpstreamStatus+"`")
		case e.Source == "error" && e.Message != "":
			msg := e.Message
			if i := strings.Index(msg, " while "); i > 0 {
				msg = msg[:i]
			}
			if len(msg) > 48 {
				msg = msg[:48] + "…"
			}
			out = append(out, "`"+msg+"`")
		}
	}
	return out
}

// BehaviourPage writes the docs page of a behaviour run
// (docs/behaviour.md): how it was made, the table (BehaviourTable) and
// how to read it. platform names the machine it ran on, like
// "linux/amd64"; the proxies measured are named from the cells.
func BehaviourPage(w io.Writer, cells []BehaviourCell, platform string) error {
	versions := map[string]string{}
	var kinds []string
	for _, c := range cells {
		k := c.Summary.Params["kind"]
		if k == "" {
			k = proxyOf(c.Summary)
		}
		if _, ok := versions[k]; !ok {
			kinds = append(kinds, k)
			versions[k] = ""
		}
		if v := c.Summary.Proxy["version"]; v != "" {
			versions[k] = v
		}
	}
	var measured []string
	for _, k := range kinds {
		measured = append(measured, fmt.Sprintf("%s %s", k, versions[k]))
	}
	sort.Strings(measured)
	if _, err := fmt.Fprintf(w, `# What a stale reused connection does, per proxy

Generated by racelab from a run, not written by hand. Regenerate with:

    racelab behaviour -o docs/behaviour.md

Measured on: %s (%s), one pooled upstream connection, racelab's explicit
config (the proxies' pages under docs/ and the adapters' docs say what each policy maps to).

Each cell: a priming request leaves one pooled upstream connection; after an
idle gap past the backend's keep-alive the victim request arrives on it, and
the backend either closes it without running the handler (*never ran*) or runs
the handler and then drops the connection without an answer (*ran, then
dropped*). What the client saw, the proxy's own evidence in backticks, whether
the proxy retried behind the client's back (*hidden retry*), and whether the
handler ran twice.

`, strings.Join(measured, ", "), platform); err != nil {
		return fmt.Errorf("write behaviour page: %w", err)
	}
	if err := BehaviourTable(w, cells); err != nil {
		return err
	}
	if _, err := fmt.Fprint(w, `
Reading it:
- *connection dropped (no log line)*: the proxy closed the client connection
  with no response and logged nothing — invisible to a 502 counter.
- *hidden retry*: the client saw 200; the backend saw the request die on the
  reused connection and arrive again on a fresh one.
- **ran twice**: a retry after the handler had run: the duplicate execution a
  retry of non-idempotent requests risks.
- *not on the pooled connection*: the proxy sent the request on a new
  connection although an idle pooled one was open (Squid never sends a POST
  on a pooled connection): the race cannot reach it.
- A cell's note in the results says when a proxy ran at a larger timescale
  than the scenario's (its idle floor).
- *not expressible here*: the proxy has no setting for that part of the cell
  (Caddy cannot turn off Go's own retry of a GET; Apache's ttl= takes whole
  seconds and it has no retry chosen by method; Varnish 7.1 retries a
  recycled connection once whatever the policy); the cell shows what the
  proxy does instead, and the results' cell note says why.
`); err != nil {
		return fmt.Errorf("write behaviour page: %w", err)
	}
	return nil
}

// BehaviourCells returns the cells of a behaviour run, each with the
// records the run kept of it.
func BehaviourCells(run *results.Run) []BehaviourCell {
	out := make([]BehaviourCell, 0, len(run.Cells))
	for _, c := range run.Cells {
		out = append(out, BehaviourCell{Summary: c.Summary(), Records: c.Records()})
	}
	return out
}
