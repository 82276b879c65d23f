package leak

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/snapshot"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if childDir != "" {
		os.RemoveAll(childDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// noiseLevel is a service's live-heap noise: steady (0.5% standard
// deviation, 2% of samples with a +10% spike) or noisy (1%, 5%).
type noiseLevel struct {
	name          string
	noise, spikes float64
}

var (
	quietNoise = noiseLevel{"quiet", 0.0005, 0}
	steady     = noiseLevel{"steady", 0.005, 0.02}
	noisy      = noiseLevel{"noisy", 0.01, 0.05}
)

// run feeds a detector d simulated minutes of src and returns the time of
// the first Detected event of each kind. With stop, it returns at the
// first.
func run(t testing.TB, src *synth, cfg Config, d time.Duration, stop bool) map[string]time.Duration {
	det, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]time.Duration{}
	for i := 0; i < int(d/src.interval); i++ {
		if stop && len(found) > 0 {
			break
		}
		s := src.next()
		for _, e := range det.Observe(&s) {
			if e.Type == Detected {
				if _, ok := found[e.Kind]; !ok {
					found[e.Kind] = s.Time.Sub(src.start)
				}
			}
		}
	}
	return found
}

const seeds = 50

// TestNoFalsePositives runs healthy shapes over many seeds: none may be
// reported as a leak.
func TestNoFalsePositives(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test")
	}
	base := 64.0 * mib
	type shape struct {
		name string
		heap func(float64) float64
		gor  func(float64) float64
		at   []noiseLevel
	}
	both := []noiseLevel{quietNoise, steady, noisy}
	shapes := []shape{
		{"flat", nil, nil, both},
		{"sawtooth 60s 20%", sawtooth(60, 0.2*base), nil, both},
		{"sawtooth 120s 20%", sawtooth(120, 0.2*base), nil, both},
		{"cache warm-up τ=30s 32MiB", plateau(32*mib, 30), nil, both},
		{"cache warm-up τ=45s 32MiB", plateau(32*mib, 45), nil, []noiseLevel{steady}},
		{"cache warm-up τ=60s 32MiB", plateau(32*mib, 60), nil, []noiseLevel{steady}},
		{"load ramp 90s up, 60s hold, 90s down", ramp(300, 90, 60, 90, 0.3*base), nil, both},
		{"load ramp 120s up, 60s hold, 120s down", ramp(300, 120, 60, 120, 0.3*base), nil, both},
		{"step +20% at 400s", step(400, 0.2*base), nil, both},
		{"batch job 60s every 5m +30%", batch(300, 200, 60, 0.3*base), nil, both},
		{"goroutine ramp +200 and back", nil, ramp(300, 90, 60, 90, 200), both},
		{"goroutine batch +100 every 5m", nil, batch(300, 200, 60, 100), both},
	}
	for _, sh := range shapes {
		for _, nl := range sh.at {
			t.Run(sh.name+"/"+nl.name, func(t *testing.T) {
				t.Parallel()
				for seed := uint64(0); seed < seeds; seed++ {
					src := newSynth(seed)
					src.noise, src.spikes = nl.noise, nl.spikes
					if sh.heap != nil {
						src.heap = sh.heap
					}
					if sh.gor != nil {
						src.gor = sh.gor
					}
					if found := run(t, src, Config{}, 20*time.Minute, true); len(found) > 0 {
						t.Errorf("seed %d: reported %v", seed, found)
					}
				}
			})
		}
	}
}

// TestDetectionDelay measures the delay to a report for leaks of several
// rates, from the start of the process (the leak runs from the start) or
// from a leak that begins in a service running steadily for 20 minutes.
func TestDetectionDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test")
	}
	cases := []struct {
		name     string
		heap     func(float64) float64
		gor      func(float64) float64
		kind     string
		nl       noiseLevel
		start    time.Duration
		p95, max time.Duration
	}{
		{"heap 4MiB/min", leakRate(4 * mib), nil, KindHeap, steady, 0, 5 * time.Minute, 5 * time.Minute},
		{"heap 2MiB/min", leakRate(2 * mib), nil, KindHeap, steady, 0, 5 * time.Minute, 5 * time.Minute},
		// The defaults' promise: 1 MiB a minute within 5 minutes on a
		// steady heap (95% of runs; every run within 6).
		{"heap 1MiB/min", leakRate(1 * mib), nil, KindHeap, steady, 0, 5 * time.Minute, 6 * time.Minute},
		{"heap 1MiB/min noisy", leakRate(1 * mib), nil, KindHeap, noisy, 0, 8 * time.Minute, 12 * time.Minute},
		{"heap 0.5MiB/min", leakRate(0.5 * mib), nil, KindHeap, steady, 0, 16 * time.Minute, 30 * time.Minute},
		// A leak through a map in a quiet process: little noise, and steps
		// where the map doubles.
		{"heap 2MiB/min through a map, quiet", mapLeak(2 * mib), nil, KindHeap, quietNoise, 0, 5 * time.Minute, 5 * time.Minute},
		{"heap 1MiB/min from 20m", func(s float64) float64 { return max(0, s-1200) * mib / 60 }, nil, KindHeap, steady, 20 * time.Minute, 5 * time.Minute, 6 * time.Minute},
		{"goroutines 10/min", nil, leakRate(10), KindGoroutine, steady, 0, 6 * time.Minute, 8 * time.Minute},
		{"goroutines 30/min", nil, leakRate(30), KindGoroutine, steady, 0, 5 * time.Minute, 6 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var delays []time.Duration
			for seed := uint64(0); seed < seeds; seed++ {
				src := newSynth(seed)
				src.noise, src.spikes = tc.nl.noise, tc.nl.spikes
				if tc.heap != nil {
					src.heap = tc.heap
				}
				if tc.gor != nil {
					src.gor = tc.gor
				}
				found := run(t, src, Config{}, tc.start+30*time.Minute, true)
				d, ok := found[tc.kind]
				if !ok {
					t.Errorf("seed %d: not detected within 30 minutes", seed)
					continue
				}
				for k := range found {
					if k != tc.kind {
						t.Errorf("seed %d: also reported a %s leak", seed, k)
					}
				}
				delays = append(delays, d-tc.start)
			}
			if len(delays) == 0 {
				return
			}
			slices.Sort(delays)
			median, p95, worst := delays[len(delays)/2], delays[len(delays)*95/100], delays[len(delays)-1]
			t.Logf("%s (%s): delay median %v, p95 %v, max %v", tc.name, tc.nl.name, median, p95, worst)
			if p95 > tc.p95 || worst > tc.max {
				t.Errorf("delay p95 %v (limit %v), max %v (limit %v)", p95, tc.p95, worst, tc.max)
			}
		})
	}
}

