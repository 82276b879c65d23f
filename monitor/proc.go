package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/perfagent/perfagent/internal/rtsample"
)

// parseHWM returns VmHWM (peak resident set) in bytes from the contents of
// /proc/<pid>/status, or 0 when absent.
func parseHWM(b []byte) float64 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseUint(string(f[0]), 10, 64)
				if err == nil && (len(f) < 2 || string(f[1]) == "kB") {
					return float64(kb) * 1024
				}
			}
			return 0
		}
	}
	return 0
}

// ProcessOptions configures a [ProcessSource]. The zero value means the
// defaults.
type ProcessOptions struct {
	// MaxFDs bounds the count of open file descriptors: a process with more
	// is reported as having MaxFDs. Default [DefaultMaxFDs]; negative turns
	// FD counting off.
	MaxFDs int
	// Proc is the proc file system's mount point. Default "/proc".
	Proc string
	// Now is the clock that stamps readings. Default time.Now.
	Now func() time.Time
}

// DefaultMaxFDs is the default bound of [ProcessOptions.MaxFDs].
const DefaultMaxFDs = 1 << 20

// ProcessSource reads any local process from the proc file system (Linux):
// CPU time (utime + stime of /proc/<pid>/stat, in 10ms ticks), RSS and
// threads from the same line, the peak RSS (VmHWM of /proc/<pid>/status)
// and the number of open file descriptors (/proc/<pid>/fd; left out when
// the monitor may not read another user's descriptors).
//
// A process that exits, turns into a zombie, or whose PID now names a
// different process (a different start time) makes Read return an error
// wrapping [ErrTargetGone].
type ProcessSource struct {
	pid  int
	dir  string
	o    ProcessOptions
	page float64

	mu      sync.Mutex
	target  Target
	start   uint64 // start time of the process first read
	started bool
	noFDs   bool // the fd directory is not readable
}

var _ Source = (*ProcessSource)(nil)

// NewProcessSource returns a source for process pid. It does not read the
// process; the first Read does (and fails when there is no such process).
func NewProcessSource(pid int, o ProcessOptions) (*ProcessSource, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("monitor: pid %d: want a positive process ID", pid)
	}
	if o.MaxFDs == 0 {
		o.MaxFDs = DefaultMaxFDs
	}
	if o.Proc == "" {
		o.Proc = "/proc"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &ProcessSource{pid: pid, dir: filepath.Join(o.Proc, strconv.Itoa(pid)), o: o, page: float64(os.Getpagesize()),
		target: Target{Kind: KindProcess, PID: pid, Name: "pid-" + strconv.Itoa(pid)}}
	p.noFDs = o.MaxFDs < 0
	return p, nil
}

// Target describes the process; after the first Read its Name is the
// process's command name (/proc/<pid>/comm).
func (p *ProcessSource) Target() Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

// Read reads the process's state once.
func (p *ProcessSource) Read(_ context.Context, r *Reading) error {
	b, err := os.ReadFile(filepath.Join(p.dir, "stat"))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("process %d: no such process (it exited): %w", p.pid, ErrTargetGone)
	}
	if err != nil {
		return fmt.Errorf("process %d: %w", p.pid, err)
	}
	st, err := rtsample.ParseStat(b)
	if err != nil {
		return fmt.Errorf("process %d: %w", p.pid, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.start, p.started = st.StartTicks, true
		if c, err := os.ReadFile(filepath.Join(p.dir, "comm")); err == nil {
			if name := strings.TrimSpace(string(c)); name != "" {
				p.target.Name = name
			}
		}
	} else if st.StartTicks != p.start {
		return fmt.Errorf("process %d: the PID now names another process (the monitored one exited): %w", p.pid, ErrTargetGone)
	}
	if st.State == 'Z' || st.State == 'X' || st.State == 'x' {
		return fmt.Errorf("process %d: exited (state %c): %w", p.pid, st.State, ErrTargetGone)
	}
	r.Time = p.o.Now()
	r.CPUSeconds, r.HasCPU = st.CPUSeconds(), true
	r.Origins[CPU] = "/proc/<pid>/stat utime+stime"
	r.Gauges.Set(RSS, float64(st.RSSPages)*p.page)
	r.Origins[RSS] = "/proc/<pid>/stat rss"
	r.Gauges.Set(Threads, float64(st.Threads))
	r.Origins[Threads] = "/proc/<pid>/stat num_threads"
	if s, err := os.ReadFile(filepath.Join(p.dir, "status")); err == nil {
		r.RSSPeak = parseHWM(s)
	}
	if !p.noFDs {
		n, _, err := rtsample.CountFDs(filepath.Join(p.dir, "fd"), p.o.MaxFDs)
		switch {
		case err == nil:
			r.Gauges.Set(FDs, float64(n))
			r.Origins[FDs] = "/proc/<pid>/fd"
		case errors.Is(err, fs.ErrPermission):
			p.noFDs = true // another user's process: no FD counts, not an error
		}
	}
	return nil
}

// Close does nothing: a ProcessSource holds no open files between reads.
func (p *ProcessSource) Close() error { return nil }
