package wire

import (
	"bytes"
	"time"

	"github.com/racelab/racelab/results"
)

// Victim is what Analyze needs to know of the request under test.
type Victim struct {
	// Sent is when the client sent the request (monotonic clock).
	Sent time.Time
	// Marker is a byte string only the victim's request carries (its
	// request id). Without one, or when no captured packet holds it, the
	// victim's first byte on the connection is the proxy's first data at
	// or after Sent.
	Marker []byte
	// From is where the trial began (the priming request): earlier
	// packets of a long-lived connection are left out of the events.
	From time.Time
}

// MaxEvents bounds the events Analyze lists for one connection.
const MaxEvents = 24

// Analyze reads one connection's packets: which side closed first and
// how, when relative to the victim request's first byte on it, whether
// request bytes reached a socket the backend had closed (the backend's
// FIN or RST, then the proxy's data, then the backend's RST), how many
// request and response bytes went each way from that first byte on, and
// the packets that matter (pure ACKs left out) as events timed from
// v.Sent.
func Analyze(f Flow, v Victim) results.WireEvidence {
	w := results.WireEvidence{Conn: f.String(), PacketsDropped: f.Dropped}
	pk := f.Packets
	req := -1
	if len(v.Marker) > 0 {
		for i := range pk {
			if pk[i].From == SideProxy && pk[i].Payload > 0 && bytes.Contains(pk[i].Data, v.Marker) {
				req = i
				break
			}
		}
	}
	if req < 0 && !v.Sent.IsZero() {
		for i := range pk {
			if pk[i].From == SideProxy && pk[i].Payload > 0 && !pk[i].At.Before(v.Sent) {
				req = i
				break
			}
		}
	}
	first := -1
	for i := range pk {
		if pk[i].Flags&(FlagFIN|FlagRST) != 0 {
			first = i
			break
		}
	}
	if first >= 0 {
		w.FirstClose = string(pk[first].From)
		w.CloseKind = "fin"
		if pk[first].Flags.Has(FlagRST) {
			w.CloseKind = "rst"
		}
		if req >= 0 {
			d := int64(pk[first].At.Sub(pk[req].At))
			w.CloseSinceRequestNS = &d
		}
	}
	if req >= 0 {
		for _, p := range pk[req:] {
			switch p.From {
			case SideProxy:
				w.RequestBytes += p.Payload
			case SideBackend:
				w.ResponseBytes += p.Payload
			}
		}
	}
	w.RequestIntoClosed = intoClosed(pk)
	for _, p := range pk {
		if len(w.Events) == MaxEvents {
			break
		}
		if p.At.Before(v.From) || (p.Payload == 0 && p.Flags&(FlagSYN|FlagFIN|FlagRST) == 0) {
			continue
		}
		w.Events = append(w.Events, results.WireEvent{AtNS: int64(p.At.Sub(v.Sent)), From: string(p.From), Kind: kind(p), Bytes: p.Payload})
	}
	return w
}

// intoClosed: the backend closed (FIN or RST), the proxy then sent data,
// and the backend answered it with RST.
func intoClosed(pk []Packet) bool {
	closed, data := false, false
	for _, p := range pk {
		switch {
		case p.From == SideBackend && data && p.Flags.Has(FlagRST):
			return true
		case p.From == SideBackend && p.Flags&(FlagFIN|FlagRST) != 0:
			closed = true
		case p.From == SideProxy && closed && p.Payload > 0:
			data = true
		}
	}
	return false
}

func kind(p Packet) string {
	switch {
	case p.Flags.Has(FlagRST):
		return "rst"
	case p.Flags.Has(FlagFIN):
		return "fin"
	case p.Flags.Has(FlagSYN):
		return "syn"
	}
	return "data"
}
