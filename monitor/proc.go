package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procStat is what the monitor reads from /proc/<pid>/stat.
type procStat struct {
	state     byte    // R, S, D, Z, X, ...
	cpu       float64 // utime + stime, seconds
	threads   int64
	startTime uint64 // clock ticks after boot: with the PID, identifies the process
	rssPages  int64
}

// clockTicks is USER_HZ, the unit of times in /proc/<pid>/stat: 100 on every
// Linux architecture Go supports (the kernel's ABI, whatever CONFIG_HZ is).
const clockTicks = 100

var errMalformedStat = errors.New("malformed /proc stat line")

// parseStat reads the fields the monitor needs from the contents of
// /proc/<pid>/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errMalformedStat
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {           // up to field 24 (rss)
		return procStat{}, errMalformedStat
	}
	num := func(field int) (uint64, error) { return strconv.ParseUint(string(f[field-3]), 10, 64) }
	var st procStat
	if len(f[0]) != 1 {
		return procStat{}, errMalformedStat
	}
	st.state = f[0][0]
	ut, err1 := num(14)
	stime, err2 := num(15)
	thr, err3 := num(20)
	start, err4 := num(22)
	rss, err5 := strconv.ParseInt(string(f[24-3]), 10, 64)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil || thr > 1<<31 || rss < 0 {
		return procStat{}, errMalformedStat
	}
	st.cpu = float64(ut+stime) / clockTicks
	st.threads = int64(thr)
	st.startTime = start
	st.rssPages = rss
	return st, nil
}

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
	st, err := parseStat(b)
	if err != nil {
		return fmt.Errorf("process %d: %w", p.pid, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.start, p.started = st.startTime, true
		if c, err := os.ReadFile(filepath.Join(p.dir, "comm")); err == nil {
			if name := strings.TrimSpace(string(c)); name != "" {
				p.target.Name = name
			}
		}
	} else if st.startTime != p.start {
		return fmt.Errorf("process %d: the PID now names another process (the monitored one exited): %w", p.pid, ErrTargetGone)
	}
	if st.state == 'Z' || st.state == 'X' || st.state == 'x' {
		return fmt.Errorf("process %d: exited (state %c): %w", p.pid, st.state, ErrTargetGone)
	}
	r.Time = p.o.Now()
	r.CPUSeconds, r.HasCPU = st.cpu, true
	r.Origins[CPU] = "/proc/<pid>/stat utime+stime"
	r.Gauges.Set(RSS, float64(st.rssPages)*p.page)
	r.Origins[RSS] = "/proc/<pid>/stat rss"
	r.Gauges.Set(Threads, float64(st.threads))
	r.Origins[Threads] = "/proc/<pid>/stat num_threads"
	if s, err := os.ReadFile(filepath.Join(p.dir, "status")); err == nil {
		r.RSSPeak = parseHWM(s)
	}
	if !p.noFDs {
		n, err := countFDs(filepath.Join(p.dir, "fd"), p.o.MaxFDs)
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

// countFDs counts the entries of an fd directory, at most limit. Linux 6.2
// and later report the count as the directory's size, which saves the walk.
func countFDs(dir string, limit int) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		return int(min(fi.Size(), int64(limit))), nil
	}
	n := 0
	for n < limit {
		names, err := f.Readdirnames(256)
		n += len(names)
		if errors.Is(err, io.EOF) || (err == nil && len(names) == 0) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return min(n, limit), nil
}

// Close does nothing: a ProcessSource holds no open files between reads.
func (p *ProcessSource) Close() error { return nil }
