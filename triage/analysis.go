package triage

import (
	"math"
	"sort"
	"time"
)

// maxRaceGaps bounds the race failures' gaps kept for the estimate's
// strength; the smallest gap is tracked exactly beyond it.
const maxRaceGaps = 1 << 16

// Fine histogram of the gaps of requests that did not fail with the
// race: log-spaced buckets 2% wide from 1µs to about 28 hours, each with
// its count and its largest gap. Memory is fixed whatever the input.
const (
	fineMin   = float64(time.Microsecond)
	fineRatio = 1.02
	fineN     = 1300
)

type analysis struct {
	o          options
	formats    map[Format]bool
	nginxErrs  *nginxErrors
	caddy      *caddyParser
	errorLines int
	entry      Entry

	lines, unparsedN       int
	unparsedKept           []Unparsed
	counts                 map[Class]int
	status5xx              map[int]int
	fields                 map[Class]map[string]int
	last                   map[string]time.Time
	targets                map[string]bool
	backwards              int
	resolution             time.Duration
	first, lastT           time.Time
	raceGaps               []time.Duration
	raceNoGap              int
	minRace                time.Duration
	haveMinRace            bool
	fineCount              [fineN]int
	fineMax                [fineN]time.Duration
	coarseAll, coarseRace  [len(coarseEdges) + 1]int
	racesByTarget          map[string]int
	timedLines, gappedLine int
}

func newAnalysis(o options) *analysis {
	return &analysis{
		o:             o,
		formats:       map[Format]bool{},
		nginxErrs:     newNginxErrors(),
		caddy:         newCaddyParser(),
		counts:        map[Class]int{},
		status5xx:     map[int]int{},
		fields:        map[Class]map[string]int{},
		last:          map[string]time.Time{},
		targets:       map[string]bool{},
		racesByTarget: map[string]int{},
	}
}

func (a *analysis) unparsed(file string, line int, reason string) {
	a.unparsedN++
	if len(a.unparsedKept) < maxUnparsedKept {
		a.unparsedKept = append(a.unparsedKept, Unparsed{File: file, Line: line, Reason: reason})
	}
}

// add counts a classified entry and computes its idle gap.
func (a *analysis) add(e *Entry) {
	a.lines++
	a.counts[e.Class]++
	if e.Status >= 500 {
		a.status5xx[e.Status]++
		m := a.fields[e.Class]
		if m == nil {
			m = map[string]int{}
			a.fields[e.Class] = m
		}
		if len(m) < 64 || m[e.Field] > 0 {
			m[e.Field]++
		}
	}
	if !e.Time.IsZero() {
		a.timedLines++
		if e.Resolution > a.resolution {
			a.resolution = e.Resolution
		}
		if a.first.IsZero() || e.Time.Before(a.first) {
			a.first = e.Time
		}
		if e.Time.After(a.lastT) {
			a.lastT = e.Time
		}
		prev, ok := a.last[e.Target]
		if !ok {
			a.targets[e.Target] = true
		}
		switch {
		case ok && !e.Time.Before(prev):
			e.Gap, e.HasGap = e.Time.Sub(prev), true
			a.last[e.Target] = e.Time
		case ok:
			a.backwards++
		default:
			a.last[e.Target] = e.Time
		}
	}
	if e.HasGap {
		a.gappedLine++
		c := coarseBucket(e.Gap)
		a.coarseAll[c]++
		if e.Class == ClassRace {
			a.coarseRace[c]++
			if !a.haveMinRace || e.Gap < a.minRace {
				a.minRace, a.haveMinRace = e.Gap, true
			}
			if len(a.raceGaps) < maxRaceGaps {
				a.raceGaps = append(a.raceGaps, e.Gap)
			}
		} else {
			i := fineBucket(e.Gap)
			a.fineCount[i]++
			if e.Gap > a.fineMax[i] {
				a.fineMax[i] = e.Gap
			}
		}
	} else if e.Class == ClassRace {
		a.raceNoGap++
	}
	if e.Class == ClassRace {
		a.racesByTarget[e.Target]++
	}
	if a.o.onEntry != nil {
		a.o.onEntry(*e)
	}
}

func fineBucket(d time.Duration) int {
	if float64(d) <= fineMin {
		return 0
	}
	i := int(math.Log(float64(d)/fineMin) / math.Log(fineRatio))
	return min(max(i, 0), fineN-1)
}

// coarseEdges are the upper edges of the histogram a report shows.
var coarseEdges = [...]time.Duration{
	time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second,
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, time.Hour,
}

func coarseBucket(d time.Duration) int {
	for i, e := range coarseEdges {
		if d < e {
			return i
		}
	}
	return len(coarseEdges)
}

