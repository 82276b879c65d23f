package load

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// runShards runs every shard of a run against srv (concurrently, from a
// common start) and returns their reports and every latency recorded.
func runShards(t *testing.T, s *Scenario, opts Options, n int) ([]*Report, *hdrhistogram.Histogram, []time.Time) {
	t.Helper()
	var mu sync.Mutex
	all := newHist()
	var intended []time.Time
	opts.OnRequest = func(r RequestRecord) {
		mu.Lock()
		defer mu.Unlock()
		if r.HasLatency {
			record(all, r.Latency)
		}
		intended = append(intended, r.Intended)
	}
	opts.StartAt = time.Now().Add(200 * time.Millisecond)
	reps := make([]*Report, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		o := opts
		o.Shard = Shard{Index: i, Count: n}
		wg.Go(func() { reps[i], errs[i] = Run(context.Background(), s, o) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return reps, all, intended
}

func shardResults(reps []*Report) []*ShardResult {
	var out []*ShardResult
	for _, r := range reps {
		out = append(out, r.ShardResult)
	}
	return out
}

func TestShardsOpenModelMergeExactly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/b" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	s := scenario(srv.URL, ep("a", "/a"), ep("b", "/b"))
	const n, total = 3, 301
	l := Load{Model: ModelOpen, Rate: 500, RampFrom: 100, RampDuration: 200 * time.Millisecond, Requests: total, Concurrency: 12}
	reps, all, intended := runShards(t, s, Options{Load: l, Rounds: 2, Seed: 7}, n)
	var sum int64
	for i, r := range reps {
		if r.Shard == nil || r.Shard.Index != i || r.Shard.Workers != 4 {
			t.Fatalf("shard %d: info %+v", i, r.Shard)
		}
		if want := share(total, i, n); r.Open.Dispatched != want || r.Total.Requests != want {
			t.Errorf("shard %d: dispatched %d, completed %d, want %d", i, r.Open.Dispatched, r.Total.Requests, want)
		}
		sum += r.Total.Requests
	}
	// The union of the shards' intended times is the run's schedule.
	start := reps[0].ShardResult.StartAt
	sched := newSchedule(l.withDefaults())
	var got, want []time.Duration
	for _, at := range intended {
		got = append(got, at.Sub(start))
	}
	for i := range int64(total) {
		want = append(want, sched.at(i))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("intended send times of the shards are not the schedule: %d sends, want %d", len(got), len(want))
	}

	rep, err := MergeShards(shardResults(reps))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Requests != sum || rep.Total.Requests != total || rep.Partial || len(rep.Merge.Missing) != 0 {
		t.Fatalf("merged %d requests (partial %v, missing %v), shards sum %d", rep.Total.Requests, rep.Partial, rep.Merge.Missing, sum)
	}
	if want := summarizeOutliers(all); rep.Total.Latency != want {
		t.Errorf("merged latency %+v\nwant (one histogram of every latency) %+v", rep.Total.Latency, want)
	}
	if rep.Open.Dispatched != total || rep.Open.Intended != total || rep.Open.Rate != 500 {
		t.Errorf("merged open model %+v", rep.Open)
	}
	b := rep.Endpoints[1]
	if b.StatusCodes["503"] != b.Requests || b.Errors != b.Requests || b.StatusLatency["5xx"].N != b.Latency.N {
		t.Errorf("endpoint b: codes %v errors %d of %d, 5xx latencies %d of %d", b.StatusCodes, b.Errors, b.Requests, b.StatusLatency["5xx"].N, b.Latency.N)
	}
	var rounds, series int64
	for _, ep := range rep.Endpoints {
		for _, rd := range ep.Rounds {
			rounds += rd.Requests
		}
	}
	for _, p := range rep.Series.Points {
		series += p.Requests
	}
	if len(rep.Rounds) != 2 || rounds != total || series != total {
		t.Errorf("merged %d rounds holding %d requests, series holding %d; want 2, %d, %d", len(rep.Rounds), rounds, series, total, total)
	}
	if v := rep.Verdict(); v.Pass {
		t.Errorf("merged verdict passed with endpoint b failing every request")
	}

	// A missing shard is named; the merge is partial.
	part, err := MergeShards(shardResults(reps[:2]))
	if err != nil {
		t.Fatal(err)
	}
	if !part.Partial || !slices.Equal(part.Merge.Missing, []int{2}) || !strings.Contains(part.Warnings[0], "shard(s) 2 of 3 missing") {
		t.Errorf("partial merge: partial %v missing %v warnings %q", part.Partial, part.Merge.Missing, part.Warnings)
	}
	if part.Total.Requests != reps[0].Total.Requests+reps[1].Total.Requests {
		t.Errorf("partial merge counted %d requests", part.Total.Requests)
	}
	// A shard twice is refused.
	if _, err := MergeShards(shardResults([]*Report{reps[0], reps[0]})); !errors.Is(err, ErrShardMismatch) {
		t.Errorf("duplicate shard: %v", err)
	}
}

func TestShardsClosedModelShareUsers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	s := scenario(srv.URL, ep("a", "/a"))
	reps, all, _ := runShards(t, s, Options{Load: Load{Concurrency: 5, Requests: 200}}, 2)
	if reps[0].Shard.Workers != 3 || reps[1].Shard.Workers != 2 || reps[0].Total.Requests != 100 || reps[1].Total.Requests != 100 {
		t.Errorf("workers %d+%d, requests %d+%d", reps[0].Shard.Workers, reps[1].Shard.Workers, reps[0].Total.Requests, reps[1].Total.Requests)
	}
	rep, err := MergeShards(shardResults(reps))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Requests != 200 || rep.Total.Latency != summarizeOutliers(all) {
		t.Errorf("merged %d requests, latency %+v", rep.Total.Requests, rep.Total.Latency)
	}
	if want := reps[0].Total.Rate + reps[1].Total.Rate; rep.Total.Rate != want {
		t.Errorf("merged rate %g, want the sum %g", rep.Total.Rate, want)
	}
}

func TestMergeRefusesOtherRuns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	run := func(path string, i int) *ShardResult {
		rep, err := Run(context.Background(), scenario(srv.URL, ep("a", path)), Options{Load: Load{Concurrency: 2, Requests: 20}, Shard: Shard{Index: i, Count: 2}})
		if err != nil {
			t.Fatal(err)
		}
		return rep.ShardResult
	}
	a, b := run("/a", 0), run("/other", 1)
	if _, err := MergeShards([]*ShardResult{a, b}); !errors.Is(err, ErrShardMismatch) || !strings.Contains(err.Error(), "another scenario") {
		t.Errorf("different scenarios: %v", err)
	}
	c := run("/a", 1)
	c.Histograms.Digits = 2
	if _, err := MergeShards([]*ShardResult{a, c}); !errors.Is(err, ErrShardMismatch) {
		t.Errorf("different histogram settings: %v", err)
	}
	c = run("/a", 1)
	c.Version = "v9.9.9"
	if _, err := MergeShards([]*ShardResult{a, c}); !errors.Is(err, ErrShardMismatch) {
		t.Errorf("different versions: %v", err)
	}

	// Files: written as one line, read back from a log, refused when
	// truncated or of another format.
	dir := t.TempDir()
	var buf bytes.Buffer
	buf.WriteString("API benchmark ...\nsome human text\n")
	if err := WriteShard(&buf, a); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "shard-0.log")
	if err := os.WriteFile(log, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := ReadShardFile(log)
	if err != nil || back.ScenarioHash != a.ScenarioHash || len(back.Endpoints) != 1 {
		t.Fatalf("reading a log's last line: %v", err)
	}
	trunc := filepath.Join(dir, "trunc.json")
	if err := os.WriteFile(trunc, buf.Bytes()[:buf.Len()-200], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadShardFile(trunc); err == nil || !strings.Contains(err.Error(), trunc) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated file: %v", err)
	}
	other := filepath.Join(dir, "other.json")
	if err := os.WriteFile(other, []byte(`{"format":"perfagent-load-shard/0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadShardFile(other); !errors.Is(err, ErrShardMismatch) || !strings.Contains(err.Error(), other) {
		t.Errorf("other format: %v", err)
	}
}

func TestShardOptionsRefused(t *testing.T) {
	s := scenario("http://127.0.0.1:1", ep("a", "/a"))
	for _, o := range []Options{
		{Shard: Shard{Index: 2, Count: 2}},
		{Shard: Shard{Index: -1, Count: 2}},
		{Shard: Shard{Count: -1}},
		{Shard: Shard{Count: 20}, Load: Load{Concurrency: 10}},
		{Shard: Shard{Count: 4}, Load: Load{Requests: 3}},
	} {
		if _, err := Run(context.Background(), s, o); err == nil || !strings.Contains(err.Error(), "options.shard") {
			t.Errorf("%+v: %v", o.Shard, err)
		}
	}
}

func TestCompactSecsAlignsOnUnixMultiples(t *testing.T) {
	h := newCoarse()
	record(h, time.Millisecond)
	e := encodeHist(h)
	pts := []secPoint{{sec: 101, d: 1, iv: intervalCounts{requests: 1}, hist: e}, {sec: 102, d: 1, iv: intervalCounts{requests: 2}, hist: e}, {sec: 103, d: 0.5, iv: intervalCounts{requests: 3}}}
	got := compactSecs(pts, 2)
	if len(got) != 2 || got[0].sec != 100 || got[0].iv.requests != 1 || got[1].sec != 102 || got[1].iv.requests != 5 || got[1].d != 1.5 {
		t.Fatalf("compacted %+v", got)
	}
	m, err := decodeHist(got[1].hist, 1, histMax, coarseDigits)
	if err != nil || m.TotalCount() != 1 {
		t.Errorf("merged histogram: %v, %d values", err, m.TotalCount())
	}
}

func TestLateShardMeasuresFromTheSharedSchedule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	start := time.Now().Add(-300 * time.Millisecond)
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/a")), Options{
		Load:  Load{Model: ModelOpen, Rate: 200, Duration: time.Second, Concurrency: 8},
		Shard: Shard{Index: 1, Count: 2}, StartAt: start})
	if err != nil {
		t.Fatal(err)
	}
	sr := rep.ShardResult
	if rep.Shard.StartLate < 300*time.Millisecond || sr.StartLate != rep.Shard.StartLate || !sr.StartAt.Equal(start) {
		t.Errorf("start late %v, want at least 300ms", rep.Shard.StartLate)
	}
	// The shard's half of the schedule from the shared start: the
	// requests already due were sent at once, late, and not counted as
	// the generator's fault.
	if o := rep.Open; o.Intended != 100 || o.Dispatched != 100 || o.Waited < 25 {
		t.Errorf("intended %d dispatched %d waited %d", o.Intended, o.Dispatched, o.Waited)
	}
	if rep.Total.Latency.Max < 250*time.Millisecond {
		t.Errorf("latency max %v: the late requests' latency must count from their intended time", rep.Total.Latency.Max)
	}
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "after --start-at") }) {
		t.Errorf("no warning about the late start: %q", rep.Warnings)
	}
	// Series points start on whole wall-clock seconds after the first.
	pts := sr.Endpoints[0].Series
	var n int64
	for i, p := range pts {
		n += p.Requests
		if i > 0 && p.Second != pts[i-1].Second+1 {
			t.Errorf("series seconds %d then %d", pts[i-1].Second, p.Second)
		}
	}
	if n != rep.Total.Requests {
		t.Errorf("series holds %d requests of %d", n, rep.Total.Requests)
	}
}

func FuzzReadAndMergeShard(f *testing.F) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/a")), Options{Load: Load{Concurrency: 2, Requests: 20}, Rounds: 2, Shard: Shard{Index: 0, Count: 2}})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteShard(&buf, rep.ShardResult); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.String())
	f.Add(`{"format":"perfagent-load-shard/1"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		sr, err := ReadShard(strings.NewReader(doc), "fuzz")
		if err != nil {
			return
		}
		// Whatever a file claims, a merge returns a report or an error.
		if rep, err := MergeShards([]*ShardResult{sr}); err == nil && rep == nil {
			t.Fatal("no report and no error")
		}
	})
}

// A merge judges saturation by the single run's rule on the merged data:
// the longest stretch behind schedule of any shard, and the merged send
// lag against the merged latency percentiles.
func TestMergeJudgesSaturationByTheRunsRule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	reps, _, _ := runShards(t, scenario(srv.URL, ep("a", "/a")), Options{Load: Load{Model: ModelOpen, Rate: 400, Requests: 80, Concurrency: 4}}, 2)
	srs := shardResults(reps)
	rep, err := MergeShards(srs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Open.Saturation == "" {
		t.Fatalf("merged report does not say why its generator verdict is what it is: %+v", rep.Open)
	}
	want := rep.Open
	got := *rep.Open
	judgeSaturation(&got, rep.Total.Latency, rep.Total.Requests)
	if got.Saturated != want.Saturated || got.Saturation != want.Saturation {
		t.Errorf("merged verdict %q, the rule on the merged figures gives %q", want.Saturation, got.Saturation)
	}

	srs[1].Open.Behind = SustainedBehind
	rep, err = MergeShards(srs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Open.Behind != SustainedBehind || !rep.Open.Saturated || !strings.Contains(rep.Open.Saturation, "fell behind its schedule") || rep.Verdict().Pass {
		t.Errorf("a shard behind its schedule for %v: merged %+v", SustainedBehind, rep.Open)
	}
}

func TestStartAfterTheWholeRunSendsNothing(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/a")), Options{
		Load: Load{Model: ModelOpen, Rate: 100, Duration: time.Second, Concurrency: 2}, StartAt: time.Now().Add(-2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Open.Dispatched != 0 || hits.Load() != 0 {
		t.Errorf("a start 2s after the shared start of a 1s run sent %d requests (%d reached the target)", rep.Open.Dispatched, hits.Load())
	}
}

// A request due before the end is sent however late the pacer wakes: a
// start 9.5s into a 10s run finds 95 of its 100 requests due and sends
// them all, and the last five on time.
func TestRequestsDueBeforeTheEndAreSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/a")), Options{
		Load: Load{Model: ModelOpen, Rate: 10, Duration: 10 * time.Second, Concurrency: 2}, StartAt: time.Now().Add(-9500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if o := rep.Open; o.Intended != 100 || o.Dispatched != 100 || o.Dropped != 0 || rep.Total.Requests != 100 {
		t.Errorf("intended %d dispatched %d dropped %d completed %d, want 100 sent", o.Intended, o.Dispatched, o.Dropped, rep.Total.Requests)
	}
}
