// Package page measures page loads in a real browser: transfer bytes and
// request counts by resource type, TTFB, FCP, LCP, CLS, TTI and TBT, over
// several runs, with medians and spread. Headless Chromium is driven over
// the DevTools protocol (github.com/chromedp/chromedp). Results go into
// [results.Run] as one Kind "page" result per URL ([Report.Result]), which
// package budget checks against page budgets (perfagent's budgets file or
// Lighthouse's budget.json).
//
// # Usage
//
//	report, err := page.Run(ctx, "https://example.com/", page.Options{Runs: 5})
//	if errors.Is(err, page.ErrNoBrowser) { ... } // usage error: exit 2
//	result, err := report.Result()              // a results.Benchmark of Kind "page"
//	page.RenderSVG(w, report)                    // bytes-by-type chart and waterfall (package results/pageload)
//
// [Launch] starts one browser for several URLs; [Browser.Measure] measures
// one URL with it; [Browser.Close] stops it. Measure calls on one Browser
// run one at a time; a Browser is safe to share between goroutines.
//
// # Browser
//
// [FindChrome] picks the binary: Options.ChromePath (the CLI's --chrome),
// else $CHROME_PATH, else /usr/lib/chromium/chromium, /usr/bin/chromium,
// Google Chrome's usual paths, else chromium or google-chrome on $PATH.
// Without one the error wraps [ErrNoBrowser] and says to run
// `apt-get install -y chromium`. The browser runs headless with a fresh
// --user-data-dir in a temporary directory that Close deletes, with
// --disable-gpu, --no-first-run, --disable-background-networking,
// --disable-component-update, --disable-sync and chromedp's other
// automation defaults, and with --no-sandbox when running as root (Chromium
// refuses to start as root otherwise).
//
// # Runs
//
// Each run opens a new browser context (an incognito-like partition with
// its own HTTP cache, cookies, storage and connections: a cold cache every
// run), emulates a Width x Height viewport, applies the optional CPU
// throttling (Emulation.setCPUThrottlingRate) and network emulation
// (Network.emulateNetworkConditions: latency and throughput for every
// request), navigates, then watches the page until TTI is found (below) or
// Options.Timeout passes. A run that fails (connection refused, DNS error,
// timeout) is reported with its error and what it measured; the other runs
// go on.
//
// # Metrics and how they are measured
//
// Times are from navigation start (the document's performance.timeOrigin).
//
//   - Bytes and requests by type come from DevTools network events: each
//     request's Network.loadingFinished encodedDataLength (response headers
//     plus body as transferred; redirect hops count their own response),
//     typed by the request's resource type: document, script, stylesheet,
//     image, font, media, other (XHR, fetch, favicon, ...). third-party
//     counts requests to another site than the page's (registrable domain
//     from the public suffix list; the whole host name for IP addresses and
//     localhost) minus Options.FirstPartyHosts; total counts every http(s)
//     request. Requests from cross-site iframes (out-of-process frames) and
//     service workers are not seen.
//   - TTFB: when the document's response headers reached the page
//     (Network.responseReceived), which includes emulated latency; the
//     Navigation Timing responseStart is kept beside it.
//   - FCP: the first-contentful-paint paint timing entry.
//   - LCP: the last largest-contentful-paint entry when the run ends, so
//     content rendered after the run's quiet window is not seen.
//   - CLS: the largest session window (gaps under 1 s, at most 5 s) of
//     layout shifts without recent input.
//   - TTI approximates Lighthouse's: long tasks (over 50 ms, from a
//     PerformanceObserver on the main frame) define CPU quiet periods, and
//     in-flight requests (at most two) define network quiet periods; TTI is
//     the start of the first CPU quiet period that overlaps a network quiet
//     period for Options.QuietWindow (5 s by default), both ending after FCP
//     plus the window, and no earlier than FCP and DOMContentLoaded. Limits:
//     long tasks of iframes and workers are not seen, the observer starts
//     with the document (tasks before it are missed), and each run lasts at
//     least the quiet window after FCP. When no window appears before the
//     timeout, TTI and TBT are not measured.
//   - TBT: for each long task between FCP and TTI, its time beyond 50 ms.
//
// The observers run in the page's main world, injected before its scripts
// (Page.addScriptToEvaluateOnNewDocument); a page that replaces
// PerformanceObserver first can hide entries.
//
// # Results
//
// [Report.Result] gives one [results.Benchmark] per URL: Samples are the
// per-run load-event times (the one timing every successful run has),
// Metrics the medians of ttfb-ns, fcp-ns, lcp-ns, tti-ns, tbt-ns, cls,
// load-ns, bytes-<type> and requests-<type>, and Detail the [Report] as JSON
// (per-run numbers, the bytes-by-type table, the waterfall, long tasks and
// the spread of each metric); [DecodeDetail] reads it back for reports.
package page
