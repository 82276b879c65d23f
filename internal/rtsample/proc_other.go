//go:build !linux

package rtsample

import (
	"errors"
	"io/fs"
	"syscall"
)

// procReader reads process CPU time with getrusage where /proc is absent;
// RSS, threads and file descriptors are not reported.
type procReader struct{}

func newProcReader(int) *procReader { return &procReader{} }

func (p *procReader) read(out *Process) {
	*out = Process{FDs: -1}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		out.OK = true
		out.CPUUser = float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6
		out.CPUSystem = float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
	}
}

func (p *procReader) close() error { return nil }

// CountFDs counts the open file descriptors of a process from its fd
// directory. Without /proc it returns [errors.ErrUnsupported].
func CountFDs(dir string, limit int) (n int64, truncated bool, err error) {
	return 0, false, &fs.PathError{Op: "open", Path: dir, Err: errors.ErrUnsupported}
}
