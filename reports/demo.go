package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/racelab/racelab/results"
)

// findCell returns the first summary whose params match every key=value.
func findCell(sums []results.Summary, kv ...string) (results.Summary, bool) {
next:
	for _, s := range sums {
		for i := 0; i+1 < len(kv); i += 2 {
			k, want := kv[i], kv[i+1]
			got := s.Params[k]
			if strings.HasPrefix(want, "<0") {
				if !strings.HasPrefix(got, "-") {
					continue next
				}
			} else if got != want {
				continue next
			}
		}
		return s, true
	}
	return results.Summary{}, false
}

// DemoText writes racelab demo's story of a six-step and a duplicates
// run on one proxy: the race (with one failure's evidence), the fix, the
// retry boundary and duplicate executions, each with its measured counts,
// then a verdict a trainer can read aloud. sample is an attributed failure
// of the broken setup (nil: none).
func DemoText(w io.Writer, proxy string, sums []results.Summary, sample *results.Record) {
	line := func(label string, kv ...string) results.Summary {
		s, ok := findCell(sums, kv...)
		if !ok {
			fmt.Fprintf(w, "    %-5s (not run)\n", label)
			return s
		}
		fmt.Fprintf(w, "    %-5s %2d/%-2d failed  %-34s attributed %d/%d  hidden retries %d  duplicate executions %d\n",
			label, s.Failures, s.Trials, results.Counts(s.Counts), s.Attributed, s.Failures, s.HiddenRetry, s.Duplicates)
		return s
	}
	fmt.Fprintf(w, "\nThe keep-alive race on %s (one pooled upstream connection, time scaled 1/20)\n\n", proxy)
	fmt.Fprintln(w, "(a) backend keep-alive 1s < proxy idle 10s, retry off: the backend closes first")
	a1 := line("GET", "margin", "<0", "retry", "off", "method", "GET")
	a2 := line("POST", "margin", "<0", "retry", "off", "method", "POST")
	if sample != nil {
		fmt.Fprintf(w, "    evidence for request %s: %s\n", sample.RequestID, sample.Attribution)
		if sample.Wire != nil {
			fmt.Fprintf(w, "    on the wire: %s\n", DescribeWire(sample.Wire))
		}
		if len(sample.Proxy) == 0 && sample.Outcome == results.ClientEOF {
			fmt.Fprintln(w, "    the proxy closed the client connection with no response and logged nothing: a 502 counter sees no failure")
		}
		for _, ev := range sample.Proxy {
			switch {
			case ev.Message != "":
				fmt.Fprintf(w, "    the proxy's error log: %s\n", ev.Message)
			case ev.Flags != "":
				fmt.Fprintf(w, "    the proxy's access log: status %d, termination flags %s\n", ev.Status, ev.Flags)
			}
		}
	}
	fmt.Fprintln(w, "(b) the fix: backend keep-alive 12s >= proxy idle 10s + 2s margin")
	b1 := line("GET", "margin", "2s", "retry", "off", "method", "GET")
	b2 := line("POST", "margin", "2s", "retry", "off", "method", "POST")
	fmt.Fprintln(w, "(c) timeouts still wrong, retry on for idempotent requests")
	c1 := line("GET", "margin", "<0", "retry", "idempotent", "method", "GET")
	c2 := line("POST", "margin", "<0", "retry", "idempotent", "method", "POST")
	fmt.Fprintln(w, "(d) the backend ran the handler, then dropped the connection; the proxy retries")
	d1 := line("GET", "fault", "processed-then-dropped", "retry", "idempotent", "method", "GET")
	d2 := line("POST", "fault", "processed-then-dropped", "retry", "all", "method", "POST")

	fmt.Fprintln(w, "\nVerdict:")
	say := func(ok bool, yes, no string) {
		if ok {
			fmt.Fprintln(w, "  - "+yes)
		} else {
			fmt.Fprintln(w, "  - NOT SHOWN: "+no)
		}
	}
	say(a1.Failures > 0 && a1.Attributed == a1.Failures && a2.Failures > 0,
		fmt.Sprintf("With the backend closing first, %d of %d requests failed, and every failure carries the backend's evidence: it closed the pooled connection as the proxy reused it, and no handler ever ran for the request. The backend's own logs would show no error.", a1.Failures+a2.Failures, a1.Trials+a2.Trials),
		"the broken setup did not fail with attributed evidence")
	switch {
	case b1.Proxy["kind"] == "haproxy" && b1.Failures > 0:
		fmt.Fprintf(w, "  - On HAProxy the margin is not enough: %d of %d requests still failed. HAProxy has no exact upstream idle timer; proxy_idle maps to pool-purge-delay, and idle connections live 2 to 3 times that long. For HAProxy the rule is backend_keepalive >= 3 x pool-purge-delay + margin (racelab run margin-sweep --proxy haproxy shows where it holds).\n",
			b1.Failures+b2.Failures, b1.Trials+b2.Trials)
	default:
		say(b1.Failures == 0 && b2.Failures == 0 && b1.Trials > 0,
			fmt.Sprintf("With backend keep-alive >= proxy idle + margin, %d of %d requests failed: the proxy retires its idle connection before the backend closes it.", b1.Failures+b2.Failures, b1.Trials+b2.Trials),
			"the fixed setup still failed")
	}
	say(c1.Failures == 0 && c1.HiddenRetry > 0 && c2.Failures > 0,
		fmt.Sprintf("A retry on connection failure hides it for GET (%d failed, %d hidden retries the client never saw) but not for POST (%d of %d failed): retries stop at non-idempotent methods, so only the timeout fix covers every request.", c1.Failures, c1.HiddenRetry, c2.Failures, c2.Trials),
		"the retry boundary did not show (GET hidden, POST failing)")
	say(d1.Duplicates+d2.Duplicates > 0,
		fmt.Sprintf("When the backend had already run the handler, retries execute the request twice: %d duplicate GETs, %d duplicate POSTs under retry-all. Retrying non-idempotent requests is not a fix.", d1.Duplicates, d2.Duplicates),
		"no duplicate execution was counted")
}

