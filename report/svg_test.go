package report_test

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/report"
)

// wellFormed parses s as XML and returns the count of elements by name.
func wellFormed(t *testing.T, s string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return counts
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, s)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
}

func TestSVGCharts(t *testing.T) {
	nasty := `<script>alert("x")</script> & "quotes"`
	var sb strings.Builder
	if err := report.SVGLineChart(&sb, report.LineChart{Title: nasty, XLabel: nasty, YLabel: nasty,
		Series: []report.Series{
			{Name: nasty, X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, 2, math.NaN(), 4, 5}},
			{Name: "b", X: []float64{0, 1}, Y: []float64{3, 3}},
		},
		Markers: []report.Marker{{Label: nasty, Value: 4.5}}}); err != nil {
		t.Fatal(err)
	}
	c := wellFormed(t, sb.String())
	// The NaN breaks the first series into two lines.
	if c["polyline"] != 3 || c["script"] != 0 {
		t.Errorf("elements %v", c)
	}

	sb.Reset()
	if err := report.SVGBarChart(&sb, report.BarChart{Title: "t", Bars: []report.Bar{
		{Label: nasty, Value: -5, Note: nasty}, {Label: "b", Value: 10, HasRange: true, Lo: 8, Hi: 12}, {Label: "nan", Value: math.NaN()},
	}}); err != nil {
		t.Fatal(err)
	}
	if c := wellFormed(t, sb.String()); c["rect"] != 3 { // background + 2 bars
		t.Errorf("bar elements %v", c)
	}

	sb.Reset()
	values := make([]float64, 1000)
	for i := range values {
		values[i] = float64(i % 100)
	}
	values[999] = 1e6
	if err := report.SVGHistogram(&sb, report.Histogram{Title: "h", Values: values, ClipAbove: 200,
		Markers: []report.Marker{{Label: "p50", Value: 50}}}); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	wellFormed(t, out)
	if !strings.Contains(out, "1 above 200 not shown") || strings.Count(out, `class="bin"`) < 20 {
		t.Errorf("histogram:\n%s", out)
	}

	// Empty and degenerate inputs still give a valid chart.
	for _, f := range []func(io.Writer) error{
		func(w io.Writer) error { return report.SVGLineChart(w, report.LineChart{}) },
		func(w io.Writer) error { return report.SVGBarChart(w, report.BarChart{}) },
		func(w io.Writer) error { return report.SVGHistogram(w, report.Histogram{}) },
		func(w io.Writer) error { return report.SVGHistogram(w, report.Histogram{Values: []float64{5, 5, 5}}) },
		func(w io.Writer) error {
			return report.SVGLineChart(w, report.LineChart{Series: []report.Series{{X: []float64{1}, Y: []float64{math.Inf(1)}}}})
		},
	} {
		sb.Reset()
		if err := f(&sb); err != nil {
			t.Fatal(err)
		}
		wellFormed(t, sb.String())
	}
}
