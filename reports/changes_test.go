package reports

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// ladderCell is one cell of a version-ladder-like run: what every trial
// of it did.
type ladderCell struct {
	kind, version, reported, variant, retry, method string
	outcome                                         results.Outcome
	dup                                             bool
}

// ladder behaves like the version-ladder scenario: nginx and HAProxy in
// three versions each, explicit and default configs, two retry policies
// and two methods. What changes: nginx 1.30's defaults pool upstream
// connections (the race comes back: POST fails, GET is retried); HAProxy
// 3.0 drops a fresh client's connection where 2.6 answered 502 (explicit,
// retry off, GET), and HAProxy 3.2 runs a retried GET twice.
func ladder() []ladderCell {
	var out []ladderCell
	reported := map[string]string{"1.22": "1.22.1", "1.26": "1.26.3", "1.30": "1.30.0", "2.6": "2.6.12", "3.0": "3.0.10", "3.2": "3.2.4"}
	for _, kind := range []string{"nginx", "haproxy"} {
		versions := []string{"1.22", "1.26", "1.30"}
		if kind == "haproxy" {
			versions = []string{"2.6", "3.0", "3.2"}
		}
		for _, variant := range []string{"explicit", "defaults"} {
			for _, v := range versions {
				for _, retry := range []string{"off", "idempotent"} {
					for _, method := range []string{"GET", "POST"} {
						c := ladderCell{kind: kind, version: v, reported: reported[v], variant: variant, retry: retry, method: method, outcome: results.OK}
						switch {
						case variant == "explicit" && retry == "idempotent" && method == "GET":
							c.outcome = results.OKAfterHiddenRetry
							c.dup = kind == "haproxy" && v == "3.2"
						case variant == "explicit" && kind == "haproxy" && retry == "off" && method == "GET" && v != "2.6":
							c.outcome = results.ClientEOF
						case variant == "explicit":
							c.outcome = results.Proxy502
						case kind == "nginx" && v == "1.30" && method == "POST":
							c.outcome = results.Proxy502
						case kind == "nginx" && v == "1.30":
							c.outcome = results.OKAfterHiddenRetry
						}
						out = append(out, c)
					}
				}
			}
		}
	}
	return out
}

func (c ladderCell) id() string {
	variant := ""
	if c.variant == "defaults" {
		variant = "(defaults)"
	}
	return fmt.Sprintf("%s-%s%s@container.%s.%s", c.kind, c.version, variant, c.retry, c.method)
}

// ladderRun is a run of ladder() with three trials a cell, and verdicts:
// 46 of them over two expectations, two of which fail (HAProxy 3.0 and
// 3.2 drop a fresh client's connection).
func ladderRun(t *testing.T) *results.Run {
	t.Helper()
	run := results.NewRun()
	add := func(v any) { require.NoError(t, run.Add(v)) }
	add(results.Manifest{Type: results.TypeManifest, RunID: "r1", Scenario: "version-ladder",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Racelab: "devel", GoVersion: "go1.26.8", OS: "linux/amd64", Timescale: 0.02})
	var every, drops []results.Verdict
	for i, c := range ladder() {
		variant := ""
		if c.variant == "defaults" {
			variant = "(defaults)"
		}
		add(results.Cell{Type: results.TypeCell, ID: c.id(), Params: map[string]string{
			"proxy": c.kind + "-" + c.version + variant + "@container", "kind": c.kind, "version": c.version,
			"variant": c.variant, "retry": c.retry, "method": c.method, "client": "fresh", "fault": "close-on-reuse",
			"margin": "-9s", "proxy_idle": "10s", "backend_keepalive": "1s", "gap": "5.5s", "mode": "deterministic",
		}, Proxy: map[string]string{"kind": c.kind, "version": c.reported, "runtime": "container"}})
		for seq := 1; seq <= 3; seq++ {
			add(results.Record{Type: results.TypeTrial, Cell: c.id(), Seq: seq, Method: c.method, Outcome: c.outcome,
				HiddenRetry: c.outcome == results.OKAfterHiddenRetry, Duplicate: c.dup, Attributed: c.outcome.Failed()})
		}
		add(results.Cell{Type: results.TypeCellEnd, ID: c.id()})
		if i < 40 {
			every = append(every, results.Verdict{Expectation: "every cell ran", Cell: c.id(), Pass: true,
				Message: "cell " + c.id() + ": trials >0 (measured 3)"})
		}
		if i >= 28 && i < 34 {
			eof := 0
			if c.outcome == results.ClientEOF {
				eof = 3
			}
			drops = append(drops, results.Verdict{Expectation: "HAProxy never drops the client connection", Cell: c.id(), Pass: eof == 0,
				Message: fmt.Sprintf("cell %s: client_eof 0 (measured %d)", c.id(), eof)})
		}
	}
	add(results.NewVerdictsLine(append(every, drops...)))
	return run
}