// report turns the counters into a Report.
func (a *analysis) report() *Report {
	r := &Report{
		Lines:      a.lines,
		Unparsed:   a.unparsedN,
		ErrorLines: a.errorLines,
		Race:       a.counts[ClassRace],
		Backend5xx: a.counts[ClassBackend],
		Timeouts:   a.counts[ClassTimeout],
		Capacity:   a.counts[ClassCapacity],
		Other:      a.counts[ClassOther],
		ProxyIdle:  a.o.proxyIdle,
		Targets:    len(a.targets),
		Backwards:  a.backwards,
		Resolution: a.resolution,
		Examples:   a.unparsedKept,
		Status5xx:  a.status5xx,
	}
	r.Total5xx = r.Race + r.Backend5xx + r.Timeouts + r.Capacity + r.Other
	for f := range a.formats {
		r.Formats = append(r.Formats, f)
	}
	sort.Slice(r.Formats, func(i, j int) bool { return r.Formats[i] < r.Formats[j] })
	if !a.first.IsZero() {
		r.From, r.To = a.first, a.lastT
	}
	for _, c := range []Class{ClassRace, ClassBackend, ClassTimeout, ClassCapacity, ClassOther} {
		for f, n := range a.fields[c] {
			r.Fields = append(r.Fields, FieldCount{Class: c, Field: f, Count: n})
		}
	}
	sort.SliceStable(r.Fields, func(i, j int) bool {
		if r.Fields[i].Class != r.Fields[j].Class {
			return classOrder(r.Fields[i].Class) < classOrder(r.Fields[j].Class)
		}
		if r.Fields[i].Count != r.Fields[j].Count {
			return r.Fields[i].Count > r.Fields[j].Count
		}
		return r.Fields[i].Field < r.Fields[j].Field
	})
	lo := time.Duration(0)
	for i := range a.coarseAll {
		b := Bucket{From: lo, All: a.coarseAll[i], Race: a.coarseRace[i]}
		if i < len(coarseEdges) {
			b.To = coarseEdges[i]
			lo = coarseEdges[i]
		}
		if b.All > 0 {
			r.Histogram = append(r.Histogram, b)
		}
	}
	r.KeepAlive = a.estimate()
	return r
}

func classOrder(c Class) int {
	switch c {
	case ClassRace:
		return 0
	case ClassBackend:
		return 1
	case ClassTimeout:
		return 2
	case ClassCapacity:
		return 3
	}
	return 4
}

// estimate derives the backend's effective keep-alive from the gaps.
func (a *analysis) estimate() *Estimate {
	if !a.haveMinRace {
		return nil
	}
	m := a.minRace
	res := max(a.resolution, time.Microsecond)
	if m < res {
		// Failures right after other requests, within one timestamp tick:
		// these logs cannot show an idle time that short.
		return nil
	}
	est := &Estimate{
		Value:      m,
		Failures:   len(a.raceGaps),
		NoGap:      a.raceNoGap,
		Resolution: a.resolution,
		Targets:    len(a.targets),
		Sampled:    a.counts[ClassRace]-a.raceNoGap > len(a.raceGaps),
	}
	// How tightly the failures sit just above the smallest one.
	hi := m + max(m/10, 2*res)
	for _, g := range a.raceGaps {
		if g <= hi {
			est.Clustered++
		}
	}
	// Requests that sat idle almost as long and did not fail.
	// Buckets are 2% wide: the one holding m counts only when all its
	// gaps are below m (equal gaps, common with coarse timestamps, are not
	// below it).
	half, mb := m/2, fineBucket(m)
	for i := 0; i <= mb; i++ {
		if a.fineCount[i] == 0 || i == mb && a.fineMax[i] >= m {
			continue
		}
		if a.fineMax[i] >= half {
			// The whole bucket counts (2% wide: its smallest gap may lie
			// just under half of m).
			est.SurvivedBelow += a.fineCount[i]
		}
		if a.fineMax[i] > est.LargestSurvived {
			est.LargestSurvived = a.fineMax[i]
		}
	}
	est.Strength, est.Why = strength(est, res)
	return est
}

// strength grades an estimate and says why.
func strength(e *Estimate, res time.Duration) (string, string) {
	var why []string
	coarse := res*10 > e.Value
	if coarse {
		why = append(why, "the log's timestamps ("+FormatMS(res)+" resolution) are too coarse for it")
	}
	clustered := e.Failures > 0 && e.Clustered*2 >= e.Failures
	if e.Failures < 3 {
		why = append(why, "fewer than 3 race failures have an idle gap")
	}
	if !clustered {
		why = append(why, "the failures' gaps do not cluster just above the smallest one")
	}
	if e.SurvivedBelow < 5 {
		why = append(why, "fewer than 5 requests that did not fail sat idle between half the estimate and the estimate")
	}
	switch {
	case !coarse && e.Failures >= 5 && clustered && e.SurvivedBelow >= 5:
		return "strong", "race failures cluster just above the estimate and requests idle for nearly as long did not fail"
	case !coarse && e.Failures >= 3 && (clustered || e.SurvivedBelow >= 5):
		return "moderate", joinWhy(why)
	}
	return "weak", joinWhy(why)
}

func joinWhy(why []string) string {
	s := ""
	for i, w := range why {
		if i > 0 {
			s += "; "
		}
		s += w
	}
	return s
}
