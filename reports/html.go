package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/racelab/racelab/results"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"join": strings.Join,
}).Parse(htmlSource))

// MaxTimelines bounds the sample failures drawn in the HTML report: one
// per proxy, the first failing cell of each.
const MaxTimelines = 6

type htmlChart struct {
	SVG template.HTML
}

type htmlTimeline struct {
	Title   string
	Caption string
	SVG     template.HTML
}

type htmlRow struct {
	Cell                                     string
	Params                                   []string
	Trials                                   int
	Outcomes, Rate, Attributed, Hidden, Dups string
	Error, Note, Proxy                       string
}

type htmlGroup struct {
	Expectation, Text string
	Pass              bool
	Cells             []htmlVerdictCell
}

type htmlVerdictCell struct {
	Cell, Detail string
	Pass         bool
}

type htmlChangeTable struct {
	Kind, Common string
	Axes         []string
	Versions     []string
	Rows         []htmlChangeRow
}

type htmlChangeRow struct {
	Changed bool
	Params  []string
	Cells   []ChangeCell
}

type htmlWindowRow struct {
	Cell                             string
	Trials, Failures                 int
	Lead, Tail, Width, Plateau, Peak string
}

type htmlView struct {
	Title, Scenario, Started, Source, Version string
	Manifest                                  *results.Manifest
	Proxies                                   []string
	Dropped                                   []string
	HasVerdicts                               bool
	Verdicts                                  []results.Verdict
	Groups                                    []htmlGroup
	Passed, Failed                            int
	GroupsPassed, GroupsFailed                int
	ChangeSentence                            string
	Changes                                   []htmlChangeTable
	Trials, Failures                          int
	Heatmaps                                  []htmlChart
	Window                                    template.HTML
	WindowRows                                []htmlWindowRow
	BinWidth                                  string
	WindowOutside                             int
	Timelines                                 []htmlTimeline
	Axes                                      []string
	Rows                                      []htmlRow
	ChartErrors                               []string
	Configs                                   []ConfigSection
}

