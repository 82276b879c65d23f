package rtsample

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	self, err := os.ReadFile("/proc/self/stat")
	if err == nil {
		st, err := ParseStat(self)
		if err != nil || st.Threads < 1 || st.RSSPages < 1 || st.State == 0 || st.StartTicks == 0 {
			t.Fatalf("own stat: %+v, %v", st, err)
		}
	}
	// The command name may hold spaces and parentheses.
	line := "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 12345 1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	st, err := ParseStat([]byte(line))
	want := Stat{State: 'S', UserTicks: 250, SystemTicks: 150, Threads: 7, StartTicks: 12345, Virtual: 1000000, RSSPages: 300}
	if err != nil || st != want || st.CPUSeconds() != 4 {
		t.Errorf("%+v, %v", st, err)
	}
	for _, bad := range []string{"", "42 (x", "42 (x) S 1 2", "42 (x) SS" + line[13:], strings.Replace(line, "250", "x", 1),
		strings.Replace(line, " 300 ", " -3 ", 1), strings.Replace(line, " 7 ", " 99999999999 ", 1)} {
		if _, err := ParseStat([]byte(bad)); !errors.Is(err, ErrMalformedStat) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestParseStatAllocs(t *testing.T) {
	line := []byte("42 (a) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 12345 1000000 300 1\n")
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseStat(line) }); n != 0 {
		t.Errorf("ParseStat allocates %v times", n)
	}
}

func TestCountFDs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	dir := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd"
	before, truncated, err := CountFDs(dir, 1<<20)
	if err != nil || truncated || before < 3 {
		t.Fatalf("CountFDs = %d, %v, %v", before, truncated, err)
	}
	var files []*os.File
	for range 10 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	after, _, err := CountFDs(dir, 1<<20)
	for _, f := range files {
		f.Close()
	}
	if err != nil || after-before != 10 {
		t.Errorf("opening 10 files moved the count from %d to %d (%v)", before, after, err)
	}
	if n, truncated, err := CountFDs(dir, 2); err != nil || n != 2 || !truncated {
		t.Errorf("limit 2: %d, %v, %v", n, truncated, err)
	}
	if _, _, err := CountFDs(t.TempDir()+"/missing", 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 12345 1000000 300 18446744073709551615\n"))
	f.Add([]byte("1 (x) Z"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStat(b)
		if err == nil && (st.Threads < 0 || st.CPUSeconds() < 0 || st.State == 0) {
			t.Fatalf("%+v from %q", st, b)
		}
	})
}
