// Package pageload is the record of a page-load measurement
// (schema perfagent.page/v1): every run's timings, bytes by resource type,
// requests and long tasks, the medians over runs, and the ways to show it
// (an SVG chart and waterfall, a Markdown section).
//
// Package page measures and fills a [Report]; it stores the report as the
// Detail of a results.Benchmark. Renderers read it back with
// [DecodeDetail] and draw it with [RenderSVG], without importing page and
// so without linking the browser driver.
//
//	r, err := pageload.DecodeDetail(b.Detail)
//	if err == nil {
//		err = pageload.RenderSVG(w, r)
//	}
//
// A Report is plain data: safe to read from several goroutines, not to
// change while it is read.
package pageload