func TestChangeTables(t *testing.T) {
	tables := ChangeTables(New(ladderRun(t)).Summaries)
	require.Len(t, tables, 2)
	ng, hp := tables[0], tables[1]
	assert.Equal(t, "nginx", ng.Kind)
	assert.Equal(t, []string{"1.22", "1.26", "1.30"}, ng.Versions)
	assert.Equal(t, []string{"1.22.1", "1.26.3", "1.30.0"}, ng.Reported)
	assert.Equal(t, []string{"variant", "retry", "method"}, ng.Axes)
	assert.Equal(t, "client=fresh fault=close-on-reuse margin=-9s", ng.CommonText())
	require.Len(t, ng.Rows, 8)
	assert.Equal(t, 4, ng.ChangedRows(), "nginx 1.30's defaults pool: every defaults row changed")
	assert.Equal(t, 2, hp.ChangedRows())
	for _, row := range ng.Rows {
		assert.Equal(t, row.Params["variant"] == "defaults", row.Changed, row.Key)
		assert.Len(t, row.Cells, 3)
	}
	row := ng.Rows[6] // defaults, off, POST
	assert.Equal(t, ChangeKey{Kind: "nginx", Variant: "defaults", Retry: "idempotent", Method: "GET", Client: "fresh", Fault: "close-on-reuse",
		Rest: "backend_keepalive=1s margin=-9s mode=deterministic proxy_idle=10s"}, row.Key)
	assert.Equal(t, []string{"ok", "ok", "ok_after_hidden_retry 3/3"}, []string{row.Cells[0].Text, row.Cells[1].Text, row.Cells[2].Text})
	assert.Equal(t, []bool{false, false, true}, []bool{row.Cells[0].Differs, row.Cells[1].Differs, row.Cells[2].Differs})
	assert.Equal(t, []Change{{From: "1.26", To: "1.30", Before: "ok", After: "ok_after_hidden_retry", BeforeCounts: "ok=3", AfterCounts: "ok_after_hidden_retry=3"}}, row.Changes)

	dup := hp.Rows[2] // explicit, idempotent, GET
	assert.Equal(t, "ok_after_hidden_retry 3/3, ran twice 3", dup.Cells[2].Text, "duplicates are flagged")
	assert.Equal(t, "ok_after_hidden_retry+duplicates", dup.Changes[0].After)

	// Versions order numerically, and a run without versions has no table.
	assert.True(t, versionLess("1.9", "1.22"))
	assert.Nil(t, ChangeTables(New(readFixture(t, "matrix.jsonl")).Summaries))
}

