package scenarios

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// axis is one matrix dimension.
type axis struct {
	name  string // parameter name in Params and selectors
	field string // matrix field name, for paths
	n     int
	apply func(s *Settings, i int)
	label func(i int) string
}

func (m *Matrix) axes() []axis {
	var out []axis
	add := func(name, field string, n int, apply func(*Settings, int), label func(int) string) {
		if n > 0 {
			out = append(out, axis{name, field, n, apply, label})
		}
	}
	proxyLabels := axisProxyLabels(m.Proxy)
	add("proxy", "proxy", len(m.Proxy), func(s *Settings, i int) { s.Proxy = m.Proxy[i] },
		func(i int) string { return proxyLabels[i] })
	add("proxy_idle", "proxy_idle", len(m.ProxyIdle), func(s *Settings, i int) { d := m.ProxyIdle[i]; s.ProxyIdle = &d },
		func(i int) string { return m.ProxyIdle[i].String() })
	add("backend_keepalive", "backend_keepalive", len(m.BackendKeepAlive), func(s *Settings, i int) { d := m.BackendKeepAlive[i]; s.BackendKeepAlive = &d },
		func(i int) string { return m.BackendKeepAlive[i].String() })
	add("margin", "margin", len(m.Margin), func(s *Settings, i int) { d := m.Margin[i]; s.Margin = &d },
		func(i int) string { return m.Margin[i].String() })
	add("retry", "retry", len(m.Retry), func(s *Settings, i int) { s.Retry = m.Retry[i] }, func(i int) string { return m.Retry[i] })
	add("method", "method", len(m.Method), func(s *Settings, i int) { s.Method = m.Method[i] }, func(i int) string { return m.Method[i] })
	add("client", "client", len(m.Client), func(s *Settings, i int) { s.Client = m.Client[i] }, func(i int) string { return m.Client[i] })
	add("close", "close", len(m.Close), func(s *Settings, i int) { s.Close = m.Close[i] }, func(i int) string { return m.Close[i] })
	add("mode", "mode", len(m.Mode), func(s *Settings, i int) { s.Mode = m.Mode[i] }, func(i int) string { return m.Mode[i] })
	add("fault", "fault", len(m.Fault), func(s *Settings, i int) { s.Fault = m.Fault[i] }, func(i int) string { return m.Fault[i] })
	add("preset", "preset", len(m.Preset), func(s *Settings, i int) { s.Backend.Preset = m.Preset[i] }, func(i int) string { return m.Preset[i] })
	add("backend", "backend", len(m.Backend), func(s *Settings, i int) { s.Backend = m.Backend[i] },
		func(i int) string { return m.Backend[i].Label() })
	return out
}

// Label names a backend selection compactly: "max_requests=3", "default".
func (b Backend) Label() string {
	var parts []string
	if b.MaxRequests > 0 {
		parts = append(parts, fmt.Sprintf("max_requests=%d", b.MaxRequests))
	}
	if b.MaxLifetime != nil {
		parts = append(parts, "max_lifetime="+b.MaxLifetime.String())
	}
	if b.ResponseDelay != nil {
		parts = append(parts, "response_delay="+b.ResponseDelay.String())
	}
	if b.ResponseStatus != 0 {
		parts = append(parts, fmt.Sprintf("status=%d", b.ResponseStatus))
	}
	if b.Down {
		parts = append(parts, "down")
	}
	if b.RestartEvery > 0 {
		parts = append(parts, fmt.Sprintf("restart_every=%d", b.RestartEvery))
	}
	if b.Runtime != "" {
		rt := b.Runtime
		if b.Version != "" {
			rt += "-" + b.Version
		}
		parts = append(parts, rt)
		if b.KeepAlive != nil {
			parts = append(parts, "keepalive="+b.KeepAlive.String())
		}
	}
	if len(parts) == 0 {
		return "default"
	}
	return strings.Join(parts, ",")
}

// Cells expands the scenario into cells in a deterministic order: matrix
// axes in the order of Matrix's fields, the first slowest. It returns the
// problems Validate would.
func (s *Scenario) Cells() ([]Cell, error) {
	cells, probs := s.expand()
	if len(probs) > 0 {
		return nil, probs
	}
	return cells, nil
}

// Validate reports every problem with the scenario, each with its field
// path (Load adds line and column).
func (s *Scenario) Validate() Problems {
	_, probs := s.expand()
	return probs
}

