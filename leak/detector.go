package leak

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/perfagent/perfagent/snapshot"
)

// Detector defaults. With them and the agent's default 5s snapshot
// interval, a live heap that grows by 1 MiB a minute is reported after 3m45s
// on median (95% of simulated runs within 5 minutes) when the heap is otherwise
// steady, up to a live heap of about 200 MiB (above it, 2 MiB in two
// windows is under the 1% relative threshold). See the package
// documentation for the statistics.
const (
	DefaultWarmUp                  = time.Minute
	DefaultWindow                  = time.Minute
	DefaultPersist                 = time.Minute
	DefaultMinSamples              = 5
	DefaultMinGrowth               = 1 << 20
	DefaultMinGrowthRatio          = 0.01
	DefaultMinGoroutineGrowth      = 10
	DefaultMinGoroutineGrowthRatio = 0.05
	DefaultRealert                 = 30 * time.Minute
	DefaultTopSites                = 10
)

// The statistical thresholds. They were chosen on simulated series (see
// synth_test.go): leaks of several rates against sawtooth, plateau, ramp,
// step and batch shapes with noise, over many seeds.
const (
	// zGrowing is the Mann–Kendall score a growing series must reach
	// (one-sided p < 0.01); zStopped is the score below which a reported
	// leak counts as stopped (p > 0.05).
	zGrowing = 2.33
	zStopped = 1.64
	// tGrowing is how many standard errors the slope must stand above
	// zero; tStopped the same for a reported leak to keep counting.
	tGrowing = 4.0
	tStopped = 2.0
	// kSE is how many standard errors below the whole series' slope one
	// window's slope may fall before the growth counts as confined to the
	// other window (a plateau reached, a step, a recent ramp).
	kSE = 3.0
	// slower is the share of the whole's slope under which a window's
	// slope must also fall to count as slower: on a series with little
	// noise, a real leak's windows differ by more than their standard
	// errors (a map doubling its buckets is a step), but not by half.
	slower = 0.5
	// lookback is how many windows of history are judged: the later
	// window and up to three before it (the earlier window).
	lookback = 4
	// coverage is how far back, in windows, the judged points must reach:
	// the earlier window must hold at least half a window of data.
	coverage = 1.5
)

type Config struct {
	// WarmUp is ignored start-up time (default 1m): caches and pools fill
	// then. Baseline profiles are taken when it ends.
	WarmUp time.Duration `json:"warm_up"`
	// Window is the length of the later window and the unit of the
	// look-back (default 1m).
	Window time.Duration `json:"window"`
	// Persist is how long a series must keep growing before it is
	// reported (default 1m). The points taken during it must stand above
	// those before it by at least half what the slope predicted.
	Persist time.Duration `json:"persist"`
	// MinSamples is the least number of points in each window (default
	// 5). Heap points are taken only when a GC cycle completed since the
	// previous snapshot, so a service that rarely collects is judged over
	// fewer points, or not at all.
	MinSamples int `json:"min_samples"`
	// MinGrowth is the least live-heap growth that can be a leak, in
	// bytes per two windows at the estimated rate (default 1 MiB: 0.5 MiB
	// a minute with the default window).
	MinGrowth int64 `json:"min_growth_bytes"`
	// MinGrowthRatio is the least growth relative to the live heap
	// (default 0.01: 1%).
	MinGrowthRatio float64 `json:"min_growth_ratio"`
	// MinGoroutineGrowth and MinGoroutineGrowthRatio are the same for the
	// goroutine count (defaults 10 goroutines and 5%).
	MinGoroutineGrowth      int     `json:"min_goroutine_growth"`
	MinGoroutineGrowthRatio float64 `json:"min_goroutine_growth_ratio"`
	// Realert is the least time between two reports of one ongoing leak
	// (default 30m).
	Realert time.Duration `json:"realert"`
	// ResolveAfter is how long a reported leak must have stopped growing
	// to be reported resolved (default 2 × Window).
	ResolveAfter time.Duration `json:"resolve_after"`
	// TopSites is how many growing allocation sites and goroutine groups a
	// report names (default 10).
	TopSites int `json:"top_sites"`
}