func TestMarkdownLeadsWithChangeTable(t *testing.T) {
	md := string(render(t, New(ladderRun(t)), Markdown))
	lines := strings.Split(md, "\n")
	first := strings.Join(lines[:25], "\n")
	assert.True(t, strings.HasPrefix(lines[0], "### ❌ racelab: version-ladder — 1 of 2 expectations failed (2 of 46 cell verdicts)"), lines[0])
	assert.Equal(t, "Across nginx 1.22 → 1.26 → 1.30 and haproxy 2.6 → 3.0 → 3.2, 6 of 16 settings changed behaviour (48 cells, 144 trials).", lines[2])
	assert.Contains(t, first, "| **nginx** | variant | retry | method | 1.22 (1.22.1) | 1.26 (1.26.3) | 1.30 (1.30.0) |")
	assert.Contains(t, first, "| ⚠️ **changed** | defaults | off | POST | ok | ok | **proxy_502 3/3** |")
	assert.Contains(t, first, "| **haproxy** |")
	assert.Contains(t, first, "| ⚠️ **changed** | explicit | off | GET | proxy_502 3/3 | **client_eof 3/3** | client_eof 3/3 |")
	assert.Contains(t, first, "|  | explicit | off | POST | proxy_502 3/3 | proxy_502 3/3 | proxy_502 3/3 |")
	assert.Equal(t, 6, strings.Count(first, "⚠️ **changed**"))
	assert.NotContains(t, first, "Run `r1`", "the manifest follows the change table")

	// The cell table comes before the verdicts; the verdicts are grouped.
	cells, verdicts := strings.Index(md, "| cell | margin"), strings.Index(md, "**Expectations**")
	if cells < 0 {
		cells = strings.Index(md, "| cell |")
	}
	require.Positive(t, verdicts)
	assert.Less(t, strings.Index(md, "| ⚠️ **changed**"), cells)
	assert.Less(t, cells, verdicts)
}

func TestVerdictsGrouped(t *testing.T) {
	r := New(ladderRun(t))
	require.Len(t, r.Verdicts, 46)
	groups := r.Groups()
	require.Len(t, groups, 2)
	assert.Equal(t, VerdictGroup{Expectation: "every cell ran", Verdicts: r.Verdicts[:40], Passed: 40}, groups[0])
	assert.Equal(t, 4, groups[1].Passed)
	assert.Equal(t, 2, groups[1].Failed)
	assert.Len(t, groups[1].Failing(), 2)

	md := string(render(t, r, Markdown))
	section := md[strings.Index(md, "**Expectations**"):]
	assert.True(t, strings.HasPrefix(section, "**Expectations**: 1 of 2 expectations passed\n"), section)
	assert.Equal(t, 2, strings.Count(section, "<details"), "one block per expectation")
	assert.Contains(t, section, "<details><summary>✅ PASS <b>every cell ran</b> — 40/40 cells passed</summary>")
	assert.Contains(t, section, "<details open><summary>❌ FAIL <b>HAProxy never drops the client connection</b> — 2 of 6 cells failed</summary>")
	assert.Equal(t, 2+46, strings.Count(section, "\n| "), "a header and a row per cell in each block")
	assert.Contains(t, section, "| `haproxy-3.0@container.off.GET` | ❌ **fail** | client_eof 0 (measured 3) |")

	html := string(render(t, r, HTML))
	assert.Equal(t, 2, strings.Count(html, `<details class="expectation"`))
	assert.Contains(t, html, `<details class="expectation" open><summary><span class="badge fail">FAIL</span> <strong>HAProxy never drops the client connection</strong>: 2 of 6 cells failed</summary>`)

	table := string(render(t, r, Table))
	exp := table[strings.Index(table, "\nExpectations:\n"):]
	assert.Equal(t, `
Expectations:
  PASS  every cell ran: 40/40 cells passed
  FAIL  HAProxy never drops the client connection: 2 of 6 cells failed
        cell haproxy-3.0@container.off.GET: client_eof 0 (measured 3)
        cell haproxy-3.2@container.off.GET: client_eof 0 (measured 3)
`, exp)
}

