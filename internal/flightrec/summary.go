package flightrec

import "time"

// Summarizer computes a [Summary] from an execution trace as the flight
// recorder writes it; end is the wall-clock time the window was taken.
//
// [Summarize], on golang.org/x/exp/trace, is the default.
type Summarizer func(trace []byte, end time.Time) (Summary, error)

// Summary is what a trace window shows at a glance: its span and the
// goroutines and tasks that waited longest in it.
type Summary struct {
	// WindowStart and WindowEnd bound the window on the wall clock (the
	// end is when it was taken). From says how they were found: "trace"
	// (the span of the trace's events, by a Summarizer) or "config" (the
	// configured window, which the trace covers at least unless MaxBytes
	// cut it short).
	From          string    `json:"window_from"`
	WindowStart   time.Time `json:"window_start"`
	WindowEnd     time.Time `json:"window_end"`
	WindowSeconds float64   `json:"window_seconds"`
	Events        int       `json:"events"`
	Goroutines    int       `json:"goroutines"`
	// Runnable are the goroutines that waited longest to run (runnable,
	// not running) in the window, longest first.
	Runnable []GoroutineTime `json:"runnable_longest"`
	// Blocked are the goroutines that were blocked longest (waiting on a
	// channel, lock, I/O, sleep...) in waits that began and ended in the
	// window, those blocked inside a task (a request) first, then longest
	// first. Runtime goroutines and waits still open at the end (idle
	// loops) are left out.
	Blocked []GoroutineTime `json:"blocked_longest"`
	// Tasks are the longest runtime/trace tasks (requests, when the
	// middleware opens them) of the window, longest first; tasks begun
	// before the window count from its start.
	Tasks []TaskTime `json:"tasks_longest"`
}

// GoroutineTime is one goroutine's time in a state over the window.
type GoroutineTime struct {
	ID int64 `json:"id"`
	// Name is the goroutine's start function (or its outermost known
	// frame).
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	// Reason is what the goroutine blocked on longest (blocked only).
	Reason string `json:"reason,omitempty"`
	// Where is the innermost non-runtime frame where it blocked longest.
	Where string `json:"where,omitempty"`
	// Task is the task the goroutine was in when it blocked longest.
	Task string `json:"task,omitempty"`
}

// TaskTime is one task in the window.
type TaskTime struct {
	ID      uint64  `json:"id"`
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	// Ended is false for a task still open when the window was taken.
	Ended bool `json:"ended"`
}
