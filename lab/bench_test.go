package lab

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

func benchKinds(b *testing.B) []proxies.Kind {
	kinds := []proxies.Kind{proxies.KindGo}
	for _, k := range []proxies.Kind{proxies.KindNginx, proxies.KindHAProxy} {
		if Available(k) == nil {
			kinds = append(kinds, k)
		} else {
			b.Logf("%s not installed: skipped", k)
		}
	}
	return kinds
}

func benchCell(b *testing.B, src string, kind proxies.Kind) *scenarios.Cell {
	b.Helper()
	sc, err := scenarios.Load([]byte(src), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	sc.OverrideProxy(scenarios.Proxy{Kind: string(kind)})
	cells, err := sc.Cells()
	if err != nil {
		b.Fatal(err)
	}
	return &cells[0]
}

// BenchmarkFirstAttributedFailure measures the time from a ready proxy (end
// to end) to the first failure attributed to the race, for the demo's
// broken cell: backend keep-alive 1s behind a 10s proxy idle timeout at
// 1/50 scale, so the idle gap alone is 110ms.
func BenchmarkFirstAttributedFailure(b *testing.B) {
	for _, kind := range benchKinds(b) {
		b.Run(string(kind), func(b *testing.B) {
			cell := benchCell(b, "name: first\ntimescale: 0.02\nbase: {proxy_idle: 10s, backend_keepalive: 1s, trials: 5}\n", kind)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				cfg := newConfig(nil)
				cr := &cellRun{cell: cell, cfg: cfg, rec: backends.NewRecorder(), gap: cell.Gap, proxyIdle: cell.ProxyIdle}
				ctx := context.Background()
				if err := cr.start(ctx); err != nil {
					b.Fatal(err)
				}
				ready := time.Now()
				rng := rand.New(rand.NewPCG(1, 1))
				for seq := 0; ; seq++ {
					rec, err := cr.trial(ctx, seq, rng)
					if err != nil {
						b.Fatal(err)
					}
					if rec.Attributed {
						break
					}
					if seq > 10 {
						b.Fatal("no attributed failure in 10 trials")
					}
				}
				total += time.Since(ready)
				_ = cr.stop()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-failure")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkDeterministicThroughput measures trials per second in one
// deterministic cell with no idle gap: every trial is a priming request
// plus a victim met by close-on-reuse, so about two round trips.
func BenchmarkDeterministicThroughput(b *testing.B) {
	for _, kind := range benchKinds(b) {
		b.Run(string(kind), func(b *testing.B) {
			cell := benchCell(b, "name: tput\nbase: {proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, trials: 400}\n", kind)
			var trials int
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				res := RunCell(context.Background(), cell)
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				sum := res.Summary()
				if sum.Attributed != sum.Trials {
					b.Fatalf("%d of %d trials not attributed failures: %s", sum.Trials-sum.Attributed, sum.Trials, results.Counts(sum.Counts))
				}
				trials += sum.Trials
				elapsed += res.Elapsed - res.Setup
			}
			b.ReportMetric(float64(trials)/elapsed.Seconds(), "trials/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkDeterministicThroughputWire is BenchmarkDeterministicThroughput
// with the capture of the proxy↔backend traffic off and on, alternated
// cell by cell so that both see the same machine load: the goal is on ≥
// 80% of off. Every trial is a failure, so every trial is synced with the
// capture and analysed.
func BenchmarkDeterministicThroughputWire(b *testing.B) {
	if err := WireAvailable(context.Background()); err != nil {
		b.Skip(err)
	}
	for _, kind := range benchKinds(b) {
		b.Run(string(kind), func(b *testing.B) {
			cell := benchCell(b, "name: tput\nbase: {proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, trials: 400}\n", kind)
			var trials [2]int
			var elapsed [2]time.Duration
			for i := 0; i < b.N; i++ {
				for j, on := range []bool{false, true} {
					res := RunCell(context.Background(), cell, WithWire(on))
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					sum := res.Summary()
					if sum.Attributed != sum.Trials {
						b.Fatalf("%d of %d trials not attributed failures", sum.Trials-sum.Attributed, sum.Trials)
					}
					for _, r := range res.Result.Records() {
						if on && (r.Wire == nil || r.Wire.Unavailable != "" || r.Wire.FirstClose != "backend") {
							b.Fatalf("trial %d: wire evidence %+v", r.Seq, r.Wire)
						}
					}
					trials[j] += sum.Trials
					elapsed[j] += res.Elapsed - res.Setup
				}
			}
			off, on := float64(trials[0])/elapsed[0].Seconds(), float64(trials[1])/elapsed[1].Seconds()
			b.ReportMetric(off, "off-trials/s")
			b.ReportMetric(on, "on-trials/s")
			b.ReportMetric(on/off, "on/off")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkMatrixWallTime runs a 48-cell deterministic matrix on nginx and
// HAProxy and compares its wall time with the lower bound: the sum of every
// trial's idle gap and exchange divided by the cells that run at once, plus
// one proxy start.
func BenchmarkMatrixWallTime(b *testing.B) {
	if Available(proxies.KindNginx) != nil || Available(proxies.KindHAProxy) != nil {
		b.Skip("needs nginx and haproxy on PATH")
	}
	src := `name: matrix
timescale: 0.01
base: {proxy_idle: 10s, trials: 5}
matrix:
  proxy: [{kind: nginx}, {kind: haproxy}]
  margin: [-9s, 2s]
  retry: ["off", idempotent, all]
  method: [GET, POST]
  client: [persistent, fresh]
`
	sc, err := scenarios.Load([]byte(src), "matrix.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		parallel := DefaultParallel()
		start := time.Now()
		var mu sync.Mutex
		var setups []time.Duration
		rep, err := Run(context.Background(), sc, WithParallel(parallel), WithProgress(func(p Progress) {
			if p.Done != nil {
				mu.Lock()
				setups = append(setups, p.Done.Setup)
				mu.Unlock()
			}
		}))
		if err != nil || rep.Err() != nil {
			b.Fatal(err, rep.Err())
		}
		wall := time.Since(start)
		var work time.Duration
		for _, c := range rep.Cells {
			work += c.WireTime()
		}
		sort.Slice(setups, func(i, j int) bool { return setups[i] < setups[j] })
		bound := work/time.Duration(parallel) + setups[len(setups)/2]
		b.ReportMetric(float64(len(rep.Cells)), "cells")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(bound.Seconds(), "bound-s")
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "wall/bound")
		b.ReportMetric(setups[len(setups)/2].Seconds()*1000, "median-setup-ms")
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkTimerPrecision runs the race-window scenario (timing mode, run
// alone as Run schedules timing cells) and reports how far each victim
// left from its scheduled instant: |actual - scheduled offset| from the
// backend's idle deadline.
func BenchmarkTimerPrecision(b *testing.B) {
	sc, err := scenarios.LoadBuiltin("race-window")
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range benchKinds(b) {
		b.Run(string(kind), func(b *testing.B) {
			sc.OverrideProxy(scenarios.Proxy{Kind: string(kind)})
			var errs []float64
			var recs []results.Record
			for i := 0; i < b.N; i++ {
				var mu sync.Mutex
				var all []results.Record
				rep, err := Run(context.Background(), sc, WithProgress(func(p Progress) {
					if p.Record != nil {
						mu.Lock()
						all = append(all, *p.Record)
						mu.Unlock()
					}
				}))
				if err != nil || rep.Err() != nil {
					b.Fatal(err, rep.Err())
				}
				for _, r := range all {
					errs = append(errs, math.Abs(float64(*r.OffsetNS-*r.ScheduledOffsetNS))/1e3)
					recs = append(recs, r)
				}
			}
			sort.Float64s(errs)
			w := results.RaceWindow(recs, results.DefaultWindowBinNS)
			b.ReportMetric(errs[len(errs)/2], "p50-us")
			b.ReportMetric(errs[len(errs)*99/100], "p99-us")
			b.ReportMetric(errs[len(errs)-1], "max-us")
			b.ReportMetric(float64(w.WidthNS)/1e6, "window-ms")
			b.ReportMetric(w.PeakRate, "peak-rate")
			b.ReportMetric(0, "ns/op")
		})
	}
}
