package reports

import (
	"bytes"
	"fmt"
	"html"
	"strings"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgsvg"
)

func newSVGCanvas(w, h vg.Length) *vgsvg.Canvas { return vgsvg.New(w, h) }

// svgString renders a canvas as an <svg> element ready to inline into
// HTML: without the XML prolog and generator comment, scaled by CSS.
func svgString(c *vgsvg.Canvas) (string, error) {
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("render svg: %w", err)
	}
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("render svg: no <svg> element in output")
	}
	return s[i:], nil
}

// svgBuilder writes an SVG drawing by hand; every text goes through
// esc.
type svgBuilder struct {
	b strings.Builder
}

func esc(s string) string { return html.EscapeString(s) }

func (s *svgBuilder) printf(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

func (s *svgBuilder) line(x1, y1, x2, y2 float64, stroke string, width float64, dash string) {
	d := ""
	if dash != "" {
		d = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x1, y1, x2, y2, stroke, width, d)
}

// arrow draws a horizontal arrow from x1 to x2 at y with a filled head.
func (s *svgBuilder) arrow(x1, x2, y float64, stroke string, width float64, dash string) {
	dir := 1.0
	if x2 < x1 {
		dir = -1
	}
	s.line(x1, y, x2-dir*9, y, stroke, width, dash)
	s.printf(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s"/>`+"\n", x2, y, x2-dir*11, y-5.5, x2-dir*11, y+5.5, stroke)
}
