package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/perfagent/perfagent/results"
	"github.com/perfagent/perfagent/snapshot"
)

// Schema is the value of [History.Schema] for files this version writes:
// the metrics-history schema the agent writes too ([snapshot.HistorySchema]).
// [ReadHistory] also reads the monitor's files of earlier versions, whose
// schema had the "perfagent.monitor/v1" prefix.
const Schema = snapshot.HistorySchema

// legacySchema prefixes the schema of the monitor's files of earlier
// versions (their own document, with "samples" in the monitor's keys).
const legacySchema = "perfagent.monitor/v1"

// Statuses of a [History].
const (
	StatusRunning     = "running"     // a checkpoint written while the run goes on
	StatusComplete    = "complete"    // the duration elapsed
	StatusStopped     = "stopped"     // a run without a duration was stopped (Ctrl-C): its normal end
	StatusInterrupted = "interrupted" // stopped before the duration elapsed: partial
	StatusTargetGone  = "target-gone" // the target exited: partial
)

// History is a monitoring run: what was watched, the samples (bounded in
// number however long the run), summary statistics, threshold breaches,
// heap captures and the system figures budgets check. It is what
// metrics-history-<ts>.json holds, and what the Markdown report renders.
//
// Its JSON is a document of the metrics-history schema the agent writes
// ([snapshot.HistoryFile]: schema, source "monitor", from, to, snapshots),
// so snapshot.ReadHistoryFile reads it: each sample is a snapshot holding
// only the fields the monitor measured (see [Sample.MarshalJSON]). The run's
// own account (target, status, summary keyed by [Series.Key], thresholds,
// breaches, ...) is in further top-level fields. Fields are only ever
// added.
type History struct {
	Schema string `json:"schema"`
	// Source is snapshot.SourceMonitor.
	Source string `json:"source"`
	// From and To are the times of the first and last sample (zero when
	// there are none), as in every metrics-history document; they are
	// computed from Samples when the history is written.
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Target Target    `json:"target"`
	// StartedAt is when the run began; FinishedAt when the last reading
	// was taken (the checkpoint's time while Status is running).
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// IntervalSeconds is the sampling interval; DurationSeconds the
	// requested run length (0: until stopped).
	IntervalSeconds float64 `json:"interval_seconds"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	// Status is one of the Status constants; Partial is true for
	// StatusInterrupted and StatusTargetGone, and End says why the run
	// ended in words.
	Status  string `json:"status"`
	Partial bool   `json:"partial,omitempty"`
	End     string `json:"end,omitempty"`
	// Readings counts successful reads of the target; Failures the failed
	// ones (the run goes on after a failed read).
	Readings int      `json:"readings"`
	Failures Failures `json:"failures"`
	// CounterResets counts intervals whose counters went down (the target
	// restarted); those intervals have no CPU, GC or scheduler values.
	CounterResets int `json:"counter_resets,omitempty"`
	// MaxSamples bounds len(Samples). When the bound is reached, neighbours
	// are merged pairwise (weighted means) and later points each stand for
	// twice as many readings; Downsampled counts those halvings, so every
	// point stands for up to 2^Downsampled readings.
	MaxSamples  int `json:"max_samples"`
	Downsampled int `json:"downsampled,omitempty"`
	// Origins names, per series key, the metric or /proc file the values
	// came from.
	Origins map[string]string `json:"origins,omitempty"`
	// Thresholds are the limits the run watched.
	Thresholds []Threshold `json:"thresholds,omitempty"`
	// Summary holds per series key the statistics of the run (see
	// [Summary]).
	Summary map[string]Summary `json:"summary"`
	// System holds the figures the system budgets check.
	System System `json:"system"`
	// Breaches lists threshold breaches in the order they began, at most
	// [MaxBreaches]; BreachesDropped counts those left out.
	Breaches        []Breach `json:"breaches,omitempty"`
	BreachesDropped int      `json:"breaches_dropped,omitempty"`
	// Captures lists the heap captures the breaches triggered.
	Captures []Capture `json:"captures,omitempty"`
	// Warnings are findings a reader of the numbers needs (captures off,
	// downsampling, failed checkpoints), each once.
	Warnings []string `json:"warnings,omitempty"`
	// Samples are the points in time order: the document's "snapshots".
	Samples []Sample `json:"snapshots"`
}

// Failures counts failed reads of the target.
type Failures struct {
	Count     int       `json:"count"`
	First     time.Time `json:"first,omitzero"`
	Last      time.Time `json:"last,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Summary is the statistics of one series over a run. N, Min, Mean, Max and
// Last are exact over every reading. P50 and P95 are order statistics of
// the retained samples: exact until the history is downsampled, then
// percentiles of points that each average 2^k readings (the report says
// so).
type Summary struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	Max  float64 `json:"max"`
	Last float64 `json:"last"`
}

