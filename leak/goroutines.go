package leak

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

// GoroutineGroup is a set of goroutines with the same state, stack and
// creation site.
type GoroutineGroup struct {
	// State is the goroutine's wait reason ("chan receive", "select",
	// "IO wait", ...) without how long it has waited.
	State string `json:"state"`
	// WaitingIn is the innermost frame outside the runtime: where the
	// goroutines are parked ("function file:line").
	WaitingIn string `json:"waiting_in"`
	// CreatedBy is the function and place of the go statement that
	// started them ("function file:line"; empty for the main goroutine).
	CreatedBy string `json:"created_by"`
	// Count is the number of goroutines in the group; Gained the increase
	// since the baseline (in a diff).
	Count  int `json:"count"`
	Gained int `json:"gained,omitempty"`
	// Stack is the group's stack, innermost first, at most 8 frames.
	Stack []string `json:"stack,omitempty"`
}

// GoroutineDump is a goroutine dump (pprof goroutine profile, debug=2)
// grouped by state, stack and creation site.
type GoroutineDump struct {
	Total  int              `json:"total"`
	Groups []GoroutineGroup `json:"groups"`
	// Truncated is true when the dump was cut (at the size bound, or at
	// the group bound: the rest is counted in Total only).
	Truncated bool `json:"truncated,omitempty"`
}

// Bounds of goroutine dumps.
const (
	maxDumpBytes = 64 << 20 // the runtime's own limit for debug=2 dumps
	maxGroups    = 10_000
)

// TakeGoroutineDump writes the current goroutines' stacks (the goroutine
// profile with debug=2, which names each goroutine's creator) and groups
// them. It stops the world for the time the runtime takes to collect every
// stack: take it when a goroutine leak is suspected, not periodically.
func TakeGoroutineDump() (*GoroutineDump, error) {
	data, err := goroutineDumpBytes()
	if err != nil {
		return nil, err
	}
	return ParseGoroutineDump(bytes.NewReader(data))
}

// goroutineDumpBytes returns the debug=2 goroutine dump, cut at
// maxDumpBytes.
func goroutineDumpBytes() ([]byte, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&limitWriter{w: &buf, n: maxDumpBytes}, 2); err != nil && !errors.Is(err, errLimit) {
		return nil, fmt.Errorf("leak: goroutine dump: %w", err)
	}
	return buf.Bytes(), nil
}

var errLimit = errors.New("leak: size limit reached")

// limitWriter writes at most n bytes to w, then fails with errLimit.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	cut := false
	if int64(len(p)) > l.n {
		p, cut = p[:l.n], true
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err == nil && cut {
		err = errLimit
	}
	return n, err
}

// ParseGoroutineDump reads a goroutine dump in the format of
// runtime.Stack(all=true) and pprof's goroutine profile with debug=2, and
// groups the goroutines. Unknown lines are skipped; a dump that does not
// start with a goroutine header is an error naming the line.
func ParseGoroutineDump(r io.Reader) (*GoroutineDump, error) {
	return parseDump(r, nil, nil)
}

