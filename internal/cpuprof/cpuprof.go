// Package cpuprof arbitrates the process's one CPU profiler between the
// parts of perfagent that want it: on-demand captures (snapshot.Store),
// /debug/pprof/profile, and continuous profiling (Pyroscope or local
// rolling profiles).
//
// runtime/pprof allows one CPU profile at a time and fails the second with
// "cpu profiling already in use". Every perfagent component asks a
// [Profiler] instead of calling pprof.StartCPUProfile itself, so an
// on-demand capture never fights continuous profiling: the continuous
// profiler registers itself as the [Owner], and a one-off capture pauses it
// for its duration and resumes it after.
package cpuprof

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"sync"
	"time"
)

// ErrBusy is returned when another one-off CPU profile is already running.
var ErrBusy = errors.New("cpuprof: a CPU profile is already being taken")

// Owner is a long-running user of the CPU profiler (continuous profiling)
// that can step aside for a one-off profile.
type Owner interface {
	// PauseCPU stops the owner's CPU profiling, flushing what it has, and
	// returns when the profiler is free. ResumeCPU starts it again.
	PauseCPU(ctx context.Context) error
	ResumeCPU()
}

// Profiler hands out the CPU profiler. The zero value is ready; it is safe
// for concurrent use. One Profiler is shared by every component of an agent.
type Profiler struct {
	mu    sync.Mutex // held for the whole of a one-off profile
	omu   sync.Mutex
	owner Owner
}

// SetOwner registers the continuous profiler (nil clears it). While an
// owner is set, Profile pauses it around each one-off profile.
func (p *Profiler) SetOwner(o Owner) {
	p.omu.Lock()
	p.owner = o
	p.omu.Unlock()
}

// Profile writes a CPU profile covering d (or until ctx ends, whichever is
// first) to w in pprof format. It returns ErrBusy at once when another
// one-off profile is running, rather than queueing.
func (p *Profiler) Profile(ctx context.Context, d time.Duration, w io.Writer) error {
	if !p.mu.TryLock() {
		return ErrBusy
	}
	defer p.mu.Unlock()
	p.omu.Lock()
	owner := p.owner
	p.omu.Unlock()
	if owner != nil {
		if err := owner.PauseCPU(ctx); err != nil {
			return fmt.Errorf("cpuprof: pause continuous profiling: %w", err)
		}
		defer owner.ResumeCPU()
	}
	if err := pprof.StartCPUProfile(w); err != nil {
		return fmt.Errorf("cpuprof: %w", err)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	pprof.StopCPUProfile()
	return nil
}
