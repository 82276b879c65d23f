package pageload

import (
	"bufio"
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
)

// typeColors colour resource types in the charts.
var typeColors = map[string]string{
	"document": "#4e79a7", "script": "#f28e2b", "stylesheet": "#59a14f", "image": "#e15759",
	"font": "#b07aa1", "media": "#76b7b2", "other": "#9c755f", "third-party": "#bab0ac", "total": "#555555",
}

// maxWaterfallRows bounds the rows of the waterfall chart.
const maxWaterfallRows = 60

// RenderSVG writes r as one self-contained inline SVG element for an HTML
// report: a bytes-by-type bar chart of the median transfer sizes and the
// waterfall of the median run (the successful run whose load time is the
// median), with markers for TTFB, FCP, LCP, TTI and the load event. All
// text is escaped; the SVG uses no scripts, fonts or external resources.
// A report without a successful run renders a note saying so.
func RenderSVG(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	const width = 900
	run := r.medianRun()

	type bar struct {
		typ   string
		bytes float64
		reqs  float64
	}
	var bars []bar
	for _, t := range budget.ResourceTypes {
		b, _ := r.Spread(results.UnitBytesPrefix + t)
		q, _ := r.Spread(results.UnitReqsPrefix + t)
		bars = append(bars, bar{t, b.Median, q.Median})
	}
	maxBytes := 1.0
	for _, b := range bars {
		maxBytes = math.Max(maxBytes, b.bytes)
	}

	rows := 0
	if run != nil {
		rows = min(len(run.Requests), maxWaterfallRows)
	}
	const rowH, barsTop, labelW = 16, 40, 110
	wfTop := barsTop + len(bars)*rowH + 50
	height := wfTop + 30 + max(rows, 1)*rowH + 40

	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" class="perfagent-page" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, width, height, width, height)
	fmt.Fprintf(bw, `<title>%s</title>`, esc("Page load of "+r.URL))
	fmt.Fprintf(bw, `<text x="0" y="16" font-size="13" font-weight="bold">%s</text>`, esc(fmt.Sprintf("Transfer size by resource type (median of %d runs)", r.SuccessfulRuns())))
	for i, b := range bars {
		y := barsTop + i*rowH
		bw0 := (width - labelW - 170) * b.bytes / maxBytes
		fmt.Fprintf(bw, `<text x="0" y="%d">%s</text>`, y+11, esc(b.typ))
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
			labelW, y+2, bw0, rowH-4, typeColors[b.typ], esc(fmt.Sprintf("%s: %s in %g requests", b.typ, budget.Bytes.Format(b.bytes), b.reqs)))
		fmt.Fprintf(bw, `<text x="%.1f" y="%d">%s</text>`, float64(labelW)+bw0+6, y+11, esc(fmt.Sprintf("%s, %g req", budget.Bytes.Format(b.bytes), b.reqs)))
	}

	fmt.Fprintf(bw, `<text x="0" y="%d" font-size="13" font-weight="bold">%s</text>`, wfTop, esc("Waterfall"+runLabel(run)))
	if run == nil {
		fmt.Fprintf(bw, `<text x="0" y="%d">%s</text>`, wfTop+24, esc("no successful run"))
		fmt.Fprint(bw, `</svg>`)
		return bw.Flush()
	}
	end := max(run.LoadEvent, run.TTI, run.LCP)
	for _, q := range run.Requests[:rows] {
		end = max(end, q.End, q.Start)
	}
	if end <= 0 {
		end = time.Millisecond
	}
	const urlW = 260
	plotX, plotW := float64(urlW), float64(width-urlW-10)
	x := func(d time.Duration) float64 { return plotX + plotW*float64(d)/float64(end) }
	top := wfTop + 24
	for i, q := range run.Requests[:rows] {
		y := top + i*rowH
		label := q.URL
		if len(label) > 45 {
			label = "…" + label[len(label)-44:]
		}
		stop := q.End
		if stop == 0 {
			stop = end
		}
		fmt.Fprintf(bw, `<text x="0" y="%d">%s</text>`, y+11, esc(label))
		fmt.Fprintf(bw, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
			x(q.Start), y+2, math.Max(1, x(stop)-x(q.Start)), rowH-4, typeColors[q.Type], esc(requestTitle(q)))
	}
	if more := len(run.Requests) - rows + run.RequestsDropped; more > 0 {
		fmt.Fprintf(bw, `<text x="0" y="%d">%s</text>`, top+rows*rowH+11, esc(fmt.Sprintf("… %d more requests", more)))
	}
	bottom := top + max(rows, 1)*rowH
	for _, m := range []struct {
		name  string
		at    time.Duration
		color string
	}{{"TTFB", run.TTFB, "#888"}, {"FCP", run.FCP, "#2a9d8f"}, {"LCP", run.LCP, "#e76f51"}, {"TTI", run.TTI, "#6a4c93"}, {"load", run.LoadEvent, "#264653"}} {
		if m.at <= 0 {
			continue
		}
		fmt.Fprintf(bw, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-dasharray="3,2"/>`, x(m.at), top, x(m.at), bottom, m.color)
		fmt.Fprintf(bw, `<text x="%.1f" y="%d" fill="%s" text-anchor="middle">%s</text>`, x(m.at), bottom+14, m.color, esc(m.name+" "+budget.Duration.Format(float64(m.at))))
	}
	fmt.Fprintf(bw, `<text x="%.1f" y="%d" text-anchor="end">%s</text>`, plotX+plotW, bottom+30, esc(budget.Duration.Format(float64(end))))
	fmt.Fprint(bw, `</svg>`)
	return bw.Flush()
}

func esc(s string) string { return html.EscapeString(strings.ToValidUTF8(s, "\uFFFD")) }

func runLabel(l *Load) string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf(" of run %d (median load time)", l.Index)
}

func requestTitle(q Request) string {
	s := fmt.Sprintf("%s\n%s, %s, %s → ", q.URL, q.Type, budget.Bytes.Format(float64(q.Bytes)), budget.Duration.Format(float64(q.Start)))
	if q.End > 0 {
		s += budget.Duration.Format(float64(q.End))
	} else {
		s += "unfinished"
	}
	if q.Status != 0 {
		s += fmt.Sprintf(", HTTP %d", q.Status)
	}
	if q.ThirdParty {
		s += ", third party"
	}
	if q.Failed != "" {
		s += ", failed: " + q.Failed
	}
	return s
}

// SuccessfulRuns counts the runs that loaded the page.
func (r *Report) SuccessfulRuns() int {
	n := 0
	for _, l := range r.Runs {
		if l.Error == "" {
			n++
		}
	}
	return n
}

// medianRun returns the successful run with the median load time (the
// lower median for an even count), or nil.
func (r *Report) medianRun() *Load {
	var ok []*Load
	for i := range r.Runs {
		if r.Runs[i].Error == "" {
			ok = append(ok, &r.Runs[i])
		}
	}
	if len(ok) == 0 {
		return nil
	}
	slices.SortStableFunc(ok, func(a, b *Load) int { return cmp.Compare(a.LoadEvent, b.LoadEvent) })
	return ok[(len(ok)-1)/2]
}
