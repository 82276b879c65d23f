package report

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// Chart colours. Charts carry their colours as attributes, so they look the
// same embedded in any page.
const (
	ColorPrimary     = "#3b6fb6"
	ColorRegression  = "#c0392b"
	ColorImprovement = "#2e8b57"
	ColorNeutral     = "#8a94a6"
	ColorOverflow    = "#e67e22"
	colorAxis        = "#555b66"
	colorGrid        = "#e3e6eb"
	colorText        = "#222"
)

// seriesColor returns the colour of the i-th series of a line chart.
func seriesColor(i int) string {
	p := [...]string{ColorPrimary, "#e67e22", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d"}
	return p[i%len(p)]
}

// Default chart sizes in CSS pixels.
const (
	DefaultChartWidth  = 640
	DefaultChartHeight = 240
)

// Series is one line of a [LineChart]: points (X[i], Y[i]). Points with a
// NaN coordinate break the line.
type Series struct {
	Name  string
	X, Y  []float64
	Color string // default: a palette colour by position
}

// Marker is a labelled reference value: a vertical line in a histogram, a
// horizontal line in a line chart (a limit, a budget).
type Marker struct {
	Label string
	Value float64
	Color string // default ColorNeutral
}

// LineChart describes a line chart of one or more series.
type LineChart struct {
	Title          string
	XLabel, YLabel string
	Width, Height  int // default DefaultChartWidth × DefaultChartHeight
	Series         []Series
	// YFromZero starts the Y axis at zero (for sizes and counts).
	YFromZero bool
	// Markers draw horizontal reference lines at Y values.
	Markers []Marker
	// FormatX and FormatY render tick labels; default: 3 significant digits.
	FormatX, FormatY func(float64) string
}

// Bar is one bar of a [BarChart].
type Bar struct {
	Label string
	Value float64
	// Lo and Hi, when HasRange, draw an interval whisker (a confidence
	// interval) over the bar.
	Lo, Hi   float64
	HasRange bool
	// Color of the bar; default ColorPrimary.
	Color string
	// Note is text after the bar's value (a significance mark).
	Note string
}

// BarChart describes a horizontal bar chart. Negative values extend left of
// a zero line, so it also draws signed changes.
type BarChart struct {
	Title string
	Width int // default DefaultChartWidth; the height follows the bar count
	Bars  []Bar
	// Format renders values at the bars' ends; default 3 significant digits.
	Format func(float64) string
}

// Histogram describes the distribution of a sample as vertical bins.
type Histogram struct {
	Title         string
	XLabel        string
	Width, Height int // default DefaultChartWidth × DefaultChartHeight
	Values        []float64
	// Bins is the bin count; default: √n between 5 and 40.
	Bins int
	// ClipAbove, when positive and below the maximum, puts the values above
	// it into one overflow count instead of stretching the axis for them.
	ClipAbove float64
	// Markers draw vertical lines (percentiles).
	Markers []Marker
	// Format renders tick labels; default 3 significant digits.
	Format func(float64) string
}

// svg accumulates an SVG document; the first write error sticks.
type svg struct {
	w   *bufio.Writer
	err error
}

func (s *svg) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

// open writes the root element with a title for screen readers.
func (s *svg) open(w, h int, title string) {
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="11">`, w, h, w, h, esc(title))
	s.printf(`<title>%s</title><rect width="%d" height="%d" fill="#fff"/>`, esc(title), w, h)
	if title != "" {
		s.printf(`<text x="8" y="16" font-size="13" font-weight="bold" fill="%s">%s</text>`, colorText, esc(title))
	}
}

func (s *svg) text(x, y float64, anchor, color, text string) {
	s.printf(`<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s">%s</text>`, x, y, anchor, color, esc(text))
}

func (s *svg) line(x1, y1, x2, y2 float64, color string, width float64, dash bool) {
	d := ""
	if dash {
		d = ` stroke-dasharray="4 3"`
	}
	s.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`, x1, y1, x2, y2, color, width, d)
}

func (s *svg) rect(x, y, w, h float64, color, class string) {
	s.printf(`<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, class, x, y, math.Max(w, 0), math.Max(h, 0), color)
}

