package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// MaxShardFileBytes bounds a shard result file [ReadShardFile] accepts.
const MaxShardFileBytes = 1 << 30

// ErrShardMismatch is wrapped by the errors of [MergeShards] for shards
// that cannot be merged: another format or version, another scenario or
// run, other histogram settings, a duplicate shard.
var ErrShardMismatch = errors.New("shards do not belong together")

// ReadShardFile reads a shard result file: the JSON document a shard
// wrote, or a log whose last non-empty line is that document (the output
// of `kubectl logs` of a shard's pod). Errors name the file.
func ReadShardFile(path string) (*ShardResult, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxShardFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxShardFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseShard(data, path)
}

// ReadShard reads a shard result from r; name is used in errors.
func ReadShard(r io.Reader, name string) (*ShardResult, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxShardFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > MaxShardFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxShardFileBytes)
	}
	return parseShard(data, name)
}

func parseShard(data []byte, name string) (*ShardResult, error) {
	doc := bytes.TrimSpace(data)
	if len(doc) == 0 {
		return nil, fmt.Errorf("%s: empty, not a shard result", name)
	}
	if doc[0] != '{' || !json.Valid(doc) {
		// A log: the result is its last line.
		if i := bytes.LastIndexByte(doc, '\n'); i >= 0 {
			doc = bytes.TrimSpace(doc[i+1:])
		}
	}
	var sr ShardResult
	if err := json.Unmarshal(doc, &sr); err != nil {
		if strings.Contains(err.Error(), "unexpected end of JSON input") {
			return nil, fmt.Errorf("%s: truncated shard result (%v)", name, err)
		}
		return nil, fmt.Errorf("%s: not a shard result: %v", name, err)
	}
	if sr.Format == "" {
		return nil, fmt.Errorf("%s: not a shard result (no format field)", name)
	}
	if sr.Format != ShardFormat {
		return nil, fmt.Errorf("%s: shard result format %q, this perfagent reads %q: %w", name, sr.Format, ShardFormat, ErrShardMismatch)
	}
	if h := scenarioHash(sr.Scenario, sr.Run); h != sr.ScenarioHash {
		return nil, fmt.Errorf("%s: corrupt shard result: its scenario and settings hash to %.12s, not %.12s", name, h, sr.ScenarioHash)
	}
	sr.name = name
	return &sr, nil
}

