package results

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Sample bounds: what a cell keeps of its records in memory. Every record
// is in the results file; a Run keeps counts, the summary, the race window
// and these samples, so its memory is flat in the number of trials.
const (
	// SampleFailures is how many failed records a cell keeps (the first
	// ones, plus the one that best shows the race when it came later).
	SampleFailures = 100
	// SampleRetries is how many successful records that hid a retry or
	// ran a handler twice a cell keeps.
	SampleRetries = 20
	// SampleSuccesses is how many plain successes a cell keeps.
	SampleSuccesses = 3
)

// Run is one run of a scenario: the manifest, its cells with their
// aggregates and a bounded sample of records, and the verdicts. lab.Run
// builds it from the lines it streams to the results file, Read builds it
// from that file, line by line: the two are the same model of the same
// lines.
type Run struct {
	Manifest *Manifest
	// Cells are in matrix order (Cell.Index), whatever order they started
	// in; a cell known only from its records comes last.
	Cells []*CellRun
	// Verdicts are the expectation verdicts the run recorded (a verdicts
	// line; when a file has several, the last one counts); HasVerdicts
	// tells a run without expectations (a line with none) from a file
	// that has no verdicts line at all.
	Verdicts    []Verdict
	HasVerdicts bool
	// Dropped describes lines that could not be read (a line cut off by an
	// interrupted run, or garbage), by 1-based line number.
	Dropped []string

	byID map[string]*CellRun
}

// CellRun is one cell of a run: its cell line (completed by its cell_end
// line), the running aggregate of its records, its race window and a
// bounded sample of its records.
type CellRun struct {
	Cell
	// Ended is true once the cell's cell_end line was seen.
	Ended bool
	// Sample holds the records kept (see SampleFailures), in trial order.
	Sample []Record
	// Omitted counts records aggregated but not kept in Sample.
	Omitted int

	sum       Summary
	win       windowAcc
	wireNS    int64
	failKept  int
	retryKept int
	okKept    int
	keptRank  int     // the best failureRank in Sample
	best      *Record // a failure that shows the race better than any kept
}

// NewRun returns an empty run.
func NewRun() *Run { return &Run{byID: map[string]*CellRun{}} }

// Cell returns the cell with id, or nil.
func (r *Run) Cell(id string) *CellRun {
	if r.byID == nil {
		return nil
	}
	return r.byID[id]
}

// Add adds one line of a results file to the run: a Manifest, a Cell (a
// cell or cell_end line), a Record or a VerdictsLine (values or
// pointers). A record of a cell with no cell line opens the cell.
func (r *Run) Add(v any) error {
	if r.byID == nil {
		r.byID = map[string]*CellRun{}
	}
	switch x := v.(type) {
	case *Manifest:
		m := *x
		r.Manifest = &m
	case Manifest:
		r.Manifest = &x
	case *Cell:
		return r.addCell(*x)
	case Cell:
		return r.addCell(x)
	case *Record:
		r.cell(x.Cell).add(*x)
	case Record:
		r.cell(x.Cell).add(x)
	case *VerdictsLine:
		r.Verdicts, r.HasVerdicts = x.Verdicts, true
	case VerdictsLine:
		r.Verdicts, r.HasVerdicts = x.Verdicts, true
	default:
		return fmt.Errorf("add result: unknown line %T", v)
	}
	return nil
}

func (r *Run) cell(id string) *CellRun {
	if c := r.byID[id]; c != nil {
		return c
	}
	c := &CellRun{Cell: Cell{Type: TypeCell, ID: id}}
	r.byID[id] = c
	r.Cells = append(r.Cells, c)
	return c
}

func (r *Run) addCell(c Cell) error {
	switch c.Type {
	case TypeCell, "":
		if prev := r.byID[c.ID]; prev != nil && (prev.Params != nil || prev.Ended) {
			return fmt.Errorf("cell %s: second cell line", c.ID)
		}
		cr := r.cell(c.ID)
		cr.Index, cr.Params, cr.Proxy, cr.Error, cr.Note = c.Index, c.Params, c.Proxy, c.Error, c.Note
		r.place(cr)
	case TypeCellEnd:
		cr := r.cell(c.ID)
		cr.Ended = true
		cr.Error = c.Error
		if c.Note != "" {
			cr.Note = c.Note
		}
		if c.Config != nil {
			cr.Config = c.Config
		}
		if c.Runtime != nil {
			cr.Runtime = c.Runtime
		}
		for k, v := range c.Proxy {
			if cr.Proxy == nil {
				cr.Proxy = map[string]string{}
			}
			cr.Proxy[k] = v
		}
	default:
		return fmt.Errorf("cell line of type %q", c.Type)
	}
	return nil
}

// place moves c, the last cell, to its place in matrix order: after every
// cell with an index at most its own.
func (r *Run) place(c *CellRun) {
	n := len(r.Cells)
	if n == 0 || r.Cells[n-1] != c {
		return
	}
	i := sort.Search(n-1, func(i int) bool { return r.Cells[i].Index > c.Index })
	copy(r.Cells[i+1:], r.Cells[i:n-1])
	r.Cells[i] = c
}

