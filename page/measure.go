package page

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/perfagent/perfagent/budget"
)

// observerScript runs in every document before the page's own scripts and
// records LCP candidates, layout shifts and long tasks with buffered
// PerformanceObservers into a non-enumerable window.__perfagent. It runs in
// the page's main world, so a page that replaces PerformanceObserver or
// window.__perfagent before it runs can hide its entries.
const observerScript = `(() => {
  if (window.__perfagent) return;
  const s = {lcp: 0, lcpEl: '', shifts: [], tasks: []};
  Object.defineProperty(window, '__perfagent', {value: s, enumerable: false});
  const describe = (el) => {
    if (!el || !el.tagName) return '';
    let d = el.tagName.toLowerCase();
    if (el.id) d += '#' + el.id;
    else if (typeof el.className === 'string' && el.className) d += '.' + el.className.trim().split(/\s+/).join('.');
    return d.slice(0, 120);
  };
  const observers = [];
  const observe = (type, fn) => {
    try {
      const o = new PerformanceObserver((l) => l.getEntries().forEach(fn));
      o.observe({type, buffered: true});
      observers.push([o, fn]);
    } catch (e) {}
  };
  // flush takes entries queued but not yet delivered, such as the long task
  // that ran just before the read.
  s.flush = () => observers.forEach(([o, fn]) => o.takeRecords().forEach(fn));
  observe('largest-contentful-paint', (e) => { s.lcp = e.startTime; s.lcpEl = describe(e.element) || (e.url || '').slice(0, 120); });
  observe('layout-shift', (e) => { if (s.shifts.length < 10000) s.shifts.push([e.startTime, e.value, e.hadRecentInput ? 1 : 0]); });
  observe('longtask', (e) => { if (s.tasks.length < 10000) s.tasks.push([e.startTime, e.duration]); });
})()`

// readScript returns the page's timings, all in ms from timeOrigin.
const readScript = `(() => {
  const s = window.__perfagent || {lcp: 0, lcpEl: '', shifts: [], tasks: []};
  if (s.flush) s.flush();
  const nav = performance.getEntriesByType('navigation')[0] || {};
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return {origin: performance.timeOrigin, now: performance.now(), observed: !!window.__perfagent,
    ttfb: nav.responseStart || 0, dcl: nav.domContentLoadedEventEnd || 0, load: nav.loadEventEnd || 0,
    fcp: fcp ? fcp.startTime : 0, lcp: s.lcp, lcpEl: s.lcpEl, shifts: s.shifts, tasks: s.tasks};
})()`

// jsState is readScript's result.
type jsState struct {
	Origin   float64     `json:"origin"` // epoch ms
	Now      float64     `json:"now"`
	Observed bool        `json:"observed"`
	TTFB     float64     `json:"ttfb"`
	DCL      float64     `json:"dcl"`
	Load     float64     `json:"load"`
	FCP      float64     `json:"fcp"`
	LCP      float64     `json:"lcp"`
	LCPEl    string      `json:"lcpEl"`
	Shifts   [][]float64 `json:"shifts"`
	Tasks    [][]float64 `json:"tasks"`
}

func msToDuration(ms float64) time.Duration {
	if ms <= 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return 0
	}
	return time.Duration(math.Round(ms * 1e6))
}

// emulateNetworkParams are the parameters of
// Network.emulateNetworkConditions: latency in ms, throughputs in bytes/s
// (-1 for unlimited).
type emulateNetworkParams struct {
	Offline            bool    `json:"offline"`
	Latency            float64 `json:"latency"`
	DownloadThroughput float64 `json:"downloadThroughput"`
	UploadThroughput   float64 `json:"uploadThroughput"`
}

// pollInterval is how often a run reads the page's state while it waits
// for a quiet window.
const pollInterval = 100 * time.Millisecond

// maxTracked bounds the requests one run tracks individually.
const maxTracked = 20000

