package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
	"github.com/perfagent/perfagent/snapshot"
)

var t0 = time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC)

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name           string
		bounds, counts []float64
		q, want        float64
		ok             bool
	}{
		{"empty", nil, nil, 0.99, 0, false},
		{"no observations", []float64{1, inf}, []float64{0, 0}, 0.99, 0, false},
		// 100 observations: 50 ≤ 1, 40 in (1,2], 10 in (2,4]: p99 at rank 99
		// is 9/10 into (2,4] → 3.8.
		{"interpolated", []float64{1, 2, 4, inf}, []float64{50, 90, 100, 100}, 0.99, 3.8, true},
		{"first bucket from zero", []float64{1, 2, inf}, []float64{100, 100, 100}, 0.5, 0.5, true},
		{"in +Inf: highest finite bound", []float64{1, 2, inf}, []float64{10, 20, 100}, 0.99, 2, true},
		{"only +Inf", []float64{inf}, []float64{5}, 0.5, 0, false},
		{"negative first bound", []float64{-1, 1, inf}, []float64{10, 10, 10}, 0.5, -1, true},
	} {
		got, ok := histogramQuantile(tc.bounds, tc.counts, tc.q)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: got %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func reading(at time.Time, cpu, gc float64, sched []float64) Reading {
	r := Reading{Time: at, CPUSeconds: cpu, HasCPU: true, GCCycles: gc, HasGC: true}
	if sched != nil {
		r.Sched = Histogram{Bounds: []float64{0.001, 0.01, math.Inf(1)}, Counts: sched}
	}
	return r
}

func TestDeriver(t *testing.T) {
	var d deriver
	s0 := d.derive(ptr(reading(t0, 10, 5, []float64{10, 10, 10})))
	if s0.Has(CPU) || s0.Has(GCRate) || s0.Has(SchedLagP99) {
		t.Errorf("the first reading has interval values: %v", s0)
	}
	// 2s later: 1 CPU second (0.5 cores), 4 GCs (2/s), 100 new latencies
	// of which 50 in (1ms, 10ms]: p99 at rank 99 is 49/50 into that
	// bucket.
	s1 := d.derive(ptr(reading(t0.Add(2*time.Second), 11, 9, []float64{60, 110, 110})))
	want := map[Series]float64{CPU: 0.5, GCRate: 2, SchedLagP99: 0.001 + 0.009*49/50}
	for s, w := range want {
		if v, ok := s1.Get(s); !ok || math.Abs(v-w) > 1e-12 {
			t.Errorf("%s = %v, %v; want %v", s.Key(), v, ok, w)
		}
	}
	// A restart: counters go down; that interval has no values, and is
	// counted.
	s2 := d.derive(ptr(reading(t0.Add(4*time.Second), 0.1, 1, []float64{1, 1, 1})))
	if s2.Has(CPU) || s2.Has(GCRate) || s2.Has(SchedLagP99) || d.resets != 1 {
		t.Errorf("after a reset: %v, resets %d", s2, d.resets)
	}
	// The run's histogram holds the first interval only (the reset
	// interval is left out).
	if v, ok := d.runSchedP99(); !ok || math.Abs(v-want[SchedLagP99]) > 1e-12 {
		t.Errorf("run p99 %v, %v", v, ok)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSampleJSON(t *testing.T) {
	var s Sample
	s.Time = t0.Add(1500 * time.Millisecond)
	s.N = 4
	s.Set(RSS, 1<<20)
	s.Set(CPU, 0.125)
	s.Set(Heap, math.NaN()) // not stored
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"time":"2026-11-25T19:00:01.5Z","readings":4,"process_cpu_utilization":0.125,"rss_bytes":1048576}`; string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	var back Sample
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != s {
		t.Errorf("round trip: %+v != %+v", back, s)
	}
	// The samples of "perfagent.monitor/v1" files, in the monitor's keys.
	var old Sample
	if err := json.Unmarshal([]byte(`{"time":"2026-11-25T19:00:01.5Z","n":4,"cpu_cores":0.125,"rss_bytes":1048576}`), &old); err != nil || old != s {
		t.Errorf("old sample: %+v, %v; want %+v", old, err, s)
	}
	// Nested fields, old and new, and the heap in use (client_golang).
	var nested Sample
	err = json.Unmarshal([]byte(`{"time":"2026-11-25T19:00:00Z","goroutines":{"total":7},"sched_latency":{"p99_seconds":0.25},"heap_in_use_bytes":9}`), &nested)
	if g, _ := nested.Get(Goroutines); err != nil || g != 7 {
		t.Errorf("goroutines.total: %v, %v", g, err)
	}
	if v, _ := nested.Get(SchedLagP99); v != 0.25 {
		t.Errorf("sched_latency.p99_seconds: %v", v)
	}
	if v, _ := nested.Get(Heap); v != 9 {
		t.Errorf("heap_in_use_bytes: %v", v)
	}
	if err := json.Unmarshal([]byte(`{"time":"2026-11-25T19:00:00Z","goroutines":7}`), &nested); err != nil || !nested.Has(Goroutines) {
		t.Errorf("old goroutines: %+v, %v", nested, err)
	}
	for _, bad := range []string{`{}`, `{"time":"x"}`, `{"time":"2026-11-25T19:00:00Z","rss_bytes":"big"}`, `{"time":"2026-11-25T19:00:00Z","n":-1}`,
		`{"time":"2026-11-25T19:00:00Z","goroutines":{"total":"x"}}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		s    Series
		in   string
		want float64
		err  string
	}{
		{RSS, "512MiB", 512 << 20, ""},
		{RSS, "1.5GB", 1.5e9, ""},
		{RSS, "1048576", 1 << 20, ""},
		{RSS, "2 KiB", 2048, ""},
		{RSS, "lots", 0, "not a size"},
		{RSS, "-1MiB", 0, "positive"},
		{SchedLagP99, "50ms", 0.05, ""},
		{SchedLagP99, "50", 0, "not a duration"},
		{CPU, "0.8", 0.8, ""},
		{CPU, "0", 0, "positive"},
		{GCCPU, "25%", 0.25, ""},
		{GCCPU, "0.1", 0.1, ""},
		{GCCPU, "150%", 0, "over 100%"},
		{Goroutines, "10000", 10000, ""},
		{Goroutines, "NaN", 0, "not a number"},
		{Goroutines, "", 0, "empty"},
		{Goroutines, "Inf", 0, "not a number"},
	} {
		got, err := tc.s.ParseLimit(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: %v, %v; want an error with %q", tc.s.Key(), tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s %q: %v, %v; want %v", tc.s.Key(), tc.in, got, err, tc.want)
		}
	}
}

