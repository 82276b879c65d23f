package snapshot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

func TestStoreWriteNamesAndCollisions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deep", "profiles") // created on the first write
	s, err := OpenStore(dir, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := s.Write("heap", t0, []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "heap-20260304T050607.890Z.pb.gz"); p1 != want {
		t.Errorf("path %s, want %s", p1, want)
	}
	// The same kind and millisecond: the name moves on, never overwrites.
	p2, err := s.Write("heap", t0.Add(300*time.Microsecond), []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "heap-20260304T050607.891Z.pb.gz"); p2 != want {
		t.Errorf("second path %s, want %s", p2, want)
	}
	if st, err := os.Stat(p1); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
	if b, _ := os.ReadFile(p1); string(b) != "one" {
		t.Errorf("first file overwritten: %q", b)
	}
	if p1 >= p2 {
		t.Errorf("names do not sort in time order: %s ≥ %s", p1, p2)
	}
	// A non-UTC time is written in UTC.
	p3, err := s.WriteFile("leak", ".json", t0.In(time.FixedZone("X", 3600)), []byte("{}"))
	if err != nil || filepath.Base(p3) != "leak-20260304T050607.890Z.json" {
		t.Errorf("WriteFile = %s, %v", p3, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	if st := s.Stats(); st.Written != 3 || st.WriteErrors != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestStoreRejectsBadNames(t *testing.T) {
	s, _ := OpenStore(t.TempDir(), StoreOptions{})
	for _, kind := range []string{"", "Heap", "../x", "a--b", "-a", "a-", "a b", "a/b"} {
		if _, err := s.Write(kind, t0, nil); err == nil {
			t.Errorf("kind %q accepted", kind)
		}
	}
	if _, err := s.WriteFile("heap", ".exe", t0, nil); err == nil {
		t.Error("extension .exe accepted")
	}
	if _, err := OpenStore("", StoreOptions{}); err == nil {
		t.Error("empty directory accepted")
	}
}

func TestStoreQuotas(t *testing.T) {
	dir := t.TempDir()
	foreign := []string{"notes.txt", "heap.pb.gz", "heap-yesterday.pb.gz", "heap-20260304T050607.890Z.pb.gz.bak"}
	for _, name := range foreign {
		if err := os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte("x"), 5000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := OpenStore(dir, StoreOptions{MaxBytes: 1000, MaxFiles: 3})
	data := bytes.Repeat([]byte("p"), 300)
	var paths []string
	for i := 0; i < 10; i++ {
		kind := []string{"heap", "cpu", "goroutine"}[i%3]
		p, err := s.Write(kind, t0.Add(time.Duration(i)*time.Second), data)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		files, _ := s.Files()
		var total int64
		for _, f := range files {
			total += f.Size
		}
		if len(files) > 3 || total > 1000 {
			t.Fatalf("after write %d: %d files, %d bytes", i, len(files), total)
		}
	}
	files, _ := s.Files()
	if len(files) != 3 || files[0].Path != paths[7] || files[2].Path != paths[9] {
		t.Errorf("kept %v, want the newest three", files)
	}
	for _, name := range foreign {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("foreign file %s touched: %v", name, err)
		}
	}
	if st := s.Stats(); st.Evicted != 7 {
		t.Errorf("evicted %d, want 7", st.Evicted)
	}
	if _, err := s.Write("heap", t0, make([]byte, 1001)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized write: %v", err)
	}
}

func TestStorePinned(t *testing.T) {
	s, _ := OpenStore(t.TempDir(), StoreOptions{MaxFiles: 2})
	base, _ := s.Write("heap", t0, []byte("baseline"))
	if !s.Pin(base) {
		t.Fatal("Pin failed")
	}
	for i := 1; i <= 5; i++ {
		if _, err := s.Write("heap", t0.Add(time.Duration(i)*time.Second), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(base); err != nil {
		t.Errorf("pinned file evicted: %v", err)
	}
	files, _ := s.Files()
	if len(files) != 2 {
		t.Errorf("%d files", len(files))
	}
	s.Unpin(base)
	s.Write("heap", t0.Add(time.Minute), []byte("y"))
	if _, err := os.Stat(base); err == nil {
		t.Error("unpinned file kept over quota")
	}
}

func TestStoreUnwritable(t *testing.T) {
	if runtime.GOOS == "windows" || os.Getuid() == 0 {
		// root ignores permissions; use a path under a regular file.
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o644)
		s, _ := OpenStore(filepath.Join(file, "sub"), StoreOptions{})
		if _, err := s.Write("heap", t0, []byte("x")); err == nil {
			t.Fatal("write under a file succeeded")
		}
		if st := s.Stats(); st.WriteErrors != 1 || st.LastError == "" {
			t.Errorf("stats %+v", st)
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o555)
	defer os.Chmod(dir, 0o755)
	s, _ := OpenStore(dir, StoreOptions{})
	if _, err := s.Write("heap", t0, []byte("x")); err == nil {
		t.Fatal("write to a read-only directory succeeded")
	}
}

func TestStoreRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, tempPrefix+"123")
	fresh := filepath.Join(dir, tempPrefix+"456")
	os.WriteFile(stale, []byte("half"), 0o644)
	os.WriteFile(fresh, []byte("in progress"), 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	s, _ := OpenStore(dir, StoreOptions{})
	s.Write("heap", t0, []byte("x"))
	if _, err := os.Stat(stale); err == nil {
		t.Error("stale temporary file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("another writer's fresh temporary file removed")
	}
}

func TestNilStore(t *testing.T) {
	var s *Store
	if _, err := s.Write("heap", t0, nil); !errors.Is(err, ErrDisabled) {
		t.Errorf("nil store write: %v", err)
	}
	if s.Dir() != "" || s.Pin("x") || s.Stats() != (StoreStats{}) {
		t.Error("nil store not inert")
	}
	s.Unpin("x")
}

func TestParseName(t *testing.T) {
	kind, at, ok := ParseName("memory-chart-20260304T050607.890Z.csv")
	if !ok || kind != "memory-chart" || !at.Equal(t0) {
		t.Errorf("got %q %v %v", kind, at, ok)
	}
	// Second-resolution names of earlier versions (perfagent monitor's).
	for _, old := range []string{"metrics-history-20260304T050607Z.json", "report-20260304T050607Z_0002.md"} {
		if _, at, ok := ParseName(old); !ok || !at.Equal(t0.Truncate(time.Second)) {
			t.Errorf("%q: %v %v", old, at, ok)
		}
	}
	for _, bad := range []string{"heap.pb.gz", "heap-20260304T050607Z_2.pb.gz", "heap-20260304T050607,890Z.pb.gz", "-20260304T050607.890Z.json", "heap-20261304T050607.890Z.json", "x-20260304T050607.890Z.txt"} {
		if _, _, ok := ParseName(bad); ok {
			t.Errorf("%q parsed as a store name", bad)
		}
	}
}

// TestStoreReplaceAndFreeTimeOf checks rewriting one of the store's files in
// place under the quotas, and a stamp free for files of several kinds.
func TestStoreReplaceAndFreeTimeOf(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, StoreOptions{MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile("report", ".md", t0, []byte("r")); err != nil {
		t.Fatal(err)
	}
	at := s.FreeTimeOf(t0, Name{Kind: "metrics-history", Ext: ".json"}, Name{Kind: "report", Ext: ".md"})
	if !at.Equal(t0.Add(time.Millisecond)) {
		t.Errorf("FreeTimeOf = %v, want a millisecond after the report's", at)
	}
	p, err := s.WriteFile("metrics-history", ".json", at, []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(p, []byte("22")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "22" {
		t.Errorf("replaced file holds %q", b)
	}
	// A third file: the oldest (the report) goes, the replaced one stays.
	if _, err := s.WriteFile("leak", ".json", t0.Add(time.Second), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(p, []byte("333")); err != nil {
		t.Fatal(err)
	}
	files, _ := s.Files()
	if len(files) != 2 || files[0].Path != p {
		t.Errorf("files %+v", files)
	}
	for _, bad := range []string{filepath.Join(t.TempDir(), "metrics-history-20260304T050607.890Z.json"), filepath.Join(dir, "notes.txt")} {
		if err := s.Replace(bad, nil); err == nil {
			t.Errorf("Replace(%s) succeeded", bad)
		}
	}
}
