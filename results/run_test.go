package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// record makes the seq-th record of a cell: every seventh fails (every
// fourteenth attributed, with a close), every fifth success hid a retry.
func record(cell string, seq int) Record {
	r := Record{Type: TypeTrial, RunID: "r", Cell: cell, Seq: seq, Method: "GET", Outcome: OK,
		GapActualNS: 1000, LatencyNS: 10, Time: time.Date(2026, 1, 1, 0, 0, 0, seq, time.UTC)}
	switch {
	case seq%7 == 0:
		r.Outcome = Proxy502
		if seq%14 == 0 {
			r.Attributed = true
			r.Backend.Close = &CloseEvidence{Conn: 1, Closer: "backend", Reason: "fault"}
		}
	case seq%5 == 0:
		r.Outcome, r.HiddenRetry = OKAfterHiddenRetry, true
	}
	off := int64(seq%400)*10_000 - 500_000
	r.OffsetNS, r.ScheduledOffsetNS = &off, &off
	return r
}

// A cell keeps counts exactly and a bounded sample of its records.
func TestCellRunSampleIsBounded(t *testing.T) {
	c := NewCellRun(Cell{Type: TypeCell, ID: "a"})
	const n = 100_000
	for i := 0; i < n; i++ {
		c.Add(record("a", i))
	}
	s := c.Summary()
	wantFail := (n + 6) / 7
	if s.Trials != n || s.Failures != wantFail || s.Attributed != (n+13)/14 {
		t.Fatalf("summary: %d trials, %d failures, %d attributed; want %d, %d, %d", s.Trials, s.Failures, s.Attributed, n, wantFail, (n+13)/14)
	}
	max := SampleFailures + SampleRetries + SampleSuccesses
	if len(c.Sample) > max || c.Omitted != n-len(c.Sample) {
		t.Errorf("sample %d (max %d), omitted %d", len(c.Sample), max, c.Omitted)
	}
	var fails, retries, oks int
	for _, r := range c.Sample {
		switch {
		case r.Outcome.Failed():
			fails++
		case r.HiddenRetry:
			retries++
		default:
			oks++
		}
	}
	if fails != SampleFailures || retries != SampleRetries || oks != SampleSuccesses {
		t.Errorf("sample: %d failures, %d retries, %d successes; want %d, %d, %d", fails, retries, oks, SampleFailures, SampleRetries, SampleSuccesses)
	}
	if got := c.WireTime(); got != time.Duration(n*1010) {
		t.Errorf("wire time %v, want %v", got, time.Duration(n*1010))
	}
	w := c.Window(DefaultWindowBinNS)
	if w.Trials != n || w.Failures != wantFail || len(w.Bins) != 16 {
		t.Errorf("window: %d trials, %d failures, %d bins; want %d, %d, 16", w.Trials, w.Failures, len(w.Bins), n, wantFail)
	}
	if len(c.win.bins) > 400 {
		t.Errorf("window keeps %d fine bins for 400 distinct offsets", len(c.win.bins))
	}
}

// A failure that shows the race better than every kept one is kept even
// after the sample is full.
func TestCellRunKeepsBestFailure(t *testing.T) {
	c := NewCellRun(Cell{Type: TypeCell, ID: "a"})
	for i := 0; i < SampleFailures+10; i++ {
		c.Add(Record{Cell: "a", Seq: i, Outcome: ClientEOF})
	}
	best := Record{Cell: "a", Seq: 500, Outcome: Proxy502, Attributed: true, Backend: BackendEvidence{Close: &CloseEvidence{Conn: 3}}}
	c.Add(best)
	c.Add(Record{Cell: "a", Seq: 501, Outcome: Proxy502, Attributed: true})
	recs := c.Records()
	if len(recs) != SampleFailures+1 || recs[len(recs)-1].Seq != 500 {
		t.Fatalf("records: %d, last seq %d; want %d with seq 500 last", len(recs), recs[len(recs)-1].Seq, SampleFailures+1)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq < recs[i-1].Seq {
			t.Fatalf("records out of trial order at %d", i)
		}
	}
}

// The run a Stream builds while it writes is the run Read builds from the
// file: same cells in the same order, same summaries, windows, samples
// and verdicts.
func TestStreamEqualsReadBack(t *testing.T) {
	var buf bytes.Buffer
	st := NewStream(NewWriter(&buf), NewRun())
	if err := st.Write(Manifest{Type: TypeManifest, RunID: "r", Scenario: "s"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = st.Write(Cell{Type: TypeCell, ID: id, Params: map[string]string{"cell": id}})
			for i := 0; i < 300; i++ {
				_ = st.Write(record(id, i))
			}
			_ = st.Write(Cell{Type: TypeCellEnd, ID: id, Proxy: map[string]string{"kind": "go"}, Note: "n"})
		}()
	}
	wg.Wait()
	_ = st.Write(NewVerdictsLine([]Verdict{{Expectation: "e", Cell: "a", Pass: true, Message: "ok"}}))
	mem := st.Run()
	back, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mem.Summaries(), back.Summaries()) {
		t.Errorf("summaries differ:\nmemory %+v\nfile   %+v", mem.Summaries(), back.Summaries())
	}
	if !reflect.DeepEqual(mem.Verdicts, back.Verdicts) || !back.HasVerdicts {
		t.Errorf("verdicts differ: %v vs %v", mem.Verdicts, back.Verdicts)
	}
	for i, c := range mem.Cells {
		b := back.Cells[i]
		if c.ID != b.ID || !reflect.DeepEqual(c.Window(250_000), b.Window(250_000)) || len(c.Sample) != len(b.Sample) {
			t.Errorf("cell %d: %s vs %s: windows or samples differ", i, c.ID, b.ID)
		}
		mj, _ := json.Marshal(c.Records())
		bj, _ := json.Marshal(b.Records())
		if !bytes.Equal(mj, bj) {
			t.Errorf("cell %s: sampled records differ after a round trip", c.ID)
		}
	}
}

