package rtsample

import (
	"bytes"
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

// clockTicks is USER_HZ, the unit of /proc/self/stat times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

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
	return time.Unix(btime, 0).Add(time.Duration(ticks) * time.Second / clockTicks)
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
				out.CPUUser = float64(parseUint(field(f, 14))) / clockTicks
				out.CPUSystem = float64(parseUint(field(f, 15))) / clockTicks
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
	var st syscall.Stat_t
	if err := syscall.Fstat(p.fdDir, &st); err == nil && st.Size > 0 {
		// Linux ≥ 6.2 reports the number of open descriptors as the size.
		return st.Size, false
	}
	return p.walkFDs()
}

// walkFDs counts directory entries of /proc/self/fd, stopping at maxFDs.
func (p *procReader) walkFDs() (int64, bool) {
	if _, err := syscall.Seek(p.fdDir, 0, 0); err != nil {
		return -1, false
	}
	var n int64
	for {
		m, err := syscall.ReadDirent(p.fdDir, p.dents[:])
		if err != nil {
			return -1, false
		}
		if m <= 0 {
			return n, false
		}
		n += countDirents(p.dents[:m])
		if n >= int64(p.maxFDs) {
			return int64(p.maxFDs), true
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

// statFields returns the part of /proc/self/stat after the command name
// (which may contain spaces and parentheses), starting at field 3.
func statFields(b []byte) []byte {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return b[i+2:]
}

// field returns field n (1-based, as in proc(5)) from the slice statFields
// returned, which starts at field 3.
func field(f []byte, n int) []byte {
	for i := 3; i < n; i++ {
		j := bytes.IndexByte(f, ' ')
		if j < 0 {
			return nil
		}
		f = f[j+1:]
	}
	if j := bytes.IndexByte(f, ' '); j >= 0 {
		f = f[:j]
	}
	return f
}

func parseUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	return v
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
