package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// Format names an output format.
type Format string

// Formats.
const (
	HTML     Format = "html"
	Markdown Format = "md"
	CSV      Format = "csv"
	JSON     Format = "json"
	JUnit    Format = "junit"
	Table    Format = "table"
)

// Formats lists every format, the default (Table) first.
func Formats() []Format { return []Format{Table, HTML, Markdown, CSV, JSON, JUnit} }

// ParseFormat parses a format name; "markdown" and "xml" are accepted for
// md and junit.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case HTML, Markdown, CSV, JSON, JUnit, Table:
		return f, nil
	case "markdown":
		return Markdown, nil
	case "xml":
		return JUnit, nil
	}
	names := make([]string, 0, len(Formats()))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("format %q: want one of %s", s, strings.Join(names, ", "))
}

// Report is a results file ready to render. Build it with New; its fields
// are what every format shows.
type Report struct {
	// Run is the results file read back.
	Run *results.Run
	// Source names where the run came from (a file name), for display.
	Source string
	// Summaries are the per-cell aggregates, in cell order.
	Summaries []results.Summary
	// Verdicts are the expectation verdicts: the ones recorded in the
	// results file, or the ones given by WithVerdicts or WithExpectations.
	// HasVerdicts is false when there were none to show (no expectations
	// recorded or evaluated).
	Verdicts    []results.Verdict
	HasVerdicts bool
	// Windows are the race windows of the timing-mode cells.
	Windows []CellWindow
	// Dropped lists the lines of the results file that could not be read.
	Dropped []string

	binNS    int64
	verdict  *[]results.Verdict
	exps     []scenarios.Expectation
	evaluate bool
}

// CellWindow is one timing-mode cell's race window.
type CellWindow struct {
	Cell   string            `json:"cell"`
	Params map[string]string `json:"params,omitempty"`
	Window results.Window    `json:"window"`
	// SweepFromNS and SweepToNS are the smallest and largest offsets the
	// driver aimed at (when the records say): the range the chart shows.
	SweepFromNS *int64 `json:"sweep_from_ns,omitempty"`
	SweepToNS   *int64 `json:"sweep_to_ns,omitempty"`
	// LatencyNS is the cell's path latency (one way) when it has one;
	// ModelWidthNS the window width the model predicts for it, 2 ×
	// latency + LagNS, the width of the same cell at zero latency (0: no
	// such cell in the run).
	LatencyNS    int64 `json:"latency_ns,omitempty"`
	LagNS        int64 `json:"lag_ns,omitempty"`
	ModelWidthNS int64 `json:"model_width_ns,omitempty"`
}

// Option configures New.
type Option func(*Report)

// WithSource names the results file in the report.
func WithSource(name string) Option { return func(r *Report) { r.Source = name } }

// WithVerdicts replaces the verdicts recorded in the results file.
func WithVerdicts(vs []results.Verdict) Option {
	return func(r *Report) { r.verdict = &vs }
}

// WithExpectations evaluates exps (a scenario's expectations) against the
// run's summaries; the verdicts replace the recorded ones.
func WithExpectations(exps []scenarios.Expectation) Option {
	return func(r *Report) { r.exps, r.evaluate = exps, true }
}

// WithBinWidth sets the race window's bin width (default
// results.DefaultWindowBinNS, 250µs).
func WithBinWidth(d time.Duration) Option { return func(r *Report) { r.binNS = int64(d) } }

// New builds a report of run.
func New(run *results.Run, opts ...Option) *Report {
	if run == nil {
		run = results.NewRun()
	}
	r := &Report{Run: run, binNS: results.DefaultWindowBinNS}
	for _, o := range opts {
		o(r)
	}
	r.Summaries = run.Summaries()
	r.Dropped = run.Dropped
	switch {
	case r.evaluate:
		r.Verdicts = scenarios.Evaluate(r.exps, r.Summaries)
		r.HasVerdicts = len(r.exps) > 0
	case r.verdict != nil:
		r.Verdicts = *r.verdict
		r.HasVerdicts = len(r.Verdicts) > 0
	default:
		r.Verdicts = run.Verdicts
		r.HasVerdicts = len(run.Verdicts) > 0
	}
	r.Windows = windows(run, r.binNS)
	return r
}

