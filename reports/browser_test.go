//go:build linux

package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// The browser test renders the HTML report of a real small run (the
// embedded Go proxy, deterministic and timing mode), opens it in headless
// Chromium, fails on any console message (a script error, a blocked
// fetch, a CSP violation), and checks in the screenshot that every chart
// drew: the heatmap's two end colours, the race-window series colour and
// the timeline's close arrow are each on screen in quantity.
//
// Set RACELAB_ARTIFACTS to a directory to keep the page and screenshot.

const (
	shotWidth, shotHeight = 1400, 3000
	// colourTolerance is the per-channel distance a screenshot pixel may
	// have from a chart colour (anti-aliasing and PNG colour handling).
	colourTolerance = 10
)

func chromiumBinary() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshot opens page in headless Chromium, writes a PNG, and returns
// the console messages Chromium logged for the page.
func screenshot(t *testing.T, bin, page, shot string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--hide-scrollbars", "--user-data-dir="+t.TempDir(), "--screenshot="+shot,
		"--window-size="+strconv.Itoa(shotWidth)+","+strconv.Itoa(shotHeight), "--enable-logging=stderr", "--v=0", "file://"+page)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Stop the whole process group we started (browser, zygote, GPU and
	// renderer processes), by its id.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.Process != nil {
		if kerr := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
			t.Logf("stop chromium process group %d: %v", cmd.Process.Pid, kerr)
		}
	}
	require.NoError(t, err, "chromium: %s", out.String())
	var console []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Failed to load resource") ||
			strings.Contains(line, "Content Security Policy") {
			console = append(console, line)
		}
	}
	return console
}

func keep(t *testing.T, paths ...string) {
	dir := os.Getenv("RACELAB_ARTIFACTS")
	if dir == "" {
		return
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644))
	}
}

func TestBrowserConsoleDetection(t *testing.T) {
	// The console check must be able to fail: a page that logs an error
	// and tries a fetch is caught.
	bin := chromiumBinary()
	if bin == "" {
		t.Skip("chromium not on PATH: apt-get install chromium (Debian) to run the browser tests")
	}
	t.Parallel()
	dir := t.TempDir()
	page := filepath.Join(dir, "probe.html")
	require.NoError(t, os.WriteFile(page, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>probe</title></head>`+
		`<body><p>probe</p><script>console.error("racelab-probe-error")</script></body></html>`), 0o644))
	console := screenshot(t, bin, page, filepath.Join(dir, "probe.png"))
	assert.NotEmpty(t, console)
	assert.Contains(t, strings.Join(console, "\n"), "racelab-probe-error")
}

// realRun runs two small scenarios on the embedded Go proxy and returns
// one results.Run holding both: a margin × retry matrix (the race at
// margin -9s, none at +2s; retries hide it) with its verdicts, and a
// timing-mode sweep for the race window.
func realRun(t *testing.T) *results.Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Both runs stream into one file, the timing sweep first: the matrix's
	// manifest and verdicts line come last, and the last one counts.
	var buf bytes.Buffer
	w := results.NewWriter(&buf)
	run := func(src string) {
		sc, err := scenarios.Load([]byte(src), "browser.yaml")
		require.NoError(t, err)
		rep, err := lab.Run(ctx, sc, lab.WithResults(w), lab.WithParallel(2))
		require.NoError(t, err)
		require.NoError(t, rep.Err())
	}
	run(`name: browser-window
base:
  mode: timing
  proxy_idle: 200ms
  backend_keepalive: 50ms
  sweep: {from: -500us, to: 3ms, step: 250us}
  trials: 30
`)
	run(`name: browser-check
timescale: 0.01
base: {proxy_idle: 10s, trials: 3}
matrix: {margin: [-9s, 2s], retry: ["off", idempotent]}
expect:
  - {name: the race reproduces, where: {margin: "<0", retry: "off"}, failure_rate: ">0", attributed: "==1"}
  - {name: the fix removes it, where: {margin: ">=2s"}, failure_rate: "0"}
`)
	r, err := results.Read(&buf)
	require.NoError(t, err)
	require.Empty(t, r.Dropped)
	return r
}

func TestBrowserRendersReport(t *testing.T) {
	bin := chromiumBinary()
	if bin == "" {
		t.Skip("chromium not on PATH: apt-get install chromium (Debian) to run the browser tests")
	}
	t.Parallel()
	run := realRun(t)
	r := New(run, WithSource("browser-check.jsonl"))
	require.True(t, r.Passed(), "the real run's verdicts: %+v", r.Verdicts)
	// The broken cell's square has the colour of its measured rate: all
	// of its trials fail on a quiet machine, but a stalled machine can let
	// the proxy retire a connection first, and the verdict (rate > 0)
	// still holds then. The square must be on screen in that colour.
	raceRate := -1.0
	for _, c := range run.Cells {
		if s := c.Summary(); s.Params["margin"] == "-9s" && s.Params["retry"] == "off" {
			raceRate = s.FailureRate
		}
	}
	require.Greater(t, raceRate, 0.0, "the run has no failing cell at margin -9s, retry off")
	require.Len(t, r.Windows, 1)

	dir := t.TempDir()
	page, shot := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.png")
	var buf bytes.Buffer
	require.NoError(t, r.HTML(&buf))
	require.NoError(t, os.WriteFile(page, buf.Bytes(), 0o644))
	console := screenshot(t, bin, page, shot)
	keep(t, page, shot)
	assert.Empty(t, console, "the report logged to the browser console")

	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	b := img.Bounds()
	require.Equal(t, shotWidth, b.Dx())
	require.Equal(t, shotHeight, b.Dy())

	counts := countColours(img, map[string]color.RGBA{
		"heatmap failed cell":  heatColor(raceRate),
		"heatmap 0%":           heatColor(0),
		"race window series":   seriesColors[0],
		"timeline close (FIN)": hexColour(tlClose),
	})
	t.Logf("pixels per chart colour: %v; non-white share %.1f%%", counts, 100*nonWhite(img))
	// A heatmap square is about 125×60 px; the race-window series (line,
	// markers, error bars) and the timeline's close arrow and label are
	// thinner. Each threshold is well under what renders and far above
	// what stray anti-aliasing of other colours gives.
	assert.GreaterOrEqual(t, counts["heatmap failed cell"], 4000, "the heatmap's failed cell (rate %.2f) is not on screen", raceRate)
	assert.GreaterOrEqual(t, counts["heatmap 0%"], 4000, "the heatmap's clean cells (blue) are not on screen")
	assert.GreaterOrEqual(t, counts["race window series"], 800, "the race-window chart's series is not on screen")
	assert.GreaterOrEqual(t, counts["timeline close (FIN)"], 150, "the connection timeline's close arrow is not on screen")
	assert.Greater(t, nonWhite(img), 0.05, "the page is mostly blank")
}

func hexColour(s string) color.RGBA {
	c := color.RGBA{A: 255}
	if _, err := fmt.Sscanf(s, "#%02x%02x%02x", &c.R, &c.G, &c.B); err != nil {
		panic(err)
	}
	return c
}

func near(a, b uint8) bool {
	d := int(a) - int(b)
	return d <= colourTolerance && d >= -colourTolerance
}

func countColours(img image.Image, want map[string]color.RGBA) map[string]int {
	counts := map[string]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for name, c := range want {
				if near(uint8(r>>8), c.R) && near(uint8(g>>8), c.G) && near(uint8(bl>>8), c.B) {
					counts[name]++
				}
			}
		}
	}
	return counts
}

func nonWhite(img image.Image) float64 {
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 245 || g>>8 < 245 || bl>>8 < 245 {
				n++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy())
}
