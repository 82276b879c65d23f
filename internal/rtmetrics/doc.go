// Package rtmetrics turns [rtsample] readings into OpenTelemetry metric data
// under the semantic conventions for Go runtime and process metrics.
//
// A [Producer] is an sdkmetric.Producer: every reader that collects (a
// Prometheus scrape, an OTLP export) calls Produce, which reads the runtime
// and the process once through the shared rtsample.Reader and builds the
// data points directly. Going around the SDK's instruments is what makes a
// collection cheap and what lets the runtime's cumulative histograms be
// exported as histograms at all: the OTel API has no asynchronous histogram.
//
// # Histograms
//
// The runtime's scheduler-latency and GC-pause histograms have about 160
// buckets each. By default they are re-bucketed to [DefaultBoundaries]
// (16 boundaries from 1µs to 10s): each runtime bucket [a, b) is added to
// the first boundary ≥ b, so a bucket's count never includes a value above
// its bound, and the runtime's buckets (at most 25% wide) make the error of
// the placement small. With [HistogramExponential] they are exported as
// base-2 exponential histograms at scale 2 (four buckets per power of two,
// matching the runtime's own sub-buckets), which Prometheus ingests as
// native histograms and OTLP carries losslessly.
//
// The runtime does not record sums. Sum is estimated as Σ count × midpoint of
// each runtime bucket (the lower bound for the overflow bucket); since the
// runtime's buckets are at most 25% wide the estimate is within about 12%
// of the true sum, usually much closer.
//
// # Temporality
//
// Each Producer serves one reader and follows that reader's temporality
// selector: delta for counters and histograms when the exporter asks for it,
// cumulative otherwise. A Producer is safe for concurrent use; concurrent
// Produce calls are serialised.
package rtmetrics
