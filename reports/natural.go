package reports

import (
	"fmt"
	"io"

	"github.com/racelab/racelab/results"
)

// NaturalDemoText writes racelab demo --natural's story: the race with
// nothing forced at 20ms of latency against loopback, with one failure's
// evidence, then margins below and above the round trip. sample is an
// attributed failure of the 20ms cell whose backend closes first (nil:
// none).
func NaturalDemoText(w io.Writer, proxy string, sums []results.Summary, sample *results.Record) {
	line := func(label string, kv ...string) results.Summary {
		s, ok := findCell(sums, kv...)
		if !ok {
			fmt.Fprintf(w, "    %-9s (not run)\n", label)
			return s
		}
		fmt.Fprintf(w, "    %-9s %2d/%-2d failed  %-30s attributed %d/%d\n",
			label, s.Failures, s.Trials, results.Counts(s.Counts), s.Attributed, s.Failures)
		return s
	}
	fmt.Fprintf(w, "\nThe natural keep-alive race on %s: nothing forced, the backend's own keep-alive timer,\nidle gaps spread over its keep-alive ± 15ms, the proxy keeping idle connections 200ms\n\n", proxy)
	fmt.Fprintln(w, "(a) backend keep-alive 50ms < proxy idle 200ms: the backend closes first")
	a0 := line("loopback", "margin", "<0", "latency", "0s")
	a1 := line("20ms", "margin", "<0", "latency", "20ms")
	if sample != nil {
		fmt.Fprintf(w, "    evidence for request %s: %s\n", sample.RequestID, sample.Attribution)
		for _, ev := range sample.Proxy {
			switch {
			case ev.Message != "":
				fmt.Fprintf(w, "    the proxy's error log: %s\n", ev.Message)
			case ev.Flags != "":
				fmt.Fprintf(w, "    the proxy's access log: status %d, termination flags %s\n", ev.Status, ev.Flags)
			}
		}
	}
	fmt.Fprintln(w, "(b) margin 10ms: backend keep-alive 210ms, above the proxy's 200ms but below it + one round trip (40ms)")
	b0 := line("loopback", "margin", "10ms", "latency", "0s")
	b1 := line("20ms", "margin", "10ms", "latency", "20ms")
	fmt.Fprintln(w, "(c) margin 120ms: backend keep-alive 320ms, above the proxy's 200ms + one round trip + 80ms")
	c0 := line("loopback", "margin", "120ms", "latency", "0s")
	c1 := line("20ms", "margin", "120ms", "latency", "20ms")

	fmt.Fprintln(w, "\nVerdict:")
	say := func(ok bool, yes, no string) {
		if ok {
			fmt.Fprintln(w, "  - "+yes)
		} else {
			fmt.Fprintln(w, "  - NOT SHOWN: "+no)
		}
	}
	say(a1.Failures > 0 && a1.Attributed == a1.Failures && a1.Failures > a0.Failures,
		fmt.Sprintf("With no forced close, %d of %d requests failed at 20ms between proxy and backend, against %d of %d on loopback, every failure with the backend's evidence: its FIN spends 20ms on the wire, and a request the proxy sends in that time reaches a closed socket. This is why the race \"never reproduces locally\".", a1.Failures, a1.Trials, a0.Failures, a0.Trials),
		"the natural race did not bite at 20ms with attributed evidence")
	say(b1.Failures > 0 && b1.Failures > b0.Failures,
		fmt.Sprintf("A margin smaller than the round trip is not enough: margin 10ms failed %d of %d on loopback and %d of %d at 20ms. The proxy's idle clock starts when the response reaches it, one latency after the backend's, and the FIN needs another latency to arrive: the rule under latency is backend_keepalive >= proxy_idle + 2 x latency + margin.", b0.Failures, b0.Trials, b1.Failures, b1.Trials),
		"the margin below the round trip did not fail at 20ms (a proxy without an exact idle timer, such as HAProxy, keeps connections past its setting)")
	say(c1.Failures == 0 && c1.Trials > 0,
		fmt.Sprintf("A margin above the round trip holds under latency: %d of %d failed at 20ms.", c1.Failures, c1.Trials),
		fmt.Sprintf("the margin above the round trip still failed %d of %d at 20ms (loopback: %d of %d)", c1.Failures, c1.Trials, c0.Failures, c0.Trials))
}
