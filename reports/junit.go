package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/racelab/racelab/results"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
	SystemErr  *junitText      `xml:"system-err,omitempty"`
}

// junitText is element text kept readable: CDATA, newlines as they are.
type junitText struct {
	Text string `xml:",cdata"`
}

func text(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{Text: cdata(s)}
}

// cdata makes s fit a CDATA section: encoding/xml escapes attributes and
// splits "]]>", but writes CDATA's characters as they are, and a control
// character (a proxy's log line, a hostile cell name) would make the
// whole file unreadable to a CI system. Each character XML forbids, and
// each invalid UTF-8 byte, becomes U+FFFD, as in escaped text.
func cdata(s string) string {
	ok := func(r rune) bool {
		return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) ||
			(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
	}
	clean := true
	for i, r := range s {
		if !ok(r) || (r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if !ok(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",cdata"`
}

// JUnit writes JUnit XML: one test case per expectation verdict (class
// name: the expectation; name: the cell), failed verdicts as failures
// with the cell's measurements and a sample failure's evidence. When the
// run has no verdicts, one test case per cell: a cell that did not
// complete is an error, a cell with no trials (an interrupted run) is
// skipped, and every other cell passes with its measurements as output.
// When the run spans proxy versions, a second suite names every change
// between consecutive versions as a passing test case ("nginx explicit
// retry=off method=POST: 1.22.1 → 1.30.6 changed proxy_502 →
// ok_after_hidden_retry"): the expectations decide what fails.
func (r *Report) JUnit(w io.Writer) error {
	name := r.Scenario()
	if name == "" {
		name = "racelab"
	}
	suite := junitSuite{Name: name}
	if m := r.Run.Manifest; m != nil {
		suite.Timestamp = m.Started.UTC().Format(time.RFC3339)
		suite.Properties = []junitProperty{
			{"run", m.RunID}, {"racelab_version", m.Racelab}, {"go_version", m.GoVersion}, {"os", m.OS},
			{"seed", strconv.FormatInt(m.Seed, 10)}, {"timescale", strconv.FormatFloat(m.Timescale, 'g', -1, 64)},
		}
		if r.Source != "" {
			suite.Properties = append(suite.Properties, junitProperty{"results", r.Source})
		}
	}
	if r.HasVerdicts {
		for _, v := range r.Verdicts {
			suite.Cases = append(suite.Cases, r.verdictCase(v))
		}
	} else {
		for _, s := range r.Summaries {
			suite.Cases = append(suite.Cases, r.cellCase(name, s))
		}
	}
	var total time.Duration
	for _, s := range r.Summaries {
		total += r.cellTime(s.Cell)
	}
	for _, c := range suite.Cases {
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Error != nil:
			suite.Errors++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	suite.Tests = len(suite.Cases)
	suite.Time = seconds(total)
	if len(r.Dropped) > 0 {
		suite.SystemErr = text(fmt.Sprintf("incomplete results file: %d line(s) dropped:\n%s", len(r.Dropped), strings.Join(r.Dropped, "\n")))
	}
	doc := junitSuites{Name: "racelab", Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite}}
	if cs := changesSuite(name, ChangeTables(r.Summaries)); cs != nil {
		doc.Tests += cs.Tests
		doc.Suites = append(doc.Suites, *cs)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}

func (r *Report) verdictCase(v results.Verdict) junitCase {
	c := junitCase{ClassName: v.Expectation, Name: v.Cell}
	if v.Cell == "" {
		c.Name = "(no matching cell)"
	}
	evidence := ""
	if s, ok := r.Summary(v.Cell); ok {
		c.Time = seconds(r.cellTime(v.Cell))
		evidence = r.Evidence(s)
	} else {
		c.Time = seconds(0)
	}
	if v.Pass {
		out := v.Message
		if evidence != "" {
			out += "\n" + evidence
		}
		c.SystemOut = text(out)
		return c
	}
	body := v.Message
	if evidence != "" {
		body += "\n" + evidence
	}
	c.Failure = &junitProblem{Message: v.Message, Type: "expectation", Body: cdata(body)}
	return c
}

func (r *Report) cellCase(suite string, s results.Summary) junitCase {
	c := junitCase{ClassName: suite, Name: s.Cell, Time: seconds(r.cellTime(s.Cell))}
	evidence := r.Evidence(s)
	switch {
	case s.Error != "":
		c.Error = &junitProblem{Message: "cell did not complete: " + s.Error, Type: "cell", Body: cdata(evidence)}
	case s.Trials == 0:
		c.Skipped = &junitProblem{Message: "no trials recorded for this cell (interrupted run?)"}
	default:
		c.SystemOut = text(evidence)
	}
	return c
}

// Evidence describes a cell for a failure message: its measurements
// (DescribeSummary), parameters and proxy, and, when a trial failed or
// hid a retry, a sample record with its evidence (DescribeRecord).
func (r *Report) Evidence(s results.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nparams: %s", DescribeSummary(s), FormatParams(s.Params))
	if len(s.Proxy) > 0 {
		fmt.Fprintf(&b, "\nproxy: %s", ProxyFacts(s.Proxy))
	}
	recs := r.Records(s.Cell)
	if rec, ok := SampleFailure(recs); ok {
		fmt.Fprintf(&b, "\nsample failure: %s", DescribeRecord(rec))
	} else if rec, ok := SampleRetry(recs); ok {
		fmt.Fprintf(&b, "\nsample hidden retry: %s", DescribeRecord(rec))
	}
	return b.String()
}

// cellTime is the time a cell's trials took on the wire: the sum of each
// trial's idle gap and latency.
func (r *Report) cellTime(id string) time.Duration {
	if c := r.Run.Cell(id); c != nil {
		return c.WireTime()
	}
	return 0
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// changesSuite is the suite of version changes: one test case per step of
// a changed row (nil when nothing changed).
func changesSuite(scenario string, tables []ChangeTable) *junitSuite {
	suite := junitSuite{Name: scenario + ": version changes", Time: seconds(0)}
	for _, t := range tables {
		for _, row := range t.Rows {
			for _, c := range row.Changes {
				from, to := t.versionName(c.From), t.versionName(c.To)
				suite.Cases = append(suite.Cases, junitCase{
					ClassName: scenario + ".changes." + t.Kind,
					Name:      fmt.Sprintf("%s: %s → %s changed %s → %s", t.Label(row), from, to, c.Before, c.After),
					Time:      seconds(0),
					SystemOut: text(fmt.Sprintf("%s: %s\n%s: %s\nsetting: %s", from, c.BeforeCounts, to, c.AfterCounts, FormatParams(row.Params))),
				})
			}
		}
	}
	if len(suite.Cases) == 0 {
		return nil
	}
	suite.Tests = len(suite.Cases)
	return &suite
}
