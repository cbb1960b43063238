package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// Defaults for Run and RunCell.
const (
	DefaultResponseTimeout = 5 * time.Second
	DefaultReadyTimeout    = 15 * time.Second
	// DefaultEvidenceWait bounds the wait for a proxy's access-log line
	// after each victim.
	DefaultEvidenceWait = 100 * time.Millisecond
	// DefaultSettle bounds the wait for the backend's record of the close
	// that raced a failed request.
	DefaultSettle = 20 * time.Millisecond
)

// Option configures Run and RunCell.
type Option func(*config)

type config struct {
	writer            *results.Writer
	progress          func(Progress)
	parallel          int
	responseTimeout   time.Duration
	readyTimeout      time.Duration
	evidenceWait      time.Duration
	settle            time.Duration
	attributionWindow time.Duration
	env               runEnv
	logger            *slog.Logger
	shard             [2]int
	args              []string
	// wireOff turns the capture off; pcapDir receives failing trials'
	// packets (lab/wire.go).
	wireOff bool
	pcapDir string
}

func newConfig(opts []Option) *config {
	cfg := &config{
		parallel:          DefaultParallel(),
		responseTimeout:   DefaultResponseTimeout,
		readyTimeout:      DefaultReadyTimeout,
		evidenceWait:      DefaultEvidenceWait,
		settle:            DefaultSettle,
		attributionWindow: DefaultAttributionWindow,
		logger:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(cfg)
	}
	cfg.env.Logger = cfg.logger
	if cfg.env.RunID == "" {
		cfg.env.RunID = NewRunID()
	}
	return cfg
}

// DefaultParallel is the default number of cells run at once: one per
// core, at least one.
func DefaultParallel() int { return max(1, runtime.NumCPU()) }

// WithResults streams the manifest, cells and every record to w.
func WithResults(w *results.Writer) Option { return func(c *config) { c.writer = w } }

// WithProgress calls f after every trial and cell. f must be quick; it is
// called from cell goroutines.
func WithProgress(f func(Progress)) Option { return func(c *config) { c.progress = f } }

// WithParallel bounds how many deterministic cells run at once (timing
// cells always run alone: they need a quiet machine).
func WithParallel(n int) Option { return func(c *config) { c.parallel = max(1, n) } }

// WithRunID names the run (default: random).
func WithRunID(id string) Option { return func(c *config) { c.env.RunID = id } }

// WithKeep keeps proxies' temp dirs for debugging.
func WithKeep(keep bool) Option { return func(c *config) { c.env.Keep = keep } }

// WithLogger logs lab activity to l (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithResponseTimeout bounds every request (default 5s).
func WithResponseTimeout(d time.Duration) Option { return func(c *config) { c.responseTimeout = d } }

// WithAttributionWindow sets how near the request a backend close must be
// to attribute a failure to the race.
func WithAttributionWindow(d time.Duration) Option {
	return func(c *config) { c.attributionWindow = d }
}

// WithShard runs only cells whose index i satisfies i % n == k-1 (k in 1..n).
func WithShard(k, n int) Option { return func(c *config) { c.shard = [2]int{k, n} } }

// WithArgs records the command line in the manifest.
func WithArgs(args []string) Option { return func(c *config) { c.args = args } }

// Progress reports a finished trial (Record set) or a finished cell (Done
// set).
type Progress struct {
	Cell   *scenarios.Cell
	Record *results.Record
	Done   *CellResult
	// Total is the number of cells in the run.
	Total int
}

