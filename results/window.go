package results

import (
	"math"
	"sort"
)

// WindowBin is one offset bin of a timing-mode race window.
type WindowBin struct {
	// FromNS and ToNS bound the bin's measured offsets: [from, to).
	FromNS   int64   `json:"from_ns"`
	ToNS     int64   `json:"to_ns"`
	Trials   int     `json:"trials"`
	Failures int     `json:"failures"`
	Rate     float64 `json:"rate"`
	Lo       float64 `json:"ci_low"`
	Hi       float64 `json:"ci_high"`
}

// Window is the race window measured in timing mode: the failure
// probability against the victim's offset from the backend's idle
// deadline, binned by each trial's measured offset (never the scheduled
// one).
type Window struct {
	Bins     []WindowBin `json:"bins"`
	Trials   int         `json:"trials"`
	Failures int         `json:"failures"`
	// LeadNS and TailNS are the smallest and largest measured offsets of a
	// failure; WidthNS is their distance (0 when nothing failed).
	LeadNS  int64 `json:"lead_ns"`
	TailNS  int64 `json:"tail_ns"`
	WidthNS int64 `json:"width_ns"`
	// PlateauFromNS and PlateauToNS bound the bins whose rate is at least
	// half the highest bin's rate.
	PlateauFromNS int64   `json:"plateau_from_ns"`
	PlateauToNS   int64   `json:"plateau_to_ns"`
	PeakRate      float64 `json:"peak_rate"`
	// OffSchedule counts trials left out because they went out more than
	// OffScheduleNS from their scheduled offset (a starved scheduler, a
	// slow priming request): binning them would smear the window.
	OffSchedule int `json:"off_schedule"`
}

// OffScheduleNS is how far from its scheduled offset a trial may go out
// and still count in the window: one millisecond, a third of the window.
const OffScheduleNS = 1_000_000

// DefaultWindowBinNS is the default bin width: 250µs.
const DefaultWindowBinNS = 250_000

// RaceWindow bins the timing-mode records (those with a measured offset)
// into bins of binNS nanoseconds aligned on zero (the deadline), by their
// measured offset; trials that went out far off schedule are counted, not
// binned.
func RaceWindow(recs []Record, binNS int64) Window {
	if binNS <= 0 {
		binNS = DefaultWindowBinNS
	}
	var w Window
	bins := map[int64]*WindowBin{}
	first := true
	for _, r := range recs {
		if r.OffsetNS == nil || r.Outcome == Backend5xx {
			continue
		}
		off := *r.OffsetNS
		if r.ScheduledOffsetNS != nil {
			if d := off - *r.ScheduledOffsetNS; d > OffScheduleNS || d < -OffScheduleNS {
				w.OffSchedule++
				continue
			}
		}
		k := int64(math.Floor(float64(off) / float64(binNS)))
		b := bins[k]
		if b == nil {
			b = &WindowBin{FromNS: k * binNS, ToNS: (k + 1) * binNS}
			bins[k] = b
		}
		b.Trials++
		w.Trials++
		if r.Outcome.Failed() {
			b.Failures++
			w.Failures++
			if first || off < w.LeadNS {
				w.LeadNS = off
			}
			if first || off > w.TailNS {
				w.TailNS = off
			}
			first = false
		}
	}
	keys := make([]int64, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		b := bins[k]
		b.Rate = float64(b.Failures) / float64(b.Trials)
		b.Lo, b.Hi = Wilson(b.Failures, b.Trials)
		w.Bins = append(w.Bins, *b)
		w.PeakRate = math.Max(w.PeakRate, b.Rate)
	}
	if w.Failures > 0 {
		w.WidthNS = w.TailNS - w.LeadNS
		set := false
		for _, b := range w.Bins {
			if b.Rate >= w.PeakRate/2 && b.Failures > 0 {
				if !set {
					w.PlateauFromNS = b.FromNS
					set = true
				}
				w.PlateauToNS = b.ToNS
			}
		}
	}
	return w
}
