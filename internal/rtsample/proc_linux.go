package rtsample

import (
	"bytes"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// procReader reads /proc/self/stat through a file it keeps open (procfs
// regenerates the contents on every read at offset 0) and counts open file
// descriptors from the size the kernel reports for /proc/self/fd (Linux 6.2
// and later), falling back to a bounded directory walk.
type procReader struct {
	mu     sync.Mutex
	stat   int // fd of /proc/self/stat, -1 when unavailable
	fdDir  int // fd of /proc/self/fd, -1 when unavailable
	maxFDs int
	buf    [1024]byte
	dents  [8192]byte
	page   uint64
	start  time.Time
}

func newProcReader(maxFDs int) *procReader {
	p := &procReader{stat: -1, fdDir: -1, maxFDs: maxFDs, page: uint64(os.Getpagesize())}
	if fd, err := syscall.Open("/proc/self/stat", syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
		p.stat = fd
	}
	if maxFDs > 0 {
		if fd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0); err == nil {
			p.fdDir = fd
		}
	}
	p.start = processStart(p)
	return p
}

// processStart computes the process start time from /proc/stat's btime and
// the starttime field of /proc/self/stat. It runs once.
func processStart(p *procReader) time.Time {
	data, err := os.ReadFile("/proc/stat")
	if err != nil || p.stat < 0 {
		return time.Time{}
	}
	var btime int64
	for _, line := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			btime, _ = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	n, err := syscall.Pread(p.stat, p.buf[:], 0)
	if err != nil || btime == 0 {
		return time.Time{}
	}
	f := statFields(p.buf[:n])
	if f == nil {
		return time.Time{}
	}
	ticks := parseUint(field(f, 22))
	return time.Unix(btime, 0).Add(time.Duration(ticks) * time.Second / ClockTicks)
}

// Note: CPU time comes from /proc/self/stat (in clock ticks, 10ms) rather
// than getrusage (µs): every syscall costs microseconds on virtual machines,
// the read is on every scrape, and the tick resolution is what
// client_golang's process collector reports too.
func (p *procReader) read(out *Process) {
	*out = Process{FDs: -1, Start: p.start}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stat >= 0 {
		if n, err := syscall.Pread(p.stat, p.buf[:], 0); err == nil {
			if f := statFields(p.buf[:n]); f != nil {
				out.OK = true
				out.CPUUser = float64(parseUint(field(f, 14))) / ClockTicks
				out.CPUSystem = float64(parseUint(field(f, 15))) / ClockTicks
				out.Threads = int64(parseUint(field(f, 20)))
				out.Virtual = parseUint(field(f, 23))
				out.RSS = parseUint(field(f, 24)) * p.page
			}
		}
	}
	if !out.OK {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
			out.OK = true
			out.CPUUser = tvSeconds(ru.Utime)
			out.CPUSystem = tvSeconds(ru.Stime)
		}
	}
	if p.fdDir >= 0 {
		out.FDs, out.FDsTruncated = p.countFDs()
	}
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// countFDs returns the number of open descriptors, at most maxFDs.
func (p *procReader) countFDs() (int64, bool) {
	return countFDsAt(p.fdDir, p.maxFDs, p.dents[:])
}

// walkFDs counts directory entries of /proc/self/fd, stopping at maxFDs.
func (p *procReader) walkFDs() (int64, bool) {
	return walkFDsAt(p.fdDir, p.maxFDs, p.dents[:])
}

// CountFDs counts the open file descriptors of a process from its fd
// directory (such as /proc/1234/fd), at most limit (limit > 0; truncated
// says the count stopped there). Linux 6.2 and later report the count as
// the directory's size, which saves the walk. An unreadable directory (as
// another user's process is) gives an error matching [fs.ErrPermission].
func CountFDs(dir string, limit int) (n int64, truncated bool, err error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, false, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer syscall.Close(fd)
	var buf [8192]byte
	n, truncated = countFDsAt(fd, limit, buf[:])
	if n < 0 {
		return 0, false, &fs.PathError{Op: "readdirent", Path: dir, Err: syscall.EIO}
	}
	if n > int64(limit) {
		return int64(limit), true, nil
	}
	return n, truncated, nil
}

// countFDsAt counts the entries of the open fd directory dirFD, using buf
// for directory entries; -1 when it cannot be read. The kernel's count is
// returned as is; a walk stops at limit.
func countFDsAt(dirFD, limit int, buf []byte) (int64, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(dirFD, &st); err == nil && st.Size > 0 {
		// Linux ≥ 6.2 reports the number of open descriptors as the size.
		return st.Size, false
	}
	return walkFDsAt(dirFD, limit, buf)
}

// walkFDsAt counts the entries of the open fd directory dirFD, stopping at
// limit.
func walkFDsAt(dirFD, limit int, buf []byte) (int64, bool) {
	if _, err := syscall.Seek(dirFD, 0, 0); err != nil {
		return -1, false
	}
	var n int64
	for {
		m, err := syscall.ReadDirent(dirFD, buf)
		if err != nil {
			return -1, false
		}
		if m <= 0 {
			return n, false
		}
		n += countDirents(buf[:m])
		if n >= int64(limit) {
			return int64(limit), true
		}
	}
}

// countDirents counts entries other than "." and ".." in a linux_dirent64
// buffer.
func countDirents(buf []byte) int64 {
	var n int64
	for len(buf) >= 19 {
		reclen := int(buf[16]) | int(buf[17])<<8
		if reclen == 0 || reclen > len(buf) {
			break
		}
		name := buf[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if !(len(name) == 1 && name[0] == '.') && !(len(name) == 2 && name[0] == '.' && name[1] == '.') {
			n++
		}
		buf = buf[reclen:]
	}
	return n
}

func (p *procReader) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	if p.stat >= 0 {
		err = syscall.Close(p.stat)
		p.stat = -1
	}
	if p.fdDir >= 0 {
		if e := syscall.Close(p.fdDir); err == nil {
			err = e
		}
		p.fdDir = -1
	}
	return err
}
