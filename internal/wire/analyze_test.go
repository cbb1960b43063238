package wire

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAnalyze reads the negative controls and the races from synthetic
// packet sequences (the live tests take the same shapes off lo).
func TestAnalyze(t *testing.T) {
	t0 := time.Now()
	type pk struct {
		ms    float64
		from  Side
		flags Flags
		bytes int
	}
	tests := []struct {
		name       string
		pk         []pk
		firstClose string
		kind       string
		sinceMS    *float64
		into       bool
		req, resp  int
	}{
		{name: "backend answers 502: no close", pk: []pk{{0, SideProxy, FlagACK | FlagPSH, 100}, {0.2, SideBackend, FlagACK | FlagPSH, 80}},
			req: 100, resp: 80},
		{name: "dead backend: SYN refused", pk: []pk{{0, SideProxy, FlagSYN, 0}, {0.01, SideBackend, FlagRST | FlagACK, 0}},
			firstClose: "backend", kind: "rst"},
		{name: "close-on-reuse", pk: []pk{{0, SideProxy, FlagACK | FlagPSH, 100}, {0.1, SideBackend, FlagFIN | FlagACK, 0}, {0.2, SideProxy, FlagFIN | FlagACK, 0}},
			firstClose: "backend", kind: "fin", sinceMS: ptr(0.1), req: 100},
		{name: "natural race: FIN, request, RST", pk: []pk{{-0.3, SideBackend, FlagFIN | FlagACK, 0}, {0, SideProxy, FlagACK | FlagPSH, 100}, {0.02, SideBackend, FlagRST, 0}},
			firstClose: "backend", kind: "fin", sinceMS: ptr(-0.3), into: true, req: 100},
		{name: "proxy retires its idle connection", pk: []pk{{-5, SideProxy, FlagFIN | FlagACK, 0}, {-4.9, SideBackend, FlagFIN | FlagACK, 0}},
			firstClose: "proxy", kind: "fin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Flow{Proxy: proxyAddr(40000), Backend: backendAddr}
			for _, p := range tt.pk {
				f.Packets = append(f.Packets, Packet{At: t0.Add(time.Duration(p.ms * float64(time.Millisecond))), From: p.from, Flags: p.flags, Payload: p.bytes, Data: frame(0)})
			}
			w := Analyze(f, Victim{Sent: t0.Add(-time.Microsecond)})
			assert.Equal(t, "127.0.0.1:40000>127.0.0.1:8080", w.Conn)
			assert.Equal(t, tt.firstClose, w.FirstClose)
			assert.Equal(t, tt.kind, w.CloseKind)
			if tt.sinceMS == nil {
				assert.Nil(t, w.CloseSinceRequestNS)
			} else {
				require.NotNil(t, w.CloseSinceRequestNS)
				assert.InDelta(t, *tt.sinceMS*1e6, float64(*w.CloseSinceRequestNS), 1)
			}
			assert.Equal(t, tt.into, w.RequestIntoClosed)
			assert.Equal(t, tt.req, w.RequestBytes)
			assert.Equal(t, tt.resp, w.ResponseBytes)
			assert.Len(t, w.Events, len(tt.pk), "every packet here matters")
		})
	}
}

func ptr(f float64) *float64 { return &f }
