package cli

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

type progClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *progClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *progClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// progBuffer is a bytes.Buffer safe for the progress goroutine.
type progBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *progBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *progBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func progEnv(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// testCells are two deterministic cells of 10 trials whose trial budget
// is 100ms each (80ms gap + 20ms overhead).
func testCells() []scenarios.Cell {
	return []scenarios.Cell{
		{ID: "-9s.off", Trials: 10, Mode: scenarios.ModeDeterministic, Gap: 80 * time.Millisecond},
		{ID: "2s.off", Trials: 10, Mode: scenarios.ModeDeterministic, Gap: 80 * time.Millisecond},
	}
}

func trial(c *scenarios.Cell, o results.Outcome) lab.Progress {
	return lab.Progress{Cell: c, Record: &results.Record{Cell: c.ID, Outcome: o}}
}

func done(c *scenarios.Cell, total int, outcomes []results.Outcome, err error) lab.Progress {
	res := &lab.CellResult{Cell: c, Err: err, Result: results.NewCellRun(results.Cell{Type: results.TypeCell, ID: c.ID})}
	for _, o := range outcomes {
		res.Result.Add(results.Record{Cell: c.ID, Outcome: o})
	}
	return lab.Progress{Cell: c, Done: res, Total: total}
}

func TestProgressMode(t *testing.T) {
	term := func(io.Writer) bool { return true }
	pipe := func(io.Writer) bool { return false }
	cases := []struct {
		name   string
		env    func(string) string
		quiet  bool
		isTerm func(io.Writer) bool
		mode   progressMode
		color  bool
	}{
		{"quiet", progEnv(), true, term, progressOff, false},
		{"terminal", progEnv(), false, term, progressLive, true},
		{"terminal NO_COLOR", progEnv("NO_COLOR", "1"), false, term, progressLive, false},
		{"terminal empty NO_COLOR", progEnv("NO_COLOR", ""), false, term, progressLive, true},
		{"CI", progEnv("CI", "true"), false, term, progressPlain, false},
		{"dumb terminal", progEnv("TERM", "dumb"), false, term, progressPlain, false},
		{"piped", progEnv(), false, pipe, progressPlain, false},
		{"quiet in CI", progEnv("CI", "1"), true, pipe, progressOff, false},
	}
	for _, c := range cases {
		mode, color := progressModeFor(io.Discard, c.env, c.quiet, c.isTerm)
		assert.Equal(t, c.mode, mode, c.name)
		assert.Equal(t, c.color, color, c.name)
	}
	assert.False(t, writerIsTerminal(&bytes.Buffer{}))
}

func TestProgressPlain(t *testing.T) {
	clock := &progClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	out := &progBuffer{}
	e := &env{getenv: progEnv("CI", "true"), stderr: out}
	cells := testCells()
	p := newProgress(e, false, cells, progressOptions{now: clock.now, ticks: make(chan time.Time), isTerminal: func(io.Writer) bool { return true }})
	defer p.Close()
	require.Equal(t, progressPlain, p.mode)
	update := p.callback()
	require.NotNil(t, update)

	for i := 0; i < 5; i++ {
		clock.add(100 * time.Millisecond)
		update(trial(&cells[0], results.Proxy502))
	}
	// Nothing is printed while a cell runs, until a heartbeat is due.
	clock.add(5 * time.Second)
	p.tick()
	assert.Empty(t, out.String())
	clock.add(5 * time.Second)
	p.tick()
	assert.Equal(t, "racelab: 0/2 cells · 5/20 trials · 5 failed · running -9s.off (5/10) · 10.5s elapsed · ETA 31.5s\n", out.String(),
		"a heartbeat after 10s of silence: 5 of 20 trial budgets in 10.5s leaves 31.5s")
	p.tick()
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), "the next heartbeat waits another 10s")

	for i := 0; i < 5; i++ {
		update(trial(&cells[0], results.OK))
	}
	update(done(&cells[0], 2, []results.Outcome{results.Proxy502, results.Proxy502, results.OK}, nil))
	update(done(&cells[1], 2, nil, errors.New("start nginx: not on PATH")))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "[1/2] -9s.off: 3 trials, 2 failed (ok=1 proxy_502=2) in 10.4s", lines[1])
	assert.Equal(t, "[2/2] 2s.off: 0 trials, 0 failed (-); error: start nginx: not on PATH", lines[2])
	assert.NotContains(t, out.String(), "\x1b", "no escape codes when not live")
	p.Close()
	p.Close() // idempotent
}