// Measure loads url Options.Runs times, each in a new browser context, and
// returns the report. A run that fails (the page does not load, the run
// times out) is recorded in the report with its error; Measure itself
// returns an error only when the URL is not an http(s) URL, the browser is
// closed, or ctx ends (then with the runs done so far, the interrupted one
// included).
func (b *Browser) Measure(ctx context.Context, rawURL string) (*Report, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("page: URL %q: want an absolute http or https URL", rawURL)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	o := b.opts
	r := &Report{
		Schema: ReportSchema, URL: rawURL, Browser: b.version, StartedAt: time.Now().UTC(),
		Settings: Settings{Runs: o.Runs, CPUSlowdown: o.CPUSlowdown, Network: o.Network, Width: o.Width, Height: o.Height, Timeout: o.Timeout, QuietWindow: o.QuietWindow},
	}
	for i := 1; i <= o.Runs; i++ {
		l := b.load(ctx, rawURL, i)
		r.Runs = append(r.Runs, l)
		if o.OnRun != nil {
			o.OnRun(rawURL, l)
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.FinishedAt = time.Now().UTC()
	r.Summarize()
	if ctx.Err() != nil {
		r.Warnings = append(r.Warnings, fmt.Sprintf("interrupted after %d of %d runs", len(r.Runs), o.Runs))
		return r, fmt.Errorf("page: %w", ctx.Err())
	}
	return r, nil
}

// load performs one run.
func (b *Browser) load(ctx context.Context, rawURL string, index int) (l Load) {
	o := b.opts
	l.Index = index
	rec := newRecorder(newParty(rawURL, o.FirstPartyHosts))
	tab, cancelTab := chromedp.NewContext(b.bctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.on))
	defer cancelTab()
	stop := context.AfterFunc(ctx, cancelTab)
	defer stop()

	fail := func(stage string, err error) Load {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		l.Error = stage + ": " + err.Error()
		rec.fill(&l, 0, time.Now())
		return l
	}
	if err := chromedp.Do(tab); err != nil { // opens the tab; no deadline, or it would close with it
		return fail("open tab", err)
	}
	runCtx, cancelRun := context.WithTimeout(tab, o.Timeout)
	defer cancelRun()
	setup := []chromedp.Action[chromedp.Void]{
		chromedp.EmulateViewport(int64(o.Width), int64(o.Height)),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: observerScript})
			return err
		}),
	}
	if o.CPUSlowdown > 1 {
		setup = append(setup, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: o.CPUSlowdown})
			return err
		}))
	}
	if n := o.Network; n != nil {
		rate := func(v float64) float64 {
			if v <= 0 {
				return -1 // unlimited
			}
			return v
		}
		cond := emulateNetworkParams{Latency: float64(n.Latency) / 1e6, DownloadThroughput: rate(n.Download), UploadThroughput: rate(n.Upload)}
		setup = append(setup, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			// Note: Network.emulateNetworkConditionsByRule (the command
			// cdproto generates) left navigation requests unthrottled in
			// Chromium 156; the deprecated Network.emulateNetworkConditions
			// throttles every request of the tab, so it is sent raw.
			return t.Call(ctx, "Network.emulateNetworkConditions", cond, nil)
		}))
	}
	if err := chromedp.Do(runCtx, setup...); err != nil {
		return fail("set up tab", err)
	}
	if err := chromedp.Do(runCtx, chromedp.Navigate(rawURL)); err != nil {
		l.Error = "load " + rawURL + ": " + errText(ctx, err, o.Timeout)
	}
	st, waitErr := b.waitQuiet(runCtx, rec, &l)
	if l.Error == "" && waitErr != nil {
		if errors.Is(waitErr, context.DeadlineExceeded) && ctx.Err() == nil && st.Load > 0 {
			l.Warnings = append(l.Warnings, fmt.Sprintf("no %v quiet window (no long task, at most 2 requests in flight) before the %v timeout: TTI not measured", o.QuietWindow, o.Timeout))
		} else {
			l.Error = "wait for the page: " + errText(ctx, waitErr, o.Timeout)
		}
	}
	// Read the final state with a fresh deadline: the run's may be spent.
	readCtx, cancelRead := context.WithTimeout(tab, 5*time.Second)
	defer cancelRead()
	if final, err := chromedp.Run(readCtx, chromedp.Evaluate[jsState](readScript)); err == nil && final.Observed {
		st = final
	}
	b.fillTimings(&l, st, rec)
	rec.fill(&l, st.Origin, time.Now())
	return l
}

func errText(ctx context.Context, err error, timeout time.Duration) string {
	switch {
	case ctx.Err() != nil:
		return ctx.Err().Error()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out after %v", timeout)
	}
	return err.Error()
}

// waitQuiet polls the page until TTI is found, or the page has shown
// nothing contentful for a quiet window after its load event, or ctx ends.
func (b *Browser) waitQuiet(ctx context.Context, rec *recorder, l *Load) (jsState, error) {
	window := float64(b.opts.QuietWindow) / 1e6
	var st jsState
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
		next, err := chromedp.Run(ctx, chromedp.Evaluate[jsState](readScript))
		if err != nil {
			return st, err
		}
		st = next
		if !st.Observed {
			return st, errors.New("the page's timing observer did not run (not an HTML document?)")
		}
		if st.Load > 0 && st.FCP > 0 {
			if tti, ok := interactive(st.FCP, st.DCL, tasks(st), rec.spans(st.Origin), st.Now, window); ok {
				l.TTI = msToDuration(tti)
				return st, nil
			}
		}
		if st.Load > 0 && st.FCP == 0 && st.Now-st.Load > window {
			l.Warnings = append(l.Warnings, "no first contentful paint: FCP, LCP and TTI not measured")
			return st, nil
		}
		t.Reset(pollInterval)
	}
}