// parseDump parses a dump, leaving out goroutines whose ID is in skip, and
// records the ID of every goroutine in the dump in seen when seen is not
// nil. Membership, not order: the runtime hands out goroutine IDs from
// per-P batches, so a goroutine started later can have a smaller ID than
// one started earlier; IDs are never reused.
func parseDump(r io.Reader, skip, seen map[int64]bool) (*GoroutineDump, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	d := &GoroutineDump{}
	groups := map[string]*GoroutineGroup{}
	var cur *goroutineParse
	flush := func() {
		if cur == nil || cur.skip {
			cur = nil
			return
		}
		d.Total++
		key := cur.key()
		g := groups[key]
		if g == nil {
			if len(groups) >= maxGroups {
				d.Truncated = true
				cur = nil
				return
			}
			g = &GoroutineGroup{State: cur.state, CreatedBy: cur.createdBy(), WaitingIn: cur.waitingIn(), Stack: cur.stack()}
			groups[key] = g
		}
		g.Count++
		cur = nil
	}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":"):
			flush()
			id, state, ok := parseHeader(line)
			if !ok {
				return nil, fmt.Errorf("leak: goroutine dump line %d: malformed header %q", lineNo, truncate(line, 80))
			}
			if seen != nil {
				seen[id] = true
			}
			cur = &goroutineParse{state: state, skip: skip[id]}
		case cur == nil:
			if strings.TrimSpace(line) == "" {
				continue
			}
			return nil, fmt.Errorf("leak: goroutine dump line %d: %q before any goroutine header", lineNo, truncate(line, 80))
		case line == "":
			flush()
		case strings.HasPrefix(line, "\t"):
			cur.addFile(strings.TrimSpace(line))
		case strings.HasPrefix(line, "created by "):
			fn := strings.TrimPrefix(line, "created by ")
			if i := strings.Index(fn, " in goroutine "); i >= 0 {
				fn = fn[:i]
			}
			cur.createdFn = fn
			cur.inCreated = true
		case strings.HasPrefix(line, "...") || strings.HasPrefix(line, "\t..."):
			// "...additional frames elided..."
		default:
			cur.addFunc(line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("leak: goroutine dump line %d: %w", lineNo+1, err)
	}
	flush()
	for _, g := range groups {
		d.Groups = append(d.Groups, *g)
	}
	sortGroups(d.Groups, func(g GoroutineGroup) int { return g.Count })
	return d, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func sortGroups(gs []GoroutineGroup, by func(GoroutineGroup) int) {
	slices.SortFunc(gs, func(a, b GoroutineGroup) int {
		if c := cmp.Compare(by(b), by(a)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.CreatedBy, b.CreatedBy); c != 0 {
			return c
		}
		return cmp.Compare(a.WaitingIn, b.WaitingIn)
	})
}

// parseHeader reads "goroutine 18 [chan receive, 2 minutes]:" (and the
// variants with "gp=... m=..." or ", locked to thread") and returns the
// goroutine's ID and state.
func parseHeader(line string) (int64, string, bool) {
	i := strings.IndexByte(line, '[')
	j := strings.LastIndexByte(line, ']')
	if i < 0 || j < i {
		return 0, "", false
	}
	fields := strings.Fields(line[len("goroutine "):i])
	if len(fields) == 0 {
		return 0, "", false
	}
	id, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || id < 0 {
		return 0, "", false
	}
	state := line[i+1 : j]
	// Drop what varies between goroutines of one group: the wait time,
	// "locked to thread", sync bubble marks.
	parts := strings.Split(state, ", ")
	keep := parts[:1]
	for _, p := range parts[1:] {
		if strings.HasSuffix(p, " minutes") || strings.HasSuffix(p, " minute") || p == "locked to thread" || p == "durable" {
			continue
		}
		keep = append(keep, p)
	}
	return id, strings.Join(keep, ", "), true
}

type goroutineParse struct {
	skip      bool
	state     string
	funcs     []string // innermost first
	files     []string
	createdFn string
	createdAt string
	inCreated bool
}

func (g *goroutineParse) addFunc(line string) {
	if g.inCreated {
		return
	}
	// "main.worker(0xc000010000, ...)" → "main.worker"; methods keep their
	// receiver: "main.(*T).run(...)" → "main.(*T).run".
	if strings.HasSuffix(line, ")") {
		if i := strings.LastIndexByte(line, '('); i > 0 {
			line = line[:i]
		}
	}
	g.funcs = append(g.funcs, line)
}

func (g *goroutineParse) addFile(line string) {
	// "/path/file.go:20 +0x2b" → "/path/file.go:20"
	if i := strings.LastIndex(line, " +0x"); i >= 0 {
		line = line[:i]
	}
	if g.inCreated {
		if g.createdAt == "" {
			g.createdAt = line
		}
		return
	}
	if len(g.files) < len(g.funcs) {
		g.files = append(g.files, line)
	}
}

func (g *goroutineParse) frame(i int) string {
	if i < len(g.files) {
		return g.funcs[i] + " " + g.files[i]
	}
	return g.funcs[i]
}

