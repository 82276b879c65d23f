package leak

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// rounds builds rounds from live-heap levels after each round.
func roundsOf(baseline uint64, levels ...uint64) []Round {
	rs := make([]Round, len(levels))
	prev := baseline
	for i, l := range levels {
		rs[i] = Round{Index: i, WarmUp: i == 0, HeapLive: l, Retained: int64(l) - int64(baseline), Growth: int64(l) - int64(prev)}
		prev = l
	}
	return rs
}

func TestMemoryRoundsRule(t *testing.T) {
	o, err := RoundsOptions{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	const base, mib, kib = 4 << 20, 1 << 20, 1 << 10
	cases := []struct {
		name    string
		levels  []uint64
		suspect bool
		warm    int64
	}{
		{"warm-up once", []uint64{base + 2*mib, base + 2*mib + 3*kib, base + 2*mib + kib, base + 2*mib + 5*kib, base + 2*mib + 2*kib}, false, 2 * mib},
		{"steady leak", []uint64{base + 300*kib, base + 600*kib, base + 900*kib, base + 1200*kib, base + 1500*kib}, true, 300 * kib},
		{"leak after a warm-up", []uint64{base + 5*mib, base + 5*mib + 200*kib, base + 5*mib + 400*kib, base + 5*mib + 600*kib, base + 5*mib + 800*kib}, true, 5 * mib},
		{"creep under the noise floor", []uint64{base, base + 10*kib, base + 20*kib, base + 30*kib, base + 40*kib}, false, 0},
		{"rises but too little in all", []uint64{base, base + 20*kib, base + 40*kib, base + 60*kib, base + 80*kib}, false, 0},
		{"one step", []uint64{base, base + 4*mib, base + 4*mib, base + 4*mib, base + 4*mib}, false, 0},
		{"noise", []uint64{base, base + 64*kib, base + 8*kib, base + 90*kib, base + 30*kib}, false, 0},
		{"shrinks", []uint64{base + mib, base + 800*kib, base + 600*kib, base + 400*kib, base + 200*kib}, false, mib},
	}
	for _, c := range cases {
		v := judgeRounds(roundsOf(base, c.levels...), o)
		if v.Suspected != c.suspect {
			t.Errorf("%s: suspected %v, want %v (%s)", c.name, v.Suspected, c.suspect, v.Reason)
		}
		if v.WarmUpRetained != c.warm {
			t.Errorf("%s: warm-up retained %d, want %d", c.name, v.WarmUpRetained, c.warm)
		}
		if v.JudgedRounds != 4 || v.ChanceBound != 1.0/120 {
			t.Errorf("%s: judged %d, chance bound %v", c.name, v.JudgedRounds, v.ChanceBound)
		}
		if !strings.HasPrefix(v.Reason, map[bool]string{true: "leak suspected:", false: "no leak:"}[c.suspect]) {
			t.Errorf("%s: reason %q", c.name, v.Reason)
		}
	}
	v := judgeRounds(roundsOf(base, base+300*kib, base+600*kib, base+900*kib, base+1200*kib, base+1500*kib), o)
	if v.Growth != 1200*kib || v.Slope != 300*kib || v.MinGrowth != 256*kib || v.RisingRounds != 4 {
		t.Errorf("steady leak evidence %+v", v)
	}
	for _, want := range []string{"16.0KiB", "256KiB", "5%", "1/R!", "0.0083 for 5 rounds", "warm-up"} {
		if !strings.Contains(v.Rule, want) {
			t.Errorf("rule %q lacks %q", v.Rule, want)
		}
	}
	// The relative minimum applies on a large heap.
	big := uint64(100 * mib)
	v = judgeRounds(roundsOf(big, big, big+300*kib, big+600*kib, big+900*kib, big+1200*kib), o)
	if v.Suspected || v.MinGrowth != 5*mib {
		t.Errorf("1.2 MiB on a 100 MiB heap: %+v", v)
	}
	// Too few rounds completed (the workload failed) are not judged.
	v = judgeRounds(roundsOf(base, base+mib, base+2*mib), o)
	if v.Suspected || !strings.HasPrefix(v.Reason, "not judged") {
		t.Errorf("two rounds: %+v", v)
	}
	for _, n := range []int{-1, 1, 2, MaxRounds + 1} {
		if _, err := (RoundsOptions{Rounds: n}).withDefaults(); err == nil {
			t.Errorf("rounds %d accepted", n)
		}
	}
}

//go:noinline
func warmUpCache(n int) [][]byte {
	c := make([][]byte, 0, n)
	for range n {
		c = append(c, make([]byte, 64<<10))
	}
	return c
}

// garbage allocates n × 64 KiB on the heap and keeps none of it.
//
//go:noinline
func garbage(n int) {
	var sink []byte
	keep := func(b []byte) { sink = b }
	for range n {
		keep(make([]byte, 64<<10))
	}
	runtime.KeepAlive(sink)
}

// TestMemoryProfileRounds: a workload that fills a cache in its first
// round and then only makes garbage is not a leak (its cache is reported as
// retained after warm-up); one that keeps 1 MiB more every round is.
func TestMemoryProfileRounds(t *testing.T) {
	var cache [][]byte
	p, heap, err := ProfileRounds(context.Background(), func(_ context.Context, i int) error {
		if i == 0 {
			cache = warmUpCache(64) // 4 MiB
		}
		garbage(128)
		return nil
	}, RoundsOptions{Name: "warm-up", Interval: 5 * time.Millisecond})
	runtime.KeepAlive(cache)
	if err != nil || heap == nil {
		t.Fatal(err)
	}
	rs := p.Rounds
	if p.Leak.Suspected || rs.Verdict.Suspected || len(rs.Rounds) != DefaultRounds {
		t.Errorf("warm-up judged a leak: %+v", rs.Verdict)
	}
	if w := rs.Verdict.WarmUpRetained; w < 3<<20 || w > 6<<20 {
		t.Errorf("warm-up retained %d, want about 4 MiB", w)
	}
	if !rs.Rounds[0].WarmUp || rs.Rounds[1].WarmUp || rs.Rounds[0].PeakHeapInUse == 0 || rs.Rounds[0].PeakRSS == 0 {
		t.Errorf("rounds %+v", rs.Rounds)
	}
	if !p.RetainedExact || p.GrowthBasis != "rounds" || len(p.Samples) == 0 {
		t.Errorf("profile %+v", p)
	}

	var leaked [][]byte
	p, _, err = ProfileRounds(context.Background(), func(context.Context, int) error {
		leaked = append(leaked, warmUpCache(16)...) // 1 MiB a round
		garbage(64)
		return nil
	}, RoundsOptions{Name: "leak", Interval: 5 * time.Millisecond})
	runtime.KeepAlive(leaked)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Rounds.Verdict
	if !v.Suspected || !p.Leak.Suspected || v.Growth < 3<<20 || v.Slope < 900<<10 {
		t.Errorf("1 MiB per round not judged a leak: %+v", v)
	}
	if p.GrowthRate <= 0 {
		t.Errorf("growth rate %v", p.GrowthRate)
	}

	// A failing round ends the run; what was measured is kept.
	boom := errors.New("boom")
	p, _, err = ProfileRounds(context.Background(), func(_ context.Context, i int) error {
		if i == 1 {
			return boom
		}
		return nil
	}, RoundsOptions{})
	if !errors.Is(err, boom) || len(p.Rounds.Rounds) != 2 || p.Rounds.Rounds[1].Error != "boom" || p.Leak.Suspected {
		t.Errorf("failing round: %v %+v", err, p.Rounds)
	}
	p, _, err = ProfileRounds(context.Background(), func(context.Context, int) error { panic("bang") }, RoundsOptions{})
	if err == nil || !strings.Contains(err.Error(), "panicked in round 0") || len(p.Rounds.Rounds) != 1 {
		t.Errorf("panicking round: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, _, err = ProfileRounds(ctx, func(_ context.Context, i int) error {
		if i == 2 {
			cancel()
		}
		return nil
	}, RoundsOptions{})
	if !errors.Is(err, context.Canceled) || len(p.Rounds.Rounds) != 3 {
		t.Errorf("cancelled: %v, %d rounds", err, len(p.Rounds.Rounds))
	}
}

//go:noinline
func unrelatedEarlierAllocation() [][]byte {
	var b [][]byte
	for range 32 {
		b = append(b, make([]byte, 1<<20))
	}
	return b
}

//go:noinline
func workloadAllocation() [][]byte {
	var b [][]byte
	for range 32 {
		b = append(b, make([]byte, 1<<20))
	}
	return b
}

// inuseFunctions returns the functions with in-use bytes in p.
func inuseFunctions(t *testing.T, p *profile.Profile) map[string]int64 {
	t.Helper()
	i, err := sampleIndex(p, "inuse_space")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, s := range p.Sample {
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				got[l.Function.Name] += s.Value[i]
			}
		}
	}
	return got
}

