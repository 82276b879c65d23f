package rtsample

import (
	"bytes"
	"errors"
)

// ClockTicks is USER_HZ, the unit of times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports (the kernel's ABI, whatever
// CONFIG_HZ is).
const ClockTicks = 100

// ErrMalformedStat is returned by [ParseStat] for contents that are not a
// /proc/<pid>/stat line.
var ErrMalformedStat = errors.New("malformed /proc stat line")

// Stat holds the fields of /proc/<pid>/stat (proc(5)) that perfagent reads.
type Stat struct {
	State       byte   // field 3: R, S, D, Z, X, ...
	UserTicks   uint64 // field 14, utime, in [ClockTicks]
	SystemTicks uint64 // field 15, stime, in [ClockTicks]
	Threads     int64  // field 20
	StartTicks  uint64 // field 22, clock ticks after boot: with the PID, identifies the process
	Virtual     uint64 // field 23, bytes
	RSSPages    uint64 // field 24, pages
}

// CPUSeconds returns user plus system CPU time in seconds.
func (s Stat) CPUSeconds() float64 { return float64(s.UserTicks+s.SystemTicks) / ClockTicks }

// ParseStat reads a [Stat] from the contents of /proc/<pid>/stat, for any
// process; every field it needs must be present and numeric, or it returns
// [ErrMalformedStat]. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'. It does not
// allocate.
func ParseStat(b []byte) (Stat, error) {
	f := statFields(bytes.TrimRight(b, "\n"))
	if f == nil {
		return Stat{}, ErrMalformedStat
	}
	state := field(f, 3)
	if len(state) != 1 {
		return Stat{}, ErrMalformedStat
	}
	var st Stat
	st.State = state[0]
	ok := true
	num := func(n int) uint64 {
		v := field(f, n)
		if !isDigits(v) || len(v) > 19 {
			ok = false
		}
		return parseUint(v)
	}
	st.UserTicks, st.SystemTicks = num(14), num(15)
	thr := num(20)
	st.StartTicks, st.Virtual, st.RSSPages = num(22), num(23), num(24)
	if !ok || thr > 1<<31 {
		return Stat{}, ErrMalformedStat
	}
	st.Threads = int64(thr)
	return st, nil
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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
