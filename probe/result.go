package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Sample is one idle connection's fate.
type Sample struct {
	// Idle is the time from the last byte of the response to the close.
	Idle time.Duration
	// Close is how the server closed (empty when it did not).
	Close Close
	// NeverClosed is set when the connection was still open after the
	// maximum wait.
	NeverClosed bool
	// NoKeepAlive is set when the server ended the connection with its
	// response ("Connection: close", or HTTP/1.0 without keep-alive).
	NoKeepAlive bool
	// Status and Proto are the response's.
	Status int
	Proto  string
	// Trailing counts bytes the server sent on the idle connection before
	// closing it (some servers send a 408 first).
	Trailing int
}

// Result is a measurement of a server's (or, through lab, a proxy's)
// idle close.
type Result struct {
	// URL is the server probed; for a proxy, Proxy names it instead.
	URL   string
	Proxy string
	// Samples are the connections measured, in start order.
	Samples []Sample
	// KeepAlive is false when the server ended every connection with its
	// response: it keeps no idle connection at all.
	KeepAlive bool
	// NeverClosed is set when no connection was closed within MaxWait.
	NeverClosed bool
	MaxWait     time.Duration
	// Median, Min and Max are over the samples that closed.
	Median, Min, Max time.Duration
	// Close is "fin", "rst", or "mixed" when samples differ.
	Close string
	// MaxRequests is the number of requests one connection served before
	// the server closed it; when MaxRequestsClose is empty the server
	// never closed it, and MaxRequests (= MaxRequestsTried) is a lower
	// bound. Zero MaxRequestsTried: not checked.
	MaxRequests      int
	MaxRequestsTried int
	MaxRequestsClose string
	// Notes are caveats about the measurement.
	Notes []string
}

// summarise fills the aggregate fields from the samples.
func (r *Result) summarise() {
	var idle []time.Duration
	closes := map[Close]int{}
	off, open := 0, 0
	for _, s := range r.Samples {
		switch {
		case s.NoKeepAlive:
			off++
		case s.NeverClosed:
			open++
		default:
			idle = append(idle, s.Idle)
			closes[s.Close]++
		}
		if s.Trailing > 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("the server sent %d bytes on the idle connection before closing it (a 408 response?)", s.Trailing))
		}
	}
	n := len(r.Samples)
	r.KeepAlive = off < n
	if off > 0 && off < n {
		r.Notes = append(r.Notes, fmt.Sprintf("%d of %d responses closed the connection (Connection: close); the others kept it alive", off, n))
	}
	if len(idle) == 0 {
		r.NeverClosed = r.KeepAlive
		return
	}
	if open > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d of %d connections were still open after %s; the figures are over the others", open, n-off, r.MaxWait))
	}
	sorted := sortedCopy(idle)
	r.Min, r.Max, r.Median = sorted[0], sorted[len(sorted)-1], median(sorted)
	if r.Median < 5*time.Millisecond {
		r.Notes = append(r.Notes, "the server closed the connection right after its response without saying Connection: close: it keeps no idle connection to speak of, and a client that reuses one at once races that close")
	}
	switch {
	case closes[CloseFIN] > 0 && closes[CloseRST] > 0:
		r.Close = "mixed"
	case closes[CloseRST] > 0:
		r.Close = string(CloseRST)
	default:
		r.Close = string(CloseFIN)
	}
}

// Measured is the number of samples that saw an idle close.
func (r *Result) Measured() int {
	n := 0
	for _, s := range r.Samples {
		if !s.NoKeepAlive && !s.NeverClosed {
			n++
		}
	}
	return n
}

// Subject is what was probed: the URL, or the proxy.
func (r *Result) Subject() string {
	if r.Proxy != "" {
		return r.Proxy
	}
	return r.URL
}

// Summary is the finding in one phrase, for provenance lines: "3
// samples, median 3002ms (3001–3004ms), fin".
func (r *Result) Summary() string {
	switch {
	case !r.KeepAlive:
		return "the server closes every connection after its response (no keep-alive)"
	case r.NeverClosed:
		return "no idle close within " + FormatWait(r.MaxWait)
	}
	if r.Measured() == 1 {
		return fmt.Sprintf("1 sample, %s, %s", ms(r.Median), r.Close)
	}
	return fmt.Sprintf("%d samples, median %s (%s–%s), %s", r.Measured(), ms(r.Median), ms(r.Min), ms(r.Max), r.Close)
}

// MaxRequestsText describes the maximum requests per connection: "100",
// "≥100", or "" when not checked.
func (r *Result) MaxRequestsText() string {
	switch {
	case r.MaxRequestsTried == 0:
		return ""
	case r.MaxRequestsClose == "":
		return "≥" + strconv.Itoa(r.MaxRequests)
	}
	return strconv.Itoa(r.MaxRequests)
}

