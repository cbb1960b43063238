package lab

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// BehaviourScenario is the matrix behind the behaviour table: what a stale
// reused connection does on each proxy, under each retry policy and
// method, for a request that never ran (close-on-reuse) and one that ran
// (processed-then-dropped), over a persistent and a fresh client
// connection.
func BehaviourScenario(kinds []proxies.Kind, trials int) *scenarios.Scenario {
	sc := &scenarios.Scenario{
		Name: "behaviour",
		// 1/20 scale: the victim leaves 225ms before the proxy's idle
		// timer is due, which a busy machine keeps.
		Timescale: 0.05,
		Base:      scenarios.Settings{Trials: trials},
	}
	idle, ka := scenarios.Duration(10e9), scenarios.Duration(1e9)
	sc.Base.ProxyIdle, sc.Base.BackendKeepAlive = &idle, &ka
	for _, k := range kinds {
		sc.Matrix.Proxy = append(sc.Matrix.Proxy, scenarios.Proxy{Kind: string(k)})
	}
	sc.Matrix.Fault = []string{"close-on-reuse", "processed-then-dropped"}
	sc.Matrix.Retry = []string{"off", "idempotent", "all"}
	sc.Matrix.Method = []string{"GET", "POST"}
	sc.Matrix.Client = []string{scenarios.ClientPersistent, scenarios.ClientFresh}
	return sc
}

// AvailableKinds lists the proxies this machine can run as processes, the
// embedded one first.
func AvailableKinds() []proxies.Kind {
	out := []proxies.Kind{proxies.KindGo}
	for _, k := range []proxies.Kind{proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy} {
		if Available(k) == nil {
			out = append(out, k)
		}
	}
	return out
}

// WriteBehaviourTable renders a run of BehaviourScenario as Markdown: one
// row per fault, retry policy and method, one column per proxy and client
// connection mode.
func WriteBehaviourTable(w io.Writer, rep *Report) error {
	type col struct{ proxy, client string }
	var cols []col
	seenCol := map[col]bool{}
	type row struct{ fault, retry, method string }
	var rows []row
	seenRow := map[row]bool{}
	cells := map[row]map[col]*CellResult{}
	versions := map[string]string{}
	for _, c := range rep.Cells {
		p := c.Cell.Params
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
		if cells[rw] == nil {
			cells[rw] = map[col]*CellResult{}
		}
		cells[rw][cl] = c
		if v := c.Proxy["version"]; v != "" {
			versions[p["proxy"]] = v
		}
	}
	sort.SliceStable(cols, func(i, j int) bool { return cols[i].proxy < cols[j].proxy })
	var head, rule []string
	head = append(head, "request", "retry", "method")
	rule = append(rule, "---", "---", "---")
	for _, c := range cols {
		head = append(head, fmt.Sprintf("%s %s (%s client)", c.proxy, versions[c.proxy], c.client))
		rule = append(rule, "---")
	}
	fmt.Fprintf(w, "| %s |\n| %s |\n", strings.Join(head, " | "), strings.Join(rule, " | "))
	for _, r := range rows {
		what := "never ran (close-on-reuse)"
		if r.fault == "processed-then-dropped" {
			what = "ran, then dropped"
		}
		line := []string{what, r.retry, r.method}
		for _, c := range cols {
			line = append(line, behaviourText(cells[r][c]))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(line, " | "))
	}
	return nil
}

// behaviourText describes what a cell's trials did, in a few words:
// outcome classes, evidence the proxy left, hidden retries, duplicates.
func behaviourText(c *CellResult) string {
	if c == nil {
		return "-"
	}
	if c.Err != nil && len(c.Records) == 0 {
		return "error: " + c.Err.Error()
	}
	counts := map[results.Outcome]int{}
	hidden, dups := 0, 0
	evidence := map[string]bool{}
	var evOrder []string
	for _, r := range c.Records {
		counts[r.Outcome]++
		if r.HiddenRetry {
			hidden++
		}
		if r.Duplicate {
			dups++
		}
		for _, e := range evidenceNotes(r) {
			if !evidence[e] {
				evidence[e] = true
				evOrder = append(evOrder, e)
			}
		}
	}
	var parts []string
	for _, o := range results.Outcomes {
		if counts[o] == 0 {
			continue
		}
		s := outcomeWords[o]
		if counts[o] != len(c.Records) {
			s += fmt.Sprintf(" %d/%d", counts[o], len(c.Records))
		}
		parts = append(parts, s)
	}
	text := strings.Join(parts, ", ")
	if hidden > 0 {
		text += ", hidden retry"
	}
	if dups > 0 {
		text += ", **ran twice**"
	}
	// Error and access lines arrive on two streams in either order.
	sort.Strings(evOrder)
	if len(evOrder) > 0 {
		text += " (" + strings.Join(evOrder, "; ") + ")"
	} else if counts[results.ClientEOF]+counts[results.ClientReset] > 0 {
		text += " (no log line)"
	}
	return text
}

var outcomeWords = map[results.Outcome]string{
	results.OK: "200", results.OKAfterHiddenRetry: "200", results.Proxy502: "502", results.Proxy503: "503",
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
