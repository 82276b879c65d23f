package load

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// ShardFormat identifies the shard result format; [MergeShards] refuses
// any other.
const ShardFormat = "perfagent-load-shard/1"

// HistogramEncoding names the encoding of every histogram of a
// [ShardResult].
const HistogramEncoding = "HdrHistogram V2 compressed, base64"

// ShardInfo describes the shard a [Report] measured.
type ShardInfo struct {
	Index int `json:"index"`
	Count int `json:"count"`
	// Workers are this shard's users (closed model) or connections (open
	// model), its share of Load.Concurrency.
	Workers int `json:"workers"`
	// StartAt is the shared start of the measured phase, zero when none
	// was given; StartLate how much later than StartAt this shard was
	// ready to send.
	StartAt   time.Time     `json:"start_at,omitzero"`
	StartLate time.Duration `json:"start_late_ns"`
}

// MergeInfo describes the shards a merged [Report] was built from.
type MergeInfo struct {
	// Shards is the number of shards the run was split into; Merged the
	// indices of the shards merged, Missing those absent (the report is
	// then partial).
	Shards  int   `json:"shards"`
	Merged  []int `json:"merged"`
	Missing []int `json:"missing,omitempty"`
	// StartLate is the latest of the shards' late starts.
	StartLate time.Duration `json:"start_late_ns"`
}

// HistogramSettings are the geometry of a [ShardResult]'s histograms:
// values Lowest to Highest (nanoseconds) with Digits significant digits
// for request latency and service time, CoarseDigits for phases, status
// classes, series and send lag.
type HistogramSettings struct {
	Encoding     string `json:"encoding"`
	Lowest       int64  `json:"lowest"`
	Highest      int64  `json:"highest"`
	Digits       int    `json:"digits"`
	CoarseDigits int    `json:"coarse_digits"`
}

// CurrentHistogramSettings returns the histogram settings of this build.
func CurrentHistogramSettings() HistogramSettings {
	return HistogramSettings{Encoding: HistogramEncoding, Lowest: 1, Highest: histMax, Digits: histDigits, CoarseDigits: coarseDigits}
}

// ShardResult is one shard's lossless result: its counters and every
// histogram it recorded (per endpoint, per status class, per round and
// per second of the series) in the HdrHistogram library's own encoding,
// with the scenario it ran, the scenario's hash and the histogram
// settings. [MergeShards] merges the shards of a run exactly. It is plain
// data; its JSON encoding is the shard result file.
type ShardResult struct {
	Format string `json:"format"`
	// Version is the perfagent version that wrote the file.
	Version string `json:"version"`
	// ScenarioHash identifies the scenario and the run's settings (load,
	// rounds, timeout, lateness threshold, engine, seed): the shards of one
	// run share it.
	ScenarioHash string            `json:"scenario_hash"`
	Histograms   HistogramSettings `json:"histograms"`
	Shard        int               `json:"shard"`
	Shards       int               `json:"shards"`
	StartAt      time.Time         `json:"start_at,omitzero"`
	StartLate    time.Duration     `json:"start_late_ns"`
	// Scenario is the scenario as run (JSON).
	Scenario json.RawMessage `json:"scenario"`
	Run      ShardRun        `json:"run"`

	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Partial    bool          `json:"partial,omitempty"`
	Warnings   []string      `json:"warnings,omitempty"`
	Rounds     []Round       `json:"rounds"`
	// SeriesInterval is the length of the series' points (1 s, doubled
	// when a long run would pass 3600 points); points start at multiples
	// of it in Unix time.
	SeriesInterval time.Duration   `json:"series_interval_ns"`
	Endpoints      []ShardEndpoint `json:"endpoints"`
	Setup          []ShardEndpoint `json:"setup,omitempty"`
	Open           *ShardOpen      `json:"open,omitempty"`
	Refreshes      int64           `json:"refreshes"`
	RefreshErrors  []string        `json:"refresh_errors,omitempty"`

	name string // where it was read from, for errors
}

// ShardRun are the settings a shard ran with.
type ShardRun struct {
	// Load is the whole run's effective load (not the shard's share).
	Load      Load          `json:"load"`
	Rounds    int           `json:"rounds"`
	Timeout   time.Duration `json:"timeout_ns"`
	LateAfter time.Duration `json:"late_after_ns"`
	Engine    Engine        `json:"engine_option,omitempty"`
	Seed      uint64        `json:"seed,omitempty"`
	Protocol  string        `json:"protocol"`
	// Client is the HTTP client used ("lean-http1" or "net/http").
	Client  string `json:"client"`
	Workers int    `json:"workers"`
}

