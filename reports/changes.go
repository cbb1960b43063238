package reports

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/racelab/racelab/results"
)

// ChangeTable is what an upgrade changed for one proxy kind: one row per
// setting (every cell parameter but the version), one column per version,
// each cell the outcome that version produced. Every renderer draws the
// change table from this data (ChangeTables).
type ChangeTable struct {
	Kind string
	// Versions are the version axis values, in numeric order ("1.9" before
	// "1.22"); Reported is the version each proxy reported of itself, per
	// column ("" when it did not say or cells disagree).
	Versions []string
	Reported []string
	// Axes are the parameters that tell the rows apart, in display order
	// (variant, retry, method, client, fault, then the rest); Common are
	// the parameters every row shares.
	Axes   []string
	Common map[string]string
	Rows   []ChangeRow
}

// ChangeKey names a row of a change table: the cell parameters other than
// the version.
type ChangeKey struct {
	Kind, Variant, Retry, Method, Client, Fault string
	// Rest holds the remaining parameters as "name=value", sorted (the
	// proxy label and the gap, which follow the version, left out).
	Rest string
}

// ChangeRow is one setting across versions.
type ChangeRow struct {
	Key ChangeKey
	// Params are the row's cell parameters (all but proxy, version, gap).
	Params map[string]string
	// Cells holds one entry per ChangeTable.Versions.
	Cells []ChangeCell
	// Changed is true when the behaviour (the set of outcome classes, and
	// whether a handler ran twice) differs between two consecutive
	// versions that ran; Changes lists each such step.
	Changed bool
	Changes []Change
}

// ChangeCell is one version's outcome for a setting.
type ChangeCell struct {
	// Cell is the cell id; empty when no cell ran this setting on this
	// version.
	Cell string
	// Text is the compact outcome: "ok", "proxy_502 3/3",
	// "ok 1/3, client_eof 2/3", with ", ran twice N" when handlers ran
	// twice, "error: …" for a cell that did not run.
	Text string
	// Behaviour is what the comparison looks at: the outcome classes seen,
	// joined by "+", with "+duplicates" when a handler ran twice ("" when
	// the cell recorded no trials).
	Behaviour string
	// Counts are the outcome counts ("proxy_502=3").
	Counts string
	// Differs marks a cell whose behaviour differs from the previous
	// version that ran.
	Differs bool
}

// Change is one step of a row between consecutive versions that ran.
type Change struct {
	From, To string
	// Before and After are the behaviours ("proxy_502",
	// "ok_after_hidden_retry+duplicates"); BeforeCounts and AfterCounts
	// the outcome counts.
	Before, After             string
	BeforeCounts, AfterCounts string
}

// Setting names the row's parameters the way the terminal prints a
// change: "retry=off method=POST client=fresh fault=close-on-reuse
// margin=-9s", followed by any other parameter that tells rows apart.
func (t *ChangeTable) Setting(row ChangeRow) string {
	var parts []string
	seen := map[string]bool{}
	for _, k := range []string{"retry", "method", "client", "fault", "margin"} {
		if v, ok := row.Params[k]; ok {
			parts = append(parts, k+"="+v)
			seen[k] = true
		}
	}
	for _, k := range t.Axes {
		if !seen[k] && k != "variant" && k != "kind" {
			parts = append(parts, k+"="+row.Params[k])
		}
	}
	return strings.Join(parts, " ")
}

// Label names a row in one line: "nginx explicit retry=off method=POST"
// (the kind, the variant, and the axes that tell the rows apart).
func (t *ChangeTable) Label(row ChangeRow) string {
	parts := []string{t.Kind}
	if v := row.Params["variant"]; v != "" {
		parts = append(parts, v)
	}
	for _, a := range t.Axes {
		if a != "variant" {
			parts = append(parts, a+"="+row.Params[a])
		}
	}
	return strings.Join(parts, " ")
}

// VersionLabel is column i's heading: the version, with the version the
// proxy reported when it says more ("1.22 (1.22.1)").
func (t *ChangeTable) VersionLabel(i int) string {
	v := t.Versions[i]
	if r := t.Reported[i]; r != "" && r != v {
		return v + " (" + r + ")"
	}
	return v
}

// versionName is the version the proxy reported for the column of
// version v, else v.
func (t *ChangeTable) versionName(v string) string {
	for i, x := range t.Versions {
		if x == v && t.Reported[i] != "" {
			return t.Reported[i]
		}
	}
	return v
}

