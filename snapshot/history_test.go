package snapshot

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func snapAt(i int) Snapshot {
	return Snapshot{Time: t0.Add(time.Duration(i) * time.Second), HeapLive: uint64(i)}
}

func TestHistoryRing(t *testing.T) {
	h := NewHistory(4)
	if _, ok := h.Latest(); ok || h.Len() != 0 {
		t.Fatal("new history not empty")
	}
	for i := 0; i < 10; i++ {
		s := snapAt(i)
		h.Add(&s)
	}
	got := h.Snapshots(nil)
	if len(got) != 4 || got[0].HeapLive != 6 || got[3].HeapLive != 9 {
		t.Fatalf("ring holds %v", got)
	}
	if l := h.Last(nil, 2); len(l) != 2 || l[0].HeapLive != 8 {
		t.Errorf("Last(2) = %v", l)
	}
	if s := h.Since(nil, t0.Add(8*time.Second)); len(s) != 2 || s[0].HeapLive != 8 {
		t.Errorf("Since = %v", s)
	}
	if s, _ := h.Latest(); s.HeapLive != 9 {
		t.Errorf("Latest = %v", s.HeapLive)
	}
	if added, lost := h.Stats(); added != 10 || lost != 6 {
		t.Errorf("added %d lost %d", added, lost)
	}
}

func TestHistoryFlush(t *testing.T) {
	dir := t.TempDir()
	store, _ := OpenStore(dir, StoreOptions{})
	h := NewHistory(8)
	if p, err := h.Flush(store); p != "" || err != nil {
		t.Errorf("empty flush = %q, %v", p, err)
	}
	for i := 0; i < 3; i++ {
		s := snapAt(i)
		h.Add(&s)
	}
	p1, err := h.Flush(store)
	if err != nil {
		t.Fatal(err)
	}
	f1 := readHistory(t, p1)
	if len(f1.Snapshots) != 3 || !f1.From.Equal(t0) || f1.Lost != 0 {
		t.Errorf("first file: %+v", f1)
	}
	// A failed flush keeps the snapshots pending for the next one.
	for i := 3; i < 6; i++ {
		s := snapAt(i)
		h.Add(&s)
	}
	broken, _ := OpenStore(filepath.Join(p1, "not-a-dir"), StoreOptions{})
	if _, err := h.Flush(broken); err == nil {
		t.Fatal("flush into a file path succeeded")
	}
	if h.Pending() != 3 {
		t.Errorf("pending %d after a failed flush", h.Pending())
	}
	// Overrun the ring before the next flush: the overwritten snapshots
	// are counted as lost.
	for i := 6; i < 15; i++ {
		s := snapAt(i)
		h.Add(&s)
	}
	p2, err := h.Flush(store)
	if err != nil {
		t.Fatal(err)
	}
	f2 := readHistory(t, p2)
	if len(f2.Snapshots) != 8 || f2.Snapshots[0].HeapLive != 7 || f2.Lost != 4 {
		t.Errorf("second file: %d snapshots from %d, lost %d", len(f2.Snapshots), f2.Snapshots[0].HeapLive, f2.Lost)
	}
	if p, _ := h.Flush(store); p != "" {
		t.Errorf("nothing new, yet wrote %s", p)
	}
	if !strings.HasPrefix(filepath.Base(p2), "metrics-history-20260304T050621.890Z") {
		t.Errorf("name %s", p2)
	}
}

func readHistory(t *testing.T, path string) *HistoryFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadHistoryFile(bytes.NewReader(b), path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReadHistoryFileErrors(t *testing.T) {
	cases := map[string]string{
		`{"schema":"other/v1","snapshots":[]}`: `schema "other/v1"`,
		`{"schema":"perfagent.history/v1","snapshots":[{"time":"2026-01-01T00:00:02Z"},{"time":"2026-01-01T00:00:01Z"}]}`: "snapshot 1",
		`{"schema":"perfagent.history/v1"} {}`:           "trailing data",
		`{"schema":`:                                     "unexpected EOF",
		`{"schema":"perfagent.monitor/v1","samples":[]}`: `schema "perfagent.monitor/v1"`,
	}
	for in, want := range cases {
		_, err := ReadHistoryFile(strings.NewReader(in), "h.json")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "h.json") {
			t.Errorf("%s: error %v, want %q and the file name", in, err, want)
		}
	}
}

// TestReadHistoryFileLegacySchema checks that the agent's files of the
// earlier schema name still read, as the current schema.
func TestReadHistoryFileLegacySchema(t *testing.T) {
	f, err := ReadHistoryFile(strings.NewReader(`{"schema":"perfagent.history/v1","snapshots":[{"time":"2026-01-01T00:00:01Z","rss_bytes":7}]}`), "old.json")
	if err != nil || f.Schema != HistorySchema || len(f.Snapshots) != 1 || f.Snapshots[0].RSS != 7 {
		t.Fatalf("%+v, %v", f, err)
	}
}
