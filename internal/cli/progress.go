package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// Progress display modes.
type progressMode int

const (
	progressOff   progressMode = iota // --quiet
	progressPlain                     // CI or piped: one line per finished cell, a heartbeat for long cells
	progressLive                      // a terminal: a status line redrawn in place
)

// Progress timing.
const (
	// heartbeatEvery is how often plain mode reports a run that has
	// printed nothing else (a long cell).
	heartbeatEvery = 10 * time.Second
	// liveRedraw is how often the live status line is redrawn.
	liveRedraw = 200 * time.Millisecond
)

// ANSI styles for the live display.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
	ansiDim   = "\x1b[2m"
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	clearLine = "\r\x1b[K"
)

// progressModeFor picks the display: off when quiet; plain when CI is set
// (any non-empty value), TERM is dumb, or w is not a terminal; live
// otherwise. Colour only in live mode, and never when NO_COLOR is set to
// a non-empty value (https://no-color.org).
func progressModeFor(w io.Writer, getenv func(string) string, quiet bool, isTerminal func(io.Writer) bool) (progressMode, bool) {
	switch {
	case quiet:
		return progressOff, false
	case getenv("CI") != "", getenv("TERM") == "dumb", !isTerminal(w):
		return progressPlain, false
	}
	return progressLive, getenv("NO_COLOR") == ""
}

// writerIsTerminal reports whether w is a terminal (golang.org/x/term).
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is w's width in columns, or 100 when unknown.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			return cols
		}
	}
	return 100
}

// cellState is a cell in flight.
type cellState struct {
	id               string
	trials, failures int
	want             int
	started          time.Time
}

// progress shows a run's progress on a writer: cells done out of the
// total, trials, failures so far and an ETA. Update is safe for
// concurrent use (lab calls it from cell goroutines); Close stops the
// redraw and heartbeat goroutine and clears the live line.
type progress struct {
	w     io.Writer
	mode  progressMode
	color bool
	width int
	now   func() time.Time

	mu          sync.Mutex
	start       time.Time
	total       int
	trialsTotal int
	budget      map[string]time.Duration // per-trial budget by cell id
	wantTrials  map[string]int
	budgetTotal time.Duration
	budgetDone  time.Duration
	cellsDone   int
	trials      int
	failures    int
	running     map[string]*cellState
	lastLine    time.Time
	drawn       bool

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// progressOptions are the injectable parts of a progress display.
type progressOptions struct {
	now        func() time.Time
	ticks      <-chan time.Time // nil: a real ticker
	isTerminal func(io.Writer) bool
	width      int
}

// newProgress returns a progress display for cells on e.stderr and starts
// its redraw (live) or heartbeat (plain) goroutine. Close it when the run
// ends.
func newProgress(e *env, quiet bool, cells []scenarios.Cell, o progressOptions) *progress {
	if o.now == nil {
		o.now = time.Now
	}
	if o.isTerminal == nil {
		o.isTerminal = writerIsTerminal
	}
	mode, color := progressModeFor(e.stderr, e.getenv, quiet, o.isTerminal)
	p := &progress{w: e.stderr, mode: mode, color: color, width: o.width, now: o.now,
		budget: map[string]time.Duration{}, wantTrials: map[string]int{}, running: map[string]*cellState{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if p.width == 0 {
		p.width = terminalWidth(e.stderr)
	}
	p.start = o.now()
	p.lastLine = p.start
	p.total = len(cells)
	for i := range cells {
		c := &cells[i]
		p.budget[c.ID] = c.TrialBudget()
		p.wantTrials[c.ID] = c.Trials
		p.trialsTotal += c.Trials
		p.budgetTotal += time.Duration(c.Trials) * c.TrialBudget()
	}
	if mode == progressOff {
		close(p.done)
		return p
	}
	ticks := o.ticks
	var ticker *time.Ticker
	if ticks == nil {
		every := liveRedraw
		if mode == progressPlain {
			every = time.Second
		}
		ticker = time.NewTicker(every)
		ticks = ticker.C
	}
	go func() {
		defer close(p.done)
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-p.stop:
				return
			case <-ticks:
				p.tick()
			}
		}
	}()
	return p
}

// callback is the lab.WithProgress function (nil when quiet).
func (p *progress) callback() func(lab.Progress) {
	if p.mode == progressOff {
		return nil
	}
	return p.Update
}

// Update records a finished trial or cell.
func (p *progress) Update(ev lab.Progress) {
	if ev.Cell == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	id := ev.Cell.ID
	if _, ok := p.budget[id]; !ok {
		// A cell the display was not told about: count it from now on.
		p.budget[id] = ev.Cell.TrialBudget()
		p.wantTrials[id] = ev.Cell.Trials
		p.total = max(p.total, ev.Total)
	}
	st := p.running[id]
	if st == nil && ev.Done == nil {
		st = &cellState{id: id, want: p.wantTrials[id], started: p.now()}
		p.running[id] = st
	}
	if r := ev.Record; r != nil {
		st.trials++
		p.trials++
		p.budgetDone += p.budget[id]
		if r.Outcome.Failed() {
			st.failures++
			p.failures++
		}
		return
	}
	if ev.Done != nil {
		if ev.Total > p.total {
			p.total = ev.Total
		}
		p.cellsDone++
		// Trials the budget expected but the cell did not run (an error,
		// an early stop) count as done: the ETA is about what is left.
		if st != nil && st.trials < st.want {
			p.budgetDone += time.Duration(st.want-st.trials) * p.budget[id]
		}
		if st == nil {
			p.budgetDone += time.Duration(p.wantTrials[id]) * p.budget[id]
		}
		delete(p.running, id)
		p.println(p.cellLine(ev.Cell, ev.Done, st))
	}
}

// cellLine is the line printed when a cell finishes.
func (p *progress) cellLine(c *scenarios.Cell, res *lab.CellResult, st *cellState) string {
	s := res.Summary()
	failed := fmt.Sprintf("%d failed", s.Failures)
	if s.Failures > 0 {
		failed = p.style(ansiRed, failed)
	}
	line := fmt.Sprintf("[%d/%d] %s: %d trials, %s (%s)", p.cellsDone, p.total, p.style(ansiBold, c.ID), s.Trials, failed, results.Counts(s.Counts))
	if st != nil {
		line += p.style(ansiDim, " in "+roundDuration(p.now().Sub(st.started)))
	}
	if res.Err != nil {
		line += "; " + p.style(ansiRed, "error: "+res.Err.Error())
	}
	return line
}

// status is the one-line summary: cells, trials, failures, what runs, ETA.
func (p *progress) status() string {
	failed := fmt.Sprintf("%d failed", p.failures)
	if p.failures > 0 {
		failed = p.style(ansiRed, failed)
	} else if p.trials > 0 {
		failed = p.style(ansiGreen, failed)
	}
	parts := []string{
		fmt.Sprintf("%d/%d cells", p.cellsDone, p.total),
		fmt.Sprintf("%d/%d trials", p.trials, p.trialsTotal),
		failed,
	}
	if len(p.running) > 0 {
		ids := make([]string, 0, len(p.running))
		for id := range p.running {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		st := p.running[ids[0]]
		run := fmt.Sprintf("running %s (%d/%d)", st.id, st.trials, st.want)
		if len(ids) > 1 {
			run += fmt.Sprintf(" +%d more", len(ids)-1)
		}
		parts = append(parts, run)
	}
	elapsed := p.now().Sub(p.start)
	parts = append(parts, roundDuration(elapsed)+" elapsed", "ETA "+p.eta(elapsed))
	return strings.Join(parts, " · ")
}

// eta extrapolates the time left from the share of the trial budget done
// so far; unknown before the first trial.
func (p *progress) eta(elapsed time.Duration) string {
	if p.budgetDone <= 0 || p.budgetTotal <= 0 {
		return "…"
	}
	left := p.budgetTotal - p.budgetDone
	if left <= 0 {
		return "0s"
	}
	return roundDuration(time.Duration(float64(elapsed) * float64(left) / float64(p.budgetDone)))
}

func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case progressLive:
		p.draw()
	case progressPlain:
		if len(p.running) > 0 && p.now().Sub(p.lastLine) >= heartbeatEvery {
			p.println("racelab: " + p.status())
		}
	}
}