func TestSeriesKeysRoundTrip(t *testing.T) {
	for s := Series(0); s < NumSeries; s++ {
		if got, ok := SeriesByKey(s.Key()); !ok || got != s {
			t.Errorf("%v", s)
		}
		b, err := s.MarshalText()
		var back Series
		if err != nil || back.UnmarshalText(b) != nil || back != s {
			t.Errorf("text round trip of %v", s)
		}
	}
	if _, err := NumSeries.MarshalText(); err == nil {
		t.Error("an invalid series marshals")
	}
}

func TestParseHWM(t *testing.T) {
	if got := parseHWM([]byte("Name:\tx\nVmPeak:\t 10 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1 kB\n")); got != 2048*1024 {
		t.Errorf("VmHWM %v", got)
	}
	if got := parseHWM([]byte("Name:\tx\n")); got != 0 {
		t.Errorf("no VmHWM: %v", got)
	}
}

// feed records n synthetic readings, one every interval, into a recorder.
func feed(rc *recorder, n int, interval time.Duration, f func(i int, r *Reading)) {
	for i := range n {
		r := Reading{Time: rc.h.StartedAt.Add(time.Duration(i) * interval)}
		f(i, &r)
		rc.record(&r)
	}
}

func newTestRecorder(t *testing.T, target Target, o Options) *recorder {
	t.Helper()
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return newRecorder(target, t0, &o)
}