// MarshalJSON writes c with durations as Go duration strings ("1m0s").
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	return json.Marshal(struct {
		plain
		WarmUp       string `json:"warm_up"`
		Window       string `json:"window"`
		Persist      string `json:"persist"`
		Realert      string `json:"realert"`
		ResolveAfter string `json:"resolve_after"`
	}{plain(c), c.WarmUp.String(), c.Window.String(), c.Persist.String(), c.Realert.String(), c.ResolveAfter.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	var v struct {
		plain
		WarmUp       string `json:"warm_up"`
		Window       string `json:"window"`
		Persist      string `json:"persist"`
		Realert      string `json:"realert"`
		ResolveAfter string `json:"resolve_after"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*c = Config(v.plain)
	for _, f := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"warm_up", v.WarmUp, &c.WarmUp}, {"window", v.Window, &c.Window}, {"persist", v.Persist, &c.Persist},
		{"realert", v.Realert, &c.Realert}, {"resolve_after", v.ResolveAfter, &c.ResolveAfter}} {
		if f.s == "" {
			continue
		}
		d, err := time.ParseDuration(f.s)
		if err != nil {
			return fmt.Errorf("leak: config %s: %w", f.name, err)
		}
		*f.dst = d
	}
	return nil
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.WarmUp, DefaultWarmUp)
	def(&c.Window, DefaultWindow)
	def(&c.Persist, DefaultPersist)
	def(&c.Realert, DefaultRealert)
	def(&c.ResolveAfter, 2*c.Window)
	if c.MinSamples == 0 {
		c.MinSamples = DefaultMinSamples
	}
	if c.MinGrowth == 0 {
		c.MinGrowth = DefaultMinGrowth
	}
	if c.MinGrowthRatio == 0 {
		c.MinGrowthRatio = DefaultMinGrowthRatio
	}
	if c.MinGoroutineGrowth == 0 {
		c.MinGoroutineGrowth = DefaultMinGoroutineGrowth
	}
	if c.MinGoroutineGrowthRatio == 0 {
		c.MinGoroutineGrowthRatio = DefaultMinGoroutineGrowthRatio
	}
	if c.TopSites == 0 {
		c.TopSites = DefaultTopSites
	}
	return c
}

// Validate reports every invalid field, naming it.
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", name, d))
		}
	}
	neg("WarmUp", c.WarmUp)
	neg("Window", c.Window)
	neg("Persist", c.Persist)
	neg("Realert", c.Realert)
	neg("ResolveAfter", c.ResolveAfter)
	if c.MinSamples < 0 || c.MinSamples == 1 || c.MinSamples == 2 {
		errs = append(errs, fmt.Errorf("MinSamples: %d, want 3 or more (0 for the default %d)", c.MinSamples, DefaultMinSamples))
	}
	if c.MinSamples > maxPoints/2 {
		errs = append(errs, fmt.Errorf("MinSamples: %d, want at most %d", c.MinSamples, maxPoints/2))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"MinGrowthRatio", c.MinGrowthRatio}, {"MinGoroutineGrowthRatio", c.MinGoroutineGrowthRatio}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			errs = append(errs, fmt.Errorf("%s: %v, want a fraction ≥ 0 (0.01 is 1%%)", r.name, r.v))
		}
	}
	if c.TopSites < 0 {
		errs = append(errs, fmt.Errorf("TopSites: %d is negative", c.TopSites))
	}
	return errors.Join(errs...)
}

// Kinds of leak.
const (
	KindHeap      = "heap"
	KindGoroutine = "goroutine"
)

// Evidence is the numbers behind a verdict on one series.
type Evidence struct {
	// Kind is KindHeap (the series is the live heap after GC, in bytes) or
	// KindGoroutine (the goroutine count).
	Kind string `json:"kind"`
	// Unit is "bytes" or "goroutines".
	Unit string `json:"unit"`
	// From and To bound the points judged (the look-back).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Samples is the number of points judged.
	Samples int `json:"samples"`
	// Estimator names the slope estimator: "theil-sen".
	Estimator string `json:"estimator"`
	// Slope is the growth rate in units per second over the look-back;
	// SlopeEarlier and SlopeLater over the earlier and the later window
	// alone.
	Slope        float64 `json:"slope_per_second"`
	SlopeEarlier float64 `json:"slope_earlier_per_second"`
	SlopeLater   float64 `json:"slope_later_per_second"`
	// TrendZ is the Mann–Kendall trend score (a standard normal score;
	// above 2.33 is a significant rise at p < 0.01).
	TrendZ float64 `json:"trend_z"`
	// Level and LevelNow are the medians of the earlier and the later
	// window.
	Level    float64 `json:"level"`
	LevelNow float64 `json:"level_now"`
	// Growth is Slope times GrowthSeconds (two windows), in units: the
	// growth the thresholds compare. GrowthRatio is Growth relative to
	// Level.
	Growth        float64 `json:"growth"`
	GrowthSeconds float64 `json:"growth_seconds"`
	GrowthRatio   float64 `json:"growth_ratio"`
	// Noise is the robust standard deviation of the points around the
	// fitted line (1.4826 × the median absolute residual), in units.
	Noise float64 `json:"noise"`
	// SlopeZ is Slope over its standard error estimated from Noise: how
	// many standard errors the growth stands above zero.
	SlopeZ float64 `json:"slope_z"`
	// Growing reports whether the series met every condition.
	Growing bool `json:"growing"`
	// Why says which condition failed (empty when Growing).
	Why string `json:"why,omitempty"`
}

// EventType says what happened to a series.
type EventType int

// Event types.
const (
	// WarmedUp: the warm-up ended (once, Kind empty). Take baselines now.
	WarmedUp EventType = iota + 1
	// Detected: a series has been growing for Persist. Report it.
	Detected
	// StillLeaking: a reported leak is still growing, Realert after the
	// previous report.
	StillLeaking
	// Resolved: a reported leak stopped growing for ResolveAfter.
	Resolved
)

func (t EventType) String() string {
	switch t {
	case WarmedUp:
		return "warmed-up"
	case Detected:
		return "detected"
	case StillLeaking:
		return "still-leaking"
	case Resolved:
		return "resolved"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is a change the detector reports.
type Event struct {
	Type EventType
	Kind string
	Time time.Time
	// Since is when the leak was first detected (for StillLeaking and
	// Resolved) or when it started growing (Detected).
	Since time.Time
	// Evidence is the latest judgement of the series.
	Evidence Evidence
}

// States of a series, as reported by [Detector.Status].
const (
	StateWarmingUp = "warming-up"
	StateWatching  = "watching"
	StateSuspected = "suspected" // growing, not yet for Persist
	StateLeaking   = "leaking"   // reported
	StateOff       = "off"
)

// SeriesStatus is the state of one series.
type SeriesStatus struct {
	Kind  string `json:"kind"`
	State string `json:"state"`
	// Since is when the current state began.
	Since time.Time `json:"since"`
	// Reports counts Detected and StillLeaking events; Resolutions counts
	// Resolved events.
	Reports     int `json:"reports"`
	Resolutions int `json:"resolutions"`
	// Last is the latest judgement (nil before the first).
	Last *Evidence `json:"last,omitempty"`
}

// maxPoints bounds the points a series keeps. Points closer than
// Window/24 to the previous one are not kept, so the look-back holds at
// most about 96.
const maxPoints = 128

// Detector finds leaks in a stream of snapshots: the live heap after GC
// (a point each time the GC cycle count has advanced; it never forces a
// GC) and the goroutine count (a point per snapshot). It is pure
// statistics: no clock (time is the snapshots' own), no I/O. Feed it with
// [Detector.Observe].
//
// Methods are safe for concurrent use; Observe is meant for one goroutine.
// After warm-up, Observe does not allocate unless it returns an event.
type Detector struct {
	cfg Config

	mu         sync.Mutex
	start      time.Time
	warmedUp   bool
	lastCycles uint64
	haveCycles bool
	heap       series
	gor        series
	events     []Event
	slopeBuf   []float64
	sortBuf    []float64
}

// NewDetector returns a detector with cfg's thresholds (zero fields take
// the defaults). It returns an error naming every invalid field.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("leak: invalid config: %w", err)
	}
	cfg = cfg.WithDefaults()
	d := &Detector{
		cfg:      cfg,
		slopeBuf: make([]float64, 0, maxPoints*(maxPoints-1)/2),
		sortBuf:  make([]float64, 0, maxPoints),
	}
	d.heap = series{kind: KindHeap, unit: "bytes", off: cfg.MinGrowth < 0, minGrowth: float64(cfg.MinGrowth), ratio: cfg.MinGrowthRatio}
	d.gor = series{kind: KindGoroutine, unit: "goroutines", off: cfg.MinGoroutineGrowth < 0, minGrowth: float64(cfg.MinGoroutineGrowth), ratio: cfg.MinGoroutineGrowthRatio, noiseFloor: 1}
	return d, nil
}

// Config returns the configuration in force (defaults filled in).
func (d *Detector) Config() Config { return d.cfg }

// Observe adds a snapshot and returns what changed (nil when nothing did;
// the slice is reused by the next call). Snapshots must come in time order;
// older ones are ignored.
func (d *Detector) Observe(s *snapshot.Snapshot) []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = d.events[:0]
	now := s.Time
	if d.start.IsZero() {
		d.start = now
		d.heap.since, d.gor.since = now, now
	}
	if !d.warmedUp {
		if now.Sub(d.start) < d.cfg.WarmUp {
			d.lastCycles, d.haveCycles = s.GCCycles, true
			return nil
		}
		d.warmedUp = true
		d.heap.setState(StateWatching, now)
		d.gor.setState(StateWatching, now)
		d.events = append(d.events, Event{Type: WarmedUp, Time: now})
	}
	// A heap point needs a GC since the previous snapshot: /gc/heap/live
	// changes only at the end of a cycle.
	if !d.haveCycles || s.GCCycles > d.lastCycles {
		if s.HeapLive > 0 {
			d.observe(&d.heap, now, float64(s.HeapLive))
		}
	}
	d.lastCycles, d.haveCycles = s.GCCycles, true
	if s.Goroutines.Total > 0 {
		d.observe(&d.gor, now, float64(s.Goroutines.Total))
	}
	if len(d.events) == 0 {
		return nil
	}
	return d.events
}

// Status returns the state of the heap and goroutine series.
func (d *Detector) Status() []SeriesStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]SeriesStatus, 0, 2)
	for _, sr := range []*series{&d.heap, &d.gor} {
		st := SeriesStatus{Kind: sr.kind, State: sr.state, Since: sr.since, Reports: sr.reports, Resolutions: sr.resolutions}
		switch {
		case sr.off:
			st.State = StateOff
		case !d.warmedUp:
			st.State = StateWarmingUp
			st.Since = d.start
		}
		if sr.evaluated {
			ev := sr.last
			st.Last = &ev
		}
		out = append(out, st)
	}
	return out
}

// series is the state of one watched quantity.
type series struct {
	kind, unit string
	off        bool
	minGrowth  float64
	ratio      float64
	noiseFloor float64

	t, v   [maxPoints]float64 // ring; t in seconds since base
	base   time.Time
	head   int // index of the oldest point
	n      int
	lastAt time.Time

	state       string
	since       time.Time
	growingFrom time.Time // first evaluation of the current growing run
	// The series' level (median) and the mean time of the points before
	// growingFrom, and the slope then: what fresh data must beat.
	suspectLevel float64
	suspectAt    time.Time
	suspectSlope float64
	stoppedFrom  time.Time // first evaluation of the current stopped run while leaking
	detectedAt   time.Time
	reportedAt   time.Time
	reports      int
	resolutions  int
	evaluated    bool
	last         Evidence
}

func (sr *series) setState(state string, at time.Time) {
	if sr.state != state {
		sr.state, sr.since = state, at
	}
}

func (sr *series) push(at time.Time, v float64) {
	if sr.n == 0 {
		sr.base = at
	}
	i := (sr.head + sr.n) % maxPoints
	if sr.n == maxPoints {
		sr.head = (sr.head + 1) % maxPoints
	} else {
		sr.n++
	}
	sr.t[i], sr.v[i] = at.Sub(sr.base).Seconds(), v
	sr.lastAt = at
}

func (d *Detector) observe(sr *series, now time.Time, v float64) {
	if sr.off || (sr.n > 0 && now.Sub(sr.lastAt) < d.cfg.Window/24) {
		return
	}
	if sr.n > 0 && now.Before(sr.lastAt) {
		return
	}
	sr.push(now, v)
	ev := d.judge(sr, now, false)
	sr.last, sr.evaluated = ev, true
	switch sr.state {
	case StateWatching, StateSuspected:
		if !ev.Growing {
			sr.growingFrom = time.Time{}
			sr.setState(StateWatching, now)
			return
		}
		if sr.growingFrom.IsZero() {
			sr.growingFrom = now
			sr.suspectSlope = ev.Slope
			sr.suspectLevel, sr.suspectAt = d.levelBetween(sr, now.Add(-d.cfg.Persist), now)
			sr.setState(StateSuspected, now)
		}
		if now.Sub(sr.growingFrom) >= d.cfg.Persist {
			// Persistence means growth in fresh data: the points since the
			// suspicion began must stand above the points before it by
			// at least half of what the slope then predicted. A plateau
			// reached, or a step, stops here.
			level, at := d.levelBetween(sr, sr.growingFrom, now)
			if level-sr.suspectLevel < 0.5*sr.suspectSlope*at.Sub(sr.suspectAt).Seconds() {
				sr.growingFrom = now
				sr.suspectSlope = ev.Slope
				sr.suspectLevel, sr.suspectAt = d.levelBetween(sr, now.Add(-d.cfg.Persist), now)
				return
			}
			sr.setState(StateLeaking, now)
			sr.detectedAt, sr.reportedAt = now, now
			sr.stoppedFrom = time.Time{}
			sr.reports++
			d.events = append(d.events, Event{Type: Detected, Kind: sr.kind, Time: now, Since: sr.growingFrom, Evidence: ev})
		}
	case StateLeaking:
		// Hysteresis: a reported leak stays reported while it keeps a
		// weaker trend.
		relaxed := ev.Growing || d.judge(sr, now, true).Growing
		if relaxed {
			sr.stoppedFrom = time.Time{}
			if now.Sub(sr.reportedAt) >= d.cfg.Realert && ev.Growing {
				sr.reportedAt = now
				sr.reports++
				d.events = append(d.events, Event{Type: StillLeaking, Kind: sr.kind, Time: now, Since: sr.detectedAt, Evidence: ev})
			}
			return
		}
		if sr.stoppedFrom.IsZero() {
			sr.stoppedFrom = now
		}
		if now.Sub(sr.stoppedFrom) >= d.cfg.ResolveAfter {
			sr.resolutions++
			sr.growingFrom = time.Time{}
			sr.setState(StateWatching, now)
			d.events = append(d.events, Event{Type: Resolved, Kind: sr.kind, Time: now, Since: sr.detectedAt, Evidence: ev})
		}
	}
}

// judge evaluates the look-back of sr. relaxed applies the weaker test
// that keeps a reported leak reported.
func (d *Detector) judge(sr *series, now time.Time, relaxed bool) Evidence {
	w := d.cfg.Window.Seconds()
	tNow := now.Sub(sr.base).Seconds()
	ev := Evidence{Kind: sr.kind, Unit: sr.unit, Estimator: "theil-sen"}
	// Points in the look-back, oldest first, copied out of the ring.
	var xs, ys [maxPoints]float64
	n, split := 0, 0
	for i := 0; i < sr.n; i++ {
		j := (sr.head + i) % maxPoints
		if sr.t[j] <= tNow-lookback*w {
			continue
		}
		if sr.t[j] <= tNow-w {
			split++
		}
		xs[n], ys[n] = sr.t[j], sr.v[j]
		n++
	}
	ev.Samples = n
	if n > 0 {
		ev.From, ev.To = sr.base.Add(time.Duration(xs[0]*1e9)), sr.base.Add(time.Duration(xs[n-1]*1e9))
	}
	x, y := xs[:n], ys[:n]
	earlier, later := split, n-split
	// Why is a constant string, so judging does not allocate: the numbers
	// are in the other fields.
	switch {
	case earlier < d.cfg.MinSamples || later < d.cfg.MinSamples:
		ev.Why = "too few points in one of the windows (see min_samples)"
		return ev
	case x[0] > tNow-coverage*w:
		ev.Why = "the earlier window is not covered yet"
		return ev
	}
	minGrowth, ratio, z, t := sr.minGrowth, sr.ratio, zGrowing, tGrowing
	if relaxed {
		minGrowth, ratio, z, t = minGrowth/2, ratio/2, zStopped, tStopped
	}
	// Cheap tests first: most judgements of a healthy series end at the
	// growth threshold, before the quadratic ones.
	ev.Slope = theilSen(x, y, d.slopeBuf)
	ev.Level = d.med(y[:split])
	ev.LevelNow = d.med(y[split:])
	ev.Growth, ev.GrowthSeconds = ev.Slope*2*w, 2*w
	if ev.Level > 0 {
		ev.GrowthRatio = ev.Growth / ev.Level
	}
	switch {
	case ev.Growth < minGrowth:
		ev.Why = "growth below the minimum"
		return ev
	case ev.GrowthRatio < ratio:
		ev.Why = "growth below the minimum ratio"
		return ev
	}
	// The slopes' standard errors follow from the noise as for least
	// squares. The noise is floored so a flat, noiseless series (a
	// constant goroutine count) does not make every wiggle significant.
	ev.Noise = math.Max(d.noise(y), math.Max(sr.noiseFloor, 1e-3*ev.Level))
	ev.SlopeZ = ev.Slope * spread(x) / ev.Noise
	ev.TrendZ = mannKendallZ(y)
	if ev.TrendZ < z || ev.SlopeZ < t {
		ev.Why = "no significant trend"
		return ev
	}
	if relaxed {
		ev.Growing = true
		return ev
	}
	ev.SlopeEarlier = theilSen(x[:split], y[:split], d.slopeBuf)
	ev.SlopeLater = theilSen(x[split:], y[split:], d.slopeBuf)
	seE := ev.Noise / spread(x[:split])
	seL := ev.Noise / spread(x[split:])
	switch {
	case ev.SlopeLater < ev.Slope-kSE*seL && ev.SlopeLater < slower*ev.Slope:
		ev.Why = "the later window grows significantly slower than the whole: a plateau, or growth that stopped"
	case ev.SlopeEarlier < ev.Slope-kSE*seE && ev.SlopeEarlier < slower*ev.Slope:
		ev.Why = "the earlier window grows significantly slower than the whole: a step or a recent ramp"
	case !d.thirdsRise(x, y, ev.Slope):
		ev.Why = "the look-back's thirds do not each rise by half the trend: growth that stopped or jumped"
	case ev.LevelNow-ev.Level < 0.5*ev.Slope*(mean(x[split:])-mean(x[:split])):
		ev.Why = "the later window's median is not above the earlier one's by half the trend: growth that stopped"
	default:
		ev.Growing = true
	}
	return ev
}

// thirdsRise reports whether the medians of the first, middle and last
// third of the points each rise by at least half what slope predicts
// between their mean times.
func (d *Detector) thirdsRise(x, y []float64, slope float64) bool {
	n := len(x)
	a, b := n/3, 2*n/3
	l1, l2, l3 := d.med(y[:a]), d.med(y[a:b]), d.med(y[b:])
	c1, c2, c3 := mean(x[:a]), mean(x[a:b]), mean(x[b:])
	return l2-l1 >= 0.5*slope*(c2-c1) && l3-l2 >= 0.5*slope*(c3-c2)
}

func mean(x []float64) float64 {
	var m float64
	for _, v := range x {
		m += v
	}
	return m / float64(len(x))
}

// spread returns the square root of the sum of squared deviations of x
// from its mean (never zero).
func spread(x []float64) float64 {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return math.Max(math.Sqrt(ss), 1e-9)
}

// noise is the robust standard deviation of the points' noise estimated
// from successive differences (1.4826 × their median absolute deviation,
// over √2). Differencing removes any slow shape (a trend, a plateau, a
// ramp), and a step or a spike disturbs only one or two differences, so
// the estimate holds whatever the series does.
func (d *Detector) noise(y []float64) float64 {
	if len(y) < 3 {
		return 0
	}
	r := d.sortBuf[:len(y)-1]
	for i := range r {
		r[i] = y[i+1] - y[i]
	}
	m := median(r)
	for i := range r {
		r[i] = math.Abs(y[i+1] - y[i] - m)
	}
	return 1.4826 * median(r) / math.Sqrt2
}

// levelBetween returns the median of the points in (from, to] and their
// mean time.
func (d *Detector) levelBetween(sr *series, from, to time.Time) (float64, time.Time) {
	f, t := from.Sub(sr.base).Seconds(), to.Sub(sr.base).Seconds()
	buf := d.sortBuf[:0]
	var sum float64
	for i := 0; i < sr.n; i++ {
		j := (sr.head + i) % maxPoints
		if sr.t[j] > f && sr.t[j] <= t {
			buf = append(buf, sr.v[j])
			sum += sr.t[j]
		}
	}
	if len(buf) == 0 {
		return 0, to
	}
	return median(buf), sr.base.Add(time.Duration(sum / float64(len(buf)) * 1e9))
}

func (d *Detector) med(v []float64) float64 {
	buf := append(d.sortBuf[:0], v...)
	return median(buf)
}
