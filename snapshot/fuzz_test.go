package snapshot

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/internal/outfile"
)

func FuzzReadHistoryFile(f *testing.F) {
	var buf bytes.Buffer
	NewHistoryFile([]Snapshot{snapAt(1), snapAt(2)}, 3).Write(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schema":"perfagent.metrics-history/v1","snapshots":null}`))
	f.Add([]byte(`{"schema":"perfagent.history/v1","snapshots":[{"time":"2026-01-01T00:00:02Z","goroutines":{"total":-1}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHistoryFile(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		// What parses re-encodes and parses to the same snapshots.
		var out bytes.Buffer
		if err := h.Write(&out); err != nil {
			t.Fatal(err)
		}
		h2, err := ReadHistoryFile(&out, "again")
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v", err)
		}
		if len(h2.Snapshots) != len(h.Snapshots) {
			t.Fatalf("%d snapshots became %d", len(h.Snapshots), len(h2.Snapshots))
		}
	})
}

func FuzzParseName(f *testing.F) {
	f.Add("heap-20260304T050607.890Z.pb.gz")
	f.Add("memory-chart-20260304T050607.890Z.csv")
	f.Add("x-.json")
	f.Add("report-20261125T190000Z_0002.md")
	f.Fuzz(func(t *testing.T, name string) {
		kind, at, ok := ParseName(name)
		if !ok {
			return
		}
		if !validKind(kind) {
			t.Fatalf("kind %q accepted", kind)
		}
		// A parsed name is what this store, or an earlier version, would
		// write: the new layout formats back to the name exactly.
		rest := strings.TrimPrefix(name, kind+"-")
		stamp := rest[:strings.IndexByte(rest, '.')]
		if len(rest) > len(TimeLayout) && rest[len(TimeLayout)-5] == '.' {
			stamp = rest[:len(TimeLayout)]
			if got := kind + "-" + at.UTC().Format(TimeLayout) + rest[len(TimeLayout):]; got != name {
				t.Fatalf("%q parsed to %q %v, which formats as %q", name, kind, at.Format(time.RFC3339Nano), got)
			}
		}
		if t2, ok := outfile.ParseStamp(stamp); !ok || !t2.Equal(at) {
			t.Fatalf("%q: stamp %q does not parse to %v", name, stamp, at)
		}
	})
}
