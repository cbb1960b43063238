package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// Chart colours. The race-window series colours are the Okabe-Ito
// palette, readable with every common colour-vision deficiency.
var (
	seriesColors = []color.RGBA{
		{0, 114, 178, 255},   // blue
		{213, 94, 0, 255},    // vermillion
		{0, 158, 115, 255},   // bluish green
		{204, 121, 167, 255}, // reddish purple
		{230, 159, 0, 255},   // orange
		{86, 180, 233, 255},  // sky blue
	}
	noDataColor   = color.RGBA{224, 224, 224, 255}
	deadlineColor = color.RGBA{96, 96, 96, 255}
)

// heatColors maps a failure rate in [0, 1] to a colour: blue (0) through
// pale grey (0.5) to red (1), Moreland's cool-warm diverging map.
func heatColors() palette.ColorMap {
	cm := moreland.SmoothBlueRed()
	cm.SetMin(0)
	cm.SetMax(1)
	return cm
}

// heatColor is the colour the heatmap gives rate.
func heatColor(rate float64) color.RGBA {
	c, err := heatColors().At(math.Max(0, math.Min(1, rate)))
	if err != nil {
		return noDataColor
	}
	r, g, b, _ := c.RGBA()
	return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
}

// heatPanel is one proxy's failure rates over margin × retry policy.
type heatPanel struct {
	Proxy string
	Cols  []string // margins, ascending
	Rows  []string // retry policy (and other varying axes), top row first
	// Failures and Trials per [row][col]; Trials < 0 marks no cell.
	Failures, Trials [][]int
	Errors           [][]bool
}

// rowAxes are the axes that split a heatmap row beside the retry policy
// when they vary; the others (gap, backend_keepalive) follow the margin.
var rowAxes = []string{"method", "client", "close", "fault", "proxy_idle", "preset", "backend", "reuse"}

