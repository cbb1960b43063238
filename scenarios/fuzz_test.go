package scenarios

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzLoad: any bytes through Load and Cells end quickly (a deadline
// reports the input that did not), without a panic. A rejected file gets
// Problems that name the file, each with a message and a position inside
// the input (or none); a scenario Load accepts expands, again and alike,
// into cells with unique ids within the bounds it promises (cells,
// trials, offsets per cell).
func FuzzLoad(f *testing.F) {
	for _, name := range Builtin() {
		src, err := BuiltinSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("name: s\nbase: {mode: timing, proxy_idle: 2562047h, backend_keepalive: 1ms, sweep: {from: 2562046h, to: 2562047h, step: 1h}}\n"))
	f.Add([]byte("name: s\nmatrix: {method: [A, B, C, D, E, F, G, H], retry: [\"off\", idempotent, all], client: [persistent, fresh], close: [fin, rst]}\n"))
	f.Add([]byte("name: s\nbase: {trials: 1000000, max_trials: 1000000}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		type loaded struct {
			sc    *Scenario
			cells []Cell
			err   error
		}
		done := make(chan loaded, 1)
		go func() {
			sc, err := Load(data, "fuzz.yaml")
			if err != nil {
				done <- loaded{err: err}
				return
			}
			cells, err := sc.Cells()
			done <- loaded{sc, cells, err}
		}()
		var got loaded
		select {
		case got = <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("Load and Cells still running after 3s on %q", data)
		}
		if got.sc == nil {
			checkProblems(t, data, got.err)
			return
		}
		cells, err := got.cells, got.err
		if err != nil {
			t.Fatalf("Load accepted a scenario whose Cells fails: %v", err)
		}
		if len(cells) == 0 || len(cells) > 10000 {
			t.Fatalf("%d cells", len(cells))
		}
		ids := map[string]bool{}
		for i, c := range cells {
			if c.Trials < 1 || c.Trials > MaxTrialsPerCell || len(c.Offsets) > 1000 {
				t.Fatalf("cell %s: %d trials, %d offsets", c.ID, c.Trials, len(c.Offsets))
			}
			if c.Index != i || c.ID == "" || ids[c.ID] {
				t.Fatalf("cell %d: index %d, id %q (seen before: %v)", i, c.Index, c.ID, ids[c.ID])
			}
			ids[c.ID] = true
		}
		again, err := got.sc.Cells()
		if err != nil || len(again) != len(cells) {
			t.Fatalf("second expansion: %d cells, %v", len(again), err)
		}
		for i := range again {
			if again[i].ID != cells[i].ID {
				t.Fatalf("cell %d is %s, then %s", i, cells[i].ID, again[i].ID)
			}
		}
	})
}

// checkProblems asserts what a rejected scenario file gets: Problems,
// each naming the file, saying something, and placed inside the input.
func checkProblems(t *testing.T, data []byte, err error) {
	t.Helper()
	var probs Problems
	if !errors.As(err, &probs) || len(probs) == 0 {
		t.Fatalf("rejected with %T %v, want Problems", err, err)
	}
	// An upper bound: YAML breaks lines at \n, \r (\r\n counts once) and
	// the Unicode line breaks.
	lines := 1
	for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		lines += bytes.Count(data, []byte(br))
	}
	for _, p := range probs {
		if p.File != "fuzz.yaml" || strings.TrimSpace(p.Msg) == "" || p.Line < 0 || p.Line > lines || p.Col < 0 || (p.Line == 0 && p.Col != 0) {
			t.Fatalf("problem %+v (input of %d lines)", p, lines)
		}
	}
}

// FuzzDuration: a duration the loader accepts is written back (in cell
// ids, labels and reports) in a form that parses to the same value, for
// every value down to the nanosecond and out to the extremes of int64; a
// bare number other than 0 is never accepted.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"1500ms", "60s", "-1s", "0", "1.5", "123456789.123456789s", "-2562047h47m16.854775808s", "1h0.000000001s", "1µs", "999ns", " 2m "} {
		f.Add(s, int64(0))
	}
	f.Add("", int64(math.MinInt64))
	f.Add("", int64(123456789123456789))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		if d, err := ParseDuration(s); err == nil {
			roundTrip(t, d)
			if strings.TrimSpace(s) != "0" {
				if _, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64); ferr == nil {
					t.Fatalf("bare number %q accepted as %v", s, d)
				}
			}
		} else if err.Error() == "" {
			t.Fatalf("%q: empty error", s)
		}
		roundTrip(t, time.Duration(n))
	})
}

func roundTrip(t *testing.T, d time.Duration) {
	t.Helper()
	text := FormatDuration(d)
	back, err := ParseDuration(text)
	if err != nil || back != d {
		t.Fatalf("%d ns formats as %q, which parses to %d ns (%v)", int64(d), text, int64(back), err)
	}
}
