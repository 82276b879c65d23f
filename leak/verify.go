package leak

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/internal/rtsample"
)

// T is the part of testing.TB that [VerifyNone] uses; *testing.T and
// *testing.B satisfy it.
type T interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
}

// VerifyOption configures VerifyNone.
type VerifyOption func(*verifyConfig)

type verifyConfig struct {
	maxRetained int64
	heap        bool
	goroutines  bool
	ignore      []string
	wait        time.Duration
}

// Verify defaults.
const (
	DefaultMaxRetained = 1 << 20
	DefaultVerifyWait  = 2 * time.Second
)

// MaxRetained sets how much the live heap may grow over the test, in bytes
// (default 1 MiB).
func MaxRetained(bytes int64) VerifyOption {
	return func(c *verifyConfig) { c.maxRetained = bytes }
}

// IgnoreHeap turns the heap check off.
func IgnoreHeap() VerifyOption { return func(c *verifyConfig) { c.heap = false } }

// IgnoreGoroutines turns the goroutine check off.
func IgnoreGoroutines() VerifyOption { return func(c *verifyConfig) { c.goroutines = false } }

// IgnoreCreatedBy ignores goroutines whose creating function's name
// contains fn (e.g. "net/http.(*Transport).dialConnFor" for pooled
// connections).
func IgnoreCreatedBy(fn string) VerifyOption {
	return func(c *verifyConfig) { c.ignore = append(c.ignore, fn) }
}

// WaitFor sets how long the end-of-test check waits for goroutines to exit
// before calling them leaked (default 2s).
func WaitFor(d time.Duration) VerifyOption { return func(c *verifyConfig) { c.wait = d } }

// VerifyNone checks that the test leaks neither goroutines nor heap. Call it
// at the start of a test:
//
//	func TestCache(t *testing.T) {
//		leak.VerifyNone(t)
//		...
//	}
//
// It records the goroutines and the live heap (after a GC) now, and at the
// end of the test (in t.Cleanup, after the test's own cleanups registered
// later) it fails the test when goroutines started since are still running
// after a grace period, naming their creation sites and where they wait,
// or when the live heap (after a GC) grew by more than MaxRetained, naming
// the allocation sites that grew from a heap profile diff. Goroutines the
// runtime starts for itself are ignored.
//
// It forces garbage collections and stops the world to dump goroutines:
// it is for tests, not production code. Sites are named from the heap
// profile, which samples one allocation per runtime.MemProfileRate bytes
// (512 KiB by default): set a lower rate at the start of the test binary
// for small leaks.
func VerifyNone(t T, opts ...VerifyOption) {
	t.Helper()
	cfg := verifyConfig{maxRetained: DefaultMaxRetained, heap: true, goroutines: true, wait: DefaultVerifyWait}
	for _, o := range opts {
		o(&cfg)
	}
	r := rtsample.New(rtsample.Options{})
	existing := map[int64]bool{}
	if cfg.goroutines {
		if data, err := goroutineDumpBytes(); err == nil {
			_, _ = parseDump(bytes.NewReader(data), nil, existing)
		}
	}
	var before uint64
	var baseProfile *profile.Profile
	if cfg.heap {
		// The base profile first: it stays alive until the check, so it
		// must be in the "before" figure, not counted as growth.
		baseProfile = currentHeapProfile()
		before = liveAfterGC(r)
	}
	t.Cleanup(func() {
		t.Helper()
		if cfg.goroutines {
			if msg := leakedGoroutines(existing, cfg); msg != "" {
				t.Errorf("leak: %s", msg)
			}
		}
		if cfg.heap {
			after := liveAfterGC(r)
			if grown := int64(after) - int64(before); grown > cfg.maxRetained {
				t.Errorf("leak: the live heap grew by %s during the test (limit %s)%s",
					FormatBytes(float64(grown)), FormatBytes(float64(cfg.maxRetained)), heapSites(baseProfile))
			}
		}
	})
}

// liveAfterGC runs two GCs (the second frees what the first's finalizers
// released) and returns the live heap.
func liveAfterGC(r *rtsample.Reader) uint64 {
	runtime.GC()
	runtime.GC()
	var s rtsample.Sample
	r.Read(&s)
	v, _ := s.Uint(rtsample.HeapLive)
	return v
}

func currentHeapProfile() *profile.Profile {
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		return nil
	}
	p, err := profile.ParseData(buf.Bytes())
	if err != nil {
		return nil
	}
	return p
}

func heapSites(base *profile.Profile) string {
	cur := currentHeapProfile()
	if base == nil || cur == nil {
		return ""
	}
	sites, _, err := DiffHeap(base, cur, 5)
	if err != nil || len(sites) == 0 {
		return "; no growing site in the heap profile (sampled: lower runtime.MemProfileRate to see small leaks)"
	}
	var b strings.Builder
	b.WriteString("; growing allocation sites:")
	for _, s := range sites {
		fmt.Fprintf(&b, "\n\t+%s in %d objects at %s", FormatBytes(float64(s.Bytes)), s.Objects, s)
	}
	return b.String()
}

// leakedGoroutines waits up to cfg.wait for goroutines not in existing to
// exit and describes those that do not.
func leakedGoroutines(existing map[int64]bool, cfg verifyConfig) string {
	deadline := time.Now().Add(cfg.wait)
	delay := time.Millisecond
	for {
		data, err := goroutineDumpBytes()
		if err != nil {
			return ""
		}
		d, err := parseDump(bytes.NewReader(data), existing, nil)
		if err != nil {
			return ""
		}
		var left []GoroutineGroup
		n := 0
		for _, g := range d.Groups {
			if ignoredGroup(g, cfg.ignore) {
				continue
			}
			left = append(left, g)
			n += g.Count
		}
		if n == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			fmt.Fprintf(&b, "%d goroutines started during the test are still running after %s:", n, cfg.wait)
			for _, g := range left {
				fmt.Fprintf(&b, "\n\t%d × [%s] in %s, created by %s", g.Count, g.State, g.WaitingIn, orUnknown(g.CreatedBy))
			}
			return b.String()
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func ignoredGroup(g GoroutineGroup, ignore []string) bool {
	created, _, _ := strings.Cut(g.CreatedBy, " ")
	if created != "" && isRuntime(created) {
		return true // the runtime's own helpers (finalizers, cleanups, ...)
	}
	for _, fn := range ignore {
		if fn != "" && strings.Contains(g.CreatedBy, fn) {
			return true
		}
	}
	// The testing package's own goroutines (a parallel subtest's runner,
	// the alarm of -timeout).
	return strings.HasPrefix(created, "testing.")
}