// TestMemoryHeapDelta: the heap profile of a rounds run holds the
// workload's allocations and not those the process made before, and
// go tool pprof opens it.
func TestMemoryHeapDelta(t *testing.T) {
	earlier := unrelatedEarlierAllocation()
	var kept [][]byte
	_, heap, err := ProfileRounds(context.Background(), func(_ context.Context, i int) error {
		if i == 0 {
			kept = workloadAllocation()
		}
		return nil
	}, RoundsOptions{Rounds: MinRounds})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := CaptureHeapProfile()
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(earlier)
	runtime.KeepAlive(kept)
	const earlierFn, workloadFn = "leak.unrelatedEarlierAllocation", "leak.workloadAllocation"
	has := func(m map[string]int64, suffix string) bool {
		for fn, v := range m {
			if strings.HasSuffix(fn, suffix) && v > 0 {
				return true
			}
		}
		return false
	}
	// The process's own profile shows both: the test is able to fail.
	all := inuseFunctions(t, whole)
	if !has(all, earlierFn) || !has(all, workloadFn) {
		t.Fatalf("the whole heap profile lacks a site; the test cannot tell")
	}
	got := inuseFunctions(t, heap)
	if has(got, earlierFn) {
		t.Errorf("the workload's heap profile shows the earlier allocation: %v", got)
	}
	if !has(got, workloadFn) {
		t.Errorf("the workload's heap profile lacks its allocation: %v", got)
	}

	dir := t.TempDir()
	path, err := SaveHeapProfile(dir, heap, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "heap-*.pb.gz")); len(m) != 1 || m[0] != path {
		t.Errorf("files %v, path %s", m, path)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goBin, "tool", "pprof", "-top", "-sample_index=inuse_space", path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -top %s: %v\n%s", path, err, out)
	}
	if !strings.Contains(string(out), workloadFn) || strings.Contains(string(out), earlierFn) {
		t.Errorf("go tool pprof -top:\n%s", out)
	}

	if _, err := HeapDelta(nil, heap); err == nil {
		t.Error("nil base accepted")
	}
	cpu := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}}}
	if _, err := HeapDelta(cpu, heap); err == nil || !strings.Contains(err.Error(), "inuse_space") {
		t.Errorf("a CPU profile as base: %v", err)
	}
}
