package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/racelab/racelab/scenarios"
)

// latencyModel fills in, for each timing cell with a path latency, the
// width the simple model predicts: one round trip (2 × latency: the
// backend's FIN is one latency on its way to the proxy, and a request the
// proxy sends in that time is one latency on its way to a closed socket)
// plus the proxy's own detection lag, measured as the window width of the
// cell that is the same in every other parameter at zero latency.
func latencyModel(ws []CellWindow) {
	zero := map[string]int64{}
	for i := range ws {
		lat, ok := cellLatency(ws[i].Params)
		if !ok {
			continue
		}
		ws[i].LatencyNS = lat
		if lat == 0 && ws[i].Window.Failures > 0 {
			zero[withoutPath(ws[i].Params)] = ws[i].Window.WidthNS
		}
	}
	for i := range ws {
		cw := &ws[i]
		lag, ok := zero[withoutPath(cw.Params)]
		if !ok || cw.LatencyNS == 0 {
			continue
		}
		cw.LagNS = lag
		cw.ModelWidthNS = 2*cw.LatencyNS + lag
	}
}

// cellLatency is a cell's path latency from its parameters.
func cellLatency(params map[string]string) (int64, bool) {
	v, ok := params["latency"]
	if !ok {
		return 0, false
	}
	d, err := scenarios.ParseDuration(v)
	if err != nil {
		return 0, false
	}
	return int64(d), true
}

// withoutPath is a key of a cell's parameters other than its path.
func withoutPath(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "latency" && k != "path_jitter" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\x00", k, params[k])
	}
	return b.String()
}

// ModelText says how the measured window compares with the model's
// prediction, or "" when the cell has no latency or no zero-latency cell
// to take the proxy's lag from.
func (cw CellWindow) ModelText() string {
	if cw.ModelWidthNS == 0 {
		return ""
	}
	s := fmt.Sprintf("model: one round trip 2 × %s + the proxy's lag %s (width at zero latency) = %s",
		FormatNS(cw.LatencyNS), FormatNS(cw.LagNS), FormatNS(cw.ModelWidthNS))
	if cw.Window.Failures > 0 {
		s += fmt.Sprintf("; measured %s (%.2f× the model)", FormatNS(cw.Window.WidthNS), float64(cw.Window.WidthNS)/float64(cw.ModelWidthNS))
	}
	return s
}
