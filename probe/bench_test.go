package probe_test

import (
	"context"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/probe"
)

// BenchmarkProbeError measures the probe's error against racelab's
// backend, whose idle timer is precise to tens of microseconds: err-ms is
// the mean |median − timeout| per measurement (3 concurrent samples),
// maxerr-ms the worst, bound-ms the goal (5ms + 1% of the timeout).
//
//	go test -run '^$' -bench ProbeError -benchtime 20x ./probe/
func BenchmarkProbeError(b *testing.B) {
	for _, idle := range []time.Duration{200 * time.Millisecond, time.Second} {
		b.Run(idle.String(), func(b *testing.B) {
			be, err := backends.Start(context.Background(), backends.Config{IdleTimeout: idle})
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			url := "http://" + be.Addr() + "/r/bench"
			var sum, worst time.Duration
			for b.Loop() {
				res, err := probe.Measure(context.Background(), url, probe.WithMaxRequests(0), probe.WithMaxWait(10*idle))
				if err != nil {
					b.Fatal(err)
				}
				e := (res.Median - idle).Abs()
				sum += e
				worst = max(worst, e)
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(sum)/float64(b.N), "err-ms")
			b.ReportMetric(ms(worst), "maxerr-ms")
			b.ReportMetric(ms(5*time.Millisecond+idle/100), "bound-ms")
		})
	}
}