// HTML writes the report as one self-contained HTML page: when the run
// spans proxy versions, the change tables first (what each upgrade
// changed); the run manifest, the expectations grouped (one collapsible
// line each, with its cells), a heatmap of failure rate over margin × retry
// policy per proxy, the race-window chart of the timing-mode cells, a
// connection timeline for a sample failure per proxy, and the per-cell
// table. The page loads nothing: no scripts, styles inline, charts as
// inline SVG, and a Content-Security-Policy that forbids any fetch.
func (r *Report) HTML(w io.Writer) error {
	v := htmlView{Scenario: r.Scenario(), Source: r.Source, Manifest: r.Run.Manifest, Proxies: r.Proxies(),
		Dropped: r.Dropped, HasVerdicts: r.HasVerdicts, Verdicts: r.Verdicts, BinWidth: FormatNS(r.binNS),
		Configs: ConfigSections(r.Run)}
	if v.Scenario == "" {
		v.Scenario = "(unnamed run)"
	}
	v.Title = "racelab: " + v.Scenario
	if m := r.Run.Manifest; m != nil {
		v.Started = m.Started.UTC().Format("2006-01-02 15:04:05 MST")
		v.Version = m.Racelab
	}
	v.Passed, v.Failed = r.Counts()
	for _, g := range r.Groups() {
		hg := htmlGroup{Expectation: g.Expectation, Text: g.cellsText(), Pass: g.Pass()}
		if g.Pass() {
			v.GroupsPassed++
		} else {
			v.GroupsFailed++
		}
		for _, vd := range g.Ordered() {
			cell := vd.Cell
			if cell == "" {
				cell = "(no matching cell)"
			}
			hg.Cells = append(hg.Cells, htmlVerdictCell{Cell: cell, Detail: verdictDetail(vd), Pass: vd.Pass})
		}
		v.Groups = append(v.Groups, hg)
	}
	if tables := ChangeTables(r.Summaries); len(tables) > 0 {
		v.ChangeSentence = changeSentence(tables, r.Summaries)
		for _, t := range tables {
			ht := htmlChangeTable{Kind: t.Kind, Common: t.CommonText(), Axes: t.Axes}
			for i := range t.Versions {
				ht.Versions = append(ht.Versions, t.VersionLabel(i))
			}
			for _, row := range t.Rows {
				hr := htmlChangeRow{Changed: row.Changed, Cells: row.Cells}
				for _, a := range t.Axes {
					hr.Params = append(hr.Params, row.Params[a])
				}
				ht.Rows = append(ht.Rows, hr)
			}
			v.Changes = append(v.Changes, ht)
		}
	}
	for _, hp := range heatPanels(r.Summaries) {
		svg, err := heatmapSVG(hp)
		if err != nil {
			v.ChartErrors = append(v.ChartErrors, err.Error())
			continue
		}
		v.Heatmaps = append(v.Heatmaps, htmlChart{SVG: template.HTML(svg)}) // gonum/plot escapes its text
	}
	if len(r.Windows) > 0 {
		svg, outside, err := windowSVG(r.Windows, r.binNS)
		if err != nil {
			v.ChartErrors = append(v.ChartErrors, err.Error())
		} else {
			v.Window = template.HTML(svg) // gonum/plot escapes its text
			v.WindowOutside = outside
		}
		for _, cw := range r.Windows {
			win := cw.Window
			row := htmlWindowRow{Cell: cw.Cell, Trials: win.Trials, Failures: win.Failures, Lead: "–", Tail: "–", Width: "–", Plateau: "–", Peak: Percent(win.PeakRate)}
			if win.Failures > 0 {
				row.Lead, row.Tail, row.Width = FormatOffset(win.LeadNS), FormatOffset(win.TailNS), FormatNS(win.WidthNS)
				row.Plateau = FormatOffset(win.PlateauFromNS) + " … " + FormatOffset(win.PlateauToNS)
			}
			v.WindowRows = append(v.WindowRows, row)
		}
	}
	v.Timelines = r.timelines()
	v.Axes = SortParams(VaryingParams(r.Summaries))
	for _, s := range r.Summaries {
		row := htmlRow{Cell: s.Cell, Trials: s.Trials, Outcomes: results.Counts(s.Counts), Rate: results.Rate(s),
			Attributed: fmt.Sprintf("%d/%d", s.Attributed, s.Failures), Hidden: fmt.Sprint(s.HiddenRetry),
			Dups: fmt.Sprint(s.Duplicates), Error: s.Error, Note: s.Note}
		if s.DuplicatesUnsafe > 0 {
			row.Dups = fmt.Sprintf("%d (%d non-idempotent)", s.Duplicates, s.DuplicatesUnsafe)
		}
		row.Proxy = strings.TrimSpace(s.Proxy["kind"] + " " + s.Proxy["version"])
		for _, a := range v.Axes {
			row.Params = append(row.Params, s.Params[a])
		}
		v.Trials += s.Trials
		v.Failures += s.Failures
		v.Rows = append(v.Rows, row)
	}
	if err := htmlTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

// timelines draws a sample failure for each proxy: from the first cell
// (in run order) that has a failed trial.
func (r *Report) timelines() []htmlTimeline {
	var out []htmlTimeline
	seen := map[string]bool{}
	for _, s := range r.Summaries {
		p := proxyOf(s)
		if seen[p] || s.Failures == 0 || len(out) >= MaxTimelines {
			continue
		}
		rec, ok := SampleFailure(r.Records(s.Cell))
		if !ok {
			continue
		}
		seen[p] = true
		name := p
		if s.Proxy["version"] != "" {
			name += " " + s.Proxy["version"]
		}
		caption := fmt.Sprintf("%s. Times are measured on the harness's monotonic clock from the moment the request left the client; rows are in time order, not to scale.", DescribeSummary(s))
		if rec.Wire != nil && rec.Wire.Unavailable == "" {
			caption += " Dotted green rows are packets captured on lo on the connection the proxy reused, at their kernel timestamps."
		}
		out = append(out, htmlTimeline{
			Title:   fmt.Sprintf("%s: cell %s, trial %d", p, s.Cell, rec.Seq),
			Caption: caption,
			SVG:     template.HTML(timelineSVG(rec, name)), // svgBuilder escapes every text
		})
	}
	return out
}
