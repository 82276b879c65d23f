package bench_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/results"
)

// sampled builds a result from samples drawn around mean with relative
// spread, from a fixed seed.
func sampled(name string, n int, mean, spread float64, seed uint64) results.Benchmark {
	rng := rand.New(rand.NewPCG(seed, 7))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = mean * (1 + spread*rng.NormFloat64())
	}
	st, w := results.Summarize(xs)
	return results.Benchmark{Name: name, Unit: "ns/op", Iterations: int64(n), Samples: xs, Stats: st, Warnings: w}
}

func run(bs ...results.Benchmark) *results.Run {
	return &results.Run{Schema: results.Schema, Benchmarks: bs, Environment: results.Environment{GoVersion: "go1.26", GOMAXPROCS: 2}}
}

func row(t *testing.T, c *bench.Comparison, name, unit string) bench.Row {
	t.Helper()
	for _, r := range c.Rows {
		if r.Name == name && r.Unit == unit {
			return r
		}
	}
	t.Fatalf("no row %s %s in %+v", name, unit, c.Rows)
	return bench.Row{}
}

func TestCompareSignificance(t *testing.T) {
	base := run(
		sampled("same", 20, 1000, 0.02, 1),
		sampled("slower", 20, 1000, 0.02, 2),
		sampled("faster", 20, 1000, 0.02, 3),
		sampled("slightly-slower", 20, 1000, 0.02, 4),
	)
	cur := run(
		sampled("same", 20, 1000, 0.02, 11),
		sampled("slower", 20, 1100, 0.02, 12),
		sampled("faster", 20, 800, 0.02, 13),
		sampled("slightly-slower", 20, 1030, 0.02, 14),
	)
	c := bench.Compare(base, cur, bench.CompareOptions{})
	if c.Alpha != 0.05 || c.Threshold != 0.05 {
		t.Errorf("defaults: alpha %v threshold %v", c.Alpha, c.Threshold)
	}

	same := row(t, c, "same", "ns/op")
	if !same.Tested || same.Significant || same.P <= 0.05 || same.DeltaString() != "~" || same.Status != bench.StatusUnchanged {
		t.Errorf("same: %+v delta %s", same, same.DeltaString())
	}
	slower := row(t, c, "slower", "ns/op")
	if !slower.Significant || slower.P > 0.001 || slower.Status != bench.StatusRegression || !slower.Regression() {
		t.Errorf("slower: %+v", slower)
	}
	if d := slower.DeltaString(); !strings.HasPrefix(d, "+") || math.Abs(slower.Delta-0.10) > 0.03 {
		t.Errorf("slower delta %s (%v), want about +10%%", d, slower.Delta)
	}
	if got := slower.PString(); !strings.HasPrefix(got, "p=0.000 adj=0.000 n=20") || !slower.Gated || c.Gated != 4 || c.Correction != "holm" {
		t.Errorf("PString %q", got)
	}
	faster := row(t, c, "faster", "ns/op")
	if faster.Status != bench.StatusImprovement || !strings.HasPrefix(faster.DeltaString(), "-") {
		t.Errorf("faster: %+v", faster)
	}
	// Significant, but within the 5% threshold: not a regression.
	slight := row(t, c, "slightly-slower", "ns/op")
	if !slight.Significant || slight.Status != bench.StatusUnchanged {
		t.Errorf("slightly-slower: %+v", slight)
	}
	// With no threshold it is one.
	c0 := bench.Compare(base, cur, bench.CompareOptions{Threshold: -1})
	if r := row(t, c0, "slightly-slower", "ns/op"); r.Status != bench.StatusRegression {
		t.Errorf("threshold 0: %+v", r)
	}

	if regs := c.Regressions(); len(regs) != 1 || regs[0].Name != "slower" || !c.Failed() {
		t.Errorf("regressions %+v failed %v", regs, c.Failed())
	}
	// The comparison is plain data.
	if _, err := json.Marshal(c); err != nil {
		t.Errorf("marshal: %v", err)
	}
}

