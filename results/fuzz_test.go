package results

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzRead: a results file cut, corrupted or hostile anywhere reads
// without a panic or a read error; every line is either in the run or
// listed as dropped; the run's counts stay consistent.
func FuzzRead(f *testing.F) {
	var good bytes.Buffer
	w := NewWriter(&good)
	for _, l := range sampleRun() {
		if err := w.Write(l); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:good.Len()/2])
	f.Add([]byte(`{"type":"trial","cell":"a","seq":1,"outcome":"proxy_502","offset_ns":-9223372036854775808,"scheduled_offset_ns":9223372036854775807}` + "\n"))
	f.Add([]byte(`{"type":"cell_end","cell":"a","proxy":{"kind":"go"},"config":{"path":"x","changes":[{}]}}` + "\n" + `{"type":"cell","cell":"a"}`))
	f.Add([]byte("\x00\xff{\n{\"type\":\"verdicts\",\"verdicts\":null}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := Read(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("read error on an in-memory file: %v", err)
		}
		lines := 0
		for _, l := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if len(run.Dropped) > lines {
			t.Fatalf("%d dropped of %d lines", len(run.Dropped), lines)
		}
		for _, s := range run.Summaries() {
			if s.Failures > s.Trials || s.Attributed+s.Unattributed != s.Failures || s.FailureRate < 0 || s.FailureRate > 1 {
				t.Fatalf("inconsistent summary %+v", s)
			}
		}
		for _, c := range run.Cells {
			_ = c.Window(DefaultWindowBinNS)
			if len(c.Records()) > SampleFailures+SampleRetries+SampleSuccesses+1 {
				t.Fatalf("cell %s keeps %d records", c.ID, len(c.Records()))
			}
		}
	})
}
