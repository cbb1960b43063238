package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/racelab/racelab/results"
)

// DescribeWire is one line of what the capture of the proxy↔backend
// traffic showed of a trial: the reused connection's 4-tuple, which side
// closed it first (FIN or RST) and when, relative to the request's first
// byte on it, the bytes each way from that byte on, whether request bytes
// reached a closed socket, and the pcap file; or why there is no capture.
func DescribeWire(w *results.WireEvidence) string {
	switch {
	case w == nil:
		return "not captured"
	case w.Unavailable != "":
		return w.Unavailable
	case w.Conn == "":
		return "no proxy↔backend connection on the wire during the trial"
	}
	parts := []string{w.Conn}
	switch {
	case w.FirstClose == "":
		parts = append(parts, "no FIN or RST during the trial")
	case w.CloseSinceRequestNS != nil:
		parts = append(parts, fmt.Sprintf("%s %s first, %s from the request's first byte", w.FirstClose, strings.ToUpper(w.CloseKind), FormatOffset(*w.CloseSinceRequestNS)))
	default:
		parts = append(parts, fmt.Sprintf("%s %s first", w.FirstClose, strings.ToUpper(w.CloseKind)))
	}
	switch {
	case w.RequestBytes == 0:
		parts = append(parts, "no request byte went out on it")
	case w.ResponseBytes == 0:
		parts = append(parts, fmt.Sprintf("%d request bytes, no response bytes", w.RequestBytes))
	default:
		parts = append(parts, fmt.Sprintf("%d request bytes, %d response bytes", w.RequestBytes, w.ResponseBytes))
	}
	if w.RequestIntoClosed {
		parts = append(parts, "request bytes reached the closed socket (backend RST)")
	}
	if w.PacketsDropped > 0 {
		parts = append(parts, fmt.Sprintf("%d older packets not kept", w.PacketsDropped))
	}
	if w.KernelDrops > 0 {
		parts = append(parts, fmt.Sprintf("incomplete: the kernel dropped %d captured packets during the trial", w.KernelDrops))
	}
	if w.Pcap != "" {
		parts = append(parts, "pcap "+w.Pcap)
	}
	return strings.Join(parts, "; ")
}

// DescribeWireEvents lists a trial's wire events, timed from the
// victim's send: "proxy data 96B +41µs, backend FIN +58µs".
func DescribeWireEvents(evs []results.WireEvent) string {
	parts := make([]string, 0, len(evs))
	for _, e := range evs {
		what := strings.ToUpper(e.Kind)
		if e.Kind == "data" {
			what = fmt.Sprintf("data %dB", e.Bytes)
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", e.From, what, FormatOffset(e.AtNS)))
	}
	return strings.Join(parts, ", ")
}

// mdWire writes, when the run captured the wire, one sample failure per
// cell with what the capture showed.
func (r *Report) mdWire(w io.Writer) {
	var lines []string
	for _, s := range r.Summaries {
		rec, ok := SampleFailure(r.Records(s.Cell))
		if !ok || rec.Wire == nil {
			continue
		}
		line := fmt.Sprintf("- `%s` request `%s` (%s): %s", strings.ReplaceAll(s.Cell, "`", "'"), rec.RequestID, rec.Outcome, mdText(DescribeWire(rec.Wire)))
		if len(rec.Wire.Events) > 0 {
			line += "  \n  events: " + mdText(DescribeWireEvents(rec.Wire.Events))
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\n**Evidence from the wire** (a sample failure per cell; the proxy↔backend connection the proxy reused)\n\n%s\n", strings.Join(lines, "\n"))
	}
}

// Timeline colour of wire events.
const tlWire = "#16876b"

// maxWireRows bounds the wire events a timeline draws.
const maxWireRows = 8

// wireTimeline are the wire events a timeline draws between the proxy and
// the backend lanes: every event from the victim's send on, and the
// closes before it (the FIN the request met), at most maxWireRows.
func wireTimeline(w *results.WireEvidence) []tlEvent {
	if w == nil || w.Unavailable != "" {
		return nil
	}
	var out []tlEvent
	for _, e := range w.Events {
		if e.AtNS < 0 && e.Kind != "fin" && e.Kind != "rst" {
			continue
		}
		if len(out) == maxWireRows {
			break
		}
		ev := tlEvent{ns: e.AtNS, measured: true, from: 1, to: 2, color: tlWire, dash: "2 3", order: 4}
		if e.From == "backend" {
			ev.from, ev.to = 2, 1
		}
		what := strings.ToUpper(e.Kind)
		if e.Kind == "data" {
			what = fmt.Sprintf("%d bytes", e.Bytes)
		}
		ev.label = fmt.Sprintf("wire: %s %s", e.From, what)
		out = append(out, ev)
	}
	return out
}