// System holds the figures of the seed's system targets, measured on the
// monitored process:
//
//   - RSSBaseline: the median RSS over the baseline window, the first
//     BaselineWindowSeconds of the run (default 30 s; the whole run when
//     shorter). Start the monitor against an idle target for a baseline.
//   - RSSPeak: the largest RSS read, or the kernel's high-water mark
//     (VmHWM, process targets) when that is larger: VmHWM also catches peaks
//     between samples, over the process's whole life (RSSPeakSource says
//     which).
//   - CPUIdle: the mean CPU use, in cores (a fraction of one core), over
//     the intervals inside the baseline window: the idle CPU when the
//     target was idle then.
//   - SchedLagP99: the scheduler-latency p99 over every interval of the
//     run, from the sum of the intervals' histogram deltas (interpolated
//     inside a bucket, as Prometheus' histogram_quantile).
//
// A figure the target does not expose is nil.
type System struct {
	BaselineWindowSeconds float64  `json:"baseline_window_seconds"`
	BaselineReadings      int      `json:"baseline_readings"`
	RSSBaseline           *float64 `json:"rss_baseline_bytes,omitempty"`
	RSSPeak               *float64 `json:"rss_peak_bytes,omitempty"`
	RSSPeakSource         string   `json:"rss_peak_source,omitempty"`
	CPUIdle               *float64 `json:"cpu_idle_fraction,omitempty"`
	SchedLagP99           *float64 `json:"sched_lag_p99_seconds,omitempty"`
}

// Threshold is a limit on a series: a reading above Max is a breach.
type Threshold struct {
	Series Series  `json:"series"`
	Max    float64 `json:"max"`
}

// String renders the threshold as "RSS > 512MiB".
func (t Threshold) String() string { return t.Series.String() + " > " + t.Series.Format(t.Max) }

// Breach is one episode of a series above its threshold: consecutive
// readings over the limit.
type Breach struct {
	Series    Series  `json:"series"`
	Threshold float64 `json:"threshold"`
	// Start and End are the first and last readings over the limit.
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Readings int       `json:"readings"`
	Peak     float64   `json:"peak"`
	// Open is true when the series was still over the limit at the last
	// reading.
	Open bool `json:"open,omitempty"`
}

// Capture is one heap capture the monitor asked the target for.
type Capture struct {
	Time time.Time `json:"time"`
	// Reason names the breach that triggered it ("RSS 600MiB > 512MiB").
	Reason string `json:"reason"`
	// Path is the file the target wrote (on the target's machine).
	Path  string `json:"path,omitempty"`
	Error string `json:"error,omitempty"`
}

// Bounds of a history's lists.
const (
	// MaxBreaches bounds [History.Breaches].
	MaxBreaches = 1000
	// maxWarnings bounds History.Warnings.
	maxWarnings = 100
	// maxBaseline bounds the RSS readings kept for the baseline median.
	maxBaseline = 4096
)

// Series returns the values of series s over the samples with their times
// in seconds since StartedAt, skipping samples without a value.
func (h *History) Series(s Series) (secs, values []float64) {
	for i := range h.Samples {
		if v, ok := h.Samples[i].Get(s); ok {
			secs = append(secs, h.Samples[i].Time.Sub(h.StartedAt).Seconds())
			values = append(values, v)
		}
	}
	return secs, values
}

// Present returns the series that have at least one value, in Series
// order.
func (h *History) Present() []Series {
	var out []Series
	for s := Series(0); s < NumSeries; s++ {
		if sm, ok := h.Summary[s.Key()]; ok && sm.N > 0 {
			out = append(out, s)
		}
	}
	return out
}

// Duration is the time the run covered.
func (h *History) Duration() time.Duration {
	if h.FinishedAt.Before(h.StartedAt) {
		return 0
	}
	return h.FinishedAt.Sub(h.StartedAt)
}