// ChangedRows counts the rows whose behaviour changed.
func (t *ChangeTable) ChangedRows() int {
	n := 0
	for _, r := range t.Rows {
		if r.Changed {
			n++
		}
	}
	return n
}

// ChangeTables compares the cells that differ only in proxy version (the
// "version" parameter) and returns one table per proxy kind that ran in
// two versions or more, kinds in the order their cells appear. Cells
// without a version parameter are left out; nil when no kind spans
// versions.
func ChangeTables(sums []results.Summary) []ChangeTable {
	type group struct {
		kind     string
		versions map[string]string // version -> reported ("" when unknown or mixed)
		rows     []*ChangeRow
		byKey    map[ChangeKey]*ChangeRow
		cells    map[*ChangeRow]map[string]results.Summary
	}
	var order []string
	groups := map[string]*group{}
	for _, s := range sums {
		v := s.Params["version"]
		if v == "" {
			continue
		}
		kind := s.Params["kind"]
		if kind == "" {
			kind = proxyOf(s)
		}
		g := groups[kind]
		if g == nil {
			g = &group{kind: kind, versions: map[string]string{}, byKey: map[ChangeKey]*ChangeRow{},
				cells: map[*ChangeRow]map[string]results.Summary{}}
			groups[kind] = g
			order = append(order, kind)
		}
		if rep, seen := g.versions[v]; !seen {
			g.versions[v] = s.Proxy["version"]
		} else if rep != s.Proxy["version"] && s.Proxy["version"] != "" {
			if rep != "" {
				g.versions[v] = ""
			} else {
				g.versions[v] = s.Proxy["version"]
			}
		}
		key, params := changeKey(kind, s.Params)
		row := g.byKey[key]
		if row == nil {
			row = &ChangeRow{Key: key, Params: params}
			g.byKey[key] = row
			g.rows = append(g.rows, row)
			g.cells[row] = map[string]results.Summary{}
		}
		if _, dup := g.cells[row][v]; !dup {
			g.cells[row][v] = s
		}
	}
	var out []ChangeTable
	for _, kind := range order {
		g := groups[kind]
		if len(g.versions) < 2 {
			continue
		}
		t := ChangeTable{Kind: kind}
		for v := range g.versions {
			t.Versions = append(t.Versions, v)
		}
		sort.Slice(t.Versions, func(i, j int) bool { return versionLess(t.Versions[i], t.Versions[j]) })
		for _, v := range t.Versions {
			t.Reported = append(t.Reported, g.versions[v])
		}
		var params []map[string]string
		for _, row := range g.rows {
			params = append(params, row.Params)
		}
		t.Axes, t.Common = splitParams(params)
		for _, row := range g.rows {
			prev, prevVersion := "", ""
			var prevCounts string
			for _, v := range t.Versions {
				s, ok := g.cells[row][v]
				if !ok {
					row.Cells = append(row.Cells, ChangeCell{Text: "–"})
					continue
				}
				c := ChangeCell{Cell: s.Cell, Text: outcomeText(s), Counts: results.Counts(s.Counts)}
				if s.Trials > 0 {
					c.Behaviour = behaviour(s)
					if prevVersion != "" && c.Behaviour != prev {
						c.Differs = true
						row.Changed = true
						row.Changes = append(row.Changes, Change{From: prevVersion, To: v, Before: prev, After: c.Behaviour,
							BeforeCounts: prevCounts, AfterCounts: c.Counts})
					}
					prev, prevVersion, prevCounts = c.Behaviour, v, c.Counts
				}
				row.Cells = append(row.Cells, c)
			}
			t.Rows = append(t.Rows, *row)
		}
		out = append(out, t)
	}
	return out
}

// changeKey splits a cell's parameters into its row key and the row's
// parameters: everything but the proxy label, the version and the gap.
func changeKey(kind string, p map[string]string) (ChangeKey, map[string]string) {
	k := ChangeKey{Kind: kind, Variant: p["variant"], Retry: p["retry"], Method: p["method"], Client: p["client"], Fault: p["fault"]}
	params := map[string]string{}
	var rest []string
	for name, v := range p {
		switch name {
		case "proxy", "version", "gap":
			continue
		case "kind", "variant", "retry", "method", "client", "fault":
		default:
			rest = append(rest, name+"="+v)
		}
		params[name] = v
	}
	sort.Strings(rest)
	k.Rest = strings.Join(rest, " ")
	return k, params
}