func TestHistoryIsBounded(t *testing.T) {
	rc := newTestRecorder(t, Target{Kind: KindProcess, PID: 1, Name: "x"}, Options{Interval: time.Second, MaxSamples: 16})
	const n = 1000
	feed(rc, n, time.Second, func(i int, r *Reading) {
		r.Gauges.Set(RSS, float64(i))
		r.CPUSeconds, r.HasCPU = float64(i)*0.5, true
	})
	h := rc.snapshot(StatusComplete, "")
	if len(h.Samples) > 16 || cap(rc.samples) != 16 {
		t.Fatalf("%d samples kept (cap %d), bound 16", len(h.Samples), cap(rc.samples))
	}
	// 1000 readings in 16 points: halved until each point holds 64.
	if h.Downsampled != 6 {
		t.Errorf("downsampled %d times, want 6", h.Downsampled)
	}
	total := 0
	for i, s := range h.Samples {
		total += s.weight()
		if i > 0 && !s.Time.After(h.Samples[i-1].Time) {
			t.Errorf("samples out of order at %d", i)
		}
	}
	if total != n {
		t.Errorf("points stand for %d readings, want %d", total, n)
	}
	// Merged points are weighted means: the first point averages readings
	// 0..63.
	if v, _ := h.Samples[0].Get(RSS); v != 31.5 || h.Samples[0].N != 64 {
		t.Errorf("first point RSS %v over %d readings", v, h.Samples[0].N)
	}
	sm := h.Summary[RSS.Key()]
	if sm.N != n || sm.Min != 0 || sm.Max != n-1 || sm.Mean != float64(n-1)/2 || sm.Last != n-1 {
		t.Errorf("exact statistics lost: %+v", sm)
	}
	if cpu := h.Summary[CPU.Key()]; cpu.N != n-1 || math.Abs(cpu.Mean-0.5) > 1e-9 {
		t.Errorf("cpu %+v", cpu)
	}
	if len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], "downsampled") {
		t.Errorf("warnings %q", h.Warnings)
	}
	// The baseline is the first 30s: median RSS of readings 0..30, mean
	// CPU over the intervals ending in it.
	if h.System.RSSBaseline == nil || *h.System.RSSBaseline != 15 || h.System.CPUIdle == nil || *h.System.CPUIdle != 0.5 || h.System.BaselineReadings != 31 {
		t.Errorf("system %+v", h.System)
	}
}

func TestBreachEpisodes(t *testing.T) {
	rc := newTestRecorder(t, Target{Kind: KindAgent}, Options{Thresholds: []Threshold{{Series: Goroutines, Max: 10}, {Series: CPU, Max: 1}}})
	vals := []float64{5, 11, 12, 9, 15, math.NaN(), 16, 3}
	var over [][]string
	for i, v := range vals {
		r := Reading{Time: t0.Add(time.Duration(i) * time.Second)}
		r.Gauges.Set(Goroutines, v)
		over = append(over, rc.record(&r))
	}
	h := rc.snapshot(StatusComplete, "")
	// Episodes: readings 1-2, and 4-6 (a missing value neither extends nor
	// ends one).
	if len(h.Breaches) != 2 {
		t.Fatalf("breaches %+v", h.Breaches)
	}
	b0, b1 := h.Breaches[0], h.Breaches[1]
	if b0.Readings != 2 || b0.Peak != 12 || !b0.Start.Equal(t0.Add(time.Second)) || !b0.End.Equal(t0.Add(2*time.Second)) || b0.Open {
		t.Errorf("first %+v", b0)
	}
	if b1.Readings != 2 || b1.Peak != 16 || !b1.End.Equal(t0.Add(6*time.Second)) || b1.Open {
		t.Errorf("second %+v", b1)
	}
	if len(over[1]) != 1 || over[1][0] != "Goroutines 11 > 10" || len(over[0]) != 0 || len(over[5]) != 0 {
		t.Errorf("breached lists %q", over)
	}
}

func TestBreachesAreBounded(t *testing.T) {
	rc := newTestRecorder(t, Target{}, Options{Thresholds: []Threshold{{Series: Goroutines, Max: 1}}})
	feed(rc, 2*MaxBreaches+10, time.Second, func(i int, r *Reading) { r.Gauges.Set(Goroutines, float64(i%2*5)) })
	h := rc.snapshot(StatusComplete, "")
	if len(h.Breaches) != MaxBreaches || h.BreachesDropped != 5 {
		t.Errorf("%d breaches kept, %d dropped", len(h.Breaches), h.BreachesDropped)
	}
}

func TestHistoryJSONRoundTrip(t *testing.T) {
	h := syntheticHistory(t)
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadHistory(bytes.NewReader(buf.Bytes()), "h.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf2 bytes.Buffer
	if err := back.WriteJSON(&buf2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Errorf("the history changed in a round trip:\n%s\n%s", buf.String(), buf2.String())
	}
	for _, tc := range []struct{ in, want string }{
		{`{"schema":"other/v1"}`, "schema"},
		{`{"schema":"perfagent.metrics-history/v1","source":"agent","snapshots":[]}`, "agent's metrics history"},
		{`{"schema":"perfagent.monitor/v1","samples":[{"time":"2026-11-25T19:00:01Z"},{"time":"2026-11-25T19:00:00Z"}]}`, "earlier"},
		{`{"schema":"perfagent.monitor/v1","thresholds":[{"series":"nope","max":1}]}`, "unknown series"},
		{`{"schema":"perfagent.monitor/v1","thresholds":[{"series":"rss_bytes","max":-1}]}`, "positive"},
		{`{`, "unexpected"},
	} {
		if _, err := ReadHistory(strings.NewReader(tc.in), "h.json"); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "h.json") {
			t.Errorf("%s: %v, want an error naming h.json with %q", tc.in, err, tc.want)
		}
	}
}