// ShardCounts are one endpoint's counters in a shard.
type ShardCounts struct {
	Requests      int64            `json:"requests"`
	Canceled      int64            `json:"canceled,omitempty"`
	Errors        int64            `json:"errors"`
	Timeouts      int64            `json:"timeouts"`
	ClientErrors  int64            `json:"client_errors"`
	Reauth        int64            `json:"reauth,omitempty"`
	Late          int64            `json:"late,omitempty"`
	GeneratorLate int64            `json:"generator_late,omitempty"`
	BytesIn       int64            `json:"bytes_in"`
	BytesOut      int64            `json:"bytes_out"`
	WireIn        int64            `json:"wire_in,omitempty"`
	WireOut       int64            `json:"wire_out,omitempty"`
	Status        map[string]int64 `json:"status,omitempty"`
	ErrorKinds    map[string]int64 `json:"error_kinds,omitempty"`
}

// ShardEndpoint is one endpoint's (or setup step's) data in a shard.
// Histograms are encoded as [HistogramSettings] say; an empty string is
// an empty histogram.
type ShardEndpoint struct {
	Name    string      `json:"name"`
	Counts  ShardCounts `json:"counts"`
	Latency string      `json:"latency"`
	Service string      `json:"service,omitempty"`
	// Phases by name (dns, connect, tls, ttfb, body); StatusClasses the
	// latencies by status class (1xx to 5xx, "none" for timeouts).
	Phases        map[string]string `json:"phases,omitempty"`
	StatusClasses map[string]string `json:"status_classes,omitempty"`
	ErrorSamples  []string          `json:"error_samples,omitempty"`
	Rounds        []ShardRound      `json:"rounds,omitempty"`
	Series        []ShardPoint      `json:"series,omitempty"`
}

// ShardRound is one endpoint's figures over one round of a shard.
type ShardRound struct {
	Requests     int64  `json:"requests"`
	Errors       int64  `json:"errors"`
	Timeouts     int64  `json:"timeouts"`
	ClientErrors int64  `json:"client_errors"`
	Latency      string `json:"latency,omitempty"`
}

