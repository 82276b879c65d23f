package outfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStamp(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 123e6, time.UTC)
	if s := Stamp(t0.Add(456)); s != "20261202T160000.123Z" {
		t.Fatalf("Stamp %q", s)
	}
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"20261202T160000.123Z", t0, true},
		{"20261202T160000Z", t0.Truncate(time.Second), true},      // earlier versions
		{"20261202T160000Z_0002", t0.Truncate(time.Second), true}, // and their collision suffix
		{"20261202T160000Z_0001", time.Time{}, false},
		{"20261202T160000Z_02", time.Time{}, false},
		{"20261202T160000,123Z", time.Time{}, false},
		{"20261302T160000.123Z", time.Time{}, false},
		{"", time.Time{}, false},
	} {
		got, ok := ParseStamp(c.in)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("ParseStamp(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if p, at, ok := SplitStamp("memory-chart-20261202T160000.123Z"); !ok || p != "memory-chart" || !at.Equal(t0) {
		t.Errorf("SplitStamp: %q %v %v", p, at, ok)
	}
}

func TestLinkIsExclusiveAndReplaceAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	tmp, err := WriteTemp(dir, Bytes([]byte("one")))
	if err != nil {
		t.Fatal(err)
	}
	if err := Link(tmp, path); err != nil {
		t.Fatal(err)
	}
	os.Remove(tmp)
	tmp2, err := WriteTemp(dir, Bytes([]byte("two")))
	if err != nil {
		t.Fatal(err)
	}
	if err := Link(tmp2, path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second link: %v, want fs.ErrExist", err)
	}
	os.Remove(tmp2)
	if err := Replace(path, func(w io.Writer) error { io.WriteString(w, "half"); return errors.New("boom") }); err == nil {
		t.Error("a failed write replaced the file")
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("after a failed replace: %q", b)
	}
	if err := Replace(path, Bytes([]byte("three"))); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three" {
		t.Errorf("after replace: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", info.Mode(), err)
	}
}