// WriteText prints the result for a terminal.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "probe %s\n", r.Subject())
	switch {
	case !r.KeepAlive:
		fmt.Fprintf(w, "  idle close     none: the server closes every connection after its response (no keep-alive)\n")
	case r.NeverClosed:
		fmt.Fprintf(w, "  idle close     no idle close within %s\n", FormatWait(r.MaxWait))
	case r.Measured() == 1:
		fmt.Fprintf(w, "  idle close     %s (1 sample), %s\n", ms(r.Median), r.Close)
	default:
		fmt.Fprintf(w, "  idle close     %s (median of %d; min %s, max %s, spread %s), %s\n",
			ms(r.Median), r.Measured(), ms(r.Min), ms(r.Max), ms(r.Max-r.Min), r.Close)
		var each []string
		for _, s := range r.Samples {
			switch {
			case s.NoKeepAlive:
				each = append(each, "no keep-alive")
			case s.NeverClosed:
				each = append(each, "open")
			default:
				each = append(each, ms(s.Idle)+" "+string(s.Close))
			}
		}
		fmt.Fprintf(w, "  samples        %s\n", strings.Join(each, ", "))
	}
	if m := r.MaxRequestsText(); m != "" {
		how := r.MaxRequestsClose
		if how == "" {
			how = fmt.Sprintf("%d sent back to back on one connection, none closed it", r.MaxRequests)
		}
		fmt.Fprintf(w, "  max requests   %s per connection (%s)\n", m, how)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note           %s\n", n)
	}
}

type resultJSON struct {
	URL                string    `json:"url,omitempty"`
	Proxy              string    `json:"proxy,omitempty"`
	IdleTimeoutMS      *float64  `json:"idle_timeout_ms"`
	SamplesMS          []float64 `json:"samples_ms"`
	MinMS              *float64  `json:"min_ms,omitempty"`
	MaxMS              *float64  `json:"max_ms,omitempty"`
	SpreadMS           *float64  `json:"spread_ms,omitempty"`
	Close              *string   `json:"close"`
	KeepAlive          bool      `json:"keep_alive"`
	IdleClose          bool      `json:"idle_close"`
	MaxWaitMS          float64   `json:"max_wait_ms"`
	MaxRequests        *int      `json:"max_requests"`
	MaxRequestsAtLeast bool      `json:"max_requests_at_least,omitempty"`
	MaxRequestsClose   string    `json:"max_requests_close,omitempty"`
	Summary            string    `json:"summary"`
	Notes              []string  `json:"notes,omitempty"`
}

// MarshalJSON writes every duration in milliseconds: idle_timeout_ms is
// the median (null without an idle close), samples_ms the closed samples,
// close "fin", "rst" or "mixed" (null without an idle close),
// max_requests null when not checked, with max_requests_at_least when no
// connection was closed.
func (r *Result) MarshalJSON() ([]byte, error) {
	out := resultJSON{URL: r.URL, Proxy: r.Proxy, SamplesMS: []float64{}, KeepAlive: r.KeepAlive,
		MaxWaitMS: msf(r.MaxWait), Summary: r.Summary(), Notes: r.Notes}
	if r.KeepAlive && !r.NeverClosed {
		med, lo, hi, spread := msf(r.Median), msf(r.Min), msf(r.Max), msf(r.Max-r.Min)
		out.IdleTimeoutMS, out.MinMS, out.MaxMS, out.SpreadMS = &med, &lo, &hi, &spread
		c := r.Close
		out.Close = &c
		out.IdleClose = true
		for _, s := range r.Samples {
			if !s.NoKeepAlive && !s.NeverClosed {
				out.SamplesMS = append(out.SamplesMS, msf(s.Idle))
			}
		}
	}
	if r.MaxRequestsTried > 0 {
		m := r.MaxRequests
		out.MaxRequests = &m
		out.MaxRequestsAtLeast = r.MaxRequestsClose == ""
		out.MaxRequestsClose = r.MaxRequestsClose
	}
	return json.Marshal(out)
}

// msf is d in milliseconds, to the microsecond.
func msf(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// ms prints d in milliseconds: whole ones from 100ms up, one decimal
// below.
func ms(d time.Duration) string {
	if d >= 100*time.Millisecond || d%time.Millisecond == 0 {
		return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) + "ms"
	}
	return strconv.FormatFloat(msf(d), 'f', 1, 64) + "ms"
}

// FormatWait prints a maximum wait the way it is given: "10m", "1m30s",
// "500ms".
func FormatWait(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// NewResult aggregates samples measured elsewhere (lab measures a
// proxy's upstream idle lifetime from its backend's side) into a Result
// for subject, a URL or, with proxy set, a proxy's description.
func NewResult(url, proxy string, samples []Sample, maxWait time.Duration, notes ...string) *Result {
	r := &Result{URL: url, Proxy: proxy, Samples: samples, MaxWait: maxWait, Notes: notes}
	r.summarise()
	return r
}
