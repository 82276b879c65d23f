package leak

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/google/pprof/profile"
)

// CaptureHeapProfile runs two garbage collections (the second frees what
// the first's finalizers released, and the heap profile reports the state
// as of the last completed GC) and returns the process's heap profile. The
// GCs make it unsuitable for periodic use.
func CaptureHeapProfile() (*profile.Profile, error) {
	runtime.GC()
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		return nil, fmt.Errorf("leak: heap profile: %w", err)
	}
	p, err := profile.ParseData(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("leak: heap profile: %w", err)
	}
	return p, nil
}

// HeapDelta returns what happened to the heap between two heap profiles
// of one process (base taken before cur, as by [CaptureHeapProfile]): a
// heap profile, which `go tool pprof` opens, whose alloc_space and
// alloc_objects are the allocations made in between and whose inuse_space
// and inuse_objects are the memory allocated in between that is still in
// use, by allocating stack. base and cur are not modified.
//
// Note: a stack's in-use figure below zero (it held less at the end than
// at the start: memory allocated before base and freed since) is set to
// zero, and stacks left with no value are dropped, so the profile shows
// the workload's allocations alone and nothing allocated before it. Values
// are the runtime's sampled estimates (one sample per
// runtime.MemProfileRate bytes allocated).
func HeapDelta(base, cur *profile.Profile) (*profile.Profile, error) {
	if base == nil || cur == nil {
		return nil, fmt.Errorf("leak: heap delta: nil profile")
	}
	for _, typ := range []string{"inuse_space", "alloc_space"} {
		if _, err := sampleIndex(base, typ); err != nil {
			return nil, fmt.Errorf("leak: heap delta: base profile: %w", err)
		}
		if _, err := sampleIndex(cur, typ); err != nil {
			return nil, fmt.Errorf("leak: heap delta: profile: %w", err)
		}
	}
	neg := base.Copy()
	neg.Scale(-1)
	d, err := profile.Merge([]*profile.Profile{cur, neg})
	if err != nil {
		return nil, fmt.Errorf("leak: heap delta: %w", err)
	}
	// Allocation counts only grow between two profiles of one process, so
	// clamping every value at zero changes only the in-use figures.
	kept := d.Sample[:0]
	for _, s := range d.Sample {
		nonzero := false
		for i, v := range s.Value {
			s.Value[i] = max(v, 0)
			nonzero = nonzero || v > 0
		}
		if nonzero {
			kept = append(kept, s)
		}
	}
	d.Sample = kept
	d.TimeNanos = cur.TimeNanos
	if base.TimeNanos > 0 && cur.TimeNanos > base.TimeNanos {
		d.DurationNanos = cur.TimeNanos - base.TimeNanos
	}
	d.Comments = append(d.Comments, "perfagent: heap delta, allocations between two heap profiles of one process")
	return d.Compact(), nil
}

// SaveHeapProfile writes p (gzipped) to dir as heap-<ts>.pb.gz atomically,
// under the directory's default quotas, and returns the path.
func SaveHeapProfile(dir string, p *profile.Profile, at time.Time) (string, error) {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		return "", fmt.Errorf("leak: heap profile: %w", err)
	}
	s, err := openStore(dir)
	if err != nil {
		return "", err
	}
	return s.Write("heap", at, buf.Bytes())
}
