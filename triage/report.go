package triage

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Report is what Analyze found.
type Report struct {
	Formats    []Format
	Lines      int // request lines parsed
	Unparsed   int // lines that are not lines of the format
	ErrorLines int // error-log lines read as evidence
	Total5xx   int
	Race       int
	Backend5xx int
	Timeouts   int
	Capacity   int
	Other      int
	Status5xx  map[int]int
	// Fields counts the field values each 5xx class rests on.
	Fields []FieldCount
	// Histogram of the idle gap per target: every request against the
	// race failures.
	Histogram []Bucket
	// KeepAlive is the estimated backend keep-alive; nil without a race
	// failure that follows a known gap.
	KeepAlive  *Estimate
	ProxyIdle  time.Duration // zero: not given
	Targets    int           // distinct targets ("" counts as one)
	Backwards  int           // lines whose time went backwards for their target
	Resolution time.Duration // coarsest timestamp resolution seen
	From, To   time.Time
	Examples   []Unparsed // the first unparsed lines
}

// FieldCount is how many 5xx of a class rest on one field value.
type FieldCount struct {
	Class Class  `json:"class"`
	Field string `json:"field"`
	Count int    `json:"count"`
}

// Bucket is one histogram bar: gaps in [From, To) (To zero: no bound).
type Bucket struct {
	From, To time.Duration
	All      int
	Race     int
}

// Estimate is the backend's effective keep-alive, read from the idle
// gaps: the gap below which race failures never occur.
type Estimate struct {
	Value time.Duration
	// Failures is how many race failures have a gap (NoGap: how many do
	// not: the first request to their target, or no time).
	Failures, NoGap int
	// Clustered: failures within 10% (or two timestamp ticks) above Value.
	Clustered int
	// SurvivedBelow: requests that did not fail with gaps between half of
	// Value and Value. LargestSurvived: the largest such gap below Value.
	SurvivedBelow   int
	LargestSurvived time.Duration
	Resolution      time.Duration
	Targets         int
	Sampled         bool // more failures than kept for the strength counts
	Strength        string
	Why             string
}

// FormatMS prints a duration in milliseconds, as racelab's reports do.
func FormatMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	return strconv.FormatFloat(ms, 'f', -1, 64) + "ms"
}

func pct(n, of int) string {
	if of == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*float64(n)/float64(of), 'f', 1, 64) + "%"
}

// DefaultMargin is the headroom the parity rule asks for.
const DefaultMargin = time.Second

