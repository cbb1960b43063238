package reports

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// svgElements returns every top-level <svg>…</svg> element of page.
func svgElements(t *testing.T, page string) []string {
	t.Helper()
	var out []string
	for {
		i := strings.Index(page, "<svg")
		if i < 0 {
			return out
		}
		j := strings.Index(page[i:], "</svg>")
		require.GreaterOrEqual(t, j, 0, "unterminated <svg>")
		out = append(out, page[i:i+j+len("</svg>")])
		page = page[i+j+len("</svg>"):]
	}
}

// wellFormed parses s as XML to the end.
func wellFormed(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// mergedRun is matrix.jsonl with the cells and trials of window.jsonl
// added (their ids prefixed "timing."), read as one results file.
func mergedRun(t *testing.T) *results.Run {
	t.Helper()
	matrix, err := os.ReadFile(filepath.Join("testdata", "matrix.jsonl"))
	require.NoError(t, err)
	win, err := os.ReadFile(filepath.Join("testdata", "window.jsonl"))
	require.NoError(t, err)
	var buf bytes.Buffer
	buf.Write(matrix)
	for _, line := range strings.SplitAfter(string(win), "\n") {
		if strings.Contains(line, `"type":"manifest"`) || strings.Contains(line, `"type":"verdicts"`) {
			continue
		}
		buf.WriteString(strings.Replace(line, `"cell":"`, `"cell":"timing.`, 1))
	}
	run, err := results.Read(&buf)
	require.NoError(t, err)
	require.Empty(t, run.Dropped)
	return run
}

func TestHTMLSelfContained(t *testing.T) {
	page := string(render(t, New(mergedRun(t), WithSource("matrix.jsonl")), HTML))

	// Nothing is fetched: no scripts, no external references, and a CSP
	// that would block any fetch a future change let in.
	assert.Contains(t, page, `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`)
	assert.NotContains(t, page, "<script")
	assert.NotContains(t, page, "<link")
	assert.NotContains(t, page, "@import")
	ext := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:|//)|url\(\s*["']?(https?:|//)`)
	assert.Empty(t, ext.FindAllString(page, -1), "external references")
	for _, m := range regexp.MustCompile(`(?:xlink:)?href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		assert.True(t, strings.HasPrefix(m[1], "data:") || strings.HasPrefix(m[1], "#"), "reference %q", m[1])
	}

	svgs := svgElements(t, page)
	for i, s := range svgs {
		assert.NoError(t, wellFormed(s), "svg %d is not well-formed XML", i)
	}
	// Four heatmaps (go, nginx, haproxy, envoy), one race-window chart,
	// and a timeline per proxy that failed (Envoy never ran).
	assert.Equal(t, 4, strings.Count(page, `<figure class="chart heatmap">`))
	assert.Equal(t, 1, strings.Count(page, `<figure class="chart window">`))
	assert.Equal(t, 3, strings.Count(page, `<figure class="chart timeline">`))
	assert.Len(t, svgs, 4+1+3)
	assert.NotContains(t, page, `id="chart-errors"`)
	assert.NotContains(t, page, `id="changes"`, "no versions, no change table")

	for _, want := range []string{"proxy-matrix", "20261122T055958Z-277239a4fa45", ">3 failed<", "(10 of 28 cell verdicts failed)",
		`<td class="mono">haproxy.2s.off.GET</td><td><span class="badge fail">fail</span></td><td>failure rate: expected 0, measured 3/3 100% [44%, 100%]</td>`,
		"nginx 1.22.1 (binary /usr/sbin/nginx, process)", "upstream prematurely closed connection"} {
		assert.Contains(t, page, want)
	}
}

func TestHTMLEscapes(t *testing.T) {
	evil := `<script>alert("x")</script>&`
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	off := int64(100_000)
	run := results.NewRun()
	require.NoError(t, run.Add(results.Manifest{Type: results.TypeManifest, RunID: "r", Scenario: evil, Started: ts}))
	require.NoError(t, run.Add(results.Cell{Type: results.TypeCell, ID: "c<1>", Params: map[string]string{
		"proxy": evil, "margin": evil, "retry": evil, "method": "GET", "kind": evil, "version": "1"}}))
	require.NoError(t, run.Add(results.Record{Type: results.TypeTrial, Cell: "c<1>", Method: evil, RequestID: evil, Outcome: results.Proxy502,
		Status: 502, Attributed: true, Attribution: evil, OffsetNS: &off, ScheduledOffsetNS: &off,
		Backend: results.BackendEvidence{Close: &results.CloseEvidence{Conn: 1, Closer: "backend", Reason: evil, Style: evil}},
		Proxy:   []proxies.Evidence{{Source: "error", Message: evil}}}))
	require.NoError(t, run.Add(results.Cell{Type: results.TypeCell, ID: "c<2>", Params: map[string]string{
		"proxy": evil, "margin": evil, "retry": evil, "method": "GET", "kind": evil, "version": "2"}}))
	require.NoError(t, run.Add(results.Record{Type: results.TypeTrial, Cell: "c<2>", Method: evil, Outcome: results.OK}))
	require.NoError(t, run.Add(results.NewVerdictsLine([]results.Verdict{{Expectation: evil, Cell: "c<1>", Message: evil}})))
	page := string(render(t, New(run), HTML))
	assert.NotContains(t, page, "<script>")
	for i, s := range svgElements(t, page) {
		assert.NoError(t, wellFormed(s), "svg %d", i)
	}
	var md bytes.Buffer
	require.NoError(t, New(run).Markdown(&md))
	assert.NotContains(t, md.String(), "<script>")
}

func TestHeatPanels(t *testing.T) {
	r := New(readFixture(t, "matrix.jsonl"))
	panels := heatPanels(r.Summaries)
	require.Len(t, panels, 4)
	assert.Equal(t, []string{"go", "nginx", "haproxy", "envoy"}, []string{panels[0].Proxy, panels[1].Proxy, panels[2].Proxy, panels[3].Proxy})
	hp := panels[2]
	assert.Equal(t, []string{"-9s", "2s"}, hp.Cols, "margins ascending")
	assert.Equal(t, []string{"retry off · GET", "retry off · POST", "retry idempotent · GET", "retry idempotent · POST"}, hp.Rows)
	assert.Equal(t, [][]int{{3, 3}, {3, 3}, {0, 0}, {3, 3}}, hp.Failures)
	assert.Equal(t, [][]int{{3, 3}, {3, 3}, {3, 3}, {3, 3}}, hp.Trials)
	env := panels[3]
	assert.Equal(t, [][]bool{{true, true}, {true, true}, {true, true}, {true, true}}, env.Errors)
	assert.True(t, isNaN(heatGrid{env}.Z(0, 0)), "a cell with no trials has no rate")
	// Grid row 0 is drawn at the bottom: the last panel row.
	assert.Equal(t, 1.0, heatGrid{hp}.Z(0, 0))
	assert.Equal(t, 0.0, heatGrid{hp}.Z(0, 1))
}

func isNaN(f float64) bool { return f != f }

func TestLessDuration(t *testing.T) {
	in := []string{"2s", "-9s", "500ms", "x", "-1m", "0s"}
	want := []string{"-1m", "-9s", "0s", "500ms", "2s", "x"}
	got := append([]string(nil), in...)
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			if lessDuration(got[j], got[i]) {
				got[i], got[j] = got[j], got[i]
			}
		}
	}
	assert.Equal(t, want, got)
}

func TestWindowRange(t *testing.T) {
	from, to := int64(-500_000), int64(3_000_000)
	ws := []CellWindow{{SweepFromNS: &from, SweepToNS: &to, Window: results.Window{Bins: []results.WindowBin{{FromNS: 40_000_000, ToNS: 40_250_000, Trials: 3}}}}}
	lo, hi := windowRange(ws, 250_000)
	assert.Equal(t, int64(-750_000), lo)
	assert.Equal(t, int64(3_500_000), hi, "two bins of room after the last offset aimed at; the late outlier is left out")
	lo, hi = windowRange([]CellWindow{{Window: results.Window{Bins: []results.WindowBin{{FromNS: -250_000, ToNS: 0}, {FromNS: 1_000_000, ToNS: 1_250_000}}}}}, 250_000)
	assert.Equal(t, []int64{-250_000, 1_250_000}, []int64{lo, hi})

	svg, outside, err := windowSVG(ws, 250_000)
	require.NoError(t, err)
	assert.Equal(t, 3, outside, "the late bin's trials are counted as left off the chart")
	assert.NoError(t, wellFormed(svg))

	ticks := offsetTicks(-750_000, 3_500_000)
	var labels []string
	for _, tk := range ticks {
		labels = append(labels, tk.Label)
	}
	assert.Equal(t, []string{"-500", "0", "500", "1000", "1500", "2000", "2500", "3000"}, labels)
}

func TestFormatNS(t *testing.T) {
	cases := map[int64]string{0: "0ns", 999: "999ns", 1_000: "1µs", 586_916: "587µs", 1_250_000: "1.25ms",
		12_900_000: "12.9ms", 110_006_720: "110ms", 2_500_000_000: "2.5s", -245_744: "-246µs"}
	for ns, want := range cases {
		assert.Equal(t, want, FormatNS(ns), "FormatNS(%d)", ns)
	}
	assert.Equal(t, "+587µs", FormatOffset(586_916))
	assert.Equal(t, "0", FormatOffset(0))
	assert.Equal(t, "-250µs", FormatOffset(-250_000))
}

func TestTimelineOrder(t *testing.T) {
	off := int64(-245_744)
	rec := results.Record{Cell: "c", RequestID: "0-1-v", Method: "GET", Outcome: results.Proxy502, Status: 502, LatencyNS: 497_429,
		OffsetNS: &off, Attributed: true, Attribution: "backend conn 1 closed (idle-timeout, fin)",
		Backend: results.BackendEvidence{PooledConn: 1, Close: &results.CloseEvidence{Conn: 1, Closer: "backend", Reason: "idle-timeout", Style: "fin", UnreadBytes: 90, SinceSendNS: 531_282}},
		Proxy:   []proxies.Evidence{{Source: "error", Message: "read: connection reset by peer"}}}
	svg := timelineSVG(rec, "go 1.26.8")
	require.NoError(t, wellFormed(svg))
	// Rows in time order: send (0), forward (unmeasured), 502 (+497µs),
	// FIN (+531µs): the proxy answered before the backend's close was
	// recorded, and the drawing says so.
	idx := func(s string) int { i := strings.Index(svg, s); require.GreaterOrEqual(t, i, 0, s); return i }
	assert.Less(t, idx("GET request 0-1-v (victim)"), idx("forwarded on pooled conn 1: 90 bytes never read"))
	assert.Less(t, idx("forwarded on pooled conn 1"), idx("502 response (proxy_502)"))
	assert.Less(t, idx("502 response (proxy_502)"), idx("FIN on conn 1 (idle-timeout), 90 bytes unread"))
	assert.Contains(t, svg, "t = +497µs")
	assert.Contains(t, svg, "t = +531µs")
	assert.Contains(t, svg, "sent -246µs from the backend&#39;s idle deadline")
	assert.Contains(t, svg, "proxy error: &#34;read: connection reset by peer&#34;")

	// A close before the send (the backend's timer fired first) is drawn
	// above it.
	rec.Backend.Close.SinceSendNS = -40_000
	svg = timelineSVG(rec, "go")
	assert.Less(t, idx("FIN on conn 1"), idx("GET request 0-1-v (victim)"))
	assert.Less(t, idx("GET request 0-1-v (victim)"), idx("forwarded on pooled conn 1"))
}

func TestDescribeRecord(t *testing.T) {
	r := New(readFixture(t, "matrix.jsonl"))
	rec, ok := SampleFailure(r.Records("nginx.-9s.off.POST"))
	require.True(t, ok)
	got := DescribeRecord(rec)
	assert.Contains(t, got, "trial 0 of cell nginx.-9s.off.POST")
	assert.Contains(t, got, "proxy_502, status 502")
	assert.Contains(t, got, "attributed to the stale-connection race: backend conn 1: request arrived on the reused connection")
	assert.Contains(t, got, "closed by backend (close-on-reuse, FIN)")
	assert.Contains(t, got, `proxy error: "upstream prematurely closed connection while reading response header from upstream"`)
	_, ok = SampleFailure(r.Records("go.2s.off.GET"))
	assert.False(t, ok, "a cell with no failure has no sample")
	_, ok = SampleRetry(r.Records("go.-9s.idempotent.GET"))
	assert.True(t, ok)
}
