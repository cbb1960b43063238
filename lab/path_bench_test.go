package lab

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/racelab/racelab/reports"
	"github.com/racelab/racelab/scenarios"
)

// BenchmarkLatencyWindow runs the latency-window scenario (0, 5 and 20ms
// between proxy and backend) on each installed proxy and reports, per
// latency, the measured window width and its ratio to the model's
// prediction (one round trip plus the width at zero latency). The goal is
// a ratio within 0.75..1.25 at 5 and 20ms. Run with -benchtime=1x.
func BenchmarkLatencyWindow(b *testing.B) {
	sc, err := scenarios.LoadBuiltin("latency-window")
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range benchKinds(b) {
		b.Run(string(kind), func(b *testing.B) {
			sc.OverrideProxy(scenarios.Proxy{Kind: string(kind)})
			for i := 0; i < b.N; i++ {
				var mu sync.Mutex
				unattributed := 0
				rep, err := Run(context.Background(), sc, WithProgress(func(p Progress) {
					// A failure without evidence is a finding: say what
					// the record knows.
					if r := p.Record; r != nil && r.Outcome.Failed() && !r.Attributed {
						mu.Lock()
						unattributed++
						mu.Unlock()
						b.Logf("unattributed: cell %s seq %d %s offset %v (scheduled %v): %s; client %q; prime %q",
							r.Cell, r.Seq, r.Outcome, offset(r.OffsetNS), offset(r.ScheduledOffsetNS), r.Attribution, r.ClientError, r.PrimeError)
					}
				}))
				if err != nil || rep.Err() != nil {
					b.Fatal(err, rep.Err())
				}
				b.ReportMetric(float64(unattributed), "unattributed")
				for _, cw := range reports.New(rep).Windows {
					lat := cw.Params["latency"]
					b.ReportMetric(float64(cw.Window.WidthNS)/1e6, "width-"+lat+"-ms")
					if cw.ModelWidthNS > 0 {
						b.ReportMetric(float64(cw.Window.WidthNS)/float64(cw.ModelWidthNS), "ratio-"+lat)
					}
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func offset(ns *int64) time.Duration {
	if ns == nil {
		return 0
	}
	return time.Duration(*ns)
}
