package flightrec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	xtrace "golang.org/x/exp/trace"
)

// topN bounds each list of a Summary.
const topN = 5

type gState struct {
	name      string
	state     xtrace.GoState
	since     xtrace.Time
	runnable  time.Duration
	blocked   time.Duration
	reason    string
	where     string
	longest   time.Duration // longest single block
	curReason string
	curWhere  string
	curTask   string // the task the goroutine is in
	blockTask string // the task it was in when the wait began
	task      string // the task of its longest wait
}

// Summarize is the default [Summarizer]: it parses an execution trace (as
// the flight recorder writes it) with golang.org/x/exp/trace and sums, per
// goroutine, the time spent runnable and blocked; end is the wall-clock time
// the window was taken. It runs on the recorder's goroutine, never the
// host's.
func Summarize(data []byte, end time.Time) (Summary, error) {
	rd, err := xtrace.NewReader(bytes.NewReader(data))
	if err != nil {
		return Summary{}, fmt.Errorf("parse trace: %w", err)
	}
	gs := map[xtrace.GoID]*gState{}
	type task struct {
		name  string
		start xtrace.Time
		end   xtrace.Time
		ended bool
	}
	tasks := map[xtrace.TaskID]*task{}
	var first, last xtrace.Time
	n := 0
	for {
		ev, err := rd.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Summary{}, fmt.Errorf("parse trace: %w", err)
		}
		t := ev.Time()
		if n == 0 {
			first = t
		}
		last = t
		n++
		switch ev.Kind() {
		case xtrace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != xtrace.ResourceGoroutine {
				continue
			}
			id := st.Resource.Goroutine()
			from, to := st.Goroutine()
			g := gs[id]
			if g == nil {
				g = &gState{since: first}
				gs[id] = g
			}
			if from != xtrace.GoUndetermined {
				g.since = max(g.since, first)
			}
			if from == to && from != xtrace.GoUndetermined {
				continue // a status restated at a generation boundary
			}
			g.close(t, true)
			if from == xtrace.GoNotExist && to == xtrace.GoRunnable {
				if f := startFunc(st.Stack); f != "" {
					g.name = f
				}
			} else if g.name == "" {
				g.name = startFunc(st.Stack)
			}
			g.state, g.since = to, t
			if to == xtrace.GoWaiting && from != xtrace.GoUndetermined {
				g.curReason, g.curWhere, g.blockTask = st.Reason, blockSite(st.Stack), g.curTask
			} else if to == xtrace.GoWaiting {
				g.state = xtrace.GoUndetermined
			}
		case xtrace.EventTaskBegin:
			tk := ev.Task()
			tasks[tk.ID] = &task{name: tk.Type, start: t}
			if g := gs[ev.Goroutine()]; g != nil {
				g.curTask = tk.Type
			}
		case xtrace.EventTaskEnd:
			tk := ev.Task()
			if g := gs[ev.Goroutine()]; g != nil {
				g.curTask = ""
			}
			if x := tasks[tk.ID]; x != nil {
				x.end, x.ended = t, true
			} else {
				tasks[tk.ID] = &task{name: tk.Type, start: first, end: t, ended: true}
			}
		}
	}
	if n == 0 {
		return Summary{}, errors.New("parse trace: no events")
	}
	span := time.Duration(last - first)
	s := Summary{WindowEnd: end, WindowStart: end.Add(-span), WindowSeconds: span.Seconds(), Events: n, Goroutines: len(gs)}
	for id, g := range gs {
		g.close(last, false)
		name := g.name
		if name == "" {
			name = fmt.Sprintf("goroutine %d", id)
		}
		if g.runnable > 0 {
			s.Runnable = append(s.Runnable, GoroutineTime{ID: int64(id), Name: name, Seconds: g.runnable.Seconds()})
		}
		if g.blocked > 0 && !strings.HasPrefix(name, "runtime.") && !strings.HasPrefix(name, "runtime/") {
			s.Blocked = append(s.Blocked, GoroutineTime{ID: int64(id), Name: name, Seconds: g.blocked.Seconds(), Reason: g.reason, Where: g.where, Task: g.task})
		}
	}
	for id, tk := range tasks {
		e := tk.end
		if !tk.ended {
			e = last
		}
		s.Tasks = append(s.Tasks, TaskTime{ID: uint64(id), Name: tk.name, Seconds: time.Duration(e - tk.start).Seconds(), Ended: tk.ended})
	}
	s.Runnable = top(s.Runnable, func(x GoroutineTime) (float64, int64) { return x.Seconds, x.ID })
	s.Blocked = top(s.Blocked, func(x GoroutineTime) (float64, int64) {
		if x.Task != "" {
			return x.Seconds + 1e9, x.ID // blocked in a request first
		}
		return x.Seconds, x.ID
	})
	s.Tasks = top(s.Tasks, func(x TaskTime) (float64, int64) { return x.Seconds, int64(x.ID) })
	return s, nil
}

// close adds the time since g.since in g's current state, up to t; a wait
// counts only when it ends (ended), so idle loops blocked at the window's
// end do not rank.
func (g *gState) close(t xtrace.Time, ended bool) {
	if t <= g.since {
		return
	}
	d := time.Duration(t - g.since)
	switch g.state {
	case xtrace.GoRunnable:
		g.runnable += d
	case xtrace.GoWaiting:
		if !ended {
			break
		}
		g.blocked += d
		if d > g.longest {
			g.longest, g.reason, g.where, g.task = d, g.curReason, g.curWhere, g.blockTask
		}
	}
	g.since = t
}

// top sorts xs by key (largest first, then by id) and keeps topN.
func top[T any](xs []T, key func(T) (float64, int64)) []T {
	slices.SortFunc(xs, func(a, b T) int {
		ka, ia := key(a)
		kb, ib := key(b)
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return int(ia - ib)
	})
	if len(xs) > topN {
		xs = xs[:topN]
	}
	return xs
}

// startFunc is the outermost frame of a goroutine's stack other than
// runtime.goexit: the function it was started with.
func startFunc(s xtrace.Stack) string {
	name := ""
	for f := range s.Frames() {
		if f.Func != "" && f.Func != "runtime.goexit" {
			name = f.Func
		}
	}
	return name
}

// blockSite is the innermost frame outside the runtime and the standard
// synchronisation packages: the caller that blocked.
func blockSite(s xtrace.Stack) string {
	for f := range s.Frames() {
		if f.Func == "" || strings.HasPrefix(f.Func, "runtime.") || strings.HasPrefix(f.Func, "sync.") || strings.HasPrefix(f.Func, "internal/") {
			continue
		}
		return fmt.Sprintf("%s (%s:%d)", f.Func, f.File, f.Line)
	}
	return ""
}