// draw redraws the live status line, cut to the terminal's width so it
// never wraps.
func (p *progress) draw() {
	line := p.status()
	if visible(line) > p.width-1 {
		line = cutVisible(line, p.width-2) + "…"
		if p.color {
			line += ansiReset
		}
	}
	fmt.Fprint(p.w, clearLine+line)
	p.drawn = true
}

// println prints a permanent line: in live mode above the status line.
func (p *progress) println(line string) {
	if p.mode == progressLive && p.drawn {
		fmt.Fprint(p.w, clearLine)
		p.drawn = false
	}
	fmt.Fprintln(p.w, line)
	p.lastLine = p.now()
	if p.mode == progressLive {
		p.draw()
	}
}

// Close stops the display; in live mode it clears the status line.
func (p *progress) Close() {
	p.once.Do(func() {
		if p.mode != progressOff {
			close(p.stop)
		}
		<-p.done
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.drawn {
			fmt.Fprint(p.w, clearLine)
			p.drawn = false
		}
	})
}

func (p *progress) style(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

// roundDuration prints d to a tenth of a second below a minute, to the
// second above.
func roundDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// visible counts the runes of s outside ANSI escape sequences.
func visible(s string) int {
	n, esc := 0, false
	for _, r := range s {
		switch {
		case esc:
			esc = r != 'm'
		case r == '\x1b':
			esc = true
		default:
			n++
		}
	}
	return n
}

// cutVisible keeps the first n visible runes of s, and every escape.
func cutVisible(s string, n int) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case esc:
			b.WriteRune(r)
			esc = r != 'm'
		case r == '\x1b':
			b.WriteRune(r)
			esc = true
		case n > 0:
			b.WriteRune(r)
			n--
		}
	}
	return b.String()
}

// progressPrinter prints a plain line per finished cell and nothing when
// quiet: the display for callers that have no cell list to give.
func progressPrinter(w io.Writer, quiet bool) func(lab.Progress) {
	if quiet {
		return nil
	}
	p := &progress{w: w, mode: progressPlain, now: time.Now, budget: map[string]time.Duration{},
		wantTrials: map[string]int{}, running: map[string]*cellState{}}
	return p.Update
}

// progressCells are the cells a run of sc with flags f will run: the
// scenario's cells, or the shard's.
func progressCells(sc *scenarios.Scenario, f *runFlags) []scenarios.Cell {
	cells, err := sc.Cells()
	if err != nil {
		return nil
	}
	k, n, err := f.shardKN()
	if err != nil {
		return cells
	}
	if shard, err := lab.Shard(cells, k, n); err == nil {
		return shard
	}
	return cells
}
