package leak

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/perfagent/perfagent/snapshot"
)

// ChartRow is one sample of a memory chart: a row of
// memory-chart-<ts>.csv.
type ChartRow struct {
	Time       time.Time
	HeapLive   uint64 // live heap after the last GC
	HeapGoal   uint64
	MemTotal   uint64 // memory mapped by the Go runtime
	RSS        uint64 // 0 when unknown
	Goroutines uint64
	GCCycles   uint64
	HeapInUse  uint64 // heap objects, live or not yet swept
}

// chartHeader is the CSV header; the columns are in ChartRow's order.
var chartHeader = []string{"time", "heap_live_bytes", "heap_goal_bytes", "memory_total_bytes", "rss_bytes", "goroutines", "gc_cycles", "heap_in_use_bytes"}

// ChartRows converts snapshots to chart rows.
func ChartRows(snaps []snapshot.Snapshot) []ChartRow {
	rows := make([]ChartRow, len(snaps))
	for i := range snaps {
		s := &snaps[i]
		rows[i] = ChartRow{Time: s.Time, HeapLive: s.HeapLive, HeapGoal: s.HeapGoal, MemTotal: s.MemTotal, RSS: s.RSS,
			Goroutines: s.Goroutines.Total, GCCycles: s.GCCycles, HeapInUse: s.HeapInUse}
	}
	return rows
}

// WriteCSV writes rows as CSV with a header: time (RFC 3339, UTC, with
// nanoseconds), heap_live_bytes, heap_goal_bytes, memory_total_bytes,
// rss_bytes, goroutines, gc_cycles, heap_in_use_bytes.
func WriteCSV(w io.Writer, rows []ChartRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(chartHeader); err != nil {
		return fmt.Errorf("leak: write chart: %w", err)
	}
	rec := make([]string, len(chartHeader))
	for _, r := range rows {
		rec[0] = r.Time.UTC().Format(time.RFC3339Nano)
		for i, v := range []uint64{r.HeapLive, r.HeapGoal, r.MemTotal, r.RSS, r.Goroutines, r.GCCycles, r.HeapInUse} {
			rec[i+1] = strconv.FormatUint(v, 10)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("leak: write chart: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("leak: write chart: %w", err)
	}
	return nil
}

// ReadCSV parses a chart written by WriteCSV. Errors name the line and
// column.
func ReadCSV(r io.Reader) ([]ChartRow, error) {
	cr := csv.NewReader(io.LimitReader(r, 256<<20))
	cr.FieldsPerRecord = len(chartHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("leak: chart header: %w", err)
	}
	for i, h := range chartHeader {
		if head[i] != h {
			return nil, fmt.Errorf("leak: chart header column %d is %q, want %q", i+1, head[i], h)
		}
	}
	var rows []ChartRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("leak: chart: %w", err)
		}
		var row ChartRow
		if row.Time, err = time.Parse(time.RFC3339Nano, rec[0]); err != nil {
			return nil, fmt.Errorf("leak: chart line %d, column time: %w", line, err)
		}
		for i, dst := range []*uint64{&row.HeapLive, &row.HeapGoal, &row.MemTotal, &row.RSS, &row.Goroutines, &row.GCCycles, &row.HeapInUse} {
			if *dst, err = strconv.ParseUint(rec[i+1], 10, 64); err != nil {
				return nil, fmt.Errorf("leak: chart line %d, column %s: %w", line, chartHeader[i+1], err)
			}
		}
		rows = append(rows, row)
	}
}

// maxChartPoints bounds the points drawn per line; longer charts are
// thinned (the CSV keeps every row).
const maxChartPoints = 600