// Run runs every cell of the scenario and returns the run: the same
// lines it streams to the results file (WithResults), as the results
// model — per cell the aggregate, the race window and a bounded sample of
// records, never every record, so memory stays flat in the number of
// trials. Deterministic cells run up to WithParallel at once, each on its
// own ports; timing cells run one at a time afterwards. One failing cell
// does not stop the others: its error is on its cell (results.Run.Err
// joins them). Run returns an error only when the scenario cannot run at
// all, the results file cannot be written, or ctx ends.
func Run(ctx context.Context, sc *scenarios.Scenario, opts ...Option) (*results.Run, error) {
	cfg := newConfig(opts)
	cells, err := sc.Cells()
	if err != nil {
		return nil, err
	}
	cells, err = Shard(cells, cfg.shard[0], cfg.shard[1])
	if err != nil {
		return nil, err
	}
	out := results.NewStream(cfg.writer, results.NewRun())
	run := out.Run()
	manifest := results.Manifest{
		Type: results.TypeManifest, RunID: cfg.env.RunID, Scenario: sc.Name, Started: time.Now().UTC(),
		Racelab: Version(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Seed: cells0Seed(cells), Timescale: scale(sc), Args: cfg.args,
	}
	if err := out.Write(manifest); err != nil {
		return run, err
	}
	if err := preparePcapDir(cfg.pcapDir); err != nil {
		return run, err
	}
	runOne := func(i int) {
		c := &cells[i]
		res := runCell(ctx, c, cfg, out)
		trials := res.Result.Summary().Trials
		if res.Err != nil {
			cfg.logger.Warn("cell did not complete", "cell", c.ID, "trials", trials, "err", res.Err)
		} else {
			cfg.logger.Info("cell done", "cell", c.ID, "trials", trials, "setup", res.Setup, "elapsed", res.Elapsed)
		}
		if cfg.progress != nil {
			cfg.progress(Progress{Cell: c, Done: res, Total: len(cells)})
		}
	}
	var timing []int
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.parallel)
	for i := range cells {
		if cells[i].Mode == scenarios.ModeTiming {
			timing = append(timing, i)
			continue
		}
		g.Go(func() error {
			if gctx.Err() == nil {
				runOne(i)
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, i := range timing {
		if ctx.Err() != nil {
			break
		}
		runOne(i)
	}
	for i := range cells {
		if run.Cell(cells[i].ID) == nil {
			// Never started: the run was interrupted.
			_ = out.Write(results.Cell{Type: results.TypeCell, ID: cells[i].ID, Index: cells[i].Index, Params: cells[i].Params,
				Error: fmt.Sprintf("not run: %v", context.Cause(ctx))})
		}
	}
	exps := sc.Expect
	if cfg.shard[1] > 1 {
		// A shard holds some cells: an expectation whose cells are all in
		// other shards is checked there, not failed here.
		exps = append([]scenarios.Expectation(nil), exps...)
		for i := range exps {
			exps[i].Optional = true
		}
	}
	// Written even when empty: a re-render then knows the run had no
	// expectations, rather than that it was cut off before them.
	if err := out.Write(results.NewVerdictsLine(scenarios.Evaluate(exps, run.Summaries()))); err != nil {
		return run, err
	}
	return run, ctx.Err()
}

// Shard returns the cells of shard k of n (1-based): those whose index
// modulo n is k-1. k = n = 0 returns every cell.
func Shard(cells []scenarios.Cell, k, n int) ([]scenarios.Cell, error) {
	if k == 0 && n == 0 {
		return cells, nil
	}
	if n < 1 || k < 1 || k > n {
		return nil, fmt.Errorf("shard %d/%d: want K/N with 1 <= K <= N", k, n)
	}
	var out []scenarios.Cell
	for _, c := range cells {
		if c.Index%n == k-1 {
			out = append(out, c)
		}
	}
	return out, nil
}

func scale(sc *scenarios.Scenario) float64 {
	if sc.Timescale == 0 {
		return 1
	}
	return sc.Timescale
}

func cells0Seed(cells []scenarios.Cell) int64 {
	if len(cells) == 0 {
		return 0
	}
	return cells[0].Seed
}

// NewRunID returns a random run id.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Version is racelab's version: the module version when built from a
// tagged module, else "devel" with the VCS revision when known.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