// The window accumulated from a stream equals the window binned from the
// records at any bin width that is a multiple of the resolution.
func TestWindowRebinning(t *testing.T) {
	var recs []Record
	for i := 0; i < 2000; i++ {
		recs = append(recs, record("a", i*3))
	}
	for _, bin := range []int64{10_000, 100_000, 250_000, 1_000_000} {
		w := RaceWindow(recs, bin)
		total, fails := 0, 0
		for _, b := range w.Bins {
			if b.ToNS-b.FromNS != bin || b.FromNS%bin != 0 {
				t.Fatalf("bin %d: bin [%d, %d) is not aligned", bin, b.FromNS, b.ToNS)
			}
			total += b.Trials
			fails += b.Failures
		}
		if total != w.Trials || fails != w.Failures || total != 2000 {
			t.Errorf("bin %d: bins hold %d trials, %d failures; window says %d, %d", bin, total, fails, w.Trials, w.Failures)
		}
	}
}

// A hostile results file: garbage, cut lines, huge lines, records without
// a cell, a second cell line for one id. Everything readable is read; the
// rest is listed, never fatal.
func TestReadHostileLines(t *testing.T) {
	lines := []string{
		`{"type":"manifest","run":"r","scenario":"s"}`,
		`{"type":"cell","cell":"a","params":{"x":"1"}}`,
		`not json`,
		`{"type":"trial","seq":1,"outcome":"ok"}`,
		`{"type":"cell","cell":"a","params":{"x":"2"}}`,
		`{"type":"trial","cell":"a","seq":2,"outcome":"proxy_502"}`,
		`{"type":"wat"}`,
		`{"type":"trial","cell":"a","seq":"three"}`,
		`{"type":"cell_end"}`,
		`{"type":"trial","cell":"a","note":"` + strings.Repeat("x", MaxLineBytes) + `"}`,
		`{"type":"trial","cell":"a","seq":4,"outcome":"ok"}`,
	}
	run, err := Read(strings.NewReader(strings.Join(lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if run.Trials() != 2 || len(run.Cells) != 1 || run.Cells[0].Params["x"] != "1" {
		t.Errorf("read %d trials in %d cells (params %v); want 2 in 1 with x=1", run.Trials(), len(run.Cells), run.Cells[0].Params)
	}
	want := []string{"line 3: not JSON", "line 4: trial line without a cell", "line 5: cell a: second cell line",
		"line 7: unknown line type", "line 8:", "line 9: cell_end line without a cell id", fmt.Sprintf("line 10: longer than %d bytes", MaxLineBytes)}
	if len(run.Dropped) != len(want) {
		t.Fatalf("dropped %q, want %d lines", run.Dropped, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(run.Dropped[i], w) {
			t.Errorf("dropped[%d] = %q, want prefix %q", i, run.Dropped[i], w)
		}
	}
}

// Cells start in any order when they run in parallel; the run lists them
// in matrix order, in memory and read back, and merged shards interleave.
func TestCellsInMatrixOrder(t *testing.T) {
	r := NewRun()
	for _, i := range []int{2, 0, 3, 1} {
		if err := r.Add(Cell{Type: TypeCell, ID: fmt.Sprintf("c%d", i), Index: i}); err != nil {
			t.Fatal(err)
		}
	}
	_ = r.Add(Record{Cell: "orphan", Outcome: OK})
	var ids []string
	for _, c := range r.Cells {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, " "); got != "c0 c1 c2 c3 orphan" {
		t.Errorf("cells in order %s, want c0 c1 c2 c3 orphan", got)
	}
	a, b := NewRun(), NewRun()
	for i := 0; i < 6; i++ {
		shard := a
		if i%2 == 1 {
			shard = b
		}
		_ = shard.Add(Cell{Type: TypeCell, ID: fmt.Sprintf("c%d", i), Index: i})
	}
	m, err := Merge([]string{"a", "b"}, []*Run{a, b})
	if err != nil {
		t.Fatal(err)
	}
	ids = ids[:0]
	for _, c := range m.Cells {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, " "); got != "c0 c1 c2 c3 c4 c5" {
		t.Errorf("merged shards in order %s, want c0 … c5", got)
	}
}