// changeOrder is the order a change table's row axes are shown in.
var changeOrder = []string{"variant", "retry", "method", "client", "fault"}

// splitParams returns the parameters whose values differ between rows
// (variant, retry, method, client, fault first, then the rest in display
// order) and those every row shares.
func splitParams(rows []map[string]string) ([]string, map[string]string) {
	values := map[string]map[string]bool{}
	for _, p := range rows {
		for k, v := range p {
			if values[k] == nil {
				values[k] = map[string]bool{}
			}
			values[k][v] = true
		}
	}
	common := map[string]string{}
	varying := map[string]bool{}
	for k, vs := range values {
		present := 0
		for _, p := range rows {
			if _, ok := p[k]; ok {
				present++
			}
		}
		if k == "kind" {
			continue
		}
		if len(vs) > 1 || present < len(rows) {
			varying[k] = true
			continue
		}
		for v := range vs {
			common[k] = v
		}
	}
	var axes, rest []string
	for _, k := range changeOrder {
		if varying[k] {
			axes = append(axes, k)
		}
	}
	for k := range varying {
		if !contains(changeOrder, k) {
			rest = append(rest, k)
		}
	}
	return append(axes, SortParams(rest)...), common
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// CommonText formats the row-naming parameters every row of t shares
// (variant, retry, method, client, fault, margin): "variant=explicit
// client=fresh fault=close-on-reuse margin=-9s".
func (t *ChangeTable) CommonText() string {
	var parts []string
	for _, k := range append(changeOrderPresent(t.Common), "margin") {
		if _, ok := t.Common[k]; !ok {
			continue
		}
		parts = append(parts, k+"="+t.Common[k])
	}
	return strings.Join(parts, " ")
}

func changeOrderPresent(m map[string]string) []string {
	var out []string
	for _, k := range changeOrder {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// behaviour is the set of outcome classes a cell produced, with a flag for
// duplicate executions: what a version does, not how often.
func behaviour(s results.Summary) string {
	var parts []string
	for _, o := range results.Outcomes {
		if s.Counts[o] > 0 {
			parts = append(parts, string(o))
		}
	}
	if s.Duplicates > 0 {
		parts = append(parts, "duplicates")
	}
	return strings.Join(parts, "+")
}

// outcomeText is a cell's outcome in a few characters: "ok" when every
// trial passed untouched, else each class with its share of the trials,
// and the duplicate executions.
func outcomeText(s results.Summary) string {
	if s.Trials == 0 {
		if s.Error != "" {
			return "error: " + s.Error
		}
		return "no trials"
	}
	var parts []string
	for _, o := range results.Outcomes {
		n := s.Counts[o]
		if n == 0 {
			continue
		}
		if o == results.OK && n == s.Trials {
			parts = append(parts, "ok")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", o, n, s.Trials))
	}
	text := strings.Join(parts, ", ")
	if s.Duplicates > 0 {
		text += fmt.Sprintf(", ran twice %d", s.Duplicates)
		if s.DuplicatesUnsafe > 0 {
			text += " (non-idempotent)"
		}
	}
	if s.Error != "" {
		text += " (error: " + s.Error + ")"
	}
	return text
}

// versionLess orders dotted versions numerically ("1.9" < "1.22"); parts
// that are not numbers compare as text.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// changeSentence sums the change tables up in one sentence: "Across
// nginx 1.22 → 1.26 → 1.30 and haproxy 2.6 → 3.0 → 3.2, 5 of 16
// settings changed behaviour (48 cells, 144 trials)."
func changeSentence(tables []ChangeTable, sums []results.Summary) string {
	var ladders []string
	rows, changed := 0, 0
	for _, t := range tables {
		ladders = append(ladders, t.Kind+" "+strings.Join(t.Versions, " → "))
		rows += len(t.Rows)
		changed += t.ChangedRows()
	}
	trials := 0
	for _, s := range sums {
		trials += s.Trials
	}
	across := strings.Join(ladders, ", ")
	if n := len(ladders); n > 1 {
		across = strings.Join(ladders[:n-1], ", ") + " and " + ladders[n-1]
	}
	what := fmt.Sprintf("%d of %d settings changed behaviour", changed, rows)
	if changed == 0 {
		what = fmt.Sprintf("none of %d settings changed behaviour", rows)
	}
	return fmt.Sprintf("Across %s, %s (%d cells, %d trials).", across, what, len(sums), trials)
}
