package lab

import (
	"strings"
	"testing"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// A real runtime's failures: attributed from the wire when there is a
// capture, from the proxy's log of the upstream's close when there is
// none, never when the runtime ran the request.
func TestClassifyApp(t *testing.T) {
	at := func(ns int64) *int64 { return &ns }
	closedFirst := &results.WireEvidence{Conn: "p>b", FirstClose: "backend", CloseKind: "fin",
		CloseSinceRequestNS: at(-200_000), RequestBytes: 120, RequestIntoClosed: true}
	proxyFirst := &results.WireEvidence{Conn: "p>b", FirstClose: "proxy", CloseKind: "fin", CloseSinceRequestNS: at(1000), RequestBytes: 120}
	noCapture := &results.WireEvidence{Unavailable: "capture unavailable: operation not permitted"}
	closedLog := []proxies.Evidence{{Source: "error", Message: "upstream prematurely closed connection while reading response header from upstream"}}
	tests := []struct {
		name       string
		resp       response
		execs      int
		proxy      []proxies.Evidence
		wire       *results.WireEvidence
		outcome    results.Outcome
		attributed bool
		why        string
	}{
		{"ok", response{Status: 200}, 1, nil, nil, results.OK, false, ""},
		{"retried behind the client", response{Status: 200}, 2, nil, nil, results.OKAfterHiddenRetry, false, ""},
		{"wire: the runtime closed first", response{Status: 502}, 0, closedLog, closedFirst, results.Proxy502, true, "the backend's FIN came first"},
		{"wire: the proxy closed first", response{Status: 502}, 0, closedLog, proxyFirst, results.Proxy502, false, "the proxy closed p>b first"},
		{"no capture: the proxy's log", response{Status: 502}, 0, closedLog, noCapture, results.Proxy502, true, "no wire capture: capture unavailable"},
		{"no capture, no log", response{Status: 502}, 0, nil, noCapture, results.Proxy502, false, "nothing shows it closed"},
		{"the runtime ran it", response{Status: 502}, 1, closedLog, closedFirst, results.Proxy502, false, "the runtime ran the request (1 times)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := classifyApp(tt.resp, tt.execs, tt.proxy)
			attributed, why := v.attributed, v.attribution
			if v.outcome.Failed() && tt.execs == 0 {
				attributed, why = attributeApp(tt.wire, tt.proxy, DefaultAttributionWindow)
			}
			if v.outcome != tt.outcome || attributed != tt.attributed || !strings.Contains(why, tt.why) {
				t.Errorf("got %s attributed %v %q; want %s %v %q", v.outcome, attributed, why, tt.outcome, tt.attributed, tt.why)
			}
		})
	}
}