func TestCreateFilesNeverCollide(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "monitoring")
	h := syntheticHistory(t)
	store, err := snapshot.OpenStore(dir, snapshot.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := CreateFiles(store, t0, h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := CreateFiles(store, t0, h)
	if err != nil {
		t.Fatal(err)
	}
	if a.Stem != "20261125T190000.000Z" || b.Stem != "20261125T190000.001Z" {
		t.Errorf("stems %q %q", a.Stem, b.Stem)
	}
	paths, err := a.WriteReport(h, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if paths[0] != a.Report() || len(paths) != 1+len(h.Present()) {
		t.Errorf("paths %q", paths)
	}
	svg, err := os.ReadFile(a.Chart(RSS))
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg ")) || !bytes.Contains(svg, []byte("threshold 50.0MiB")) {
		t.Errorf("RSS chart: %v\n%s", err, svg)
	}
	md, _ := os.ReadFile(a.Report())
	if !bytes.Contains(md, []byte("![RSS](report-rss-bytes-20261125T190000.000Z.svg)")) {
		t.Errorf("the report does not link the RSS chart:\n%s", md)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	under, _ := snapshot.OpenStore(filepath.Join(a.History(), "sub"), snapshot.StoreOptions{})
	if _, err := CreateFiles(under, t0, h); err == nil {
		t.Error("CreateFiles under a file succeeded")
	}
}

func TestBenchResultsMeetTheBudgets(t *testing.T) {
	h := syntheticHistory(t)
	res := h.BenchResults(results.CurrentEnvironment())
	var buf bytes.Buffer
	if err := results.WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	back, err := results.Read(&buf, "r.json")
	if err != nil {
		t.Fatalf("the results do not validate: %v", err)
	}
	r := back.Benchmarks[0]
	if r.Name != "monitor/checkout" || r.Kind != results.KindMemory || r.Unit != UnitRSS || len(r.Samples) != len(h.Samples) {
		t.Errorf("result %+v", r)
	}
	v := budget.Evaluate(&budget.Budgets{System: budget.Default().System}, back)
	got := map[string]budget.Status{}
	for _, c := range v.Checks {
		got[c.Metric] = c.Status
	}
	want := map[string]budget.Status{"memory-baseline": budget.Pass, "memory-peak": budget.Pass, "cpu-idle": budget.Fail,
		"scheduler-lag": budget.Pass, "cold-start": budget.NotMeasured}
	for k, s := range want {
		if got[k] != s {
			t.Errorf("%s: %s, want %s (%v)", k, got[k], s, v.Checks)
		}
	}
	// Tight budgets from a file fail the memory figures.
	b, err := budget.Parse("b.yaml", []byte("system:\n  memory-baseline: 1MiB\n  memory-peak: 1MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v := budget.Evaluate(&budget.Budgets{System: b.System}, back); v.Failures < 2 {
		t.Errorf("tight budgets: %+v", v)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Interval: -1},
		{Duration: -time.Second},
		{Thresholds: []Threshold{{Series: NumSeries, Max: 1}}},
		{Thresholds: []Threshold{{Series: RSS, Max: 0}}},
		{Thresholds: []Threshold{{Series: RSS, Max: math.Inf(1)}}},
	} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o, err := Options{MaxSamples: 3}.withDefaults()
	if err != nil || o.MaxSamples != 16 || o.Interval != DefaultInterval {
		t.Errorf("%+v %v", o, err)
	}
	if _, err := NewAgentSource("ftp://x", HTTPOptions{}); err == nil {
		t.Error("ftp URL accepted")
	}
	if _, err := NewPrometheusSource("localhost:9090", HTTPOptions{}); err == nil {
		t.Error("URL without scheme accepted")
	}
	if _, err := NewProcessSource(0, ProcessOptions{}); err == nil {
		t.Error("pid 0 accepted")
	}
	if _, err := NewAgentSource("http://x", HTTPOptions{Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	s, err := NewPrometheusSource("http://user:pw@127.0.0.1:1/metrics", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Target().URL, "pw") {
		t.Errorf("the password leaks into the target: %s", s.Target().URL)
	}
	if !errors.Is(ErrTargetGone, ErrTargetGone) {
		t.Fatal()
	}
}
