package leak_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/perfagent/perfagent/leak"
	"github.com/perfagent/perfagent/snapshot"
)

var cache = map[int][]byte{}

// Profile a function: its result, and how its memory behaved.
func ExampleProfileFunction() {
	n, p, err := leak.ProfileFunction(context.Background(), func(ctx context.Context) (int, error) {
		for i := 0; i < 100; i++ {
			cache[i] = make([]byte, 64<<10) // kept: 6.25 MiB
		}
		return len(cache), nil
	}, leak.ProfileOptions{Name: "fill cache", GC: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n, p.Retained >= 6<<20, p.Leak.Suspected)
	dir, _ := os.MkdirTemp("", "perf")
	defer os.RemoveAll(dir)
	if _, err := leak.SaveProfile(dir, p); err != nil { // memory-profile-<ts>.json
		fmt.Println(err)
	}
	if _, _, err := leak.WriteChart(dir, p); err != nil { // memory-chart-<ts>.csv and .svg
		fmt.Println(err)
	}
	clear(cache)
	// Output: 100 true true
}

// Start and Stop sample memory around any code.
func ExampleStart() {
	rec := leak.Start(5 * time.Millisecond)
	time.Sleep(20 * time.Millisecond) // the workload
	p := rec.Stop()
	fmt.Println(len(p.Samples) >= 2, p.GrowthBasis != "")
	// Output: true true
}

// A Detector fed with snapshots: here a live heap growing 4 MiB a minute,
// sampled every 5 seconds with a GC in each interval.
func ExampleDetector() {
	d, _ := leak.NewDetector(leak.Config{})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 120; i++ {
		s := snapshot.Snapshot{
			Time:       start.Add(time.Duration(i) * 5 * time.Second),
			HeapLive:   64<<20 + uint64(i)*(4<<20)/12 + uint64(i%3)*100<<10,
			GCCycles:   uint64(i),
			Goroutines: snapshot.Goroutines{Total: 50},
		}
		for _, e := range d.Observe(&s) {
			if e.Type == leak.Detected {
				fmt.Printf("%s leak after %v: %s/min\n", e.Kind, e.Time.Sub(start), leak.FormatBytes(e.Evidence.Slope*60))
			}
		}
	}
	// Output: heap leak after 3m30s: 4.00MiB/min
}

// Run a workload in rounds: a cache filled in the warm-up round is
// retained, not a leak; memory kept in every round is.
func ExampleProfileRounds() {
	ctx := context.Background()
	filled := map[int][]byte{}
	p, heap, err := leak.ProfileRounds(ctx, func(ctx context.Context, round int) error {
		for i := 0; i < 64; i++ {
			filled[i] = make([]byte, 64<<10) // the same 4 MiB every round
		}
		return nil
	}, leak.RoundsOptions{Name: "fill cache"})
	if err != nil {
		fmt.Println(err)
		return
	}
	v := p.Rounds.Verdict
	fmt.Println(v.WarmUpRetained >= 4<<20, v.Suspected, heap != nil)

	var kept [][]byte
	p, _, err = leak.ProfileRounds(ctx, func(ctx context.Context, round int) error {
		for i := 0; i < 16; i++ {
			kept = append(kept, make([]byte, 64<<10)) // 1 MiB more every round
		}
		return nil
	}, leak.RoundsOptions{Name: "leak"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Rounds.Verdict.Suspected, len(kept))
	clear(filled)
	// Output:
	// true false true
	// true 80
}