// heatPanels groups summaries into one panel per proxy: columns are the
// margins, rows the retry policies (split by any other varying axis).
func heatPanels(sums []results.Summary) []heatPanel {
	varying := map[string]bool{}
	for _, a := range VaryingParams(sums) {
		varying[a] = true
	}
	if len(sums) == 1 {
		varying = map[string]bool{}
	}
	rowKey := func(s results.Summary) string {
		parts := []string{"retry " + orDash(s.Params["retry"])}
		for _, a := range rowAxes {
			if varying[a] {
				parts = append(parts, s.Params[a])
			}
		}
		return strings.Join(parts, " · ")
	}
	type agg struct{ fail, trials, errs int }
	byProxy := map[string]map[[2]string]*agg{}
	var proxyOrder []string
	colSet, rowSet := map[string]map[string]bool{}, map[string]map[string]results.Summary{}
	for _, s := range sums {
		p := proxyOf(s)
		if byProxy[p] == nil {
			byProxy[p] = map[[2]string]*agg{}
			colSet[p], rowSet[p] = map[string]bool{}, map[string]results.Summary{}
			proxyOrder = append(proxyOrder, p)
		}
		col, row := orDash(s.Params["margin"]), rowKey(s)
		colSet[p][col] = true
		if _, ok := rowSet[p][row]; !ok {
			rowSet[p][row] = s
		}
		a := byProxy[p][[2]string{row, col}]
		if a == nil {
			a = &agg{}
			byProxy[p][[2]string{row, col}] = a
		}
		a.fail += s.Failures
		a.trials += s.Trials
		if s.Error != "" {
			a.errs++
		}
	}
	var out []heatPanel
	for _, p := range proxyOrder {
		hp := heatPanel{Proxy: p}
		for c := range colSet[p] {
			hp.Cols = append(hp.Cols, c)
		}
		sort.Slice(hp.Cols, func(i, j int) bool { return lessDuration(hp.Cols[i], hp.Cols[j]) })
		for r := range rowSet[p] {
			hp.Rows = append(hp.Rows, r)
		}
		sort.Slice(hp.Rows, func(i, j int) bool {
			ri, rj := retryRank(rowSet[p][hp.Rows[i]].Params["retry"]), retryRank(rowSet[p][hp.Rows[j]].Params["retry"])
			if ri != rj {
				return ri < rj
			}
			return hp.Rows[i] < hp.Rows[j]
		})
		for _, row := range hp.Rows {
			var fs, ts []int
			var es []bool
			for _, col := range hp.Cols {
				a := byProxy[p][[2]string{row, col}]
				if a == nil {
					fs, ts, es = append(fs, 0), append(ts, -1), append(es, false)
					continue
				}
				fs, ts, es = append(fs, a.fail), append(ts, a.trials), append(es, a.errs > 0)
			}
			hp.Failures, hp.Trials, hp.Errors = append(hp.Failures, fs), append(hp.Trials, ts), append(hp.Errors, es)
		}
		out = append(out, hp)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func retryRank(r string) int {
	switch r {
	case "off":
		return 0
	case "idempotent":
		return 1
	case "all":
		return 2
	}
	return 3
}

// lessDuration orders duration strings by value; unparsable ones last.
func lessDuration(a, b string) bool {
	da, ea := scenarios.ParseDuration(a)
	db, eb := scenarios.ParseDuration(b)
	switch {
	case ea == nil && eb == nil:
		return da < db
	case ea == nil:
		return true
	case eb == nil:
		return false
	}
	return a < b
}

// heatGrid adapts a panel to plotter.GridXYZ: column c is x = c, row r is
// y = len(rows)-1-r so the first row is drawn on top.
type heatGrid struct{ hp heatPanel }

func (g heatGrid) Dims() (c, r int) { return len(g.hp.Cols), len(g.hp.Rows) }
func (g heatGrid) X(c int) float64  { return float64(c) }
func (g heatGrid) Y(r int) float64  { return float64(r) }
func (g heatGrid) Z(c, r int) float64 {
	row := len(g.hp.Rows) - 1 - r
	n := g.hp.Trials[row][c]
	if n <= 0 {
		return math.NaN()
	}
	return float64(g.hp.Failures[row][c]) / float64(n)
}

// sans sets the text styles of a plot to the sans-serif face.
func sans(p *plot.Plot) {
	for _, st := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		st.Variant = "Sans"
	}
}

// heatmapSVG draws a panel: a heatmap with each cell's failures/trials
// written in it, and a colour bar below.
func heatmapSVG(hp heatPanel) (string, error) {
	cols, rows := len(hp.Cols), len(hp.Rows)
	if cols == 0 || rows == 0 {
		return "", fmt.Errorf("heatmap %s: no cells", hp.Proxy)
	}
	p := plot.New()
	sans(p)
	p.Title.Text = hp.Proxy + ": failure rate"
	p.X.Label.Text = "margin (backend_keepalive − proxy_idle)"
	p.Y.Label.Text = "retry policy"
	hm := plotter.NewHeatMap(heatGrid{hp}, heatColors().Palette(256))
	hm.Min, hm.Max = 0, 1
	hm.NaN = noDataColor
	p.Add(hm)

	var xt, yt []plot.Tick
	for c, col := range hp.Cols {
		xt = append(xt, plot.Tick{Value: float64(c), Label: col})
	}
	for r, row := range hp.Rows {
		yt = append(yt, plot.Tick{Value: float64(rows - 1 - r), Label: row})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	p.X.Min, p.X.Max = -0.5, float64(cols)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(rows)-0.5

	var lbl plotter.XYLabels
	for r := range hp.Rows {
		for c := range hp.Cols {
			n, f := hp.Trials[r][c], hp.Failures[r][c]
			text := fmt.Sprintf("%d/%d", f, n)
			switch {
			case n < 0:
				text = "not run"
			case hp.Errors[r][c] && n == 0:
				text = "error"
			case hp.Errors[r][c]:
				text += " (error)"
			}
			lbl.XYs = append(lbl.XYs, plotter.XY{X: float64(c), Y: float64(rows - 1 - r)})
			lbl.Labels = append(lbl.Labels, text)
		}
	}
	labels, err := plotter.NewLabels(lbl)
	if err != nil {
		return "", fmt.Errorf("heatmap %s: %w", hp.Proxy, err)
	}
	i := 0
	for r := range hp.Rows {
		for c := range hp.Cols {
			st := &labels.TextStyle[i]
			st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
			st.Font.Variant = "Sans"
			st.Font.Size = vg.Points(11)
			st.Color = color.Black
			if n := hp.Trials[r][c]; n > 0 {
				if rate := float64(hp.Failures[r][c]) / float64(n); math.Abs(rate-0.5) > 0.3 {
					st.Color = color.White
				}
			}
			i++
		}
	}
	p.Add(labels)

	bar := plot.New()
	sans(bar)
	bar.HideY()
	bar.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0%"}, {Value: 0.25, Label: "25%"},
		{Value: 0.5, Label: "50%"}, {Value: 0.75, Label: "75%"}, {Value: 1, Label: "100%"}})
	bar.X.Label.Text = "failure rate (grey: no trials)"
	bar.Add(&plotter.ColorBar{ColorMap: heatColors(), Colors: 64})

	labelW := vg.Points(70 + 6.5*float64(longest(hp.Rows)))
	w := max(labelW+vg.Points(95*float64(cols)), vg.Points(320)) + vg.Points(20)
	hh, bh := vg.Points(float64(95+46*rows)), vg.Points(62)
	c := newSVGCanvas(w, hh+bh)
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, 0, bh, 0))
	bar.Draw(draw.Crop(dc, labelW, -vg.Points(20), 0, -hh))
	return svgString(c)
}

func longest(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len([]rune(s)))
	}
	return min(n, 30)
}

// windowErrors adapts a race window's bins to XY points (x in µs, the bin
// midpoint) with Wilson error bars.
type windowErrors struct{ bins []results.WindowBin }

func (w windowErrors) Len() int { return len(w.bins) }
func (w windowErrors) XY(i int) (x, y float64) {
	b := w.bins[i]
	return float64(b.FromNS+b.ToNS) / 2 / float64(time.Microsecond), b.Rate
}
func (w windowErrors) YError(i int) (low, high float64) {
	b := w.bins[i]
	return b.Rate - b.Lo, b.Hi - b.Rate
}