func tasks(st jsState) []span {
	out := make([]span, 0, len(st.Tasks))
	for _, t := range st.Tasks {
		if len(t) == 2 {
			out = append(out, span{t[0], t[0] + t[1]})
		}
	}
	return out
}

func (b *Browser) fillTimings(l *Load, st jsState, rec *recorder) {
	if !st.Observed {
		return
	}
	l.ResponseStart, l.FCP, l.LCP = msToDuration(st.TTFB), msToDuration(st.FCP), msToDuration(st.LCP)
	if ttfb, ok := rec.documentResponse(st.Origin); ok {
		l.TTFB = msToDuration(ttfb)
	} else if l.ResponseStart > 0 {
		l.TTFB = l.ResponseStart
		l.Warnings = append(l.Warnings, "TTFB is Navigation Timing's responseStart: the document's responseReceived event was not seen")
	}
	l.DOMContentLoaded, l.LoadEvent = msToDuration(st.DCL), msToDuration(st.Load)
	l.LCPElement = st.LCPEl
	if l.FCP > 0 && l.LCP == 0 {
		l.Warnings = append(l.Warnings, "no largest-contentful-paint entry: LCP not measured")
	}
	var shifts []shift
	for _, s := range st.Shifts {
		if len(s) == 3 {
			shifts = append(shifts, shift{start: s[0], value: s[1], hadInput: s[2] != 0})
		}
	}
	l.CLS = layoutShift(shifts)
	ts := tasks(st)
	for _, t := range ts {
		if len(l.LongTasks) == MaxLongTasks {
			break
		}
		l.LongTasks = append(l.LongTasks, Task{Start: msToDuration(t.start), Duration: msToDuration(t.end - t.start)})
	}
	if l.TTI > 0 {
		l.TBT = msToDuration(blockingTime(st.FCP, float64(l.TTI)/1e6, ts))
		l.TBTMeasured = true
	}
}

// recorder collects a tab's network events. Its on method is chromedp's
// listener: it runs on the tab's event loop, so it only records under a
// mutex and never sends commands.
type recorder struct {
	party party

	mu        sync.Mutex
	byID      map[network.RequestID]*reqState
	order     []*reqState
	untracked int // requests beyond maxTracked
	docID     network.RequestID
	docMono   float64
	docWall   float64 // epoch seconds of the document request
	haveDoc   bool
	docResp   float64 // monotonic seconds the document's response reached the page; 0 before
}

type reqState struct {
	url        string
	typ        string
	thirdParty bool
	status     int
	start, end float64 // monotonic seconds; end 0 while in flight
	bytes      float64 // encoded (transfer) bytes
	dataBytes  float64 // sum of dataReceived, for requests that never finish
	failed     string
	done       bool
}

func newRecorder(p party) *recorder {
	return &recorder{party: p, byID: map[network.RequestID]*reqState{}}
}

// resourceType maps a DevTools resource type to a budget resource type.
func resourceType(t network.ResourceType) string {
	switch t {
	case network.ResourceTypeDocument:
		return "document"
	case network.ResourceTypeScript:
		return "script"
	case network.ResourceTypeStylesheet:
		return "stylesheet"
	case network.ResourceTypeImage:
		return "image"
	case network.ResourceTypeFont:
		return "font"
	case network.ResourceTypeMedia:
		return "media"
	}
	return "other"
}