func (s *svg) close() error {
	s.printf("</svg>")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

func newSVG(w io.Writer) *svg { return &svg{w: bufio.NewWriter(w)} }

func esc(s string) string { return html.EscapeString(s) }

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func orColor(c, def string) string {
	if c == "" {
		return def
	}
	return c
}

func defaultFormat(f func(float64) string) func(float64) string {
	if f != nil {
		return f
	}
	return sig3
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(ticks) < 50; v += step {
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, v)
	}
	return ticks
}

// scale maps [d0, d1] to [r0, r1].
type scale struct{ d0, d1, r0, r1 float64 }

func (s scale) at(v float64) float64 {
	if s.d1 == s.d0 {
		return (s.r0 + s.r1) / 2
	}
	return s.r0 + (v-s.d0)/(s.d1-s.d0)*(s.r1-s.r0)
}

// finiteRange returns the range of the finite values, ok false when none.
func finiteRange(vs ...[]float64) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			lo, hi, ok = math.Min(lo, x), math.Max(hi, x), true
		}
	}
	return lo, hi, ok
}

// padRange widens a degenerate range so scales stay finite.
func padRange(lo, hi float64) (float64, float64) {
	if hi > lo {
		return lo, hi
	}
	if lo == 0 {
		return 0, 1
	}
	d := math.Abs(lo) * 0.1
	return lo - d, hi + d
}

