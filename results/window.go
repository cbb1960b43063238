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

// WindowResolutionNS is the finest bin a race window keeps while records
// stream in: 10µs. A window is rendered in bins that are multiples of it.
const WindowResolutionNS = 10_000

// RaceWindow bins the timing-mode records (those with a measured offset)
// into bins of binNS nanoseconds aligned on zero (the deadline), by their
// measured offset; trials that went out far off schedule are counted, not
// binned.
func RaceWindow(recs []Record, binNS int64) Window {
	var acc windowAcc
	for _, r := range recs {
		acc.add(r)
	}
	return acc.window(binNS)
}

// windowAcc accumulates a race window from records as they stream, in
// bins of WindowResolutionNS: its size is bounded by the swept range, not
// by the number of trials.
type windowAcc struct {
	bins        map[int64]*[2]int // fine bin -> trials, failures
	offsets     int               // records with a measured offset
	trials      int
	failures    int
	lead, tail  int64
	offSchedule int
	swept       bool
	sweepFrom   int64
	sweepTo     int64
}

func (a *windowAcc) add(r Record) {
	if r.OffsetNS == nil {
		return
	}
	a.offsets++
	if o := r.ScheduledOffsetNS; o != nil {
		if !a.swept || *o < a.sweepFrom {
			a.sweepFrom = *o
		}
		if !a.swept || *o > a.sweepTo {
			a.sweepTo = *o
		}
		a.swept = true
	}
	if r.Outcome == Backend5xx {
		return
	}
	off := *r.OffsetNS
	if r.ScheduledOffsetNS != nil {
		if d := off - *r.ScheduledOffsetNS; d > OffScheduleNS || d < -OffScheduleNS {
			a.offSchedule++
			return
		}
	}
	if a.bins == nil {
		a.bins = map[int64]*[2]int{}
	}
	k := floorDiv(off, WindowResolutionNS)
	b := a.bins[k]
	if b == nil {
		b = new([2]int)
		a.bins[k] = b
	}
	b[0]++
	a.trials++
	if r.Outcome.Failed() {
		b[1]++
		if a.failures == 0 || off < a.lead {
			a.lead = off
		}
		if a.failures == 0 || off > a.tail {
			a.tail = off
		}
		a.failures++
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (a *windowAcc) window(binNS int64) Window {
	if binNS <= 0 {
		binNS = DefaultWindowBinNS
	}
	binNS = max(WindowResolutionNS, binNS/WindowResolutionNS*WindowResolutionNS)
	w := Window{Trials: a.trials, Failures: a.failures, OffSchedule: a.offSchedule}
	bins := map[int64]*WindowBin{}
	for k, fine := range a.bins {
		j := floorDiv(k*WindowResolutionNS, binNS)
		b := bins[j]
		if b == nil {
			b = &WindowBin{FromNS: j * binNS, ToNS: (j + 1) * binNS}
			bins[j] = b
		}
		b.Trials += fine[0]
		b.Failures += fine[1]
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
		w.LeadNS, w.TailNS = a.lead, a.tail
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