// MarshalJSON writes h as a metrics-history document (see [History]).
func (h History) MarshalJSON() ([]byte, error) {
	type plain History // without this method
	heap := heapLiveField
	if o := h.Origins[Heap.Key()]; o != "" && o != "perfagent_go_memory_heap_live_bytes" {
		heap = heapInUseField
	}
	snaps := make([]json.RawMessage, len(h.Samples))
	for i := range h.Samples {
		snaps[i] = h.Samples[i].appendJSON(nil, heap)
	}
	doc := struct {
		plain
		Snapshots []json.RawMessage `json:"snapshots"` // shadows plain's
	}{plain(h), snaps}
	doc.Schema, doc.Source = Schema, snapshot.SourceMonitor
	doc.From, doc.To = time.Time{}, time.Time{}
	if n := len(h.Samples); n > 0 {
		doc.From, doc.To = h.Samples[0].Time.UTC(), h.Samples[n-1].Time.UTC()
	}
	return json.Marshal(doc)
}

// WriteJSON writes h as indented JSON.
func (h *History) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(h)
}

// maxHistoryBytes bounds what ReadHistory reads.
const maxHistoryBytes = 256 << 20

// ReadHistory reads a monitoring run's history: a metrics-history document
// written by [History.WriteJSON], or a "perfagent.monitor/v1" file of an
// earlier version (returned as this version's: Schema is [Schema]). name
// is used in errors. It rejects other schemas and an agent's metrics
// history (which has no run to report) with an error naming the file and
// the schema, unknown series in thresholds and breaches, and samples out of
// time order.
func ReadHistory(r io.Reader, name string) (*History, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxHistoryBytes+1))
	if err != nil {
		return nil, fmt.Errorf("monitor: read %s: %w", name, err)
	}
	if len(data) > maxHistoryBytes {
		return nil, fmt.Errorf("monitor: read %s: larger than %d bytes", name, maxHistoryBytes)
	}
	var h History
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("monitor: read %s: %w", name, err)
	}
	switch {
	case h.Schema == Schema && h.Source == snapshot.SourceMonitor:
	case h.Schema == Schema:
		return nil, fmt.Errorf("monitor: read %s: schema %s with source %q is an agent's metrics history, not a monitoring run (source %q)",
			name, h.Schema, h.Source, snapshot.SourceMonitor)
	case strings.HasPrefix(h.Schema, legacySchema):
		var old struct {
			Samples []Sample `json:"samples"`
		}
		if err := json.Unmarshal(data, &old); err != nil {
			return nil, fmt.Errorf("monitor: read %s (schema %s): %w", name, h.Schema, err)
		}
		h.Samples = old.Samples
		h.Schema, h.Source = Schema, snapshot.SourceMonitor
	default:
		return nil, fmt.Errorf("monitor: read %s: schema %q is neither %s nor %s", name, h.Schema, Schema, legacySchema)
	}
	for i := 1; i < len(h.Samples); i++ {
		if h.Samples[i].Time.Before(h.Samples[i-1].Time) {
			return nil, fmt.Errorf("monitor: read %s: samples[%d] is earlier than samples[%d]", name, i, i-1)
		}
	}
	for i, t := range h.Thresholds {
		if !(t.Max > 0) || math.IsInf(t.Max, 0) {
			return nil, fmt.Errorf("monitor: read %s: thresholds[%d]: max must be positive and finite", name, i)
		}
	}
	if n := len(h.Samples); n > 0 {
		h.From, h.To = h.Samples[0].Time.UTC(), h.Samples[n-1].Time.UTC()
	} else {
		h.From, h.To = time.Time{}, time.Time{}
	}
	return &h, nil
}

// stat accumulates exact statistics of one series.
type stat struct {
	n                   int
	sum, min, max, last float64
	baselineSum         float64
	baselineN           int
}

func (st *stat) add(v float64) {
	if st.n == 0 || v < st.min {
		st.min = v
	}
	if st.n == 0 || v > st.max {
		st.max = v
	}
	st.n++
	st.sum += v
	st.last = v
}

