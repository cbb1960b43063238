package wire

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var backendAddr = netip.MustParseAddrPort("127.0.0.1:8080")

func proxyAddr(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

// frame is a stand-in frame: an Ethernet header and one distinguishing byte.
func frame(b byte) []byte { return append(make([]byte, ethLen), b) }

func TestFlowsBounded(t *testing.T) {
	tab := newFlows(2, 8)
	t0 := time.Now()
	for i := 0; i < 20; i++ {
		require.True(t, tab.add(proxyAddr(1), backendAddr, Packet{At: t0.Add(time.Duration(i) * time.Second), From: SideProxy, Payload: 1, Data: frame(byte(i))}, false))
	}
	f, ok := tab.get(proxyAddr(1))
	require.True(t, ok)
	assert.LessOrEqual(t, len(f.Packets), 8, "packets per connection are bounded")
	assert.Equal(t, 20, len(f.Packets)+f.Dropped, "every packet is kept or counted as dropped")
	assert.Equal(t, byte(19), f.Packets[len(f.Packets)-1].Data[ethLen], "the newest packets stay")

	// A third connection evicts the one idle longest.
	tab.add(proxyAddr(2), backendAddr, Packet{At: t0.Add(30 * time.Second), Data: frame(0)}, false)
	tab.add(proxyAddr(3), backendAddr, Packet{At: t0.Add(31 * time.Second), Data: frame(0)}, false)
	conns, evicted := tab.count()
	assert.Equal(t, 2, conns)
	assert.Equal(t, 1, evicted)
	_, ok = tab.get(proxyAddr(1))
	assert.False(t, ok, "the connection idle longest went first")

	assert.Equal(t, 1, tab.prune(t0.Add(31*time.Second)), "prune drops what ended before")
	conns, _ = tab.count()
	assert.Equal(t, 1, conns)
}

func TestFlowsDedupeAndReuse(t *testing.T) {
	tab := newFlows(8, 8)
	t0 := time.Now()
	syn := Packet{At: t0, From: SideProxy, Flags: FlagSYN, Data: frame(1)}
	tests := []struct {
		name   string
		p      Packet
		dedupe bool
		kept   bool
	}{
		{"first copy", syn, true, true},
		{"lo's second copy", Packet{At: t0.Add(10 * time.Microsecond), From: SideProxy, Flags: FlagSYN, Data: frame(1)}, true, false},
		{"same bytes, no dedupe", Packet{At: t0.Add(20 * time.Microsecond), From: SideProxy, Flags: FlagSYN, Data: frame(1)}, false, true},
		{"same bytes much later (a retransmission)", Packet{At: t0.Add(time.Second), From: SideProxy, Flags: FlagSYN, Data: frame(1)}, true, true},
		{"other bytes", Packet{At: t0.Add(time.Second + time.Microsecond), From: SideBackend, Flags: FlagSYN | FlagACK, Data: frame(2)}, true, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.kept, tab.add(proxyAddr(1), backendAddr, tt.p, tt.dedupe), tt.name)
	}
	tab.add(proxyAddr(1), backendAddr, Packet{At: t0.Add(2 * time.Second), From: SideBackend, Flags: FlagRST, Data: frame(3)}, true)
	// The tuple's next connection starts afresh.
	tab.add(proxyAddr(1), backendAddr, Packet{At: t0.Add(3 * time.Second), From: SideProxy, Flags: FlagSYN, Data: frame(4)}, true)
	f, _ := tab.get(proxyAddr(1))
	require.Len(t, f.Packets, 1)
	assert.Equal(t, byte(4), f.Packets[0].Data[ethLen])
}

func TestFlowsWithMarker(t *testing.T) {
	tab := newFlows(8, 8)
	t0 := time.Now()
	data := func(at time.Duration, s string) Packet {
		return Packet{At: t0.Add(at), From: SideProxy, Payload: len(s), Data: append(make([]byte, 54), s...)}
	}
	tab.add(proxyAddr(1), backendAddr, data(2*time.Millisecond, "GET /r/7-1-v HTTP/1.1"), false) // the retry
	tab.add(proxyAddr(2), backendAddr, data(time.Millisecond, "GET /r/7-1-v HTTP/1.1"), false)   // the reused one
	tab.add(proxyAddr(3), backendAddr, data(0, "GET /r/7-1-p HTTP/1.1"), false)
	got := tab.with([]byte("/r/7-1-v "))
	require.Len(t, got, 2)
	assert.Equal(t, proxyAddr(2), got[0].Proxy, "in the order the request went out")
	assert.Equal(t, proxyAddr(1), got[1].Proxy)
	assert.Len(t, tab.since(t0.Add(time.Millisecond)), 2)
}