// Write renders the report in format f.
func (r *Report) Write(w io.Writer, f Format) error {
	switch f {
	case HTML:
		return r.HTML(w)
	case Markdown:
		return r.Markdown(w)
	case CSV:
		return r.CSV(w)
	case JSON:
		return r.JSON(w)
	case JUnit:
		return r.JUnit(w)
	case Table:
		return r.Table(w)
	}
	_, err := ParseFormat(string(f))
	return err
}

// Passed reports whether every verdict passed (true when there are none).
func (r *Report) Passed() bool { return results.AllPass(r.Verdicts) }

// Counts returns how many verdicts passed and failed.
func (r *Report) Counts() (passed, failed int) {
	for _, v := range r.Verdicts {
		if v.Pass {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// Scenario is the scenario's name from the manifest ("" when the manifest
// line is missing).
func (r *Report) Scenario() string {
	if r.Run.Manifest == nil {
		return ""
	}
	return r.Run.Manifest.Scenario
}

// Records returns the records the run kept of cell id (a bounded sample:
// see results.CellRun), in trial order.
func (r *Report) Records(id string) []results.Record {
	if c := r.Run.Cell(id); c != nil {
		return c.Records()
	}
	return nil
}

// Summary returns the summary of cell id.
func (r *Report) Summary(id string) (results.Summary, bool) {
	for _, s := range r.Summaries {
		if s.Cell == id {
			return s, true
		}
	}
	return results.Summary{}, false
}

// Proxies describes every distinct proxy that ran, like "go 1.26.8
// (embedded, net/http/httputil.ReverseProxy)", sorted.
func (r *Report) Proxies() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range r.Run.Cells {
		if len(c.Proxy) == 0 {
			continue
		}
		d := ProxyFacts(c.Proxy)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// instanceFacts are proxy facts that name one instance (a process, a
// container, a temp dir), not the proxy that ran.
var instanceFacts = map[string]bool{"pid": true, "dir": true, "config_dir": true, "container_id": true, "run_id": true}

// ProxyFacts formats a cell's proxy facts: kind and version first, then
// the rest in parentheses, leaving out what names one instance (pid,
// temp dir, container id).
func ProxyFacts(p map[string]string) string {
	head := strings.TrimSpace(p["kind"] + " " + p["version"])
	var keys []string
	for k := range p {
		if k != "kind" && k != "version" && !instanceFacts[k] && p[k] != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var rest []string
	for _, k := range keys {
		switch k {
		case "runtime", "implementation":
			rest = append(rest, p[k])
		default:
			rest = append(rest, k+" "+p[k])
		}
	}
	if len(rest) == 0 {
		return head
	}
	return head + " (" + strings.Join(rest, ", ") + ")"
}

func windows(run *results.Run, binNS int64) []CellWindow {
	var out []CellWindow
	for _, c := range run.Cells {
		if !c.Timing() {
			continue
		}
		cw := CellWindow{Cell: c.ID, Params: c.Params, Window: c.Window(binNS)}
		if from, to, ok := c.Sweep(); ok {
			cw.SweepFromNS, cw.SweepToNS = &from, &to
		}
		out = append(out, cw)
	}
	latencyModel(out)
	return out
}

// proxyOf names the proxy of a summary: its proxy axis value, else the
// kind the proxy reported.
func proxyOf(s results.Summary) string {
	if p := s.Params["proxy"]; p != "" {
		return p
	}
	if k := s.Proxy["kind"]; k != "" {
		return k
	}
	return "proxy"
}