func TestCompareTooFewSamples(t *testing.T) {
	c := bench.Compare(run(sampled("tiny", 3, 1000, 0.02, 1)), run(sampled("tiny", 3, 1500, 0.02, 2)), bench.CompareOptions{})
	r := row(t, c, "tiny", "ns/op")
	// With 3+3 samples the smallest possible p is 0.1: never significant.
	if r.Significant || r.DeltaString() != "~" || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0], "need >= 4 samples to detect a difference at alpha level 0.05") {
		t.Errorf("tiny: %+v", r)
	}
	if c.Failed() {
		t.Error("untestable change failed the gate")
	}
}

func TestCompareMeasuredOnceIsNotGated(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	http := func(median, rps, allocs float64) results.Benchmark {
		return results.Benchmark{Name: "GET /health", Kind: results.KindHTTP, Unit: "ns/op", Iterations: 1000,
			Stats:       results.Stats{N: 1, Mean: median, Median: median},
			AllocsPerOp: f(allocs),
			Metrics:     []results.Metric{{Unit: results.UnitReqPerSec, Value: rps, Better: "higher"}, {Unit: results.UnitErrorRate, Value: 0}}}
	}
	c := bench.Compare(run(http(1e6, 5000, 10)), run(http(1.3e6, 4000, 10)), bench.CompareOptions{})
	p := row(t, c, "GET /health", "ns/op")
	if p.Tested || p.Gated || p.Status != bench.StatusNotGated || !strings.Contains(p.Note, "measured once") {
		t.Errorf("primary: %+v", p)
	}
	if p.DeltaString() != "+30.00%" {
		t.Errorf("primary delta %s", p.DeltaString())
	}
	rps := row(t, c, "GET /health", results.UnitReqPerSec)
	if rps.Status != bench.StatusNotGated || rps.Better != "higher" || rps.DeltaString() != "-20.00%" {
		t.Errorf("req/s: %+v %s", rps, rps.DeltaString())
	}
	if a := row(t, c, "GET /health", "allocs/op"); a.Status != bench.StatusNotGated || a.DeltaString() != "0.00%" {
		t.Errorf("allocs: %+v", a)
	}
	if c.Failed() || c.Gated != 0 || c.Common != 1 {
		t.Errorf("values measured once failed the gate (gated %d)", c.Gated)
	}
	var out strings.Builder
	if err := c.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"not gated", "4 row(s) not gated: measured once (budgets apply)", "gate: 0 row(s) tested", "0 regression(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

func TestCompareMetricsWithRoundsAreShownNotGated(t *testing.T) {
	withMetric := func(b results.Benchmark, v float64) results.Benchmark {
		xs := make([]float64, len(b.Samples))
		for i := range xs {
			xs[i] = v * (1 + 0.01*float64(i%3))
		}
		b.Metrics = []results.Metric{{Unit: "MB/s", Value: v, Samples: xs, Better: "higher"}}
		return b
	}
	c := bench.Compare(run(withMetric(sampled("hash", 10, 1000, 0.01, 1), 100)), run(withMetric(sampled("hash", 10, 1000, 0.01, 2), 50)), bench.CompareOptions{})
	m := row(t, c, "hash", "MB/s")
	if !m.Tested || m.Gated || !m.Significant || m.Status != bench.StatusNotGated || m.Note != "not gated: secondary value (the primary row gates)" {
		t.Errorf("metric row %+v", m)
	}
	if c.Failed() || c.Gated != 1 {
		t.Errorf("a secondary row failed the gate: gated %d", c.Gated)
	}
}

// TestCompareFamilyWiseErrorRate draws many A/A comparisons of 20
// benchmarks with 10 rounds each from one distribution and counts how often
// the gate fails; with Holm's adjustment that rate stays at most α, where
// per-row tests fail most runs. It also checks the power the adjustment
// leaves: one benchmark 10% slower, with 2% noise, is caught every time.
func TestCompareFamilyWiseErrorRate(t *testing.T) {
	const runs, rows = 400, 20
	aa, raw, caught := 0, 0, 0
	seed := uint64(1)
	next := func() uint64 { seed++; return seed }
	for range runs {
		var base, cur, slow []results.Benchmark
		for i := range rows {
			name := fmt.Sprintf("b%02d", i)
			base = append(base, sampled(name, 10, 1000, 0.02, next()))
			cur = append(cur, sampled(name, 10, 1000, 0.02, next()))
			mean := 1000.0
			if i == 7 {
				mean = 1100
			}
			slow = append(slow, sampled(name, 10, mean, 0.02, next()))
		}
		c := bench.Compare(run(base...), run(cur...), bench.CompareOptions{Threshold: -1})
		if c.Failed() {
			aa++
		}
		for _, r := range c.Rows {
			if r.P <= 0.05 {
				raw++
				break
			}
		}
		if cs := bench.Compare(run(base...), run(slow...), bench.CompareOptions{}); len(cs.Regressions()) == 1 && cs.Regressions()[0].Name == "b07" {
			caught++
		}
	}
	if rate := float64(aa) / runs; rate > 0.05+0.03 {
		t.Errorf("A/A failure rate %.3f (%d of %d), want at most α = 0.05", rate, aa, runs)
	}
	if float64(raw)/runs < 0.3 {
		t.Errorf("unadjusted tests failed only %d of %d runs: the check has no teeth", raw, runs)
	}
	if caught != runs {
		t.Errorf("10%% slowdown caught in %d of %d runs", caught, runs)
	}
	t.Logf("A/A gate failures %d/%d; any unadjusted p ≤ 0.05 in %d/%d; 10%% slowdown caught %d/%d", aa, runs, raw, runs, caught, runs)
}

func TestCompareRefusesQuickAgainstFull(t *testing.T) {
	base, cur := run(sampled("a", 10, 1000, 0.01, 1)), run(sampled("a", 10, 1000, 0.01, 2))
	cur.Quick = true
	base.Parameters, cur.Parameters = map[string]string{"rounds": "10"}, map[string]string{"rounds": "5"}
	c := bench.Compare(base, cur, bench.CompareOptions{})
	if len(c.Incompatible) != 1 || !strings.Contains(c.Incompatible[0], "full run and the current one a quick run") {
		t.Errorf("incompatible %q", c.Incompatible)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "rounds: 10 vs 5") {
		t.Errorf("warnings %q", c.Warnings)
	}
}

func TestCompareStatuses(t *testing.T) {
	failed := sampled("broken", 10, 1000, 0.01, 5)
	failed.Error = "panic: boom"
	zero := results.Benchmark{Name: "zero", Stats: results.Stats{Median: 0}}
	zeroCur := results.Benchmark{Name: "zero", Stats: results.Stats{Median: 5, Mean: 5}}
	sec := sampled("units", 10, 1, 0.01, 6)
	sec.Unit = "sec/op"
	base := run(sampled("gone", 10, 1000, 0.01, 1), sampled("broken", 10, 1000, 0.01, 2), zero, sampled("units", 10, 1000, 0.01, 3))
	base.Environment.CPU = "Old CPU"
	cur := run(sampled("added", 10, 1000, 0.01, 4), failed, zeroCur, sec)
	cur.Environment.CPU = "New CPU"
	c := bench.Compare(base, cur, bench.CompareOptions{})
	for _, tc := range []struct {
		name   string
		status bench.Status
	}{
		{"added", bench.StatusNew}, {"broken", bench.StatusFailed}, {"zero", bench.StatusIncomparable},
		{"units", bench.StatusIncomparable}, {"gone", bench.StatusMissing},
	} {
		var found bool
		for _, r := range c.Rows {
			if r.Name == tc.name {
				found = true
				if r.Status != tc.status || r.DeltaString() != "?" || len(r.Warnings) == 0 {
					t.Errorf("%s: status %s delta %s warnings %q, want %s", tc.name, r.Status, r.DeltaString(), r.Warnings, tc.status)
				}
			}
		}
		if !found {
			t.Errorf("no row for %s", tc.name)
		}
	}
	if !c.Failed() || len(c.Regressions()) != 0 {
		t.Errorf("a failed benchmark must fail the gate without being a regression")
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "cpu: Old CPU vs New CPU") {
		t.Errorf("warnings %q", c.Warnings)
	}
	// The last row is the baseline-only benchmark.
	if last := c.Rows[len(c.Rows)-1]; last.Name != "gone" {
		t.Errorf("last row %s", last.Name)
	}
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"benchmark", "added", "failed", "warning: broken (ns/op): benchmark failed: panic: boom", "0 regression(s)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestCompareNil(t *testing.T) {
	c := bench.Compare(nil, nil, bench.CompareOptions{})
	if len(c.Rows) != 0 || c.Failed() {
		t.Errorf("%+v", c)
	}
	var nilc *bench.Comparison
	if nilc.Failed() || nilc.Regressions() != nil {
		t.Error("nil comparison failed")
	}
}

func TestCompareConfirmsWallTimeByCPUTime(t *testing.T) {
	withCPU := func(b results.Benchmark, cpu float64, seed uint64) results.Benchmark {
		c := sampled("c", len(b.Samples), cpu, 0.01, seed)
		b.Metrics = []results.Metric{{Unit: bench.UnitCPUPerOp, Value: c.Stats.Median, Samples: c.Samples}}
		return b
	}
	base := run(withCPU(sampled("hash", 10, 1000, 0.01, 1), 900, 2))
	busy := run(withCPU(sampled("hash", 10, 1300, 0.01, 3), 900, 4))
	slower := run(withCPU(sampled("hash", 10, 1300, 0.01, 5), 1170, 6))
	quicker := run(withCPU(sampled("hash", 10, 700, 0.01, 7), 900, 8))
	c := bench.Compare(base, busy, bench.CompareOptions{})
	r := row(t, c, "hash", "ns/op")
	if r.Status != bench.StatusUnchanged || c.Failed() || !strings.Contains(strings.Join(r.Warnings, ";"), "not counted as a regression, the machine was likely busier") {
		t.Errorf("busy machine: %+v", r)
	}
	r = row(t, bench.Compare(base, quicker, bench.CompareOptions{}), "hash", "ns/op")
	if r.Status != bench.StatusUnchanged || !strings.Contains(strings.Join(r.Warnings, ";"), "not counted as an improvement") {
		t.Errorf("quieter machine: %+v", r)
	}
	c = bench.Compare(base, slower, bench.CompareOptions{})
	r = row(t, c, "hash", "ns/op")
	if r.Status != bench.StatusRegression || !c.Failed() || strings.Contains(strings.Join(r.Warnings, ";"), "busier") {
		t.Errorf("slower code: %+v", r)
	}
	// A benchmark that mostly waits (CPU far below wall time) is judged
	// on wall time alone.
	waitBase := run(withCPU(sampled("sleep", 10, 1000, 0.01, 9), 100, 10))
	waitCur := run(withCPU(sampled("sleep", 10, 1300, 0.01, 11), 100, 12))
	if r := row(t, bench.Compare(waitBase, waitCur, bench.CompareOptions{}), "sleep", "ns/op"); r.Status != bench.StatusRegression {
		t.Errorf("waiting benchmark: %+v", r)
	}
}

func TestCompareWarnsOfABusyMachine(t *testing.T) {
	base := run(sampled("hash", 10, 1000, 0.01, 1))
	cur := run(sampled("hash", 10, 1000, 0.01, 2))
	base.Machine = &results.MachineLoad{OtherCPU: 0.1, Seconds: 30}
	cur.Machine = &results.MachineLoad{OtherCPU: 1.3, Seconds: 30}
	c := bench.Compare(base, cur, bench.CompareOptions{})
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "busy during the current run: other work took 1.3 CPUs") {
		t.Errorf("warnings %q", c.Warnings)
	}
	cur.Machine.OtherCPU = 0.2
	if c := bench.Compare(base, cur, bench.CompareOptions{}); len(c.Warnings) != 0 {
		t.Errorf("quiet machine: warnings %q", c.Warnings)
	}
}
