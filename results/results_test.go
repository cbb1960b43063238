package results

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestWilson(t *testing.T) {
	// Reference values: the 95% Wilson score interval (z = 1.96).
	cases := []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{5, 10, 0.2366, 0.7634},
		{1, 100, 0.0018, 0.0545},
		{0, 0, 0, 1},
	}
	for _, c := range cases {
		lo, hi := Wilson(c.k, c.n)
		if math.Abs(lo-c.lo) > 5e-4 || math.Abs(hi-c.hi) > 5e-4 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
}

func TestOutcomeFailed(t *testing.T) {
	for _, o := range Outcomes {
		want := o != OK && o != OKAfterHiddenRetry && o != NotReused && o != Backend5xx
		if o.Failed() != want {
			t.Errorf("%s.Failed() = %v, want %v", o, o.Failed(), want)
		}
	}
}

func sampleRun() []any {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []any{
		Manifest{Type: TypeManifest, RunID: "r1", Scenario: "s", Started: ts, Racelab: "test", Seed: 1, Timescale: 0.02},
		Cell{Type: TypeCell, ID: "a", Params: map[string]string{"retry": "off", "method": "GET"}},
		Cell{Type: TypeCell, ID: "b", Params: map[string]string{"retry": "all", "method": "POST"}},
	}
	for i := 0; i < 4; i++ {
		r := Record{Type: TypeTrial, RunID: "r1", Cell: "a", Seq: i, Time: ts, Method: "GET", Outcome: Proxy502, Attributed: i < 3}
		if i == 3 {
			r.Outcome = OK
		}
		recs = append(recs, r)
	}
	recs = append(recs,
		Record{Type: TypeTrial, Cell: "b", Seq: 0, Time: ts, Method: "POST", Outcome: OKAfterHiddenRetry, HiddenRetry: true, Executions: 2, Duplicate: true},
		Record{Type: TypeTrial, Cell: "b", Seq: 1, Time: ts, Method: "POST", Outcome: ClientEOF},
		Cell{Type: TypeCellEnd, ID: "b", Proxy: map[string]string{"kind": "go"}},
	)
	return recs
}

func writeAll(t *testing.T, lines []any) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, l := range lines {
		if err := w.Write(l); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestRoundTripAndSummary(t *testing.T) {
	run, err := Read(bytes.NewReader(writeAll(t, sampleRun())))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Dropped) != 0 || run.Manifest == nil || run.Manifest.RunID != "r1" || run.Trials() != 6 {
		t.Fatalf("read back: manifest %+v, %d records, dropped %v", run.Manifest, run.Trials(), run.Dropped)
	}
	sums := run.Summaries()
	if len(sums) != 2 {
		t.Fatalf("%d summaries", len(sums))
	}
	a, b := sums[0], sums[1]
	if a.Cell != "a" || a.Trials != 4 || a.Failures != 3 || a.Attributed != 3 || a.Counts[Proxy502] != 3 || a.FailureRate != 0.75 {
		t.Errorf("cell a summary: %+v", a)
	}
	if b.Failures != 1 || b.Unattributed != 1 || b.HiddenRetry != 1 || b.Duplicates != 1 || b.DuplicatesUnsafe != 1 || b.Proxy["kind"] != "go" {
		t.Errorf("cell b summary: %+v", b)
	}
}

// A run interrupted mid-write leaves a partial last line: everything
// complete is read, and the partial line is reported, not fatal.
func TestReadCutOff(t *testing.T) {
	data := writeAll(t, sampleRun())
	cut := data[:len(data)-25]
	run, err := Read(bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	if run.Trials() != 6 || len(run.Dropped) != 1 || !strings.Contains(run.Dropped[0], "cut off") {
		t.Fatalf("records %d, dropped %q", run.Trials(), run.Dropped)
	}
}

func TestRaceWindow(t *testing.T) {
	var recs []Record
	add := func(offUS int64, failed bool) {
		off := offUS * 1000
		o := OK
		if failed {
			o = Proxy502
		}
		recs = append(recs, Record{OffsetNS: &off, Outcome: o})
	}
	for i := 0; i < 4; i++ {
		add(-400, false) // before the window
		add(100, i < 3)  // plateau: 3 of 4
		add(600, i < 2)  // 2 of 4
		add(1100, i < 1) // tail: 1 of 4
		add(2600, false)
	}
	recs = append(recs, Record{Outcome: Proxy502}) // deterministic record: ignored
	late, sched := int64(161_000_000), int64(0)
	recs = append(recs, Record{Outcome: Proxy502, OffsetNS: &late, ScheduledOffsetNS: &sched}) // starved: counted, not binned
	w := RaceWindow(recs, 250_000)
	if w.Trials != 20 || w.Failures != 6 || len(w.Bins) != 5 || w.OffSchedule != 1 {
		t.Fatalf("window: %+v", w)
	}
	if w.LeadNS != 100_000 || w.TailNS != 1_100_000 || w.WidthNS != 1_000_000 {
		t.Errorf("lead %d tail %d width %d", w.LeadNS, w.TailNS, w.WidthNS)
	}
	if w.PeakRate != 0.75 || w.PlateauFromNS != 0 || w.PlateauToNS != 750_000 {
		t.Errorf("peak %v plateau [%d, %d)", w.PeakRate, w.PlateauFromNS, w.PlateauToNS)
	}
	if w.Bins[0].FromNS != -500_000 || w.Bins[0].Failures != 0 {
		t.Errorf("first bin %+v", w.Bins[0])
	}
}

func TestMergeShards(t *testing.T) {
	a, _ := Read(bytes.NewReader(writeAll(t, sampleRun()[:6])))
	bLines := append([]any{sampleRun()[0]}, sampleRun()[2], sampleRun()[7], sampleRun()[8], sampleRun()[9])
	b, _ := Read(bytes.NewReader(writeAll(t, bLines)))
	// the first shard holds cell a; the second cell b
	a.Cells = a.Cells[:1]
	m, err := Merge([]string{"1.jsonl", "2.jsonl"}, []*Run{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Cells) != 2 || m.Trials() != 5 || m.Manifest.RunID != "r1+r1" {
		t.Fatalf("merged: %d cells, %d records, run %s", len(m.Cells), m.Trials(), m.Manifest.RunID)
	}
	if _, err := Merge([]string{"1", "2"}, []*Run{a, a}); err == nil || !strings.Contains(err.Error(), "cell a is in both 1 and 2") {
		t.Errorf("duplicate cell: %v", err)
	}
}