// WriteSVG draws rows as a small self-contained SVG: live heap, heap goal,
// heap in use and RSS in bytes over time, and the goroutine count below.
// title is escaped. The SVG has no scripts, fonts or external resources.
func WriteSVG(w io.Writer, rows []ChartRow, title string) error {
	bw := bufio.NewWriter(w)
	const width, height = 720, 340
	const left, right, top1, h1, top2, h2 = 70, 20, 30, 170, 240, 70
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" class="perfagent-memory" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, width, height, width, height)
	fmt.Fprintf(bw, `<title>%s</title><text x="0" y="14" font-size="13" font-weight="bold">%s</text>`, html.EscapeString(title), html.EscapeString(title))
	if len(rows) < 2 {
		fmt.Fprintf(bw, `<text x="%d" y="%d">not enough samples to draw</text></svg>`, left, top1+20)
		return bw.Flush()
	}
	t0, t1 := rows[0].Time, rows[len(rows)-1].Time
	span := math.Max(t1.Sub(t0).Seconds(), 1e-9)
	step := max(1, len(rows)/maxChartPoints)
	x := func(t time.Time) float64 { return left + (width-left-right)*t.Sub(t0).Seconds()/span }
	var maxBytes, maxG float64 = 1, 1
	for _, r := range rows {
		maxBytes = math.Max(maxBytes, float64(max(r.HeapLive, r.HeapGoal, r.HeapInUse, r.RSS)))
		maxG = math.Max(maxG, float64(r.Goroutines))
	}
	maxBytes, maxG = niceCeil(maxBytes), niceCeil(maxG)
	axis := func(top, h int, maxV float64, label func(float64) string) {
		fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, left, top+h, width-right, top+h)
		for i := 0; i <= 2; i++ {
			v := maxV * float64(i) / 2
			y := float64(top+h) - float64(h)*float64(i)/2
			fmt.Fprintf(bw, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-4, y+4, html.EscapeString(label(v)))
			fmt.Fprintf(bw, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, left, y, width-right, y)
		}
	}
	line := func(top, h int, maxV float64, color string, v func(ChartRow) uint64) {
		fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, color)
		for i := 0; i < len(rows); i += step {
			fmt.Fprintf(bw, "%.1f,%.1f ", x(rows[i].Time), float64(top+h)-float64(h)*float64(v(rows[i]))/maxV)
		}
		last := rows[len(rows)-1]
		fmt.Fprintf(bw, `%.1f,%.1f"/>`, x(last.Time), float64(top+h)-float64(h)*float64(v(last))/maxV)
	}
	axis(top1, h1, maxBytes, func(v float64) string { return FormatBytes(v) })
	series := []struct {
		name, color string
		v           func(ChartRow) uint64
	}{
		{"heap goal", "#bbbbbb", func(r ChartRow) uint64 { return r.HeapGoal }},
		{"RSS", "#59a14f", func(r ChartRow) uint64 { return r.RSS }},
		{"heap in use", "#f28e2b", func(r ChartRow) uint64 { return r.HeapInUse }},
		{"live heap", "#e15759", func(r ChartRow) uint64 { return r.HeapLive }},
	}
	for i, s := range series {
		line(top1, h1, maxBytes, s.color, s.v)
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="10" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`, left+i*110, top1-10, s.color, left+i*110+14, top1-6, s.name)
	}
	fmt.Fprintf(bw, `<text x="%d" y="%d">goroutines</text>`, left, top2-6)
	axis(top2, h2, maxG, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	line(top2, h2, maxG, "#4e79a7", func(r ChartRow) uint64 { return r.Goroutines })
	fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text>`, left, height-6, html.EscapeString(t0.UTC().Format(time.RFC3339)))
	fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">%s</text>`, width-right, height-6, html.EscapeString(t1.UTC().Format(time.RFC3339)))
	fmt.Fprint(bw, `</svg>`)
	return bw.Flush()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (or of 1024 for
// large values, so byte axes read well).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	base := 10.0
	if v >= 1024 {
		base = 1024
	}
	p := math.Pow(base, math.Floor(math.Log(v)/math.Log(base)))
	for _, m := range []float64{1, 2, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100, 128, 200, 256, 500, 512, 1000, 1024} {
		if m*p >= v {
			return m * p
		}
	}
	return v
}
