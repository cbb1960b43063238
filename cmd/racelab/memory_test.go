package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchTrials is the length of the long cell the memory benchmarks run:
// RACELAB_BENCH_TRIALS, default 20000 (10^6 is the documented soak:
// RACELAB_BENCH_TRIALS=1000000 go test -run '^$' -bench Memory -benchtime 1x -timeout 60m ./cmd/racelab).
func benchTrials(b *testing.B) int {
	if s := os.Getenv("RACELAB_BENCH_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("RACELAB_BENCH_TRIALS=%q: want a positive count", s)
		}
		return n
	}
	return 20000
}

// build builds racelab into dir.
func build(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "racelab")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// measure runs racelab with args and returns its maximum resident set
// size and wall time.
func measure(b *testing.B, bin string, args ...string) (rssMB float64, wall time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "CI=true")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall = time.Since(start)
	if err != nil {
		b.Fatalf("racelab %v: %v\n%s", args, err, tail(out))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Skip("no rusage on this platform")
	}
	return float64(ru.Maxrss) / 1024, wall // Linux: kilobytes
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

// BenchmarkRunMemory runs one gapless deterministic cell of benchTrials
// trials on the embedded proxy, then renders its results file as HTML, and
// reports each process's maximum resident set size: memory must stay flat
// in the number of trials (goal: 50 MB each), and the long cell's
// throughput near a short cell's.
func BenchmarkRunMemory(b *testing.B) {
	dir := b.TempDir()
	bin := build(b, dir)
	n := benchTrials(b)
	scenario := func(name string, trials int) string {
		path := filepath.Join(dir, name+".yaml")
		src := fmt.Sprintf("name: %s\nbase: {proxy: {kind: go}, proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, trials: %d}\n", name, trials)
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
		return path
	}
	long, short := scenario("long", n), scenario("short", 2000)
	for i := 0; i < b.N; i++ {
		results := filepath.Join(dir, "long.jsonl")
		_, shortWall := measure(b, bin, "run", short, "-o", filepath.Join(dir, "short.jsonl"), "--quiet")
		runRSS, wall := measure(b, bin, "run", long, "-o", results, "--quiet")
		htmlRSS, htmlWall := measure(b, bin, "report", results, "--format", "html", "-o", filepath.Join(dir, "long.html"))
		st, err := os.Stat(results)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n), "trials")
		b.ReportMetric(runRSS, "run-maxrss-MB")
		b.ReportMetric(float64(n)/wall.Seconds(), "run-trials/s")
		b.ReportMetric(2000/shortWall.Seconds(), "short-trials/s")
		b.ReportMetric(htmlRSS, "html-maxrss-MB")
		b.ReportMetric(htmlWall.Seconds(), "html-s")
		b.ReportMetric(float64(st.Size())/1e6, "results-MB")
	}
	b.ReportMetric(0, "ns/op")
}