// SVGLineChart writes c as a self-contained SVG element (no scripts, no
// external resources). A chart without points shows "no data".
func SVGLineChart(w io.Writer, c LineChart) error {
	W, H := orDefault(c.Width, DefaultChartWidth), orDefault(c.Height, DefaultChartHeight)
	fx, fy := defaultFormat(c.FormatX), defaultFormat(c.FormatY)
	s := newSVG(w)
	s.open(W, H, c.Title)
	left, right, top, bottom := 64.0, float64(W)-16, 28.0, float64(H)-34
	var xs, ys [][]float64
	for _, se := range c.Series {
		n := min(len(se.X), len(se.Y))
		xs, ys = append(xs, se.X[:n]), append(ys, se.Y[:n])
	}
	x0, x1, okx := finiteRange(xs...)
	mv := make([]float64, 0, len(c.Markers))
	for _, m := range c.Markers {
		mv = append(mv, m.Value)
	}
	y0, y1, oky := finiteRange(append(ys, mv)...)
	if !okx || !oky {
		s.text(float64(W)/2, float64(H)/2, "middle", colorAxis, "no data")
		return s.close()
	}
	if c.YFromZero {
		y0 = math.Min(y0, 0)
	}
	x0, x1 = padRange(x0, x1)
	y0, y1 = padRange(y0, y1)
	yt := niceTicks(y0, y1, 4)
	y0, y1 = math.Min(y0, yt[0]), math.Max(y1, yt[len(yt)-1])
	sx, sy := scale{x0, x1, left, right}, scale{y0, y1, bottom, top}
	for _, t := range yt {
		y := sy.at(t)
		s.line(left, y, right, y, colorGrid, 1, false)
		s.text(left-6, y+4, "end", colorAxis, fy(t))
	}
	for _, t := range niceTicks(x0, x1, 6) {
		x := sx.at(t)
		s.line(x, bottom, x, bottom+4, colorAxis, 1, false)
		s.text(x, bottom+16, "middle", colorAxis, fx(t))
	}
	s.line(left, bottom, right, bottom, colorAxis, 1, false)
	s.line(left, top, left, bottom, colorAxis, 1, false)
	if c.XLabel != "" {
		s.text((left+right)/2, float64(H)-4, "middle", colorAxis, c.XLabel)
	}
	if c.YLabel != "" {
		s.printf(`<text transform="translate(12 %.1f) rotate(-90)" text-anchor="middle" fill="%s">%s</text>`, (top+bottom)/2, colorAxis, esc(c.YLabel))
	}
	for _, m := range c.Markers {
		y := sy.at(m.Value)
		col := orColor(m.Color, ColorNeutral)
		s.line(left, y, right, y, col, 1, true)
		s.text(right-2, y-3, "end", col, m.Label)
	}
	for i, se := range c.Series {
		col := orColor(se.Color, seriesColor(i))
		var pts strings.Builder
		flush := func() {
			if pts.Len() > 0 {
				s.printf(`<polyline class="series" fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, col, pts.String())
				pts.Reset()
			}
		}
		for j := range xs[i] {
			x, y := xs[i][j], ys[i][j]
			if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
				flush()
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", sx.at(x), sy.at(y))
		}
		flush()
		if len(c.Series) > 1 && se.Name != "" {
			ly := top + 4 + float64(i)*14
			s.rect(right-120, ly-8, 10, 10, col, "legend")
			s.text(right-106, ly+1, "start", colorText, se.Name)
		}
	}
	return s.close()
}

// SVGBarChart writes c as a self-contained SVG element, one horizontal bar
// per entry, labels on the left and values (and notes) at the bars' ends.
func SVGBarChart(w io.Writer, c BarChart) error {
	const rowH, top, bottom = 22.0, 28.0, 10.0
	W := orDefault(c.Width, DefaultChartWidth)
	H := int(top + bottom + rowH*float64(max(len(c.Bars), 1)))
	f := defaultFormat(c.Format)
	s := newSVG(w)
	s.open(W, H, c.Title)
	if len(c.Bars) == 0 {
		s.text(float64(W)/2, top+rowH/2+4, "middle", colorAxis, "no data")
		return s.close()
	}
	longest := 0
	for _, b := range c.Bars {
		longest = max(longest, len([]rune(b.Label)))
	}
	labelW := math.Min(float64(longest)*6.5+12, float64(W)*0.4)
	maxChars := int((labelW - 12) / 6.5)
	// Room for the value and note after the longest bar.
	endText := 0
	for _, b := range c.Bars {
		n := len([]rune(f(b.Value)))
		if b.Note != "" {
			n += 1 + len([]rune(b.Note))
		}
		endText = max(endText, n)
	}
	left, right := labelW, float64(W)-math.Min(float64(endText)*6.2+14, float64(W)*0.35)
	vals := make([]float64, 0, 3*len(c.Bars))
	for _, b := range c.Bars {
		vals = append(vals, b.Value)
		if b.HasRange {
			vals = append(vals, b.Lo, b.Hi)
		}
	}
	lo, hi, ok := finiteRange(vals)
	if !ok {
		lo, hi = 0, 1
	}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	lo, hi = padRange(lo, hi)
	sx := scale{lo, hi, left, right}
	zero := sx.at(0)
	s.line(zero, top-4, zero, top+rowH*float64(len(c.Bars)), colorAxis, 1, false)
	for i, b := range c.Bars {
		y := top + rowH*float64(i)
		label := []rune(b.Label)
		if len(label) > maxChars && maxChars > 1 {
			label = append(label[:maxChars-1], '…')
		}
		s.text(left-6, y+rowH/2+4, "end", colorText, string(label))
		v := b.Value
		if math.IsNaN(v) || math.IsInf(v, 0) {
			s.text(zero+4, y+rowH/2+4, "start", colorAxis, "-")
			continue
		}
		x := sx.at(v)
		s.rect(math.Min(x, zero), y+4, math.Max(math.Abs(x-zero), 1), rowH-8, orColor(b.Color, ColorPrimary), "bar")
		end := math.Max(x, zero)
		if b.HasRange {
			l, h := sx.at(b.Lo), sx.at(b.Hi)
			s.line(l, y+rowH/2, h, y+rowH/2, colorText, 1.2, false)
			s.line(l, y+6, l, y+rowH-6, colorText, 1.2, false)
			s.line(h, y+6, h, y+rowH-6, colorText, 1.2, false)
			end = math.Max(end, math.Max(l, h))
		}
		text := f(v)
		if b.Note != "" {
			text += " " + b.Note
		}
		s.text(end+6, y+rowH/2+4, "start", colorText, text)
	}
	return s.close()
}

// SVGHistogram writes h as a self-contained SVG element: bins as bars,
// markers as labelled vertical lines and, when values were clipped, the
// count above the clip.
func SVGHistogram(w io.Writer, h Histogram) error {
	W, H := orDefault(h.Width, DefaultChartWidth), orDefault(h.Height, DefaultChartHeight)
	f := defaultFormat(h.Format)
	s := newSVG(w)
	s.open(W, H, h.Title)
	left, right, top, bottom := 48.0, float64(W)-16, 40.0, float64(H)-34
	lo, hi, ok := finiteRange(h.Values)
	if !ok {
		s.text(float64(W)/2, float64(H)/2, "middle", colorAxis, "no data")
		return s.close()
	}
	clipped := 0
	if h.ClipAbove > lo && h.ClipAbove < hi {
		clip := h.ClipAbove
		hi = lo
		for _, v := range h.Values {
			switch {
			case v > clip:
				clipped++
			case v > hi:
				hi = v
			}
		}
	}
	n := len(h.Values)
	bins := h.Bins
	if bins <= 0 {
		bins = min(max(int(math.Sqrt(float64(n))), 5), 40)
	}
	if hi == lo {
		bins = 1
	}
	counts := make([]int, bins)
	width := (hi - lo) / float64(bins)
	for _, v := range h.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) || v > hi {
			continue
		}
		i := bins - 1
		if width > 0 {
			i = min(int((v-lo)/width), bins-1)
		}
		counts[i]++
	}
	maxCount := slices.Max(counts)
	dlo, dhi := padRange(lo, hi)
	sx := scale{dlo, dhi, left, right}
	sy := scale{0, float64(max(maxCount, 1)), bottom, top}
	for _, t := range niceTicks(0, float64(max(maxCount, 1)), 3) {
		if t != math.Trunc(t) {
			continue
		}
		y := sy.at(t)
		s.line(left, y, right, y, colorGrid, 1, false)
		s.text(left-6, y+4, "end", colorAxis, fmt.Sprintf("%.0f", t))
	}
	for i, c := range counts {
		b0, b1 := lo+float64(i)*width, lo+float64(i+1)*width
		x0, x1 := sx.at(b0), sx.at(b1)
		if bins == 1 {
			x0, x1 = left+(right-left)*0.4, left+(right-left)*0.6
		}
		if c > 0 {
			s.rect(x0+0.5, sy.at(float64(c)), math.Max(x1-x0-1, 1), bottom-sy.at(float64(c)), ColorPrimary, "bin")
		}
	}
	s.line(left, bottom, right, bottom, colorAxis, 1, false)
	for _, t := range niceTicks(dlo, dhi, 5) {
		x := sx.at(t)
		s.line(x, bottom, x, bottom+4, colorAxis, 1, false)
		s.text(x, bottom+16, "middle", colorAxis, f(t))
	}
	if h.XLabel != "" {
		s.text((left+right)/2, float64(H)-4, "middle", colorAxis, h.XLabel)
	}
	for i, m := range h.Markers {
		if m.Value < dlo || m.Value > dhi {
			continue
		}
		x := sx.at(m.Value)
		col := orColor(m.Color, ColorNeutral)
		s.line(x, top-2, x, bottom, col, 1.2, true)
		s.text(x, top-6-float64(i%2)*10, "middle", col, m.Label)
	}
	if clipped > 0 {
		s.text(right, 16, "end", ColorOverflow, fmt.Sprintf("%d above %s not shown", clipped, f(h.ClipAbove)))
	}
	return s.close()
}