func TestResolvedAndRealert(t *testing.T) {
	src := newSynth(1)
	// Leaks 4 MiB/min for 10 minutes, then stops.
	src.heap = func(s float64) float64 { return min(s, 600) * 4 * mib / 60 }
	d, err := NewDetector(Config{Realert: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < int(30*time.Minute/src.interval); i++ {
		s := src.next()
		for _, e := range d.Observe(&s) {
			got = append(got, fmt.Sprintf("%s %s", e.Type, e.Kind))
			if e.Type == Detected && (e.Evidence.Slope < 50_000 || e.Evidence.Slope > 90_000) {
				t.Errorf("slope %.0f B/s, want about %.0f", e.Evidence.Slope, 4.0*mib/60)
			}
		}
	}
	want := []string{"warmed-up ", "detected heap", "still-leaking heap", "still-leaking heap", "resolved heap"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", got, want)
	}
	st := d.Status()
	if st[0].State != StateWatching || st[0].Reports != 3 || st[0].Resolutions != 1 {
		t.Errorf("status %+v", st[0])
	}
}

func TestNoHeapPointWithoutGC(t *testing.T) {
	d, _ := NewDetector(Config{WarmUp: time.Second, Window: 10 * time.Second, Persist: time.Second, MinGrowth: 1, MinGrowthRatio: 1e-9})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The live heap "grows" but no GC completes: /gc/heap/live cannot have
	// changed, so there are no points and no verdict.
	for i := 0; i < 200; i++ {
		s := snapshot.Snapshot{Time: at.Add(time.Duration(i) * time.Second), HeapLive: uint64(1<<20 + i*1<<20), GCCycles: 7}
		if evs := d.Observe(&s); len(evs) > 0 && evs[0].Type != WarmedUp {
			t.Fatalf("event %v without a GC", evs[0].Type)
		}
	}
	if st := d.Status()[0]; st.Last != nil && st.Last.Samples > 1 {
		t.Errorf("heap points without GC cycles: %+v", st.Last)
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := NewDetector(Config{Window: -time.Second, MinSamples: 2, MinGrowthRatio: -1, TopSites: -3})
	for _, want := range []string{"Window", "MinSamples", "MinGrowthRatio", "TopSites"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	d, err := NewDetector(Config{MinGrowth: -1, MinGoroutineGrowth: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range d.Status() {
		if st.State != StateOff {
			t.Errorf("%s: state %s, want off", st.Kind, st.State)
		}
	}
	if c := d.Config(); c.Window != DefaultWindow || c.ResolveAfter != 2*DefaultWindow {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestStatistics(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	y := []float64{0, 2, 4, 6, 8, 100, 12, 14, 16, 18} // one wild point
	buf := make([]float64, 0, 45)
	if s := theilSen(x, y, buf); s != 2 {
		t.Errorf("Theil–Sen slope %v, want 2 despite the outlier", s)
	}
	if z := mannKendallZ(y); z < 3 {
		t.Errorf("Mann–Kendall z %v for a rising series", z)
	}
	if z := mannKendallZ([]float64{5, 5, 5, 5, 5}); z != 0 {
		t.Errorf("flat series z %v", z)
	}
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{2, 1}, 1.5}, {[]float64{5, 1, 4, 2, 3}, 3}, {[]float64{4, 4, 1, 9}, 4}} {
		if got := median(slices.Clone(tc.in)); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	src := newSynth(3)
	d, _ := NewDetector(Config{})
	for i := 0; i < 200; i++ { // past warm-up, ring filling
		s := src.next()
		d.Observe(&s)
	}
	s := src.next()
	if n := testing.AllocsPerRun(50, func() {
		s.Time = s.Time.Add(src.interval)
		s.GCCycles++
		d.Observe(&s)
	}); n != 0 {
		t.Errorf("Observe allocates %v times per call", n)
	}
}

// BenchmarkObserve is the detector's cost per snapshot with a full
// look-back (both series judged).
func BenchmarkObserve(b *testing.B) {
	src := newSynth(3)
	d, _ := NewDetector(Config{})
	for i := 0; i < 200; i++ {
		s := src.next()
		d.Observe(&s)
	}
	s := src.next()
	b.ReportAllocs()
	for b.Loop() {
		s.Time = s.Time.Add(src.interval)
		s.GCCycles++
		d.Observe(&s)
	}
}
