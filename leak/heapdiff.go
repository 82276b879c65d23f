package leak

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// Site is an allocation site whose in-use heap grew between two heap
// profiles.
type Site struct {
	// Function, File and Line name the site: the first frame of the
	// allocating stack outside the runtime and the standard library
	// (or, when the whole stack is theirs, outside the runtime).
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int64  `json:"line"`
	// Bytes and Objects are the in-use bytes and objects gained since the
	// baseline (sampled and scaled by the runtime's heap profiler:
	// estimates, not exact counts).
	Bytes   int64 `json:"bytes_gained"`
	Objects int64 `json:"objects_gained"`
	// InUseBytes is the site's in-use heap in the newer profile.
	InUseBytes int64 `json:"in_use_bytes"`
	// Stack is the allocating stack, innermost first, as "function
	// file:line" (at most 8 frames; the growth of every stack through
	// this site is summed).
	Stack []string `json:"stack,omitempty"`
}

// String formats a site as "function (file:line)".
func (s Site) String() string {
	return fmt.Sprintf("%s (%s:%d)", s.Function, s.File, s.Line)
}

// maxStack bounds Site.Stack.
const maxStack = 8

// DiffHeap compares two in-use heap profiles (as written by
// pprof.Lookup("heap")) and returns the top n allocation sites by in-use
// bytes gained, largest first, with the total gained over all sites. It
// fails when either profile lacks the inuse_space sample type.
func DiffHeap(base, cur *profile.Profile, n int) (sites []Site, totalBytes int64, err error) {
	bi, err := sampleIndex(base, "inuse_space")
	if err != nil {
		return nil, 0, fmt.Errorf("leak: baseline heap profile: %w", err)
	}
	ci, err := sampleIndex(cur, "inuse_space")
	if err != nil {
		return nil, 0, fmt.Errorf("leak: heap profile: %w", err)
	}
	bo, _ := sampleIndex(base, "inuse_objects")
	co, _ := sampleIndex(cur, "inuse_objects")

	type acc struct {
		site               Site
		bytes, objs, inUse int64
		stackBytes         int64 // of the stack kept in site.Stack
	}
	bySite := map[string]*acc{}
	add := func(p *profile.Profile, si, oi int, sign int64) {
		for _, s := range p.Sample {
			key, site, stack := siteOf(s)
			if key == "" {
				continue
			}
			a := bySite[key]
			if a == nil {
				a = &acc{site: site}
				bySite[key] = a
			}
			b := s.Value[si] * sign
			a.bytes += b
			if oi >= 0 {
				a.objs += s.Value[oi] * sign
			}
			if sign > 0 {
				a.inUse += s.Value[si]
				// Keep the stack contributing the most in-use bytes.
				if s.Value[si] > a.stackBytes {
					a.stackBytes = s.Value[si]
					a.site.Stack = stack
				}
			}
		}
	}
	add(base, bi, bo, -1)
	add(cur, ci, co, +1)
	for _, a := range bySite {
		if a.bytes <= 0 {
			continue
		}
		totalBytes += a.bytes
		a.site.Bytes, a.site.Objects, a.site.InUseBytes = a.bytes, a.objs, a.inUse
		sites = append(sites, a.site)
	}
	slices.SortFunc(sites, func(a, b Site) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		return cmp.Compare(a.String(), b.String())
	})
	if n >= 0 && len(sites) > n {
		sites = sites[:n]
	}
	return sites, totalBytes, nil
}

func sampleIndex(p *profile.Profile, typ string) (int, error) {
	for i, st := range p.SampleType {
		if st.Type == typ {
			return i, nil
		}
	}
	return -1, fmt.Errorf("no %s samples (not an in-use heap profile)", typ)
}

// siteOf returns the key, the site and the stack of a sample.
func siteOf(s *profile.Sample) (string, Site, []string) {
	var frames []profile.Line
	for _, loc := range s.Location {
		// Lines of one location are innermost first (inlined calls).
		frames = append(frames, loc.Line...)
	}
	pick := -1
	for i, l := range frames {
		if l.Function != nil && !isRuntime(l.Function.Name) && !isStd(l.Function.Name) {
			pick = i
			break
		}
	}
	if pick < 0 {
		for i, l := range frames {
			if l.Function != nil && !isRuntime(l.Function.Name) {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		return "", Site{}, nil
	}
	l := frames[pick]
	site := Site{Function: l.Function.Name, File: l.Function.Filename, Line: l.Line}
	var stack []string
	for _, f := range frames[pick:] {
		if len(stack) == maxStack {
			break
		}
		if f.Function != nil {
			stack = append(stack, fmt.Sprintf("%s %s:%d", f.Function.Name, f.Function.Filename, f.Line))
		}
	}
	return fmt.Sprintf("%s\x00%s\x00%d", site.Function, site.File, site.Line), site, stack
}

// isRuntime reports whether fn belongs to the runtime (or its internal
// packages), which allocates on behalf of its callers.
func isRuntime(fn string) bool {
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "runtime/") ||
		strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "sync.") || strings.HasPrefix(fn, "sync/atomic.")
}

// isStd reports whether fn is in the standard library: its import path's
// first element has no dot (and is not main).
func isStd(fn string) bool {
	path := fn
	// The package path ends at the first dot after the last slash.
	slash := strings.LastIndexByte(path, '/')
	dot := strings.IndexByte(path[slash+1:], '.')
	if dot < 0 {
		return false
	}
	pkg := path[:slash+1+dot]
	first, _, _ := strings.Cut(pkg, "/")
	return first != "main" && !strings.Contains(first, ".")
}