// ConfigDemoText writes the verdict of racelab demo --proxy-from: per
// backend keep-alive, what GET and POST saw (failures with evidence,
// hidden retries, duplicate executions), in words.
func ConfigDemoText(w io.Writer, sums []results.Summary) {
	fmt.Fprintln(w, "\nVerdict for your configuration:")
	seen := map[string]bool{}
	for _, s := range sums {
		ka := s.Params["backend_keepalive"]
		if seen[ka] {
			continue
		}
		seen[ka] = true
		var fails, attributed, trials, hidden, dups, unsafe, notReused int
		var failed []string
		for _, t := range sums {
			if t.Params["backend_keepalive"] != ka {
				continue
			}
			fails += t.Failures
			attributed += t.Attributed
			trials += t.Trials
			hidden += t.HiddenRetry
			dups += t.Duplicates
			unsafe += t.DuplicatesUnsafe
			notReused += t.Counts[results.NotReused]
			if t.Failures > 0 {
				failed = append(failed, fmt.Sprintf("%s %s %d/%d", t.Params["method"], t.Params["fault"], t.Failures, t.Trials))
			}
		}
		fmt.Fprintf(w, "  - backend keep-alive %s: %d of %d requests failed", ka, fails, trials)
		if fails > 0 {
			fmt.Fprintf(w, " (%s), %d with the backend's evidence of the race", strings.Join(failed, ", "), attributed)
		}
		if hidden > 0 {
			fmt.Fprintf(w, "; %d hidden by a retry the client never saw", hidden)
		}
		if dups > 0 {
			fmt.Fprintf(w, "; %d executed twice (%d non-idempotent)", dups, unsafe)
		}
		if notReused == trials && trials > 0 {
			fmt.Fprint(w, "; no request went out on a pooled connection: this file does not reuse them here, so the race cannot happen")
		}
		fmt.Fprintln(w, ".")
	}
}
