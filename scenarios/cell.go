package scenarios

import (
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// Modes.
const (
	ModeDeterministic = "deterministic"
	ModeTiming        = "timing"
)

// Client connection modes.
const (
	ClientPersistent = "persistent"
	ClientFresh      = "fresh"
)

// Defaults for unset settings.
const (
	DefaultTrials    = 20
	DefaultProxyIdle = 10 * time.Second
	// DefaultBackendKeepAlive with DefaultProxyIdle is the reference
	// record's six-step example: the backend closes first.
	DefaultBackendKeepAlive = time.Second
	// MaxTrialsPerCell bounds every request loop: a million trials, a
	// night's soak of one cell (memory stays flat; the results file grows
	// about 870 bytes a trial).
	MaxTrialsPerCell = 1_000_000
)

// Cell is one fully resolved point of the matrix: every duration already
// multiplied by the timescale.
type Cell struct {
	// ID is stable for a scenario: the scenario name, or the varying axis
	// values joined, so shards and reruns name cells alike.
	ID    string
	Index int
	Proxy Proxy
	// ProxyIdle and BackendKeepAlive are scaled.
	ProxyIdle        time.Duration
	BackendKeepAlive time.Duration
	// Margin is BackendKeepAlive - ProxyIdle (scaled).
	Margin time.Duration
	Retry  proxies.Retry
	Method string
	Client string
	Close  backends.CloseStyle
	Mode   string
	Fault  backends.FaultKind
	// Gap is the deterministic-mode idle gap before the victim (scaled);
	// see AutoGap. GapAuto is true when the scenario left it to AutoGap
	// (for a proxy config file, lab places it by the file's own idle
	// timeout).
	Gap     time.Duration
	GapAuto bool
	Jitter  time.Duration
	// Offsets are timing-mode offsets from the backend's idle deadline
	// (absolute, never scaled).
	Offsets         []time.Duration
	Trials          int
	MaxTrials       int
	TargetHalfWidth float64
	// Backend knobs (scaled).
	MaxRequests    int
	MaxLifetime    time.Duration
	ResponseDelay  time.Duration
	ResponseStatus int
	BackendDown    bool
	RestartEvery   int
	Preset         string
	// Runtime is a real server to run instead of racelab's backend
	// (appserver names), RuntimeVersion the version asked for, and
	// RuntimeKeepAlive its keep-alive (scaled and rounded up to the
	// runtime's unit; 0: the runtime's default). BackendKeepAlive is then
	// what the runtime is expected to do until racelab measures it.
	Runtime          string
	RuntimeVersion   string
	RuntimeKeepAlive time.Duration
	// OffsetsAuto: the scenario gave no offsets; for a runtime, racelab
	// places them around the idle close it measures.
	OffsetsAuto bool
	Seed        int64
	// Timescale is the scenario's (1 when unset): a proxy config file's
	// idle settings are scaled by it.
	Timescale float64
	// ScaleNote says why Timescale is larger than the scenario's: the
	// proxy's idle setting has a floor (proxies.IdleFloor).
	ScaleNote string
	// Latency and PathJitter shape the path between the proxy and the
	// backend (never scaled): zero latency and jitter is plain loopback.
	Latency    time.Duration
	PathJitter time.Duration
	// Body, when set, is the victim's slow request body.
	Body *CellBody
	// Params are the cell's axis values as strings, for reports and
	// expectation selectors.
	Params map[string]string
}

// CellBody is a resolved slow body: Size bytes after the headers, at Rate
// bytes a second (0: all at once) after Delay.
type CellBody struct {
	Size  int64
	Rate  int64
	Delay time.Duration
}

// Duration is how long sending the body takes.
func (b *CellBody) Duration() time.Duration {
	if b == nil {
		return 0
	}
	d := b.Delay
	if b.Rate > 0 {
		d += time.Duration(float64(b.Size) / float64(b.Rate) * float64(time.Second))
	}
	return d
}

// AutoGap is the default deterministic-mode gap. When the backend closes
// first (keep-alive below the proxy's idle timeout) it is the midpoint of
// the two timeouts. The backend's keep-alive is the fault, armed by the
// scheduled gap, so only the proxy's timer bounds the victim; a gap just
// past the keep-alive would leave it more slack, but it also paces
// trials faster than the scenario's timescale implies, and a user's
// configuration counts failures in windows of whole seconds (nginx
// max_fails per fail_timeout, which cannot be scaled below 1s): at that
// pace nginx marked both servers of a BYOC example down and answered 502
// without contacting the backend. Otherwise it is just past the backend's
// keep-alive (by half the margin, at least 5%): a proxy that honours its
// own idle timeout has dropped the connection by then, and one that does
// not reuses a connection the backend has given up. That gap also stays
// at least TimerSlack past the proxy's idle timeout: a margin of seconds
// scaled to milliseconds must not measure how late a busy machine runs
// the proxy's idle timer (nginx, woken late, serves a ready request
// before it expires its timers, so it reuses a connection past its
// keepalive_timeout: seen 47 ms late at load 10-16 on 2 cores).
func AutoGap(backendKeepAlive, proxyIdle time.Duration) time.Duration {
	if backendKeepAlive < proxyIdle {
		return backendKeepAlive + (proxyIdle-backendKeepAlive)/2
	}
	extra := max((backendKeepAlive-proxyIdle)/2, backendKeepAlive/20, time.Millisecond, proxyIdle+TimerSlack-backendKeepAlive)
	return backendKeepAlive + extra
}

// TimerSlack is how far past the proxy's idle timeout AutoGap sends a
// victim when the backend outlives the proxy.
const TimerSlack = 100 * time.Millisecond

// FaultArmed reports whether a victim sent after gap meets the fault: the
// backend's keep-alive has run out by then, so if the proxy reuses the
// connection, the backend closes it at the moment of reuse.
func (c *Cell) FaultArmed(gap time.Duration) bool {
	return c.Mode == ModeDeterministic && c.Fault != backends.FaultNone && gap >= c.BackendKeepAlive
}

// FaultNatural is the fault setting that forces nothing: the backend's
// real keep-alive timer closes idle connections, and the race happens, or
// not, by timing alone (deterministic mode's gaps, jittered, spread
// around the keep-alive).
const FaultNatural = "none"

// TrialBudget estimates the time one trial takes, for bounds and ETAs.
func (c *Cell) TrialBudget() time.Duration {
	const overhead = 20 * time.Millisecond
	if c.Mode == ModeTiming {
		maxOff := time.Duration(0)
		for _, o := range c.Offsets {
			maxOff = max(maxOff, o)
		}
		return c.BackendKeepAlive + maxOff + c.ResponseDelay + overhead + 4*c.Latency + c.Body.Duration()
	}
	return c.Gap + c.Jitter + 2*c.ResponseDelay + overhead + 4*c.Latency + c.Body.Duration()
}

// Rand returns the cell's seeded random source.
func (c *Cell) Rand() *rand.Rand {
	return rand.New(rand.NewPCG(uint64(c.Seed), uint64(c.Index)+1))
}

// ProxyLabel names a proxy selection compactly: "nginx",
// "nginx-1.26@container", and for the user's own file
// "nginx+before.conf(upstream api)".
func ProxyLabel(p Proxy) string {
	return proxyLabel(p, filepath.Base(p.Config))
}

// proxyLabel is ProxyLabel with config naming the config file. A proxy
// the scenario names ("before", "after") is called by its name.
func proxyLabel(p Proxy, config string) string {
	if p.Name != "" {
		return p.Name
	}
	s := p.Kind
	if p.Version != "" {
		s += "-" + p.Version
	}
	if p.Config != "" {
		s += "+" + config
		if p.Upstream != "" {
			s += "(upstream " + p.Upstream + ")"
		}
	}
	if p.Variant == string(proxies.VariantDefaults) {
		s += "(defaults)"
	}
	if p.RequestBuffering != "" {
		s += "(buffering " + p.RequestBuffering + ")"
	}
	if p.Runtime == string(proxies.RuntimeContainer) {
		s += "@container"
	}
	return s
}
