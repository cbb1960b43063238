package lab

import (
	"context"
	"testing"

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
				rep, err := Run(context.Background(), sc)
				if err != nil || rep.Err() != nil {
					b.Fatal(err, rep.Err())
				}
				for _, cw := range reports.New(rep).Windows {
					lat := cw.Params["latency"]
					b.ReportMetric(float64(cw.Window.WidthNS)/1e6, "width-"+lat+"-ms")
					if s := rep.Cell(cw.Cell).Summary(); s.Failures != s.Attributed {
						b.Errorf("%s: %d failures, %d attributed", cw.Cell, s.Failures, s.Attributed)
					}
					if cw.ModelWidthNS > 0 {
						b.ReportMetric(float64(cw.Window.WidthNS)/float64(cw.ModelWidthNS), "ratio-"+lat)
					}
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
