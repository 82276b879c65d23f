package snapshot

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func FuzzReadHistoryFile(f *testing.F) {
	var buf bytes.Buffer
	NewHistoryFile([]Snapshot{snapAt(1), snapAt(2)}, 3).Write(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schema":"perfagent.history/v1","snapshots":null}`))
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
	f.Fuzz(func(t *testing.T, name string) {
		kind, at, ok := ParseName(name)
		if !ok {
			return
		}
		if !validKind(kind) {
			t.Fatalf("kind %q accepted", kind)
		}
		// A parsed name is exactly what the store would write.
		ext := name[len(kind)+1+len(TimeLayout):]
		if got := kind + "-" + at.UTC().Format(TimeLayout) + ext; got != name {
			t.Fatalf("%q parsed to %q %v, which formats as %q", name, kind, at.Format(time.RFC3339Nano), got)
		}
	})
}