// Summaries returns every cell's summary, in cell order.
func (r *Run) Summaries() []Summary {
	out := make([]Summary, len(r.Cells))
	for i, c := range r.Cells {
		out[i] = c.Summary()
	}
	return out
}

// Trials is the number of records in the run.
func (r *Run) Trials() int {
	n := 0
	for _, c := range r.Cells {
		n += c.sum.Trials
	}
	return n
}

// Passed reports whether every verdict passed (true when there are none).
func (r *Run) Passed() bool { return AllPass(r.Verdicts) }

// Err joins the errors of the cells that could not run to the end.
func (r *Run) Err() error {
	var errs []error
	for _, c := range r.Cells {
		if c.Error != "" {
			errs = append(errs, fmt.Errorf("cell %s: %s", c.ID, c.Error))
		}
	}
	return errors.Join(errs...)
}

// NewCellRun returns an empty cell with the cell line c.
func NewCellRun(c Cell) *CellRun { return &CellRun{Cell: c} }

// Add aggregates one record of this cell.
func (c *CellRun) Add(rec Record) { c.add(rec) }

func (c *CellRun) add(rec Record) {
	c.sum.add(rec)
	c.win.add(rec)
	c.wireNS += rec.GapActualNS + rec.LatencyNS
	rank := failureRank(rec)
	if c.keep(rec) {
		c.Sample = append(c.Sample, rec)
		c.keptRank = max(c.keptRank, rank)
		return
	}
	c.Omitted++
	if rank > c.keptRank && (c.best == nil || rank > failureRank(*c.best)) {
		r := rec
		c.best = &r
	}
}

// keep decides whether rec joins the sample.
func (c *CellRun) keep(rec Record) bool {
	var kept *int
	limit := 0
	switch {
	case rec.Outcome.Failed():
		kept, limit = &c.failKept, SampleFailures
	case rec.HiddenRetry || rec.Duplicate:
		kept, limit = &c.retryKept, SampleRetries
	default:
		kept, limit = &c.okKept, SampleSuccesses
	}
	if *kept >= limit {
		return false
	}
	*kept++
	return true
}

// failureRank orders failures by how well they show the race: attributed
// with a recorded backend close (3), attributed (2), any failure (1).
func failureRank(r Record) int {
	if !r.Outcome.Failed() {
		return 0
	}
	if !r.Attributed {
		return 1
	}
	if r.Backend.Close != nil {
		return 3
	}
	return 2
}

// Records returns the records the cell kept, in trial order: the sample,
// plus the best failure when it came after the sample was full.
func (c *CellRun) Records() []Record {
	if c.best == nil {
		return c.Sample
	}
	out := append(append([]Record(nil), c.Sample...), *c.best)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// Summary returns the cell's aggregate so far.
func (c *CellRun) Summary() Summary {
	s := c.sum
	s.Cell, s.Params, s.Proxy, s.Error, s.Note = c.ID, c.Params, c.Proxy, c.Error, c.Note
	s.Counts = make(map[Outcome]int, len(c.sum.Counts))
	for k, v := range c.sum.Counts {
		s.Counts[k] = v
	}
	s.finish()
	return s
}

// Window returns the cell's race window in bins of binNS nanoseconds
// (rounded to a multiple of WindowResolutionNS); a cell with no
// timing-mode record has an empty window.
func (c *CellRun) Window(binNS int64) Window { return c.win.window(binNS) }

// Sweep returns the smallest and largest offsets the driver aimed at, ok
// false when no record says.
func (c *CellRun) Sweep() (from, to int64, ok bool) {
	return c.win.sweepFrom, c.win.sweepTo, c.win.swept
}

// WireTime is the time the cell's trials took on the wire: the sum of
// each trial's idle gap and latency.
func (c *CellRun) WireTime() time.Duration { return time.Duration(c.wireNS) }

// Timing reports whether the cell has timing-mode records (a measured
// offset).
func (c *CellRun) Timing() bool { return c.win.offsets > 0 }

// Stream writes every line to a results Writer and adds it to a Run, in
// one order under one lock: the run in memory is the file read back.
// Safe for concurrent use.
type Stream struct {
	mu  sync.Mutex
	w   *Writer
	run *Run
}

// NewStream returns a stream into run that also writes to w (nil: no
// file).
func NewStream(w *Writer, run *Run) *Stream { return &Stream{w: w, run: run} }

// Write writes v to the file (when there is one) and adds it to the run.
// A line the file could not take is still added: the run in memory stays
// whole, and the error is returned.
func (s *Stream) Write(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var werr error
	if s.w != nil {
		werr = s.w.Write(v)
	}
	return errors.Join(werr, s.run.Add(v))
}

// Cell returns the run's cell with id, or nil; safe while others write.
// The cell itself changes as its lines come: read it once they stopped.
func (s *Stream) Cell(id string) *CellRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.run.Cell(id)
}

// Run is the run the stream adds to. Read it once the writers are done.
func (s *Stream) Run() *Run { return s.run }