func TestHTMLLeadsWithChangeTable(t *testing.T) {
	page := string(render(t, New(ladderRun(t)), HTML))
	changes := strings.Index(page, `<section id="changes">`)
	require.Positive(t, changes)
	for _, later := range []string{`<section id="manifest">`, `<section id="verdicts">`, "<svg", `<section id="cells">`} {
		i := strings.Index(page, later)
		require.Positive(t, i, later)
		assert.Less(t, changes, i, "the change table precedes %s", later)
	}
	assert.Equal(t, 6, strings.Count(page, `<tr class="changed">`))
	assert.Contains(t, page, `<td class="differs">proxy_502 3/3</td>`)
	assert.Contains(t, page, "<th>1.30 (1.30.0)</th>")
	assert.Contains(t, page, "Across nginx 1.22 → 1.26 → 1.30 and haproxy 2.6 → 3.0 → 3.2, 6 of 16 settings changed behaviour")
	require.NoError(t, wellFormed(page[changes:strings.Index(page, `<section id="manifest">`)]))
}

func TestJUnitNamesEachChange(t *testing.T) {
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(render(t, New(ladderRun(t)), JUnit), &doc))
	require.Len(t, doc.Suites, 2)
	assert.Equal(t, 46, doc.Suites[0].Tests, "the verdict suite is unchanged")
	assert.Equal(t, 2, doc.Suites[0].Failures)
	ch := doc.Suites[1]
	assert.Equal(t, "version-ladder: version changes", ch.Name)
	assert.Equal(t, 46+6, doc.Tests)
	var names []string
	for _, c := range ch.Cases {
		names = append(names, c.Name)
		assert.Nil(t, c.Failure, "a change is named, not failed: the expectations judge it")
	}
	assert.Equal(t, []string{
		"nginx defaults retry=off method=GET: 1.26.3 → 1.30.0 changed ok → ok_after_hidden_retry",
		"nginx defaults retry=off method=POST: 1.26.3 → 1.30.0 changed ok → proxy_502",
		"nginx defaults retry=idempotent method=GET: 1.26.3 → 1.30.0 changed ok → ok_after_hidden_retry",
		"nginx defaults retry=idempotent method=POST: 1.26.3 → 1.30.0 changed ok → proxy_502",
		"haproxy explicit retry=off method=GET: 2.6.12 → 3.0.10 changed proxy_502 → client_eof",
		"haproxy explicit retry=idempotent method=GET: 3.0.10 → 3.2.4 changed ok_after_hidden_retry → ok_after_hidden_retry+duplicates",
	}, names)
	assert.Equal(t, "2.6.12: proxy_502=3\n3.0.10: client_eof=3\nsetting: proxy_idle=10s backend_keepalive=1s margin=-9s retry=off method=GET client=fresh mode=deterministic fault=close-on-reuse kind=haproxy variant=explicit",
		ch.Cases[4].SystemOut.Text)
}

func TestTableNamesChanges(t *testing.T) {
	table := string(render(t, New(ladderRun(t)), Table))
	assert.True(t, strings.HasPrefix(table, "scenario version-ladder, run r1 (timescale 0.02): durations below are the scenario's; they ran 0.02x as long\n"), table)
	i := strings.Index(table, "\nWhat changed between versions:\n")
	require.Positive(t, i)
	assert.Contains(t, table[i:], "\n  nginx (defaults) retry=off method=POST client=fresh fault=close-on-reuse margin=-9s: 1.26 ok=3 -> 1.30 proxy_502=3\n")
	assert.Contains(t, table[i:], "\n  haproxy (explicit) retry=off method=GET client=fresh fault=close-on-reuse margin=-9s: 2.6 proxy_502=3 -> 3.0 client_eof=3\n")
	assert.Equal(t, 6, strings.Count(table[i:], " -> "))
	assert.Less(t, i, strings.Index(table, "\nExpectations:\n"))
}

