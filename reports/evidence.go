package reports

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// paramOrder is the order cell parameters are shown in: the axes people
// read first, then the rest alphabetically.
var paramOrder = []string{"proxy", "proxy_idle", "backend_keepalive", "margin", "retry", "method", "client", "close", "mode", "fault", "gap"}

// SortParams orders parameter names for display: the main axes first
// (proxy, proxy_idle, backend_keepalive, margin, retry, method, client,
// close, mode, fault, gap), then the rest alphabetically.
func SortParams(names []string) []string {
	rank := func(n string) int {
		for i, p := range paramOrder {
			if p == n {
				return i
			}
		}
		return len(paramOrder)
	}
	out := append([]string(nil), names...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

// FormatParams formats params as "proxy=go margin=-9s ..." in display order.
func FormatParams(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	var parts []string
	for _, k := range SortParams(keys) {
		parts = append(parts, k+"="+params[k])
	}
	return strings.Join(parts, " ")
}

// FormatNS formats a duration in nanoseconds compactly: "587µs",
// "1.25ms", "110ms", "2.5s".
func FormatNS(ns int64) string {
	sign := ""
	if ns < 0 {
		sign, ns = "-", -ns
	}
	f := float64(ns)
	switch {
	case ns < 1_000:
		return sign + strconv.FormatInt(ns, 10) + "ns"
	case ns < 1_000_000:
		return sign + strconv.FormatFloat(math.Round(f/1e3), 'f', -1, 64) + "µs"
	case ns < 1_000_000_000:
		return sign + trim(f/1e6) + "ms"
	}
	return sign + trim(f/1e9) + "s"
}

// FormatOffset formats a signed offset: "+587µs", "-250µs", "0".
func FormatOffset(ns int64) string {
	if ns > 0 {
		return "+" + FormatNS(ns)
	}
	if ns == 0 {
		return "0"
	}
	return FormatNS(ns)
}

// trim formats f with up to three significant digits after the point.
func trim(f float64) string {
	prec := 0
	switch {
	case f < 10:
		prec = 2
	case f < 100:
		prec = 1
	}
	s := strconv.FormatFloat(f, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// DescribeSummary is one line of a cell's measurements: the failure rate
// with its 95% Wilson interval, the outcome counts and the evidence
// counts.
func DescribeSummary(s results.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cell %s: %d/%d failed, %s [%s, %s] (95%% Wilson)", s.Cell, s.Failures, s.Trials,
		Percent(s.FailureRate), Percent(s.CILow), Percent(s.CIHigh))
	fmt.Fprintf(&b, "; outcomes %s; attributed %d/%d", results.Counts(s.Counts), s.Attributed, s.Failures)
	fmt.Fprintf(&b, "; hidden retries %d; duplicate executions %d", s.HiddenRetry, s.Duplicates)
	if s.DuplicatesUnsafe > 0 {
		fmt.Fprintf(&b, " (%d non-idempotent)", s.DuplicatesUnsafe)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "; error: %s", s.Error)
	}
	if s.Note != "" {
		fmt.Fprintf(&b, "; note: %s", s.Note)
	}
	return b.String()
}

// Percent formats a rate like the cell table does: "0%", "9.5%", "72%".
func Percent(f float64) string { return results.Percent(f) }

// SampleFailure picks the record that best shows a failure among recs:
// the first attributed failure with a recorded backend close and a
// captured connection, else with a recorded backend close, else the
// first attributed failure, else the first failure.
func SampleFailure(recs []results.Record) (results.Record, bool) {
	best, rank := results.Record{}, 0
	for _, r := range recs {
		if !r.Outcome.Failed() {
			continue
		}
		k := 1
		if r.Attributed {
			k = 2
			if r.Backend.Close != nil {
				k = 3
				if r.Wire != nil && r.Wire.Conn != "" {
					k = 4
				}
			}
		}
		if k > rank {
			best, rank = r, k
		}
	}
	return best, rank > 0
}

// SampleRetry picks the first record whose success hid a retry, or whose
// handler ran more than once.
func SampleRetry(recs []results.Record) (results.Record, bool) {
	for _, r := range recs {
		if r.HiddenRetry || r.Duplicate {
			return r, true
		}
	}
	return results.Record{}, false
}

// DescribeRecord describes one trial with its evidence, one fact per
// line: the outcome, the attribution, what the backend saw (the pooled
// connection, arrivals, the close with its reason, FIN or RST, and time),
// the client's error, every proxy evidence line, and what the wire showed
// (DescribeWire) when it was captured.
func DescribeRecord(r results.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "trial %d of cell %s (request %s, %s, %s client): %s", r.Seq, r.Cell, r.RequestID, r.Method, r.Client, r.Outcome)
	if r.Status != 0 {
		fmt.Fprintf(&b, ", status %d", r.Status)
	}
	fmt.Fprintf(&b, " after %s", FormatNS(r.LatencyNS))
	if r.Outcome.Failed() {
		if r.Attributed {
			fmt.Fprintf(&b, "\n  attributed to the stale-connection race: %s", r.Attribution)
		} else {
			b.WriteString("\n  not attributed: no backend evidence of the race")
			if r.Attribution != "" {
				fmt.Fprintf(&b, " (%s)", r.Attribution)
			}
		}
	}
	fmt.Fprintf(&b, "\n  backend: %s", describeBackend(r))
	if r.OffsetNS != nil {
		fmt.Fprintf(&b, "\n  offset: %s from the backend's idle deadline", FormatOffset(*r.OffsetNS))
		if r.ScheduledOffsetNS != nil {
			fmt.Fprintf(&b, " (aimed at %s)", FormatOffset(*r.ScheduledOffsetNS))
		}
	} else if r.GapActualNS > 0 {
		fmt.Fprintf(&b, "\n  idle gap: %s (scheduled %s)", FormatNS(r.GapActualNS), FormatNS(r.GapScheduledNS))
	}
	if r.ClientError != "" {
		fmt.Fprintf(&b, "\n  client error: %s", r.ClientError)
	}
	for _, ev := range r.Proxy {
		fmt.Fprintf(&b, "\n  proxy %s", DescribeEvidence(ev))
	}
	if len(r.Proxy) == 0 {
		b.WriteString("\n  proxy: no evidence line for this request")
	}
	if r.Wire != nil {
		fmt.Fprintf(&b, "\n  wire: %s", DescribeWire(r.Wire))
		if len(r.Wire.Events) > 0 {
			fmt.Fprintf(&b, "\n  wire events: %s", DescribeWireEvents(r.Wire.Events))
		}
	}
	return b.String()
}

func describeBackend(r results.Record) string {
	be := r.Backend
	var parts []string
	if be.PooledConn != 0 {
		parts = append(parts, fmt.Sprintf("pooled conn %d", be.PooledConn))
	}
	switch {
	case be.Arrivals == 0:
		parts = append(parts, "the request never arrived")
	case len(be.Conns) > 0:
		parts = append(parts, fmt.Sprintf("request arrived %d× on conn %s", be.Arrivals, joinConns(be.Conns)))
	default:
		parts = append(parts, fmt.Sprintf("request arrived %d×", be.Arrivals))
	}
	parts = append(parts, fmt.Sprintf("%d response(s)", be.Responses))
	if r.Executions > 0 {
		parts = append(parts, fmt.Sprintf("handler ran %d×", r.Executions))
	}
	if c := be.Close; c != nil {
		parts = append(parts, describeClose(c))
	}
	return strings.Join(parts, "; ")
}

func describeClose(c *results.CloseEvidence) string {
	s := fmt.Sprintf("conn %d closed by %s (%s", c.Conn, c.Closer, c.Reason)
	if c.Style != "" {
		s += ", " + strings.ToUpper(c.Style)
	}
	s += fmt.Sprintf(") %s from the send", FormatOffset(c.SinceSendNS))
	if c.UnreadBytes > 0 {
		s += fmt.Sprintf(", %d request bytes unread", c.UnreadBytes)
	}
	return s
}

func joinConns(cs []uint64) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = strconv.FormatUint(c, 10)
	}
	return strings.Join(parts, ", ")
}

// DescribeEvidence formats one proxy evidence line: "error: http: proxy
// error: EOF", "access: status 502, upstream 502, 200, flags SH--".
func DescribeEvidence(ev proxies.Evidence) string {
	var parts []string
	if ev.Message != "" {
		parts = append(parts, strconv.Quote(ev.Message))
	}
	if ev.Status != 0 {
		parts = append(parts, fmt.Sprintf("status %d", ev.Status))
	}
	if ev.UpstreamStatus != "" {
		parts = append(parts, "upstream status "+strconv.Quote(ev.UpstreamStatus))
	}
	if ev.Attempts != 0 {
		parts = append(parts, fmt.Sprintf("attempts %d", ev.Attempts))
	}
	if ev.Flags != "" {
		parts = append(parts, "flags "+ev.Flags)
	}
	if ev.Details != "" {
		parts = append(parts, "details "+ev.Details)
	}
	if len(parts) == 0 && ev.Raw != "" {
		parts = append(parts, strconv.Quote(ev.Raw))
	}
	src := ev.Source
	if src == "" {
		src = "log"
	}
	return src + ": " + strings.Join(parts, ", ")
}
