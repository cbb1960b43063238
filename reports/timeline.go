package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/racelab/racelab/results"
)

// Timeline colours.
const (
	tlInk      = "#222222"
	tlMuted    = "#777777"
	tlClose    = "#c0392b"
	tlResponse = "#8e44ad"
	tlRequest  = "#1f5f8b"
)

type tlEvent struct {
	ns       int64
	measured bool
	from, to int // lane index: 0 client, 1 proxy, 2 backend
	label    string
	color    string
	dash     string
	order    int // tie-break: send, forward, close, response
}

// timelineSVG draws a sample failure as a sequence diagram over the three
// parties: the client sends the victim at t=0, the proxy forwards it on
// the pooled connection, the backend closes that connection (FIN or RST,
// at the measured time from the send), and the proxy answers the client
// (at the measured latency). When the wire was captured, its packets on
// the reused connection (SYN, data, FIN, RST; dotted, green) are drawn
// between the proxy and the backend at their captured times. Rows are in time order; their spacing is not
// to scale, every measured time is written beside its row.
func timelineSVG(r results.Record, proxyName string) string {
	const (
		width  = 940.0
		top    = 78.0
		rowGap = 58.0
	)
	lanes := []float64{120, 470, 820}
	names := []string{"client (racelab)", "proxy: " + proxyName, "backend (racelab)"}
	evs := []tlEvent{{ns: 0, measured: true, from: 0, to: 1, color: tlRequest, order: 0,
		label: fmt.Sprintf("%s request %s (victim)", r.Method, r.RequestID)}}
	be := r.Backend
	fwd := tlEvent{ns: 0, from: 1, to: 2, color: tlRequest, dash: "6 4", order: 1}
	switch {
	case be.Arrivals > 0 && len(be.Conns) > 0:
		fwd.label = fmt.Sprintf("forwarded: arrived %d× (conn %s)", be.Arrivals, joinConns(be.Conns))
	case be.Arrivals > 0:
		fwd.label = fmt.Sprintf("forwarded: arrived %d×", be.Arrivals)
	case be.Close != nil && be.Close.UnreadBytes > 0:
		fwd.label = fmt.Sprintf("forwarded on pooled conn %d: %d bytes never read", be.PooledConn, be.Close.UnreadBytes)
	default:
		fwd.label = "forwarded? the backend never read the request"
	}
	if c := be.Close; c != nil {
		style := strings.ToUpper(c.Style)
		if style == "" {
			style = "close"
		}
		ev := tlEvent{ns: c.SinceSendNS, measured: true, from: 2, to: 1, color: tlClose, order: 2,
			label: fmt.Sprintf("%s on conn %d (%s)", style, c.Conn, c.Reason)}
		if c.Closer != "" && c.Closer != "backend" {
			ev.from, ev.to = 1, 2
			ev.label = fmt.Sprintf("%s closed conn %d: %s (%s)", c.Closer, c.Conn, style, c.Reason)
		}
		if c.UnreadBytes > 0 {
			ev.label += fmt.Sprintf(", %d bytes unread", c.UnreadBytes)
		}
		evs = append(evs, ev)
	}
	resp := tlEvent{ns: r.LatencyNS, measured: true, from: 1, to: 0, color: tlResponse, order: 3}
	switch {
	case r.Status != 0:
		resp.label = fmt.Sprintf("%d response (%s)", r.Status, r.Outcome)
	case r.Outcome == results.ClientEOF:
		resp.label = "connection closed, no response (client_eof)"
	case r.Outcome == results.ClientReset:
		resp.label = "connection reset, no response (client_reset)"
	case r.Outcome == results.ClientTimeout:
		resp.label = "no response before the timeout (client_timeout)"
	default:
		resp.label = fmt.Sprintf("no response (%s)", r.Outcome)
	}
	evs = append(evs, resp)
	evs = append(evs, wireTimeline(r.Wire)...)
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].ns != evs[j].ns {
			return evs[i].ns < evs[j].ns
		}
		return evs[i].order < evs[j].order
	})
	// The forward has no measured time: draw it right after the send.
	for i, ev := range evs {
		if ev.order == 0 {
			evs = append(evs[:i+1], append([]tlEvent{fwd}, evs[i+1:]...)...)
			break
		}
	}

	notes := timelineNotes(r)
	bottom := top + rowGap*float64(len(evs)) + 10
	height := bottom + 34 + 18*float64(len(notes))
	var s svgBuilder
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Liberation Sans, Arial, Helvetica, sans-serif" font-size="13">`+"\n",
		width, height, width, height)
	s.printf(`<rect x="0" y="0" width="%.0f" height="%.0f" fill="#ffffff"/>`+"\n", width, height)
	for i, x := range lanes {
		s.printf(`<rect x="%.1f" y="14" width="220" height="34" rx="5" fill="#eef2f6" stroke="%s"/>`+"\n", x-110, tlMuted)
		s.printf(`<text x="%.1f" y="36" text-anchor="middle" fill="%s" font-weight="bold">%s</text>`+"\n", x, tlInk, esc(clip(names[i], 30)))
		s.line(x, 48, x, bottom, tlMuted, 1, "3 3")
	}
	for i, ev := range evs {
		y := top + rowGap*float64(i) + 24
		x1, x2 := lanes[ev.from], lanes[ev.to]
		s.arrow(x1, x2, y, ev.color, 2, ev.dash)
		s.printf(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="%s">%s</text>`+"\n", (x1+x2)/2, y-8, ev.color, esc(clip(ev.label, 52)))
		when := "time not measured"
		if ev.measured {
			when = "t = " + FormatOffset(ev.ns)
		}
		s.printf(`<text x="8" y="%.1f" fill="%s" font-size="12">%s</text>`+"\n", y+4, tlMuted, esc(when))
	}
	y := bottom + 26
	for _, n := range notes {
		s.printf(`<text x="8" y="%.1f" fill="%s" font-size="12">%s</text>`+"\n", y, tlInk, esc(n))
		y += 18
	}
	s.printf("</svg>\n")
	return s.b.String()
}

// timelineNotes are the facts under the diagram: outcome, attribution,
// client error and the proxy's evidence lines, wrapped.
func timelineNotes(r results.Record) []string {
	var lines []string
	add := func(prefix, text string) {
		lines = append(lines, wrap(prefix+text, 130)...)
	}
	attr := "not attributed (no backend evidence of the race)"
	if r.Attributed {
		attr = "attributed: " + r.Attribution
	} else if r.Attribution != "" {
		attr += ": " + r.Attribution
	}
	add("", fmt.Sprintf("outcome %s; %s", r.Outcome, attr))
	if r.OffsetNS != nil {
		add("", fmt.Sprintf("sent %s from the backend's idle deadline (timing mode)", FormatOffset(*r.OffsetNS)))
	} else if r.GapActualNS > 0 {
		add("", fmt.Sprintf("idle gap before the request: %s", FormatNS(r.GapActualNS)))
	}
	if r.ClientError != "" {
		add("client error: ", r.ClientError)
	}
	for _, ev := range r.Proxy {
		add("proxy ", DescribeEvidence(ev))
	}
	if len(r.Proxy) == 0 {
		add("", "proxy: no evidence line for this request")
	}
	if r.Wire != nil {
		add("wire: ", DescribeWire(r.Wire))
	}
	return lines
}

func clip(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}

// wrap breaks s into lines of at most n runes at spaces.
func wrap(s string, n int) []string {
	var out []string
	for len([]rune(s)) > n {
		rs := []rune(s)
		cut := strings.LastIndex(string(rs[:n]), " ")
		if cut <= 0 {
			cut = len(string(rs[:n]))
		}
		out = append(out, s[:cut])
		s = "    " + strings.TrimLeft(s[cut:], " ")
	}
	return append(out, s)
}