func (s *Scenario) expand() ([]Cell, Problems) {
	var probs Problems
	seen := map[string]bool{}
	addProb := func(p Problem) {
		k := p.Path + "\x00" + p.Msg
		if !seen[k] {
			seen[k] = true
			probs = append(probs, p)
		}
	}
	if strings.TrimSpace(s.Name) == "" {
		addProb(Problem{Path: "name", Msg: "a scenario needs a name"})
	}
	scale := s.Timescale
	if scale == 0 {
		scale = 1
	}
	if scale < 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		addProb(Problem{Path: "timescale", Msg: fmt.Sprintf("timescale %v: want a positive number", s.Timescale)})
		scale = 1
	}
	seed := s.Seed
	if seed == 0 {
		seed = 1
	}
	axes := s.Matrix.axes()
	const maxCells = 10000
	total := 1
	for _, a := range axes {
		// Stop multiplying past the bound: a product of long axes would
		// overflow.
		if total *= a.n; total > maxCells {
			break
		}
	}
	if total > maxCells {
		addProb(Problem{Path: "matrix", Msg: fmt.Sprintf("more than %d cells (at least %d): split the matrix or use --shard", maxCells, total)})
		return nil, probs
	}
	cells := make([]Cell, 0, total)
	idx := make([]int, len(axes))
	for n := 0; n < total; n++ {
		st := s.Base
		paths := map[string]string{}
		var labels []string
		for ai, a := range axes {
			a.apply(&st, idx[ai])
			paths[a.field] = fmt.Sprintf("matrix.%s[%d]", a.field, idx[ai])
			labels = append(labels, a.label(idx[ai]))
		}
		c, ps := resolve(st, scale, paths)
		for _, p := range ps {
			addProb(p)
		}
		c.Index = n
		c.Seed = seed
		if len(labels) == 0 {
			c.ID = sanitizeID(s.Name)
		} else {
			c.ID = sanitizeID(strings.Join(labels, "."))
		}
		cells = append(cells, c)
		for ai := len(axes) - 1; ai >= 0; ai-- {
			idx[ai]++
			if idx[ai] < axes[ai].n {
				break
			}
			idx[ai] = 0
		}
	}
	for i, e := range s.Expect {
		path := fmt.Sprintf("expect[%d]", i)
		for k, w := range e.Where {
			if !paramNames[k] {
				addProb(Problem{Path: path + ".where." + k, Msg: fmt.Sprintf("unknown parameter %q; cells have %s", k, strings.Join(sortedKeys(paramNames), ", "))})
				continue
			}
			if op, rest := splitOp(strings.TrimSpace(w)); op != "" {
				if _, err := number(rest); err != nil {
					addProb(Problem{Path: path + ".where." + k, Msg: fmt.Sprintf("%q: compare with a number or a duration, like <0 or >=2s", w)})
				}
			}
		}
		conds := map[string]string{"failure_rate": e.FailureRate, "attributed": e.Attributed, "duplicates": e.Duplicates, "hidden_retries": e.HiddenRetries, "not_reused": e.NotReused}
		n := 0
		for field, cnd := range conds {
			if cnd == "" {
				continue
			}
			n++
			if _, err := Compare(cnd, 0); err != nil {
				addProb(Problem{Path: path + "." + field, Msg: err.Error()})
			}
		}
		if n == 0 {
			addProb(Problem{Path: path, Msg: "an expectation needs a condition: failure_rate, attributed, duplicates, hidden_retries or not_reused"})
		}
	}
	ids := map[string]int{}
	for i := range cells {
		if j, dup := ids[cells[i].ID]; dup {
			addProb(Problem{Path: "matrix", Msg: fmt.Sprintf("cells %d and %d are the same (%s): remove the repeated axis value", j, i, cells[i].ID)})
		}
		ids[cells[i].ID] = i
	}
	return cells, probs
}

func sanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._-+@()", r):
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	return b.String()
}

func withProxyDefaults(p Proxy) Proxy {
	if p.Kind == "" {
		p.Kind = string(proxies.KindGo)
	}
	if p.Runtime == "" {
		if p.Kind == string(proxies.KindGo) {
			p.Runtime = string(proxies.RuntimeEmbedded)
		} else {
			p.Runtime = string(proxies.RuntimeProcess)
		}
	}
	if p.Variant == "" {
		p.Variant = string(proxies.VariantExplicit)
	}
	return p
}

