package scenarios

import (
	"testing"
	"time"
)

// FuzzLoad: any bytes through Load and Cells end quickly, without a
// panic, and a scenario Load accepts expands within the bounds it
// promises (cells, trials, offsets per cell).
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
		start := time.Now()
		sc, err := Load(data, "fuzz.yaml")
		if err != nil {
			return
		}
		cells, err := sc.Cells()
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("Load and Cells took %s", took)
		}
		if err != nil {
			return
		}
		if len(cells) == 0 || len(cells) > 10000 {
			t.Fatalf("%d cells", len(cells))
		}
		for _, c := range cells {
			if c.Trials < 1 || c.Trials > MaxTrialsPerCell || len(c.Offsets) > 1000 {
				t.Fatalf("cell %s: %d trials, %d offsets", c.ID, c.Trials, len(c.Offsets))
			}
		}
	})
}
