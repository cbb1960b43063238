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
	add("latency", "latency", len(m.Latency), func(s *Settings, i int) {
		d := m.Latency[i]
		p := Path{Latency: &d}
		if s.Path != nil {
			p.Jitter = s.Path.Jitter
		}
		s.Path = &p
	}, func(i int) string { return "latency=" + m.Latency[i].String() })
	add("body", "body", len(m.Body), func(s *Settings, i int) { b := m.Body[i]; s.Body = &b },
		func(i int) string { return m.Body[i].Label() })
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
	c.Timescale, c.ScaleNote = floorScale(c.Proxy, st.ProxyIdle, scale)
	scale = c.Timescale
	pp := at("proxy", "base.proxy")
	switch proxies.Kind(c.Proxy.Kind) {
	case proxies.KindGo, proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy,
		proxies.KindCaddy, proxies.KindApache, proxies.KindVarnish, proxies.KindSquid:
	default:
		bad(pp+".kind", "proxy kind %q: want go, nginx, haproxy, envoy, caddy, apache, varnish or squid", c.Proxy.Kind)
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
	if st.Fault == FaultNatural {
		c.Fault = backends.FaultNone
	} else if c.Fault != backends.FaultCloseOnReuse && c.Fault != backends.FaultProcessedThenDropped {
		bad(at("fault", "base.fault"), "fault %q: want close-on-reuse, processed-then-dropped or none", st.Fault)
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
		} else if c.Fault == backends.FaultNone {
			// The natural race: gaps spread evenly around the backend's
			// keep-alive.
			c.Gap = max(c.BackendKeepAlive-c.Jitter/2, 0)
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
				from, step := sw.From.D(), sw.Step.D()
				if lat := pathLatency(st); sw.AroundLatency && lat > 0 && n > 1 {
					from -= lat
					step = (sw.To.D() + lat - from) / (n - 1)
				}
				// By count, not by o += step: near the largest duration
				// the sum would overflow and the loop never end.
				for i := time.Duration(0); i < n; i++ {
					c.Offsets = append(c.Offsets, from+i*step)
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

	if st.Path != nil {
		lp := at("latency", "base.path.latency")
		if st.Path.Latency != nil {
			c.Latency = st.Path.Latency.D()
		}
		if st.Path.Jitter != nil {
			c.PathJitter = st.Path.Jitter.D()
		}
		switch {
		case c.Latency < 0:
			bad(lp, "latency must not be negative")
		case c.Latency > MaxLatency:
			bad(lp, "latency %s: at most %s (one way)", FormatDuration(c.Latency), FormatDuration(MaxLatency))
		}
		switch {
		case c.PathJitter < 0:
			bad("base.path.jitter", "jitter must not be negative")
		case c.PathJitter > MaxLatency:
			bad("base.path.jitter", "jitter %s: at most %s", FormatDuration(c.PathJitter), FormatDuration(MaxLatency))
		}
		if c.Latency > 0 && b.Down {
			bad(lp, "a path with latency needs a backend: backend.down has none")
		}
	}

	if st.Body != nil {
		bp := at("body", "base.body")
		b := st.Body
		cb := &CellBody{Size: b.Size, Rate: b.Rate}
		if b.Delay != nil {
			cb.Delay = b.Delay.D()
		}
		switch {
		case b.Size <= 0 || b.Size > MaxBodySize:
			bad(bp+".size", "size %d: want 1..%d bytes", b.Size, MaxBodySize)
		case b.Rate < 0:
			bad(bp+".rate", "rate must not be negative")
		case b.Rate == 0 && b.Delay == nil:
			bad(bp, "a slow body needs rate (bytes a second) or delay")
		case b.Rate > 0 && b.Delay != nil:
			bad(bp, "give rate or delay, not both")
		case cb.Delay < 0:
			bad(bp+".delay", "delay must not be negative")
		case cb.Duration() > time.Minute:
			bad(bp, "the body takes %s to send: at most 1m", FormatDuration(cb.Duration()))
		}
		switch c.Method {
		case "GET", "HEAD", "OPTIONS", "DELETE", "TRACE":
			bad(bp, "method %s sends no body: use POST, PUT or PATCH", c.Method)
		}
		c.Body = cb
	}
	switch c.Proxy.RequestBuffering {
	case "", "on", "off":
	default:
		bad(pp+".request_buffering", "request_buffering %q: want on or off", c.Proxy.RequestBuffering)
	}
	if c.Proxy.RequestBuffering != "" && c.Proxy.Kind != string(proxies.KindNginx) && c.Proxy.Kind != string(proxies.KindHAProxy) {
		bad(pp+".request_buffering", "request_buffering is an nginx or HAProxy setting")
	}
	if c.Proxy.RequestBuffering != "" && c.Proxy.Config != "" {
		bad(pp+".request_buffering", "a proxy config file decides its own request buffering")
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
		if c.Fault == backends.FaultNone {
			c.Params["fault"] = FaultNatural
		}
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
	if st.Body != nil {
		c.Params["body"] = st.Body.Label()
	}
	if c.Proxy.RequestBuffering != "" {
		c.Params["request_buffering"] = c.Proxy.RequestBuffering
	}
	if st.Path != nil || paths["latency"] != "" {
		// Latency is never scaled: the parameter is what runs.
		c.Params["latency"] = FormatDuration(c.Latency)
		if c.PathJitter > 0 {
			c.Params["path_jitter"] = FormatDuration(c.PathJitter)
		}
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

// pathLatency is the settings' path latency (0: none or negative).
func pathLatency(st Settings) time.Duration {
	if st.Path == nil || st.Path.Latency == nil || st.Path.Latency.D() < 0 {
		return 0
	}
	return st.Path.Latency.D()
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
	"latency": true, "path_jitter": true, "body": true, "request_buffering": true,
}

// MaxBodySize bounds a slow body: 64 MiB.
const MaxBodySize = 64 << 20

// MaxLatency bounds a path's one-way latency: a second is far beyond any
// network a proxy and its backend share.
const MaxLatency = time.Second

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

// floorScale raises scale for a proxy whose idle setting has a floor
// (proxies.IdleFloor) so that the scaled proxy_idle stays at or above it:
// every timer of the cell grows alike, so the experiment keeps its shape
// and only runs slower. The note says so ("" when scale is unchanged).
func floorScale(p Proxy, idle *Duration, scale float64) (float64, string) {
	floor := proxies.IdleFloor(proxies.Kind(p.Kind))
	if floor == 0 || p.Config != "" {
		return scale, ""
	}
	d := DefaultProxyIdle
	if idle != nil {
		d = idle.D()
	}
	if d <= 0 || float64(d)*scale >= float64(floor) {
		return scale, ""
	}
	raised := float64(floor) / float64(d)
	return raised, fmt.Sprintf("timescale %g raised to %g for %s: its upstream idle timeout cannot go below %s", scale, raised, p.Kind, floor)
}