// recorder is the mutable state of a run; snapshot turns it into a
// History. It is used by one goroutine.
type recorder struct {
	h          History // header fields; Samples, Summary, System filled by snapshot
	d          deriver
	window     time.Duration
	samples    []Sample // capacity MaxSamples, never grown
	pending    Sample   // readings merged towards the next point after a halving
	stats      [NumSeries]stat
	baseRSS    []float64
	baseN      int
	hwm        float64
	open       []int // per threshold: index of its open breach, -1 none, -2 dropped
	warned     map[string]bool
	thresholds []Threshold
}

func newRecorder(t Target, start time.Time, o *Options) *recorder {
	rc := &recorder{
		window:     o.BaselineWindow,
		samples:    make([]Sample, 0, o.MaxSamples),
		open:       make([]int, len(o.Thresholds)),
		warned:     map[string]bool{},
		thresholds: slices.Clone(o.Thresholds),
	}
	for i := range rc.open {
		rc.open[i] = -1
	}
	rc.h = History{
		Schema: Schema, Source: snapshot.SourceMonitor, Target: t, StartedAt: start.UTC(), FinishedAt: start.UTC(),
		IntervalSeconds: o.Interval.Seconds(), DurationSeconds: o.Duration.Seconds(),
		Status: StatusRunning, MaxSamples: o.MaxSamples, Origins: map[string]string{},
		Thresholds: slices.Clone(o.Thresholds),
	}
	return rc
}

// warn records a warning once and reports whether it was new.
func (rc *recorder) warn(msg string) bool {
	if rc.warned[msg] || len(rc.h.Warnings) >= maxWarnings {
		return false
	}
	rc.warned[msg] = true
	rc.h.Warnings = append(rc.h.Warnings, msg)
	return true
}

// fail records a failed read.
func (rc *recorder) fail(at time.Time, err error) {
	f := &rc.h.Failures
	if f.Count == 0 {
		f.First = at.UTC()
	}
	f.Count++
	f.Last = at.UTC()
	f.LastError = err.Error()
}

// record derives the sample of reading r, records it and returns the
// thresholds it breaches (as "RSS 600MiB > 512MiB") for the capture
// decision.
func (rc *recorder) record(r *Reading) []string {
	s := rc.d.derive(r)
	rc.h.CounterResets = rc.d.resets
	return rc.add(r, s)
}

// add records one sample derived from reading r.
func (rc *recorder) add(r *Reading, s Sample) []string {
	s.Time = s.Time.UTC()
	rc.h.Readings++
	rc.h.FinishedAt = s.Time
	for x := Series(0); x < NumSeries; x++ {
		if r.Origins[x] != "" {
			if _, ok := rc.h.Origins[x.Key()]; !ok {
				rc.h.Origins[x.Key()] = r.Origins[x]
			}
		}
		if v, ok := s.Get(x); ok {
			rc.stats[x].add(v)
		}
	}
	if r.RSSPeak > rc.hwm {
		rc.hwm = r.RSSPeak
	}
	if s.Time.Sub(rc.h.StartedAt) <= rc.window {
		rc.baseN++
		if v, ok := s.Get(RSS); ok && len(rc.baseRSS) < maxBaseline {
			rc.baseRSS = append(rc.baseRSS, v)
		}
		if v, ok := s.Get(CPU); ok {
			rc.stats[CPU].baselineSum += v
			rc.stats[CPU].baselineN++
		}
	}
	rc.push(s)
	return rc.checkThresholds(&s)
}

// push appends s to the bounded samples, halving their resolution when
// full.
func (rc *recorder) push(s Sample) {
	if rc.h.Downsampled == 0 && len(rc.samples) < cap(rc.samples) {
		rc.samples = append(rc.samples, s)
		return
	}
	if rc.pending.N == 0 {
		rc.pending = s
	} else {
		rc.pending.merge(&s)
	}
	if rc.pending.N < 1<<rc.h.Downsampled {
		return
	}
	if len(rc.samples) == cap(rc.samples) {
		rc.halve()
		if rc.pending.N < 1<<rc.h.Downsampled {
			return
		}
	}
	rc.samples = append(rc.samples, rc.pending)
	rc.pending = Sample{}
}