// windowSVG draws the race windows: failure rate against the offset of
// the request from the backend's idle deadline, one series per timing
// cell, with 95% Wilson intervals as error bars and the deadline marked.
//
// The x axis spans the swept offsets (one bin before, two after): a trial
// the scheduler sent far later than aimed lands in a bin outside it and
// is left off the chart, and counted in the returned number.
func windowSVG(ws []CellWindow, binNS int64) (string, int, error) {
	lo, hi := windowRange(ws, binNS)
	outside := 0
	p := plot.New()
	sans(p)
	p.Title.Text = "Race window: failure rate by offset from the backend's idle deadline"
	p.X.Label.Text = "request sent at offset (µs) from the backend's idle deadline (measured)"
	p.Y.Label.Text = "failure rate (95% Wilson interval)"
	// Headroom above 100% keeps the legend off the data.
	p.Y.Min, p.Y.Max = 0, 1.32
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0%"}, {Value: 0.25, Label: "25%"},
		{Value: 0.5, Label: "50%"}, {Value: 0.75, Label: "75%"}, {Value: 1, Label: "100%"}})
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.Padding = vg.Points(3)
	p.Legend.XOffs = vg.Points(8)
	for i, cw := range ws {
		if len(cw.Window.Bins) == 0 {
			continue
		}
		col := seriesColors[i%len(seriesColors)]
		var bins []results.WindowBin
		for _, b := range cw.Window.Bins {
			if b.FromNS >= lo && b.ToNS <= hi {
				bins = append(bins, b)
			} else {
				outside += b.Trials
			}
		}
		if len(bins) == 0 {
			continue
		}
		we := windowErrors{bins}
		line, points, err := plotter.NewLinePoints(we)
		if err != nil {
			return "", 0, fmt.Errorf("race window %s: %w", cw.Cell, err)
		}
		line.Color, line.Width = col, vg.Points(2)
		points.Color, points.Shape, points.Radius = col, draw.CircleGlyph{}, vg.Points(3.5)
		bars, err := plotter.NewYErrorBars(we)
		if err != nil {
			return "", 0, fmt.Errorf("race window %s: %w", cw.Cell, err)
		}
		bars.Color, bars.Width = col, vg.Points(1.5)
		p.Add(line, bars, points)
		label := fmt.Sprintf("%s (%d/%d failed)", cw.Cell, cw.Window.Failures, cw.Window.Trials)
		if cw.ModelWidthNS > 0 && cw.Window.Failures > 0 {
			label = fmt.Sprintf("%s (%d/%d failed; width %s, model %s)", cw.Cell, cw.Window.Failures, cw.Window.Trials,
				FormatNS(cw.Window.WidthNS), FormatNS(cw.ModelWidthNS))
		}
		p.Legend.Add(label, line, points)
	}
	deadline, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 0, Y: 1}})
	if err != nil {
		return "", 0, fmt.Errorf("race window: %w", err)
	}
	deadline.Color, deadline.Width, deadline.Dashes = deadlineColor, vg.Points(1), []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(deadline)
	p.Legend.Add("backend idle deadline (offset 0)", deadline)
	p.X.Min, p.X.Max = float64(lo)/1e3, float64(hi)/1e3
	p.X.Tick.Marker = plot.ConstantTicks(offsetTicks(lo, hi))
	c := newSVGCanvas(vg.Points(760), vg.Points(380))
	p.Draw(draw.New(c))
	svg, err := svgString(c)
	return svg, outside, err
}

// offsetTicks labels the offset axis (in µs) every 500µs, or every
// 250µs or whole milliseconds when that gives a more readable count; the
// axis end gets no label (it would be clipped).
func offsetTicks(lo, hi int64) []plot.Tick {
	step := int64(500_000)
	switch span := hi - lo; {
	case span <= 2_000_000:
		step = 250_000
	case span > 8_000_000:
		step = int64(math.Ceil(float64(span)/8/1e6)) * 1_000_000
	}
	var ticks []plot.Tick
	for t := int64(math.Ceil(float64(lo)/float64(step))) * step; t < hi; t += step {
		ticks = append(ticks, plot.Tick{Value: float64(t) / 1e3, Label: strconv.FormatInt(t/1e3, 10)})
	}
	return ticks
}

// windowRange is the offset range the race-window chart shows: the swept
// offsets with a bin of room before and two after, or every bin when the
// records do not say what was aimed at.
func windowRange(ws []CellWindow, binNS int64) (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	for _, cw := range ws {
		if cw.SweepFromNS != nil && cw.SweepToNS != nil {
			lo, hi = min(lo, *cw.SweepFromNS-binNS), max(hi, *cw.SweepToNS+2*binNS)
			continue
		}
		for _, b := range cw.Window.Bins {
			lo, hi = min(lo, b.FromNS), max(hi, b.ToNS)
		}
	}
	if lo > hi {
		return -binNS, binNS
	}
	// Align on bins so that whole bins fit.
	lo = int64(math.Floor(float64(lo)/float64(binNS))) * binNS
	hi = int64(math.Ceil(float64(hi)/float64(binNS))) * binNS
	return lo, hi
}
