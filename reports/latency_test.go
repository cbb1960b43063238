package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/racelab/racelab/results"
)

func TestLatencyModel(t *testing.T) {
	win := func(width int64) results.Window {
		return results.Window{Trials: 10, Failures: 5, LeadNS: -width / 2, TailNS: width - width/2, WidthNS: width}
	}
	ws := []CellWindow{
		{Cell: "nginx.latency_0s", Params: map[string]string{"proxy": "nginx", "latency": "0s"}, Window: win(3_000_000)},
		{Cell: "nginx.latency_5ms", Params: map[string]string{"proxy": "nginx", "latency": "5ms"}, Window: win(12_000_000)},
		{Cell: "haproxy.latency_5ms", Params: map[string]string{"proxy": "haproxy", "latency": "5ms"}, Window: win(11_000_000)},
		{Cell: "plain", Params: map[string]string{"proxy": "nginx"}, Window: win(3_000_000)},
	}
	latencyModel(ws)
	tests := []struct {
		cell              string
		latency, lag, fit int64
		text              string
	}{
		{"nginx.latency_0s", 0, 0, 0, ""},
		{"nginx.latency_5ms", 5_000_000, 3_000_000, 13_000_000, "model: one round trip 2 × 5ms + the proxy's lag 3ms (width at zero latency) = 13ms; measured 12ms (0.92× the model)"},
		// No zero-latency cell of HAProxy in the run: no lag to add.
		{"haproxy.latency_5ms", 5_000_000, 0, 0, ""},
		{"plain", 0, 0, 0, ""},
	}
	for i, tt := range tests {
		cw := ws[i]
		if cw.Cell != tt.cell || cw.LatencyNS != tt.latency || cw.LagNS != tt.lag || cw.ModelWidthNS != tt.fit || cw.ModelText() != tt.text {
			t.Errorf("%s: latency %d lag %d model %d text %q; want %d %d %d %q", cw.Cell, cw.LatencyNS, cw.LagNS, cw.ModelWidthNS, cw.ModelText(), tt.latency, tt.lag, tt.fit, tt.text)
		}
	}
	var b bytes.Buffer
	WindowText(&b, ws[1])
	if !strings.Contains(b.String(), "measured 12ms (0.92× the model)") {
		t.Errorf("window text lacks the model:\n%s", b.String())
	}
}