// ShardPoint is one interval of a shard's series, starting at Unix second
// Second and lasting D seconds (less for the first and last).
type ShardPoint struct {
	Second   int64   `json:"unix_s"`
	D        float64 `json:"d_s"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Timeouts int64   `json:"timeouts"`
	Latency  string  `json:"latency,omitempty"`
}

// ShardOpen is a shard's open-model arrival process.
type ShardOpen struct {
	// Intended counts this shard's requests due before it stopped;
	// Dispatched those sent; Waited those that waited for a connection
	// (or for a late start).
	Intended   int64 `json:"intended"`
	Dispatched int64 `json:"dispatched"`
	Waited     int64 `json:"waited"`
	// Achieved is Dispatched per second of the sending window.
	Achieved float64 `json:"achieved_rate"`
	// End is the sending window's end from the start.
	End     time.Duration `json:"end_ns"`
	SendLag string        `json:"send_lag"`
	// GeneratorLag is the send lag of the requests sent with a connection
	// free ([OpenReport].GeneratorLag).
	GeneratorLag string `json:"generator_lag,omitempty"`
	// Behind is the shard's longest stretch behind its schedule
	// ([OpenReport].Behind); a merge takes the longest.
	Behind time.Duration `json:"behind_longest_ns,omitempty"`
}

// keep reports whether the run keeps the lossless data of a shard result.
func (e *engine) keep() bool { return e.shard.Count > 0 }

// secPoint is one interval of a shard's lossless series.
type secPoint struct {
	sec  int64
	d    float64
	iv   intervalCounts
	hist string
}

// pushSec records an endpoint's series interval starting at from.
func (e *engine) pushSec(i int, from time.Time, d float64, iv intervalCounts, h *hdrhistogram.Histogram) {
	p := secPoint{sec: from.Unix(), d: d, iv: iv}
	if h.TotalCount() > 0 {
		p.hist = encodeHist(h)
	}
	e.secs[i] = append(e.secs[i], p)
	if len(e.secs[i]) > maxSeriesPoints {
		e.secs[i] = compactSecs(e.secs[i], e.secStep[i]*2)
		e.secStep[i] *= 2
	}
}

// compactSecs regroups points into intervals of step seconds aligned on
// multiples of step in Unix time, merging their histograms exactly.
func compactSecs(pts []secPoint, step int64) []secPoint {
	var out []secPoint
	for _, p := range pts {
		k := floorDiv(p.sec, step) * step
		if n := len(out); n > 0 && out[n-1].sec == k {
			q := &out[n-1]
			q.d += p.d
			q.iv.requests += p.iv.requests
			q.iv.errors += p.iv.errors
			q.iv.timeouts += p.iv.timeouts
			q.hist = mergeEncoded(q.hist, p.hist)
			continue
		}
		p.sec = k
		out = append(out, p)
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// mergeEncoded merges two encoded coarse histograms.
func mergeEncoded(a, b string) string {
	switch {
	case b == "":
		return a
	case a == "":
		return b
	}
	ha, err1 := decodeHist(a, 1, histMax, coarseDigits)
	hb, err2 := decodeHist(b, 1, histMax, coarseDigits)
	if err1 != nil || err2 != nil {
		panic("load: re-decoding a series histogram failed") // written by encodeHist just before
	}
	ha.Merge(hb)
	return encodeHist(ha)
}

// scenarioHash hashes the scenario and the settings that shape a run.
func scenarioHash(scenario []byte, run ShardRun) string {
	h := sha256.New()
	key := struct {
		Scenario  json.RawMessage
		Load      Load
		Rounds    int
		Timeout   time.Duration
		LateAfter time.Duration
		Engine    Engine
		Seed      uint64
	}{scenario, run.Load, run.Rounds, run.Timeout, run.LateAfter, run.Engine, run.Seed}
	b, _ := json.Marshal(key) // plain data
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// buildVersion is the perfagent version of this binary.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
			if m.Path == "github.com/perfagent/perfagent" && m.Version != "" {
				return m.Version
			}
		}
	}
	return "(devel)"
}

func encodeOrEmpty(h *hdrhistogram.Histogram) string {
	if h == nil || h.TotalCount() == 0 {
		return ""
	}
	return encodeHist(h)
}

func exportCounts(c *counts) ShardCounts {
	sc := ShardCounts{Requests: c.requests, Canceled: c.canceled, Errors: c.errors, Timeouts: c.timeouts, ClientErrors: c.clientErr,
		Reauth: c.reauth, Late: c.late, GeneratorLate: c.genLate, BytesIn: c.bytesIn, BytesOut: c.bytesOut, WireIn: c.wireIn, WireOut: c.wireOut}
	for code, n := range c.status {
		if n > 0 {
			if sc.Status == nil {
				sc.Status = map[string]int64{}
			}
			sc.Status[strconv.Itoa(code)] = n
		}
	}
	sc.ErrorKinds = c.errKindsByName()
	return sc
}

// importCounts adds sc to c.
func importCounts(c *counts, sc *ShardCounts) error {
	o := counts{requests: sc.Requests, canceled: sc.Canceled, errors: sc.Errors, timeouts: sc.Timeouts, clientErr: sc.ClientErrors,
		reauth: sc.Reauth, late: sc.Late, genLate: sc.GeneratorLate, bytesIn: sc.BytesIn, bytesOut: sc.BytesOut, wireIn: sc.WireIn, wireOut: sc.WireOut}
	for code, n := range sc.Status {
		i, err := strconv.Atoi(code)
		if err != nil || i < 0 || i >= len(o.status) || n < 0 {
			return fmt.Errorf("bad status count %q: %d", code, n)
		}
		o.status[i] = n
	}
	for name, n := range sc.ErrorKinds {
		k := -1
		for j := range numErrKinds {
			if errKind(j).String() == name && j > 0 {
				k = int(j)
			}
		}
		if k <= 0 || n < 0 {
			return fmt.Errorf("bad error kind %q: %d", name, n)
		}
		o.errKinds[k] = n
	}
	c.add(&o)
	return nil
}

// shardResult builds the shard's lossless result once the run ended.
func (e *engine) shardResult(rep *Report, scenario []byte) *ShardResult {
	run := ShardRun{Load: e.load, Rounds: e.rounds.want, Timeout: e.cfg.timeout, LateAfter: e.opts.LateAfter, Engine: e.opts.Engine,
		Seed: e.opts.Seed, Protocol: rep.Protocol, Client: rep.Engine, Workers: e.workers}
	sr := &ShardResult{
		Format:         ShardFormat,
		Version:        buildVersion(),
		ScenarioHash:   scenarioHash(scenario, run),
		Histograms:     CurrentHistogramSettings(),
		Shard:          e.shard.Index,
		Shards:         e.shard.Count,
		StartAt:        e.opts.StartAt,
		StartLate:      e.late,
		Scenario:       scenario,
		Run:            run,
		StartedAt:      rep.StartedAt,
		FinishedAt:     rep.FinishedAt,
		Elapsed:        rep.Elapsed,
		Partial:        rep.Partial,
		Warnings:       slices.Clone(rep.Warnings),
		Rounds:         slices.Clone(e.rounds.wins),
		SeriesInterval: seriesInterval,
		Refreshes:      rep.Refreshes,
		RefreshErrors:  slices.Clone(rep.RefreshErrors),
	}
	for i := range e.eps {
		var stats []*epStats
		for _, sh := range e.shards {
			stats = append(stats, sh.eps[i])
		}
		se := exportEndpoint(e.eps[i].name, stats, e.rounds.cum[i])
		for k, h := range e.rounds.hists[i] {
			c := e.rounds.rcs[i][k]
			se.Rounds = append(se.Rounds, ShardRound{Requests: c.requests, Errors: c.errors, Timeouts: c.timeouts, ClientErrors: c.clientErr, Latency: h})
		}
		for _, p := range e.secs[i] {
			se.Series = append(se.Series, ShardPoint{Second: p.sec, D: p.d, Requests: p.iv.requests, Errors: p.iv.errors, Timeouts: p.iv.timeouts, Latency: p.hist})
		}
		sr.SeriesInterval = max(sr.SeriesInterval, time.Duration(e.secStep[i])*time.Second)
		sr.Endpoints = append(sr.Endpoints, se)
	}
	for i := range e.steps {
		st := e.setup.eps[i]
		sr.Setup = append(sr.Setup, exportEndpoint(e.steps[i].name, []*epStats{st}, st.latency))
	}
	if o := rep.Open; o != nil {
		var lags, gen []*hdrhistogram.Histogram
		for _, sh := range e.shards {
			lags, gen = append(lags, sh.sendLag), append(gen, sh.genLag)
		}
		sr.Open = &ShardOpen{Intended: o.Intended, Dispatched: o.Dispatched, Waited: o.Waited, Achieved: o.Achieved, End: e.sendEnd(),
			SendLag: encodeOrEmpty(merged(lags)), GeneratorLag: encodeOrEmpty(merged(gen)), Behind: o.Behind}
	}
	return sr
}

func exportEndpoint(name string, stats []*epStats, lat *hdrhistogram.Histogram) ShardEndpoint {
	c := sumCounts(stats)
	se := ShardEndpoint{Name: name, Counts: exportCounts(&c), Latency: encodeOrEmpty(lat)}
	var svcs []*hdrhistogram.Histogram
	phases := make([][]*hdrhistogram.Histogram, numPhases)
	classes := make([][]*hdrhistogram.Histogram, numClasses)
	var samples errSamples
	for _, s := range stats {
		if s.service != nil {
			svcs = append(svcs, s.service)
		}
		for p := range phases {
			phases[p] = append(phases[p], s.phases[p])
		}
		for k := range s.classes {
			classes[k] = append(classes[k], s.classes[k])
		}
		for _, m := range s.samples.msgs {
			samples.add(m)
		}
	}
	se.ErrorSamples = samples.msgs
	se.Service = encodeOrEmpty(merged(svcs))
	for p, hs := range phases {
		if v := encodeOrEmpty(merged(hs)); v != "" {
			if se.Phases == nil {
				se.Phases = map[string]string{}
			}
			se.Phases[phaseName(p)] = v
		}
	}
	for k, hs := range classes {
		if v := encodeOrEmpty(merged(hs)); v != "" {
			if se.StatusClasses == nil {
				se.StatusClasses = map[string]string{}
			}
			se.StatusClasses[className(k)] = v
		}
	}
	return se
}