func (g *goroutineParse) waitingIn() string {
	for i, f := range g.funcs {
		if !isRuntime(f) {
			return g.frame(i)
		}
	}
	if len(g.funcs) > 0 {
		return g.frame(0)
	}
	return ""
}

func (g *goroutineParse) stack() []string {
	var out []string
	for i := range g.funcs {
		if len(out) == maxStack {
			break
		}
		out = append(out, g.frame(i))
	}
	return out
}

func (g *goroutineParse) createdBy() string {
	if g.createdFn == "" {
		return ""
	}
	if g.createdAt != "" {
		return g.createdFn + " " + g.createdAt
	}
	return g.createdFn
}

// key groups goroutines by state, function stack (without lines: a loop
// parks at one line) and creation site.
func (g *goroutineParse) key() string {
	var b strings.Builder
	b.WriteString(g.state)
	b.WriteByte(0)
	for i, f := range g.funcs {
		b.WriteString(f)
		if i < len(g.files) {
			b.WriteByte(' ')
			b.WriteString(g.files[i])
		}
		b.WriteByte('\n')
	}
	b.WriteByte(0)
	b.WriteString(g.createdBy())
	return b.String()
}

// DiffGoroutines returns the groups of cur that grew since base, by
// goroutines gained, largest first (at most n).
func DiffGoroutines(base, cur *GoroutineDump, n int) []GoroutineGroup {
	type key struct{ state, waiting, created string }
	before := map[key]int{}
	if base != nil {
		for _, g := range base.Groups {
			before[key{g.State, g.WaitingIn, g.CreatedBy}] += g.Count
		}
	}
	var out []GoroutineGroup
	for _, g := range cur.Groups {
		k := key{g.State, g.WaitingIn, g.CreatedBy}
		gained := g.Count - before[k]
		before[k] = max(0, before[k]-g.Count) // a group split across stacks counts once
		if gained > 0 {
			g.Gained = gained
			out = append(out, g)
		}
	}
	sortGroups(out, func(g GoroutineGroup) int { return g.Gained })
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// LeakedGoroutines is what the runtime's goroutineleak profile found:
// goroutines blocked on concurrency primitives no running goroutine can
// reach, so they can never be woken (Go 1.26 with
// GOEXPERIMENT=goroutineleakprofile).
type LeakedGoroutines struct {
	// Available reports whether the running binary has the profile.
	Available bool `json:"available"`
	// Count is the number of leaked goroutines found.
	Count int `json:"count"`
	// Groups are the leaked goroutines by stack, largest first (their
	// CreatedBy is empty: the profile does not record it).
	Groups []GoroutineGroup `json:"groups,omitempty"`
	// Profile is the path of the profile written, when one was.
	Profile string `json:"profile,omitempty"`
}

// GoroutineLeakProfile returns the runtime's goroutineleak profile, or nil
// when the running binary lacks it (built without
// GOEXPERIMENT=goroutineleakprofile). Writing it runs a garbage collection
// that finds the leaked goroutines.
func GoroutineLeakProfile() *pprof.Profile {
	return pprof.Lookup("goroutineleak")
}

// GroupProfile groups the samples of a goroutine (or goroutineleak)
// profile by stack and returns the total and the top n groups.
func GroupProfile(p *profile.Profile, n int) (int, []GoroutineGroup) {
	groups := map[string]*GoroutineGroup{}
	total := 0
	for _, s := range p.Sample {
		if len(s.Value) == 0 {
			continue
		}
		count := int(s.Value[0])
		total += count
		var frames []string
		waiting := ""
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function == nil {
					continue
				}
				f := fmt.Sprintf("%s %s:%d", l.Function.Name, l.Function.Filename, l.Line)
				if waiting == "" && !isRuntime(l.Function.Name) {
					waiting = f
				}
				if len(frames) < maxStack {
					frames = append(frames, f)
				}
			}
		}
		key := strings.Join(frames, "\n")
		g := groups[key]
		if g == nil {
			g = &GoroutineGroup{WaitingIn: waiting, Stack: frames}
			groups[key] = g
		}
		g.Count += count
	}
	out := make([]GoroutineGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	sortGroups(out, func(g GoroutineGroup) int { return g.Count })
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return total, out
}