func TestBehaviourTable(t *testing.T) {
	cell := func(proxy, client, fault, retry, method, version string, counts map[results.Outcome]int, hidden, dups int, recs ...results.Record) BehaviourCell {
		trials := 0
		for _, n := range counts {
			trials += n
		}
		return BehaviourCell{Summary: results.Summary{Cell: proxy + "." + client + "." + fault + "." + retry + "." + method,
			Params: map[string]string{"proxy": proxy, "kind": proxy, "client": client, "fault": fault, "retry": retry, "method": method},
			Proxy:  map[string]string{"version": version}, Trials: trials, Counts: counts, HiddenRetry: hidden, Duplicates: dups}, Records: recs}
	}
	nginxErr := results.Record{Proxy: []proxies.Evidence{{Source: "error", Message: "upstream prematurely closed connection while reading response header from upstream"}}}
	nginxRetry := results.Record{Proxy: []proxies.Evidence{{Source: "access", UpstreamStatus: "502, 200"}, {Source: "error", Message: "upstream prematurely closed connection while reading"}}}
	cells := []BehaviourCell{
		cell("nginx", "persistent", "close-on-reuse", "off", "GET", "1.22.1", map[results.Outcome]int{results.Proxy502: 2}, 0, 0, nginxErr),
		cell("haproxy", "persistent", "close-on-reuse", "off", "GET", "2.6.12", map[results.Outcome]int{results.ClientEOF: 2}, 0, 0),
		cell("haproxy", "fresh", "close-on-reuse", "off", "GET", "2.6.12", map[results.Outcome]int{results.Proxy502: 2}, 0, 0,
			results.Record{Proxy: []proxies.Evidence{{Source: "access", Flags: "SH--"}}}),
		cell("nginx", "persistent", "processed-then-dropped", "idempotent", "GET", "1.22.1", map[results.Outcome]int{results.OKAfterHiddenRetry: 2}, 2, 2, nginxRetry),
		cell("haproxy", "persistent", "processed-then-dropped", "idempotent", "GET", "2.6.12", map[results.Outcome]int{results.OK: 1, results.Proxy502: 1}, 0, 0),
	}
	var b strings.Builder
	require.NoError(t, BehaviourTable(&b, cells))
	assert.Equal(t, `| request | retry | method | haproxy 2.6.12 (persistent client) | haproxy 2.6.12 (fresh client) | nginx 1.22.1 (persistent client) |
| --- | --- | --- | --- | --- | --- |
| never ran (close-on-reuse) | off | GET | connection dropped (no log line) | 502 (`+"`SH--`"+`) | 502 (`+"`upstream prematurely closed connection`"+`) |
| ran, then dropped | idempotent | GET | 200 1/2, 502 1/2 | - | 200, hidden retry, **ran twice** (`+"`502, 200`; `upstream prematurely closed connection`"+`) |
`, b.String())

	// Cells start in any order when they run in parallel: the table keeps
	// the matrix's order.
	want := b.String()
	b.Reset()
	rev := append([]BehaviourCell(nil), cells...)
	slices.Reverse(rev)
	require.NoError(t, BehaviourTable(&b, rev))
	assert.Equal(t, want, b.String())

	b.Reset()
	require.NoError(t, BehaviourPage(&b, cells, "linux/amd64"))
	assert.Contains(t, b.String(), "Measured on: haproxy 2.6.12, nginx 1.22.1 (linux/amd64), one pooled upstream connection")
	assert.Contains(t, b.String(), "\nReading it:\n")
}

func TestBehaviourTextUnexpressed(t *testing.T) {
	c := &BehaviourCell{Summary: results.Summary{Trials: 2, Counts: map[results.Outcome]int{results.OKAfterHiddenRetry: 2}, HiddenRetry: 2,
		Note: "not expressible on this proxy: idle timeout 500ms: ProxyPass ttl= takes whole seconds; rendered ttl=1; not expressible on this proxy: retry off: Go's transport retries a GET; 1 of 2 victims did not go out on the pooled connection (not_reused)"}}
	assert.Equal(t, "200, hidden retry — *not expressible here: idle timeout 500ms; retry off*", behaviourText(c))
	c.Summary.Note = "2 of 2 victims did not go out on the pooled connection (not_reused)"
	assert.Equal(t, "200, hidden retry", behaviourText(c))
}