// Verdict is the paragraph to paste into an incident channel.
func (r *Report) Verdict() string {
	var b strings.Builder
	fmt.Fprintf(&b, "racelab triage read %d requests", r.Lines)
	if !r.From.IsZero() {
		fmt.Fprintf(&b, " (%s to %s)", r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	}
	if r.Unparsed > 0 {
		fmt.Fprintf(&b, " and could not parse %d lines", r.Unparsed)
	}
	fmt.Fprintf(&b, ". %d answered 5xx: %d (%s) carry the proxy's own cause code for a stale reused connection (the keep-alive race), %d came from the backend, %d were timeouts, %d capacity, %d other.",
		r.Total5xx, r.Race, pct(r.Race, r.Total5xx), r.Backend5xx, r.Timeouts, r.Capacity, r.Other)
	if r.Race == 0 {
		b.WriteString(" No 5xx carries the race's signature, so the keep-alive race does not explain these errors.")
		return b.String()
	}
	if top := r.topField(ClassRace); top != "" {
		fmt.Fprintf(&b, " The race's signature here is %s.", top)
	}
	e := r.KeepAlive
	if e == nil {
		fmt.Fprintf(&b, " No race failure follows an idle gap the logs can measure (timestamps every %s), so they do not show the backend's keep-alive.", FormatMS(r.Resolution))
	} else {
		fmt.Fprintf(&b, " Race failures follow idle gaps of at least %s at their target (%d of %d within 10%% above it), and %d requests idle between %s and %s did not fail",
			FormatMS(e.Value), e.Clustered, e.Failures, e.SurvivedBelow, FormatMS(e.Value/2), FormatMS(e.Value))
		if e.LargestSurvived > 0 {
			fmt.Fprintf(&b, " (the longest: %s)", FormatMS(e.LargestSurvived))
		}
		fmt.Fprintf(&b, ": the backend's effective keep-alive is about %s (%s estimate", FormatMS(e.Value), e.Strength)
		if e.Why != "" {
			fmt.Fprintf(&b, ": %s", e.Why)
		}
		b.WriteString(").")
		if r.Targets <= 1 {
			b.WriteString(" The log names no backend per request, so all requests count as one pool: the gaps are the shortest idle times, and the estimate is a lower bound of the keep-alive.")
		} else {
			b.WriteString(" A load balancer keeps many connections per target, so the gap since the previous request to a target is at most the idle time of the connection that failed: the estimate is a lower bound.")
		}
	}
	if r.ProxyIdle > 0 {
		need := r.ProxyIdle + DefaultMargin
		fmt.Fprintf(&b, " The proxy keeps idle upstream connections for %s; the parity rule backend_keepalive >= proxy_idle + margin asks for a backend keep-alive of at least %s (margin %s)",
			FormatMS(r.ProxyIdle), FormatMS(need), FormatMS(DefaultMargin))
		if e != nil {
			if e.Value < need {
				fmt.Fprintf(&b, ", and %s is %s short of it: raise the backend's keep-alive to %s or more, or lower the proxy's idle timeout below %s.",
					FormatMS(e.Value), FormatMS(need-e.Value), FormatMS(need), FormatMS(max(e.Value-DefaultMargin, 0)))
			} else {
				b.WriteString(", which the estimate meets: look for connections the backend closes for other reasons (max requests, max lifetime, restarts).")
			}
		} else {
			b.WriteString(".")
		}
	}
	b.WriteString(" Retry connection failures for idempotent requests only.")
	return b.String()
}

func (r *Report) topField(c Class) string {
	for _, f := range r.Fields {
		if f.Class == c {
			return f.Field
		}
	}
	return ""
}

// Text prints the verdict, the classes with their fields, and the
// histogram.
func (r *Report) Text(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.Verdict())
	b.WriteString("\n\n5xx by class (the field each decision rests on):\n")
	if len(r.Fields) == 0 {
		b.WriteString("  none\n")
	}
	for _, f := range r.Fields {
		fmt.Fprintf(&b, "  %-12s %6d  %s\n", f.Class, f.Count, f.Field)
	}
	if len(r.Histogram) > 0 {
		b.WriteString("\nIdle gap since the previous request to the same target:\n")
		fmt.Fprintf(&b, "  %-22s %10s %10s\n", "gap", "requests", "race")
		for _, h := range r.Histogram {
			fmt.Fprintf(&b, "  %-22s %10d %10d\n", h.label(), h.All, h.Race)
		}
	}
	if r.Unparsed > 0 {
		fmt.Fprintf(&b, "\n%d unparsed lines, the first:\n", r.Unparsed)
		for _, u := range r.Examples {
			fmt.Fprintf(&b, "  %s:%d: %s\n", u.File, u.Line, u.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (h Bucket) label() string {
	if h.To == 0 {
		return ">= " + h.From.String()
	}
	return "[" + h.From.String() + ", " + h.To.String() + ")"
}

// JSON is the report as --json prints it.
type JSON struct {
	Formats             []Format       `json:"formats"`
	Lines               int            `json:"lines"`
	Unparsed            int            `json:"unparsed"`
	ErrorLines          int            `json:"error_lines"`
	Total5xx            int            `json:"total_5xx"`
	Race                int            `json:"race"`
	Backend5xx          int            `json:"backend_5xx"`
	Timeouts            int            `json:"timeouts"`
	Capacity            int            `json:"capacity"`
	Other               int            `json:"other"`
	RaceShare           float64        `json:"race_share"`
	Status5xx           map[string]int `json:"status_5xx"`
	Fields              []FieldCount   `json:"fields"`
	EstimatedKeepAlive  *float64       `json:"estimated_backend_keepalive_ms"`
	KeepAliveStrength   string         `json:"keepalive_strength,omitempty"`
	KeepAliveWhy        string         `json:"keepalive_why,omitempty"`
	RaceFailuresWithGap int            `json:"race_failures_with_gap"`
	Clustered           int            `json:"race_failures_clustered"`
	SurvivedBelow       int            `json:"survived_below_estimate"`
	ProxyIdleMS         *float64       `json:"proxy_idle_ms,omitempty"`
	ParityOK            *bool          `json:"parity_ok,omitempty"`
	Targets             int            `json:"targets"`
	TimestampResMS      float64        `json:"timestamp_resolution_ms"`
	Histogram           []JSONBucket   `json:"histogram"`
	UnparsedExamples    []Unparsed     `json:"unparsed_examples,omitempty"`
	Verdict             string         `json:"verdict"`
}

// JSONBucket is a histogram bar in milliseconds (to_ms null: no bound).
type JSONBucket struct {
	FromMS float64  `json:"from_ms"`
	ToMS   *float64 `json:"to_ms"`
	All    int      `json:"requests"`
	Race   int      `json:"race"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// JSON returns the report's JSON form.
func (r *Report) JSON() JSON {
	j := JSON{
		Formats: r.Formats, Lines: r.Lines, Unparsed: r.Unparsed, ErrorLines: r.ErrorLines,
		Total5xx: r.Total5xx, Race: r.Race, Backend5xx: r.Backend5xx, Timeouts: r.Timeouts,
		Capacity: r.Capacity, Other: r.Other, Fields: r.Fields, Targets: r.Targets,
		TimestampResMS: ms(r.Resolution), UnparsedExamples: r.Examples, Verdict: r.Verdict(),
		Status5xx: map[string]int{}, Histogram: []JSONBucket{},
	}
	if j.Fields == nil {
		j.Fields = []FieldCount{}
	}
	if r.Total5xx > 0 {
		j.RaceShare = float64(r.Race) / float64(r.Total5xx)
	}
	for s, n := range r.Status5xx {
		j.Status5xx[strconv.Itoa(s)] = n
	}
	for _, h := range r.Histogram {
		b := JSONBucket{FromMS: ms(h.From), All: h.All, Race: h.Race}
		if h.To != 0 {
			v := ms(h.To)
			b.ToMS = &v
		}
		j.Histogram = append(j.Histogram, b)
	}
	if e := r.KeepAlive; e != nil {
		v := ms(e.Value)
		j.EstimatedKeepAlive = &v
		j.KeepAliveStrength, j.KeepAliveWhy = e.Strength, e.Why
		j.RaceFailuresWithGap, j.Clustered, j.SurvivedBelow = e.Failures, e.Clustered, e.SurvivedBelow
	}
	if r.ProxyIdle > 0 {
		v := ms(r.ProxyIdle)
		j.ProxyIdleMS = &v
		if r.KeepAlive != nil {
			ok := r.KeepAlive.Value >= r.ProxyIdle+DefaultMargin
			j.ParityOK = &ok
		}
	}
	return j
}

// WriteJSON writes the JSON form, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON())
}