func TestProgressLive(t *testing.T) {
	clock := &progClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	out := &progBuffer{}
	e := &env{getenv: progEnv(), stderr: out}
	cells := testCells()
	ticks := make(chan time.Time)
	p := newProgress(e, false, cells, progressOptions{now: clock.now, ticks: ticks, isTerminal: func(io.Writer) bool { return true }, width: 200})
	require.Equal(t, progressLive, p.mode)
	require.True(t, p.color)
	update := p.callback()
	clock.add(time.Second)
	update(trial(&cells[0], results.Proxy502))
	// Two ticks: the second is taken only once the first redraw is done.
	ticks <- clock.now()
	ticks <- clock.now()
	update(done(&cells[0], 2, []results.Outcome{results.Proxy502}, nil))
	p.Close() // waits for the redraw goroutine: the output is final
	got := out.String()
	assert.Contains(t, got, clearLine+"0/2 cells · 1/20 trials · "+ansiRed+"1 failed"+ansiReset+" · running -9s.off (1/10) · 1s elapsed · ETA 19s")
	assert.Contains(t, got, clearLine+"[1/2] "+ansiBold+"-9s.off"+ansiReset+": 1 trials, "+ansiRed+"1 failed"+ansiReset+" (proxy_502=1)")
	assert.True(t, strings.HasSuffix(got, clearLine), "Close clears the status line: %q", got)

	// NO_COLOR: the same display without colour.
	out = &progBuffer{}
	e = &env{getenv: progEnv("NO_COLOR", "1"), stderr: out}
	p = newProgress(e, false, cells, progressOptions{now: clock.now, ticks: make(chan time.Time), isTerminal: func(io.Writer) bool { return true }, width: 200})
	p.Update(trial(&cells[0], results.Proxy502))
	p.Update(done(&cells[0], 2, []results.Outcome{results.Proxy502}, nil))
	p.Close()
	assert.Contains(t, out.String(), "[1/2] -9s.off: 1 trials, 1 failed (proxy_502=1)")
	assert.NotContains(t, out.String(), "\x1b[3", "no colour with NO_COLOR")
	assert.NotContains(t, out.String(), ansiBold)
}

func TestProgressLiveFitsWidth(t *testing.T) {
	out := &progBuffer{}
	e := &env{getenv: progEnv(), stderr: out}
	cells := testCells()
	p := newProgress(e, false, cells, progressOptions{ticks: make(chan time.Time), isTerminal: func(io.Writer) bool { return true }, width: 40})
	p.Update(trial(&cells[0], results.Proxy502))
	p.mu.Lock()
	p.draw()
	p.mu.Unlock()
	p.Close()
	for _, line := range strings.Split(out.String(), clearLine) {
		assert.LessOrEqual(t, visible(line), 39, "line %q would wrap a 40-column terminal", line)
	}
	assert.Contains(t, out.String(), "…")
}

func TestProgressQuiet(t *testing.T) {
	out := &progBuffer{}
	p := newProgress(&env{getenv: progEnv(), stderr: out}, true, testCells(), progressOptions{})
	assert.Nil(t, p.callback())
	p.Close()
	assert.Empty(t, out.String())
	assert.Nil(t, progressPrinter(out, true))
}

func TestProgressPrinter(t *testing.T) {
	var out bytes.Buffer
	cells := testCells()
	f := progressPrinter(&out, false)
	f(trial(&cells[1], results.OK))
	f(done(&cells[1], 2, []results.Outcome{results.OK}, nil))
	assert.Regexp(t, `^\[1/2\] 2s\.off: 1 trials, 0 failed \(ok=1\) in \d`, out.String())
}

func TestCutVisible(t *testing.T) {
	s := ansiRed + "abcdef" + ansiReset + "ghi"
	assert.Equal(t, 9, visible(s))
	assert.Equal(t, ansiRed+"abcd"+ansiReset, cutVisible(s, 4))
	assert.Equal(t, "éa", cutVisible("éabc", 2))
}
