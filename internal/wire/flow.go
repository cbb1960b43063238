package wire

import (
	"bytes"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/google/gopacket"
)

// Side is the end of a proxy↔backend connection a packet came from.
type Side string

const (
	SideProxy   Side = "proxy"
	SideBackend Side = "backend"
)

// Flags are the TCP flags racelab reads.
type Flags uint8

const (
	FlagSYN Flags = 1 << iota
	FlagFIN
	FlagRST
	FlagACK
	FlagPSH
)

// Packet is one captured TCP segment of a connection.
type Packet struct {
	// At is when the kernel saw the packet, on this process's monotonic
	// clock: it compares exactly with time.Now() and backend events.
	At time.Time
	// Info is the kernel's capture info (wall-clock timestamp, captured
	// and original length) as a pcap file stores it.
	Info gopacket.CaptureInfo
	From Side
	Flags
	Seq, Ack uint32
	// Payload is the TCP payload length on the wire (not cut to the snap
	// length).
	Payload int
	// Data is the frame, cut to the capture's snap length.
	Data []byte
}

// Has reports whether every flag in f is set.
func (f Flags) Has(g Flags) bool { return f&g == g }

// Flow is one TCP connection between the proxy and the backend.
type Flow struct {
	Proxy   netip.AddrPort
	Backend netip.AddrPort
	// Packets are the connection's last packets, in capture order.
	Packets []Packet
	// Dropped counts older packets the bounded buffer let go.
	Dropped int
	// first and last are the times of the first and last packet seen.
	first, last time.Time
	ended       bool
}

// String is the connection's 4-tuple, proxy side first.
func (f *Flow) String() string {
	return f.Proxy.String() + ">" + f.Backend.String()
}

// Last is the time of the flow's last packet.
func (f *Flow) Last() time.Time { return f.last }

// flows is the bounded table of connections.
type flows struct {
	mu         sync.Mutex
	byProxy    map[netip.AddrPort]*Flow
	maxConns   int
	maxPackets int
	evicted    int
}

func newFlows(maxConns, maxPackets int) *flows {
	return &flows{byProxy: map[netip.AddrPort]*Flow{}, maxConns: maxConns, maxPackets: maxPackets}
}

// add files p under its connection. A SYN on a connection that ended
// starts the tuple's next connection. It reports false for a frame
// identical to the connection's previous one within dupWindow, when
// dedupe is on (userspace filtering sees lo's two copies of a packet).
func (t *flows) add(proxy, backend netip.AddrPort, p Packet, dedupe bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.byProxy[proxy]
	if f != nil && dedupe && len(f.Packets) > 0 {
		prev := &f.Packets[len(f.Packets)-1]
		if p.At.Sub(prev.At) < dupWindow && prev.From == p.From && bytes.Equal(prev.Data[ethLen:], p.Data[ethLen:]) {
			return false
		}
	}
	if f != nil && f.ended && p.Flags.Has(FlagSYN) && !p.Flags.Has(FlagACK) {
		delete(t.byProxy, proxy)
		f = nil
	}
	if f == nil {
		if len(t.byProxy) >= t.maxConns {
			t.evictOldest()
		}
		f = &Flow{Proxy: proxy, Backend: backend, first: p.At}
		t.byProxy[proxy] = f
	}
	if len(f.Packets) >= t.maxPackets {
		// Let the oldest quarter go at once: amortised O(1) per packet.
		n := max(1, t.maxPackets/4)
		f.Packets = append(f.Packets[:0], f.Packets[n:]...)
		f.Dropped += n
	}
	f.Packets = append(f.Packets, p)
	f.last = p.At
	if p.Flags.Has(FlagRST) || p.Flags.Has(FlagFIN) {
		f.ended = true
	}
	return true
}

// dupWindow bounds how far apart lo's two copies of a packet are seen.
const dupWindow = time.Millisecond

func (t *flows) evictOldest() {
	var oldest *Flow
	for _, f := range t.byProxy {
		if oldest == nil || f.last.Before(oldest.last) {
			oldest = f
		}
	}
	if oldest != nil {
		delete(t.byProxy, oldest.Proxy)
		t.evicted++
	}
}

func (t *flows) get(proxy netip.AddrPort) (Flow, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.byProxy[proxy]
	if !ok {
		return Flow{}, false
	}
	return f.clone(), true
}

func (f *Flow) clone() Flow {
	c := *f
	c.Packets = append([]Packet(nil), f.Packets...)
	return c
}

// with returns the flows whose proxy→backend payload contains marker,
// ordered by the packet that carried it.
func (t *flows) with(marker []byte) []Flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	type hit struct {
		f  Flow
		at time.Time
	}
	var hits []hit
	for _, f := range t.byProxy {
		for i := range f.Packets {
			p := &f.Packets[i]
			if p.From == SideProxy && p.Payload > 0 && bytes.Contains(p.Data, marker) {
				hits = append(hits, hit{f.clone(), p.At})
				break
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].at.Before(hits[j].at) })
	out := make([]Flow, len(hits))
	for i := range hits {
		out[i] = hits[i].f
	}
	return out
}

// since returns the flows whose first packet is at or after t, in order.
func (t *flows) since(at time.Time) []Flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Flow
	for _, f := range t.byProxy {
		if !f.first.Before(at) {
			out = append(out, f.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first.Before(out[j].first) })
	return out
}

// prune drops the flows whose last packet is before t.
func (t *flows) prune(before time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, f := range t.byProxy {
		if f.last.Before(before) {
			delete(t.byProxy, k)
			n++
		}
	}
	return n
}

func (t *flows) count() (conns, evicted int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byProxy), t.evicted
}