// resolve turns settings into a cell. paths maps a matrix field to the
// path its value came from; other values come from base.
func resolve(st Settings, scale float64, paths map[string]string) (Cell, Problems) {
	var probs Problems
	at := func(field, base string) string {
		if p, ok := paths[field]; ok {
			return p
		}
		return base
	}
	bad := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	sc := func(d time.Duration) time.Duration { return time.Duration(math.Round(float64(d) * scale)) }

	c := Cell{Proxy: withProxyDefaults(st.Proxy), Timescale: scale}
	pp := at("proxy", "base.proxy")
	switch proxies.Kind(c.Proxy.Kind) {
	case proxies.KindGo, proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy:
	default:
		bad(pp+".kind", "proxy kind %q: want go, nginx, haproxy or envoy", c.Proxy.Kind)
	}
	switch proxies.Runtime(c.Proxy.Runtime) {
	case proxies.RuntimeEmbedded:
		if c.Proxy.Kind != string(proxies.KindGo) {
			bad(pp+".runtime", "runtime embedded is for kind go only; %s runs as process or container", c.Proxy.Kind)
		}
	case proxies.RuntimeProcess, proxies.RuntimeContainer:
		if c.Proxy.Kind == string(proxies.KindGo) {
			bad(pp+".runtime", "kind go runs embedded only")
		}
	default:
		bad(pp+".runtime", "runtime %q: want embedded, process or container", c.Proxy.Runtime)
	}
	switch proxies.Variant(c.Proxy.Variant) {
	case proxies.VariantExplicit, proxies.VariantDefaults:
	default:
		bad(pp+".variant", "variant %q: want explicit or defaults", c.Proxy.Variant)
	}
	switch c.Proxy.Reuse {
	case "", "always", "safe":
	default:
		bad(pp+".reuse", "reuse %q: want always or safe", c.Proxy.Reuse)
	}
	if c.Proxy.Reuse != "" && c.Proxy.Kind != string(proxies.KindHAProxy) {
		bad(pp+".reuse", "reuse is an HAProxy setting (http-reuse)")
	}
	probs = append(probs, configProblems(st, pp, at)...)

	idle := DefaultProxyIdle
	if st.ProxyIdle != nil {
		idle = st.ProxyIdle.D()
	}
	if idle <= 0 {
		bad(at("proxy_idle", "base.proxy_idle"), "proxy_idle must be positive")
	}
	// Proxies take whole milliseconds (nginx rejects fractions).
	c.ProxyIdle = sc(idle).Round(time.Millisecond)

	ka := DefaultBackendKeepAlive
	switch {
	case st.Backend.Preset != "":
		pr, ok := backends.LookupPreset(st.Backend.Preset)
		path := at("preset", "base.backend.preset")
		switch {
		case !ok:
			bad(path, "unknown backend preset %q: want one of %s", st.Backend.Preset, presetNames())
		case pr.IdleTimeout <= 0:
			bad(path, "preset %q has no keep-alive timeout to race", st.Backend.Preset)
		default:
			ka = pr.IdleTimeout
		}
		if st.BackendKeepAlive != nil || st.Margin != nil {
			bad(path, "a preset sets backend_keepalive: drop backend_keepalive and margin")
		}
		c.Preset = st.Backend.Preset
	case st.BackendKeepAlive != nil && st.Margin != nil:
		bad(at("margin", "base.margin"), "set backend_keepalive or margin (backend_keepalive = proxy_idle + margin), not both")
	case st.Margin != nil:
		ka = idle + st.Margin.D()
		if ka <= 0 {
			bad(at("margin", "base.margin"), "margin %s makes backend_keepalive %s: it must stay positive", st.Margin, FormatDuration(ka))
		}
	case st.BackendKeepAlive != nil:
		ka = st.BackendKeepAlive.D()
		if ka < 0 {
			bad(at("backend_keepalive", "base.backend_keepalive"), "backend_keepalive must not be negative")
		}
	}
	c.BackendKeepAlive = sc(ka)
	c.Margin = c.BackendKeepAlive - c.ProxyIdle

	c.Retry = proxies.Retry(orDefault(st.Retry, string(proxies.RetryOff)))
	switch c.Retry {
	case proxies.RetryOff, proxies.RetryIdempotent, proxies.RetryAll:
	default:
		bad(at("retry", "base.retry"), "retry %q: want off, idempotent or all", st.Retry)
	}
	c.Method = orDefault(st.Method, "GET")
	if !validToken(c.Method) || strings.ToUpper(c.Method) != c.Method {
		bad(at("method", "base.method"), "method %q: want an upper-case HTTP method such as GET or POST", st.Method)
	}
	c.Client = orDefault(st.Client, ClientPersistent)
	if c.Client != ClientPersistent && c.Client != ClientFresh {
		bad(at("client", "base.client"), "client %q: want persistent or fresh", st.Client)
	}
	c.Close = backends.CloseStyle(orDefault(st.Close, string(backends.CloseFIN)))
	if c.Close != backends.CloseFIN && c.Close != backends.CloseRST {
		bad(at("close", "base.close"), "close %q: want fin or rst", st.Close)
	}
	if st.Backend.Runtime != "" && st.Mode == "" {
		st.Mode = ModeTiming // a real runtime's close cannot be forced
	}
	c.Mode = orDefault(st.Mode, ModeDeterministic)
	if c.Mode != ModeDeterministic && c.Mode != ModeTiming {
		bad(at("mode", "base.mode"), "mode %q: want deterministic or timing", st.Mode)
	}
	c.Fault = backends.FaultKind(orDefault(st.Fault, string(backends.FaultCloseOnReuse)))
	if c.Fault != backends.FaultCloseOnReuse && c.Fault != backends.FaultProcessedThenDropped {
		bad(at("fault", "base.fault"), "fault %q: want close-on-reuse or processed-then-dropped", st.Fault)
	}
	if st.Jitter != nil {
		if st.Jitter.D() < 0 {
			bad("base.jitter", "jitter must not be negative")
		}
		c.Jitter = sc(st.Jitter.D())
	}

	switch c.Mode {
	case ModeDeterministic:
		if st.Gap != nil {
			if st.Gap.D() < 0 {
				bad("base.gap", "gap must not be negative")
			}
			c.Gap = sc(st.Gap.D())
		} else {
			c.Gap = AutoGap(c.BackendKeepAlive, c.ProxyIdle)
			c.GapAuto = true
		}
		if len(st.Offsets) > 0 || st.Sweep != nil {
			bad(at("mode", "base.mode"), "offsets and sweep are for mode timing")
		}
	case ModeTiming:
		if st.Gap != nil {
			bad("base.gap", "gap is for mode deterministic; timing mode sends at the backend's idle deadline plus each offset")
		}
		for _, o := range st.Offsets {
			c.Offsets = append(c.Offsets, o.D())
		}
		if st.Sweep != nil {
			sw := st.Sweep
			if sw.Step.D() <= 0 || sw.To.D() < sw.From.D() {
				bad("base.sweep", "sweep needs step > 0 and to >= from")
			} else if n := (sw.To.D()-sw.From.D())/sw.Step.D() + 1; n > 1000 {
				bad("base.sweep", "sweep has %d offsets: at most 1000", n)
			} else {
				// By count, not by o += step: near the largest duration
				// the sum would overflow and the loop never end.
				for i := time.Duration(0); i < n; i++ {
					c.Offsets = append(c.Offsets, sw.From.D()+i*sw.Step.D())
				}
			}
		}
		if len(c.Offsets) == 0 {
			c.Offsets = DefaultOffsets()
			c.OffsetsAuto = true
		}
		sort.Slice(c.Offsets, func(i, j int) bool { return c.Offsets[i] < c.Offsets[j] })
		maxOff := c.Offsets[len(c.Offsets)-1]
		if c.BackendKeepAlive <= 0 {
			bad(at("backend_keepalive", "base.backend_keepalive"), "timing mode needs a positive backend keep-alive")
		}
		if st.Backend.Runtime != "" {
			// The runtime's close is measured first; the lab says when the
			// proxy drops the connection before it.
			break
		}
		if c.Proxy.Config == "" && c.ProxyIdle <= c.BackendKeepAlive+maxOff {
			bad(at("proxy_idle", "base.proxy_idle"), "timing mode needs proxy_idle (%s) above backend_keepalive + the largest offset (%s): otherwise the proxy drops the connection first and nothing races",
				FormatDuration(c.ProxyIdle), FormatDuration(c.BackendKeepAlive+maxOff))
		}
		if -c.Offsets[0] >= c.BackendKeepAlive {
			bad("base.offsets", "offset %s reaches before the previous response: keep offsets above -backend_keepalive", FormatDuration(c.Offsets[0]))
		}
	}

	c.Trials = st.Trials
	if c.Trials == 0 {
		c.Trials = DefaultTrials
	}
	if c.Trials < 1 || c.Trials > MaxTrialsPerCell {
		bad("base.trials", "trials %d: want 1..%d", st.Trials, MaxTrialsPerCell)
	}
	c.MaxTrials, c.TargetHalfWidth = st.MaxTrials, st.TargetHalfWidth
	if c.MaxTrials != 0 && (c.MaxTrials < c.Trials || c.MaxTrials > MaxTrialsPerCell) {
		bad("base.max_trials", "max_trials %d: want trials..%d", c.MaxTrials, MaxTrialsPerCell)
	}
	if c.TargetHalfWidth < 0 || c.TargetHalfWidth >= 0.5 {
		bad("base.target_half_width", "target_half_width %v: want 0 < x < 0.5 (e.g. 0.05 for ±5%%)", c.TargetHalfWidth)
	}
	if c.MaxTrials > 0 && c.TargetHalfWidth == 0 {
		c.TargetHalfWidth = 0.05
	}

	b := st.Backend
	bp := at("backend", "base.backend")
	c.MaxRequests, c.ResponseStatus, c.BackendDown, c.RestartEvery = b.MaxRequests, b.ResponseStatus, b.Down, b.RestartEvery
	if b.MaxRequests < 0 {
		bad(bp+".max_requests", "must not be negative")
	}
	if b.RestartEvery < 0 {
		bad(bp+".restart_every", "must not be negative")
	}
	if b.ResponseStatus != 0 && (b.ResponseStatus < 200 || b.ResponseStatus > 599) {
		bad(bp+".response_status", "status %d: want 200..599", b.ResponseStatus)
	}
	if b.MaxLifetime != nil {
		c.MaxLifetime = sc(b.MaxLifetime.D())
	}
	if b.ResponseDelay != nil {
		c.ResponseDelay = sc(b.ResponseDelay.D())
	}

	runtimeProblems(&c, st, bp, sc, bad)

	// Params speak the scenario's own (unscaled) values: selectors and
	// reports match what the user wrote.
	c.Params = map[string]string{
		"proxy":             ProxyLabel(c.Proxy),
		"kind":              c.Proxy.Kind,
		"version":           c.Proxy.Version,
		"variant":           c.Proxy.Variant,
		"proxy_idle":        FormatDuration(idle),
		"backend_keepalive": FormatDuration(ka),
		"margin":            FormatDuration(ka - idle),
		"retry":             string(c.Retry),
		"method":            c.Method,
		"client":            c.Client,
		"close":             string(c.Close),
		"mode":              c.Mode,
	}
	if c.Mode == ModeDeterministic {
		c.Params["fault"] = string(c.Fault)
		c.Params["gap"] = FormatDuration(time.Duration(math.Round(float64(c.Gap) / scale)))
	}
	if c.Preset != "" {
		c.Params["preset"] = c.Preset
	}
	if c.Runtime != "" {
		c.Params["runtime"] = c.Runtime
		c.Params["keepalive"] = "default"
		if b.KeepAlive != nil {
			c.Params["keepalive"] = b.KeepAlive.String()
		}
		delete(c.Params, "close")
		delete(c.Params, "margin")
		delete(c.Params, "backend_keepalive")
	}
	if c.Proxy.Reuse != "" {
		c.Params["reuse"] = c.Proxy.Reuse
	}
	if lbl := b.Label(); lbl != "default" || paths["backend"] != "" {
		c.Params["backend"] = lbl
	}
	if c.Proxy.Config != "" {
		// The file decides the proxy's idle timeout, retries and reuse:
		// the defaults above are not what runs, so no parameter claims them.
		for _, k := range []string{"proxy_idle", "margin", "retry", "variant"} {
			delete(c.Params, k)
		}
		if c.GapAuto {
			// Placed by the file's own idle timeout once it is read (lab).
			delete(c.Params, "gap")
		}
		c.Params["config"] = filepath.Base(c.Proxy.Config)
		if c.Proxy.Upstream != "" {
			c.Params["upstream"] = c.Proxy.Upstream
		}
	}
	return c, probs
}

// DefaultOffsets sweep the natural race window: -0.5ms to +3ms around the
// backend's idle deadline in 250µs steps (design.md: the window is about
// 3ms wide whatever the timeout).
func DefaultOffsets() []time.Duration {
	var out []time.Duration
	for o := -500 * time.Microsecond; o <= 3*time.Millisecond; o += 250 * time.Microsecond {
		out = append(out, o)
	}
	return out
}

// paramNames are the parameters cells carry, for selectors.
var paramNames = map[string]bool{
	"proxy": true, "kind": true, "version": true, "variant": true, "proxy_idle": true, "backend_keepalive": true, "margin": true, "retry": true,
	"method": true, "client": true, "close": true, "mode": true, "fault": true, "gap": true,
	"preset": true, "reuse": true, "backend": true, "runtime": true, "keepalive": true, "config": true, "upstream": true,
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}

func presetNames() string {
	var names []string
	for _, p := range backends.Presets() {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}