// WriteShard writes sr as one line of JSON (no newline inside), so a log
// can carry it as its last line.
func WriteShard(w io.Writer, sr *ShardResult) error {
	b, err := json.Marshal(sr)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (sr *ShardResult) label() string {
	if sr.name != "" {
		return sr.name
	}
	return "shard " + strconv.Itoa(sr.Shard)
}

// mergeState carries what a merged report takes from the shards rather
// than from one engine.
type mergeState struct {
	intended int64
	achieved float64
}

// MergeShards merges shard results of one run into the [Report] a single
// run would have produced: counts and rates are sums, every percentile
// comes from the merged histograms, the series is aligned on wall-clock
// seconds and rounds by index; [Report.Verdict] then evaluates the
// targets and budgets on the merged data. Shards absent from shards make
// the report Partial, named in Merge.Missing and a warning. It returns
// an error wrapping [ErrShardMismatch] (naming the file) for shards of
// different formats, perfagent versions, scenarios, runs, shard counts or
// histogram settings, and for a duplicate shard; an error for a corrupt
// histogram or a value dropped by a merge.
func MergeShards(shards []*ShardResult) (*Report, error) {
	if len(shards) == 0 {
		return nil, errors.New("load: no shard results to merge")
	}
	ref := shards[0]
	seen := map[int]string{}
	for _, sr := range shards {
		switch {
		case sr.Format != ShardFormat:
			return nil, fmt.Errorf("%s: shard result format %q, this perfagent reads %q: %w", sr.label(), sr.Format, ShardFormat, ErrShardMismatch)
		case sr.Version != ref.Version:
			return nil, fmt.Errorf("%s: written by perfagent %s, %s by %s: %w", sr.label(), sr.Version, ref.label(), ref.Version, ErrShardMismatch)
		case sr.Histograms != CurrentHistogramSettings():
			return nil, fmt.Errorf("%s: histogram settings %+v, this perfagent uses %+v: %w", sr.label(), sr.Histograms, CurrentHistogramSettings(), ErrShardMismatch)
		case sr.ScenarioHash != ref.ScenarioHash:
			return nil, fmt.Errorf("%s: another scenario or run settings than %s (hash %.12s, not %.12s): %w", sr.label(), ref.label(), sr.ScenarioHash, ref.ScenarioHash, ErrShardMismatch)
		case sr.Shards != ref.Shards || sr.Shards < 1:
			return nil, fmt.Errorf("%s: shard %d of %d, %s is of %d: %w", sr.label(), sr.Shard, sr.Shards, ref.label(), ref.Shards, ErrShardMismatch)
		case !sr.StartAt.Equal(ref.StartAt):
			return nil, fmt.Errorf("%s: another run (start %s, %s started at %s): %w", sr.label(), fmtStart(sr.StartAt), ref.label(), fmtStart(ref.StartAt), ErrShardMismatch)
		case sr.Shard < 0 || sr.Shard >= sr.Shards:
			return nil, fmt.Errorf("%s: shard index %d outside 0..%d: %w", sr.label(), sr.Shard, sr.Shards-1, ErrShardMismatch)
		case seen[sr.Shard] != "":
			return nil, fmt.Errorf("%s: shard %d is also %s: %w", sr.label(), sr.Shard, seen[sr.Shard], ErrShardMismatch)
		case len(sr.Endpoints) != len(ref.Endpoints) || len(sr.Setup) != len(ref.Setup) || (sr.Open == nil) != (ref.Open == nil):
			return nil, fmt.Errorf("%s: endpoints differ from %s's: %w", sr.label(), ref.label(), ErrShardMismatch)
		}
		seen[sr.Shard] = sr.label()
	}
	var s Scenario
	if err := json.Unmarshal(ref.Scenario, &s); err != nil {
		return nil, fmt.Errorf("%s: scenario: %w", ref.label(), err)
	}
	e, err := newEngine(context.Background(), &s, Options{Load: ref.Run.Load, Rounds: ref.Run.Rounds, Timeout: ref.Run.Timeout,
		LateAfter: ref.Run.LateAfter, Engine: ref.Run.Engine, Seed: ref.Run.Seed, merging: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.label(), err)
	}
	defer e.cancel()
	if len(ref.Endpoints) != len(e.eps) || len(ref.Setup) != len(e.steps) {
		return nil, fmt.Errorf("%s: %d endpoints and %d setup steps, its scenario has %d and %d", ref.label(), len(ref.Endpoints), len(ref.Setup), len(e.eps), len(e.steps))
	}
	m := newMerger(e, ref)
	for _, sr := range shards {
		if err := m.add(sr); err != nil {
			return nil, fmt.Errorf("%s: %w", sr.label(), err)
		}
	}
	return m.report(shards)
}

func fmtStart(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// merger folds shard results into one engine's accumulators, one shard at
// a time, so memory holds one decoded shard beside the sums.
type merger struct {
	e      *engine
	open   bool
	acc    *shard
	lat    []*hdrhistogram.Histogram   // per endpoint
	rounds [][]*hdrhistogram.Histogram // per endpoint, per round
	rcs    [][]roundCounts
	rrate  [][]float64 // per endpoint, per round: sum of the shards' rates
	wins   []Round
	step   int64                    // series interval of the merge, seconds
	series []map[int64]*mergedPoint // per endpoint, by interval start (Unix s)
	rate   []float64                // per endpoint: sum of the shards' rates
	state  mergeState
	first  time.Time
	last   time.Time
	late   time.Duration
	behind time.Duration // the longest of the shards' stretches behind schedule
	warns  []string
	refr   int64
	refrE  []string
	disp   int64
	waited int64
	end    time.Duration
	part   []int
	hr     histReader
}

type mergedPoint struct {
	d    float64
	iv   intervalCounts
	hist *hdrhistogram.PackedHistogram // nil: no latency
}

func newMerger(e *engine, ref *ShardResult) *merger {
	m := &merger{e: e, open: ref.Open != nil, step: 1}
	m.acc = &shard{}
	for range e.eps {
		m.acc.eps = append(m.acc.eps, newEpStats(m.open, true))
		m.lat = append(m.lat, newHist())
		m.series = append(m.series, map[int64]*mergedPoint{})
	}
	m.rounds = make([][]*hdrhistogram.Histogram, len(e.eps))
	m.rcs = make([][]roundCounts, len(e.eps))
	m.rrate = make([][]float64, len(e.eps))
	m.rate = make([]float64, len(e.eps))
	if m.open {
		m.acc.sendLag, m.acc.genLag = newCoarse(), newCoarse()
	}
	e.setup = &shard{}
	for range e.steps {
		e.setup.eps = append(e.setup.eps, newEpStats(false, false))
	}
	return m
}

// recorder is a dense or sparse histogram.
type recorder interface {
	RecordValues(v, n int64) error
}

// into decodes s (empty: nothing) and merges it into dst.
func (m *merger) into(dst recorder, s string, digits int) error {
	if s == "" {
		return nil
	}
	var dropped int64
	if err := m.hr.each(s, digits, func(v, c int64) {
		if dst.RecordValues(v, c) != nil {
			dropped += c
		}
	}); err != nil {
		return err
	}
	if dropped > 0 {
		return fmt.Errorf("merging a histogram dropped %d values", dropped)
	}
	return nil
}

func (m *merger) add(sr *ShardResult) error {
	e := m.e
	if m.first.IsZero() || sr.StartedAt.Before(m.first) {
		m.first = sr.StartedAt
	}
	if sr.FinishedAt.After(m.last) {
		m.last = sr.FinishedAt
	}
	m.late = max(m.late, sr.StartLate)
	m.part = append(m.part, sr.Shard)
	secs := sr.Elapsed.Seconds()
	step := max(int64(sr.SeriesInterval/time.Second), 1)
	if step > m.step {
		// Regroup what was merged so far into the coarser intervals.
		for i, pts := range m.series {
			out := map[int64]*mergedPoint{}
			for k, p := range pts {
				if err := m.addPoint(out, floorDiv(k, step)*step, p.d, p.iv, p.hist); err != nil {
					return err
				}
			}
			m.series[i] = out
		}
		m.step = step
	}
	for i := range e.eps {
		se := &sr.Endpoints[i]
		if se.Name != e.eps[i].name {
			return fmt.Errorf("endpoint %d is %q, not %q: %w", i, se.Name, e.eps[i].name, ErrShardMismatch)
		}
		st := m.acc.eps[i]
		if err := importCounts(&st.counts, &se.Counts); err != nil {
			return fmt.Errorf("endpoint %s: %w", se.Name, err)
		}
		if secs > 0 {
			m.rate[i] += float64(se.Counts.Requests) / secs
		}
		if err := errors.Join(m.into(m.lat[i], se.Latency, histDigits), m.intoService(st, se.Service)); err != nil {
			return fmt.Errorf("endpoint %s: %w", se.Name, err)
		}
		for name, v := range se.Phases {
			p := slices.IndexFunc([]int{phaseDNS, phaseConnect, phaseTLS, phaseTTFB, phaseBody}, func(p int) bool { return phaseName(p) == name })
			if p < 0 {
				return fmt.Errorf("endpoint %s: unknown phase %q", se.Name, name)
			}
			if err := m.into(st.phases[p], v, coarseDigits); err != nil {
				return fmt.Errorf("endpoint %s: phase %s: %w", se.Name, name, err)
			}
		}
		for name, v := range se.StatusClasses {
			k := -1
			for c := range numClasses {
				if className(c) == name {
					k = c
				}
			}
			if k < 0 {
				return fmt.Errorf("endpoint %s: unknown status class %q", se.Name, name)
			}
			if err := m.into(st.classes[k], v, coarseDigits); err != nil {
				return fmt.Errorf("endpoint %s: status %s: %w", se.Name, name, err)
			}
		}
		for _, msg := range se.ErrorSamples {
			st.samples.add(msg)
		}
		if len(se.Rounds) != len(sr.Rounds) {
			return fmt.Errorf("endpoint %s: %d rounds, the shard has %d", se.Name, len(se.Rounds), len(sr.Rounds))
		}
		for k, rd := range se.Rounds {
			for len(m.rounds[i]) <= k {
				m.rounds[i] = append(m.rounds[i], newHist())
				m.rcs[i] = append(m.rcs[i], roundCounts{})
				m.rrate[i] = append(m.rrate[i], 0)
			}
			m.rcs[i][k].add(roundCounts{requests: rd.Requests, errors: rd.Errors, timeouts: rd.Timeouts, clientErr: rd.ClientErrors})
			if l := sr.Rounds[k].Length.Seconds(); l > 0 {
				m.rrate[i][k] += float64(rd.Requests) / l
			}
			if err := m.into(m.rounds[i][k], rd.Latency, histDigits); err != nil {
				return fmt.Errorf("endpoint %s: round %d: %w", se.Name, k+1, err)
			}
		}
		for _, p := range se.Series {
			iv := intervalCounts{requests: p.Requests, errors: p.Errors, timeouts: p.Timeouts}
			mp := m.point(m.series[i], floorDiv(p.Second, m.step)*m.step, p.D, iv)
			if p.Latency != "" && mp.hist == nil {
				mp.hist = hdrhistogram.NewPacked(1, histMax, coarseDigits)
			}
			if err := m.into(mp.hist, p.Latency, coarseDigits); err != nil {
				return fmt.Errorf("endpoint %s: series at %d: %w", se.Name, p.Second, err)
			}
		}
	}
	for k, w := range sr.Rounds {
		// Round windows from the earliest shard start: the union of the
		// shards' windows.
		off := sr.StartedAt.Sub(m.first)
		w.Start += max(off, 0)
		if k == len(m.wins) {
			m.wins = append(m.wins, w)
			continue
		}
		st, end := min(m.wins[k].Start, w.Start), max(m.wins[k].Start+m.wins[k].Length, w.Start+w.Length)
		m.wins[k] = Round{Start: st, Length: end - st}
	}
	for i := range e.steps {
		se := &sr.Setup[i]
		st := e.setup.eps[i]
		if err := importCounts(&st.counts, &se.Counts); err != nil {
			return fmt.Errorf("setup step %s: %w", se.Name, err)
		}
		if err := m.into(st.latency, se.Latency, histDigits); err != nil {
			return fmt.Errorf("setup step %s: %w", se.Name, err)
		}
		for _, msg := range se.ErrorSamples {
			st.samples.add(msg)
		}
	}
	if o := sr.Open; o != nil {
		m.state.intended += o.Intended
		m.state.achieved += o.Achieved
		m.disp += o.Dispatched
		m.waited += o.Waited
		m.end = max(m.end, o.End)
		m.behind = max(m.behind, o.Behind)
		if err := m.into(m.acc.sendLag, o.SendLag, coarseDigits); err != nil {
			return fmt.Errorf("send lag: %w", err)
		}
		if err := m.into(m.acc.genLag, o.GeneratorLag, coarseDigits); err != nil {
			return fmt.Errorf("generator lag: %w", err)
		}
	}
	m.refr += sr.Refreshes
	for _, msg := range sr.RefreshErrors {
		if len(m.refrE) < maxErrSamples {
			m.refrE = append(m.refrE, msg)
		}
	}
	// Note: the shards' other warnings (saturation, waits, drops) are
	// recomputed from the sums.
	if sr.StartLate > sr.Run.LateAfter && !sr.StartAt.IsZero() {
		m.warns = append(m.warns, fmt.Sprintf("shard %d started %v after the shared start; requests already due were sent late and their latency includes the delay", sr.Shard, roundDur(sr.StartLate)))
	}
	if sr.Partial {
		m.warns = append(m.warns, fmt.Sprintf("shard %d was interrupted before its end (partial)", sr.Shard))
	}
	return nil
}

func (m *merger) intoService(st *epStats, s string) error {
	if st.service == nil {
		if s != "" {
			return errors.New("service time in a closed-model shard")
		}
		return nil
	}
	return m.into(st.service, s, histDigits)
}

// point adds one interval's counts to the points keyed by interval start
// and returns the point.
func (m *merger) point(pts map[int64]*mergedPoint, k int64, d float64, iv intervalCounts) *mergedPoint {
	p := pts[k]
	if p == nil {
		p = &mergedPoint{}
		pts[k] = p
	}
	// The shards cover the same wall-clock interval side by side.
	p.d = max(p.d, d)
	p.iv.requests += iv.requests
	p.iv.errors += iv.errors
	p.iv.timeouts += iv.timeouts
	return p
}

// addPoint merges one interval into the points keyed by interval start.
func (m *merger) addPoint(pts map[int64]*mergedPoint, k int64, d float64, iv intervalCounts, h *hdrhistogram.PackedHistogram) error {
	p := m.point(pts, k, d, iv)
	if h != nil && h.TotalCount() > 0 {
		if p.hist == nil {
			p.hist = hdrhistogram.NewPacked(1, histMax, coarseDigits)
		}
		if dropped := p.hist.Merge(h); dropped > 0 {
			return fmt.Errorf("merging the series at %d dropped %d values", k, dropped)
		}
	}
	return nil
}

// report hands the sums to the engine's report and puts in the figures
// that are sums over the shards.
func (m *merger) report(shards []*ShardResult) (*Report, error) {
	e, ref := m.e, shards[0]
	e.shards = []*shard{m.acc}
	e.merge = &m.state
	e.pacer = pacerStats{dispatched: m.disp, waited: m.waited, behind: m.behind}
	e.stopAt.Store(int64(m.end))
	e.refreshes, e.refreshErrs = m.refr, m.refrE
	e.rounds.wins = m.wins
	e.start = m.first
	for i := range e.eps {
		e.rounds.cum[i] = m.lat[i]
		e.rounds.eps[i] = nil
		for k, h := range m.rounds[i] {
			er := endpointRound(m.rcs[i][k], h)
			er.Rate = m.rrate[i][k]
			e.rounds.eps[i] = append(e.rounds.eps[i], er)
		}
	}
	// The series: per endpoint and in total, by wall-clock interval.
	keys := map[int64]bool{}
	for _, pts := range m.series {
		for k := range pts {
			keys[k] = true
		}
	}
	ks := make([]int64, 0, len(keys))
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(a, b int) bool { return ks[a] < ks[b] })
	origin := float64(m.first.UnixNano()) / 1e9
	point := func(k int64, p *mergedPoint) Point {
		pt := Point{T: max(0, float64(k)-origin), D: p.d, Requests: p.iv.requests, Errors: p.iv.errors, Timeouts: p.iv.timeouts}
		if p.hist != nil && p.hist.TotalCount() > 0 {
			pt.P50, pt.P99, pt.Max = time.Duration(p.hist.ValueAtPercentile(50)), time.Duration(p.hist.ValueAtPercentile(99)), time.Duration(p.hist.Max())
		}
		return pt
	}
	interval := time.Duration(m.step) * time.Second
	tot := Series{Interval: interval}
	for i := range e.eps {
		e.series[i].series = Series{Interval: interval}
	}
	for _, k := range ks {
		all := &mergedPoint{}
		for i, pts := range m.series {
			p := pts[k]
			if p == nil {
				p = &mergedPoint{}
			}
			e.series[i].series.Points = append(e.series[i].series.Points, point(k, p))
			if err := m.addPoint(map[int64]*mergedPoint{k: all}, k, p.d, p.iv, p.hist); err != nil {
				return nil, err
			}
		}
		tot.Points = append(tot.Points, point(k, all))
	}
	e.totalSeries.series = tot

	have := make(map[int]bool, len(m.part))
	for _, i := range m.part {
		have[i] = true
	}
	var missing []int
	for i := range ref.Shards {
		if !have[i] {
			missing = append(missing, i)
		}
	}
	partial := len(missing) > 0
	for _, sr := range shards {
		partial = partial || sr.Partial
	}
	rep := e.report(m.first, m.last, partial)
	rep.Protocol, rep.Engine = ref.Run.Protocol, ref.Run.Client
	slices.Sort(m.part)
	rep.Merge = &MergeInfo{Shards: ref.Shards, Merged: m.part, Missing: missing, StartLate: m.late}
	// Rates are sums of the shards' rates.
	var total float64
	for i := range rep.Endpoints {
		rep.Endpoints[i].Rate = m.rate[i]
		total += m.rate[i]
	}
	rep.Total.Rate = total
	if len(missing) > 0 {
		names := make([]string, len(missing))
		for i, s := range missing {
			names[i] = strconv.Itoa(s)
		}
		rep.Warnings = append([]string{fmt.Sprintf("partial: shard(s) %s of %d missing; the figures cover %d of %d shards", strings.Join(names, ", "), ref.Shards, len(m.part), ref.Shards)}, rep.Warnings...)
	}
	rep.Warnings = append(rep.Warnings, m.warns...)
	return rep, nil
}