// halve merges neighbouring samples pairwise.
func (rc *recorder) halve() {
	n := len(rc.samples) / 2
	for i := range n {
		a := rc.samples[2*i]
		a.merge(&rc.samples[2*i+1])
		rc.samples[i] = a
	}
	if len(rc.samples)%2 == 1 {
		rc.samples[n] = rc.samples[len(rc.samples)-1]
		n++
	}
	clear(rc.samples[n:])
	rc.samples = rc.samples[:n]
	rc.h.Downsampled++
	if rc.h.Downsampled == 1 {
		rc.warn(fmt.Sprintf("the history reached %d samples and was downsampled: points merge neighbouring readings (weighted means); min, mean, max and last stay exact", cap(rc.samples)))
	}
}

// checkThresholds updates the breach episodes with s.
func (rc *recorder) checkThresholds(s *Sample) []string {
	var over []string
	for i, t := range rc.thresholds {
		v, ok := s.Get(t.Series)
		if !ok {
			continue // no value this time: the episode neither grows nor ends
		}
		if v <= t.Max {
			if rc.open[i] >= 0 {
				rc.h.Breaches[rc.open[i]].Open = false
			}
			rc.open[i] = -1
			continue
		}
		over = append(over, t.Series.String()+" "+t.Series.Format(v)+" > "+t.Series.Format(t.Max))
		switch j := rc.open[i]; {
		case j >= 0:
			b := &rc.h.Breaches[j]
			b.End = s.Time
			b.Readings++
			b.Peak = max(b.Peak, v)
		case j == -2:
			// an episode past MaxBreaches, counted when it began
		case len(rc.h.Breaches) >= MaxBreaches:
			rc.h.BreachesDropped++
			rc.open[i] = -2
		default:
			rc.h.Breaches = append(rc.h.Breaches, Breach{Series: t.Series, Threshold: t.Max, Start: s.Time, End: s.Time,
				Readings: 1, Peak: v, Open: true})
			rc.open[i] = len(rc.h.Breaches) - 1
		}
	}
	return over
}

// snapshot returns the history so far with the given status. The result
// shares nothing with the recorder.
func (rc *recorder) snapshot(status, end string) *History {
	h := rc.h
	h.Status, h.End = status, end
	h.Partial = status == StatusInterrupted || status == StatusTargetGone
	h.Origins = cloneMap(rc.h.Origins)
	h.Thresholds = slices.Clone(rc.h.Thresholds)
	h.Breaches = slices.Clone(rc.h.Breaches)
	h.Captures = slices.Clone(rc.h.Captures)
	h.Warnings = slices.Clone(rc.h.Warnings)
	h.Samples = make([]Sample, len(rc.samples), len(rc.samples)+1)
	copy(h.Samples, rc.samples)
	if rc.pending.N > 0 {
		h.Samples = append(h.Samples, rc.pending)
	}
	if n := len(h.Samples); n > 0 {
		h.From, h.To = h.Samples[0].Time, h.Samples[n-1].Time
	}
	h.Summary = map[string]Summary{}
	vals := make([]float64, 0, len(h.Samples))
	for x := Series(0); x < NumSeries; x++ {
		st := &rc.stats[x]
		if st.n == 0 {
			continue
		}
		vals = vals[:0]
		for i := range h.Samples {
			if v, ok := h.Samples[i].Get(x); ok {
				vals = append(vals, v)
			}
		}
		h.Summary[x.Key()] = Summary{N: st.n, Min: st.min, Mean: st.sum / float64(st.n),
			P50: results.Quantile(vals, 0.5), P95: results.Quantile(vals, 0.95), Max: st.max, Last: st.last}
	}
	h.System = rc.system()
	return &h
}

// system computes the system figures.
func (rc *recorder) system() System {
	sys := System{BaselineWindowSeconds: rc.window.Seconds(), BaselineReadings: rc.baseN}
	if v, ok := rc.d.runSchedP99(); ok {
		sys.SchedLagP99 = &v
	}
	if len(rc.baseRSS) > 0 {
		v := results.Quantile(rc.baseRSS, 0.5)
		sys.RSSBaseline = &v
	}
	if st := rc.stats[RSS]; st.n > 0 || rc.hwm > 0 {
		v, src := st.max, "samples"
		if rc.hwm > v {
			v, src = rc.hwm, "VmHWM"
		}
		sys.RSSPeak, sys.RSSPeakSource = &v, src
	}
	if st := rc.stats[CPU]; st.baselineN > 0 {
		v := st.baselineSum / float64(st.baselineN)
		sys.CPUIdle = &v
	}
	return sys
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