func (r *recorder) on(ev any) {
	defer func() { _ = recover() }() // never let a bad event take down the tab's loop
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Request == nil || !(strings.HasPrefix(e.Request.URL, "http:") || strings.HasPrefix(e.Request.URL, "https:")) {
			return
		}
		ts := e.Timestamp.Float64()
		if prev := r.byID[e.RequestID]; prev != nil && e.RedirectResponse != nil {
			prev.status, prev.bytes, prev.end, prev.done = int(e.RedirectResponse.Status), e.RedirectResponse.EncodedDataLength, ts, true
		}
		if !r.haveDoc && e.Type == network.ResourceTypeDocument && string(e.RequestID) == string(e.LoaderID) {
			r.docID, r.docMono, r.docWall, r.haveDoc = e.RequestID, ts, e.WallTime.Float64(), true
		}
		if len(r.order) >= maxTracked {
			r.untracked++
			return
		}
		s := &reqState{url: e.Request.URL, typ: resourceType(e.Type), thirdParty: r.party.thirdParty(e.Request.URL), start: ts}
		r.byID[e.RequestID] = s
		r.order = append(r.order, s)
	case *network.EventResponseReceived:
		if r.haveDoc && e.RequestID == r.docID && r.docResp == 0 {
			r.docResp = e.Timestamp.Float64()
		}
		if s := r.byID[e.RequestID]; s != nil && e.Response != nil {
			s.status = int(e.Response.Status)
			if e.Type != "" {
				s.typ = resourceType(e.Type)
			}
		}
	case *network.EventDataReceived:
		if s := r.byID[e.RequestID]; s != nil {
			s.dataBytes += float64(e.EncodedDataLength)
		}
	case *network.EventLoadingFinished:
		if s := r.byID[e.RequestID]; s != nil && !s.done {
			s.bytes, s.end, s.done = e.EncodedDataLength, e.Timestamp.Float64(), true
		}
	case *network.EventLoadingFailed:
		if s := r.byID[e.RequestID]; s != nil && !s.done {
			s.failed = e.ErrorText
			if e.Canceled {
				s.failed = "canceled"
			}
			s.bytes, s.end, s.done = s.dataBytes, e.Timestamp.Float64(), true
		}
	}
}

// toPage converts a monotonic timestamp to ms from the page's timeOrigin
// (epoch ms), through the document request's wall-clock time.
func (r *recorder) toPage(mono, origin float64) float64 {
	return (mono-r.docMono+r.docWall)*1000 - origin
}

// documentResponse returns when the document's response headers reached
// the page, in page ms.
func (r *recorder) documentResponse(origin float64) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.haveDoc || r.docResp == 0 || origin == 0 {
		return 0, false
	}
	return r.toPage(r.docResp, origin), true
}

// spans returns the requests as intervals in page ms; in-flight requests
// end at +Inf.
func (r *recorder) spans(origin float64) []span {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.haveDoc || origin == 0 {
		return nil
	}
	out := make([]span, 0, len(r.order))
	for _, s := range r.order {
		sp := span{start: r.toPage(s.start, origin), end: math.Inf(1)}
		if s.done {
			sp.end = r.toPage(s.end, origin)
		}
		out = append(out, sp)
	}
	return out
}

// fill writes the bytes-by-type table and the waterfall into l. origin is
// the page's timeOrigin (epoch ms), 0 when unknown (request times are then
// relative to the document request).
func (r *recorder) fill(l *Load, origin float64, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.Resources = make([]Resource, len(budget.ResourceTypes))
	for i, t := range budget.ResourceTypes {
		l.Resources[i].Type = t
	}
	add := func(typ string, bytes int64) {
		res := l.Resource(typ)
		res.Bytes += bytes
		res.Requests++
	}
	pageMs := func(mono float64) float64 {
		if origin == 0 || !r.haveDoc {
			return (mono - r.docMono) * 1000
		}
		return r.toPage(mono, origin)
	}
	inflight := 0
	l.Requests = l.Requests[:0]
	for _, s := range r.order {
		bytes := s.bytes
		if !s.done {
			bytes = s.dataBytes
			inflight++
		}
		n := int64(math.Round(bytes))
		add(s.typ, n)
		add("total", n)
		if s.thirdParty {
			add("third-party", n)
		}
		if len(l.Requests) == MaxRequests {
			l.RequestsDropped++
			continue
		}
		q := Request{URL: truncate(s.url, 300), Type: s.typ, ThirdParty: s.thirdParty, Status: s.status,
			Start: msToDuration(math.Max(pageMs(s.start), 1e-6)), Bytes: n, Failed: s.failed}
		if s.done {
			q.End = msToDuration(math.Max(pageMs(s.end), 1e-6))
		}
		l.Requests = append(l.Requests, q)
	}
	if inflight > 0 {
		l.Warnings = append(l.Warnings, fmt.Sprintf("%d requests still in flight when the run ended; their bytes so far are counted", inflight))
	}
	if r.untracked > 0 {
		l.Warnings = append(l.Warnings, fmt.Sprintf("%d requests beyond the first %d were not measured", r.untracked, maxTracked))
	}
	slices.SortStableFunc(l.Requests, func(a, b Request) int { return cmp.Compare(a.Start, b.Start) })
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
