package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/racelab/racelab/results"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func natural() *results.WireEvidence {
	since := int64(-300_000)
	return &results.WireEvidence{Conn: "127.0.0.1:41000>127.0.0.1:8080", FirstClose: "backend", CloseKind: "fin",
		CloseSinceRequestNS: &since, RequestIntoClosed: true, RequestBytes: 96, Pcap: "pcaps/c-0003.pcap",
		Events: []results.WireEvent{
			{AtNS: -2_000_000, From: "proxy", Kind: "data", Bytes: 96},   // the priming request
			{AtNS: -1_900_000, From: "backend", Kind: "data", Bytes: 80}, // its answer
			{AtNS: -260_000, From: "backend", Kind: "fin"},
			{AtNS: 40_000, From: "proxy", Kind: "data", Bytes: 96},
			{AtNS: 55_000, From: "backend", Kind: "rst"},
		}}
}

func TestDescribeWire(t *testing.T) {
	since := int64(80_000)
	cases := []struct {
		name string
		w    *results.WireEvidence
		want []string
	}{
		{"not captured", nil, []string{"not captured"}},
		{"unavailable", &results.WireEvidence{Unavailable: "capture unavailable: open AF_PACKET socket on lo: operation not permitted"}, []string{"capture unavailable: open AF_PACKET"}},
		{"no connection", &results.WireEvidence{}, []string{"no proxy↔backend connection"}},
		{"natural race", natural(), []string{"127.0.0.1:41000>127.0.0.1:8080", "backend FIN first, -300µs from the request's first byte", "96 request bytes, no response bytes", "reached the closed socket (backend RST)", "pcap pcaps/c-0003.pcap"}},
		{"close-on-reuse", &results.WireEvidence{Conn: "a>b", FirstClose: "backend", CloseKind: "fin", CloseSinceRequestNS: &since, RequestBytes: 96}, []string{"backend FIN first, +80µs"}},
		{"answered", &results.WireEvidence{Conn: "a>b", RequestBytes: 96, ResponseBytes: 120}, []string{"no FIN or RST", "96 request bytes, 120 response bytes"}},
		{"kernel drops", &results.WireEvidence{Conn: "a>b", KernelDrops: 3}, []string{"incomplete: the kernel dropped 3"}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := DescribeWire(tt.w)
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
		})
	}
	assert.Equal(t, "backend FIN -260µs, proxy data 96B +40µs, backend RST +55µs", DescribeWireEvents(natural().Events[2:]))
}

// The timeline draws the wire's packets on the reused connection in time
// order with the rest: the backend's FIN above the victim's send, the
// request's bytes and the RST after it.
func TestTimelineWire(t *testing.T) {
	rec := results.Record{Cell: "c", RequestID: "0-1-v", Method: "GET", Outcome: results.Proxy502, Status: 502, LatencyNS: 497_429,
		Attributed: true, Attribution: "backend conn 1 closed", Wire: natural(),
		Backend: results.BackendEvidence{PooledConn: 1, Close: &results.CloseEvidence{Conn: 1, Closer: "backend", Reason: "idle-timeout", Style: "fin", SinceSendNS: -250_000}}}
	svg := timelineSVG(rec, "nginx")
	require.NoError(t, wellFormed(svg))
	idx := func(s string) int { i := strings.Index(svg, s); require.GreaterOrEqual(t, i, 0, s); return i }
	assert.Less(t, idx("wire: backend FIN"), idx("GET request 0-1-v (victim)"))
	assert.Less(t, idx("GET request 0-1-v (victim)"), idx("wire: proxy 96 bytes"))
	assert.Less(t, idx("wire: proxy 96 bytes"), idx("wire: backend RST"))
	assert.Less(t, idx("wire: backend RST"), idx("502 response (proxy_502)"))
	assert.NotContains(t, svg, "wire: backend 80 bytes", "the priming exchange before the send is left out")
	assert.Contains(t, svg, "t = -260µs")
	assert.Contains(t, svg, "wire: 127.0.0.1:41000&gt;127.0.0.1:8080")

	rec.Wire = &results.WireEvidence{Unavailable: "capture unavailable: no CAP_NET_RAW"}
	svg = timelineSVG(rec, "nginx")
	assert.NotContains(t, svg, "wire: backend")
	assert.Contains(t, svg, "wire: capture unavailable: no CAP_NET_RAW")
}

func TestMarkdownWire(t *testing.T) {
	run := results.NewRun()
	st := results.NewStream(nil, run)
	require.NoError(t, st.Write(results.Cell{Type: results.TypeCell, ID: "c", Params: map[string]string{"proxy": "nginx"}}))
	rec := results.Record{Type: results.TypeTrial, Cell: "c", RequestID: "0-1-v", Outcome: results.Proxy502, Status: 502, Attributed: true,
		Backend: results.BackendEvidence{Close: &results.CloseEvidence{Conn: 1}}, Wire: natural()}
	require.NoError(t, st.Write(rec))
	var b bytes.Buffer
	require.NoError(t, New(run).Markdown(&b))
	assert.Contains(t, b.String(), "**Evidence from the wire**")
	assert.Contains(t, b.String(), "- `c` request `0-1-v` (proxy_502): 127.0.0.1:41000>127.0.0.1:8080; backend FIN first")
	assert.Contains(t, b.String(), "events: proxy data 96B -2ms, backend data 80B -1.9ms, backend FIN -260µs")

	assert.Contains(t, DescribeRecord(rec), "\n  wire: 127.0.0.1:41000>127.0.0.1:8080")
}
