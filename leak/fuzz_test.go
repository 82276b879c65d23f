package leak

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParseGoroutineDump(f *testing.F) {
	f.Add(dump)
	f.Add("goroutine 1 [running]:\nmain.main()\n")
	f.Add("goroutine 5 [select, 9 minutes, locked to thread]:\ncreated by x in goroutine 1\n\t/a.go:1 +0x1\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseGoroutineDump(strings.NewReader(in))
		if err != nil {
			return
		}
		n := 0
		for _, g := range d.Groups {
			if g.Count <= 0 {
				t.Fatalf("group with count %d", g.Count)
			}
			n += g.Count
		}
		if n > d.Total || (!d.Truncated && n != d.Total) {
			t.Fatalf("groups hold %d of %d goroutines", n, d.Total)
		}
		DiffGoroutines(d, d, 5) // must not panic; a dump never grows against itself
		if g := DiffGoroutines(d, d, 5); len(g) != 0 {
			t.Fatalf("dump grew against itself: %+v", g)
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	var buf bytes.Buffer
	WriteCSV(&buf, []ChartRow{{HeapLive: 1, Goroutines: 2}})
	f.Add(buf.String())
	f.Add(strings.Join(chartHeader, ",") + "\n2026-01-02T03:04:05Z,1,2,3,4,5,6,7\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteCSV(&out, rows); err != nil {
			t.Fatal(err)
		}
		again, err := ReadCSV(&out)
		if err != nil || len(again) != len(rows) {
			t.Fatalf("re-encoded chart: %v, %d rows for %d", err, len(again), len(rows))
		}
		for i := range rows {
			if !again[i].Time.Equal(rows[i].Time) || again[i].HeapLive != rows[i].HeapLive {
				t.Fatalf("row %d changed", i)
			}
		}
	})
}

func FuzzReadReport(f *testing.F) {
	var buf bytes.Buffer
	(&Report{Schema: ReportSchema, Kind: KindGoroutine, Status: StatusResolved, Goroutines: []GoroutineGroup{{State: "select", Count: 3}}}).WriteJSON(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schema":"perfagent.leak/v1","kind":"heap","status":"leaking","sites":[{"function":"f","line":-1}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ReadReport(bytes.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		// Any report that parses can be rendered.
		var md bytes.Buffer
		if err := r.WriteMarkdown(&md); err != nil {
			t.Fatal(err)
		}
		_ = r.Headline()
	})
}

func FuzzReadMemoryProfile(f *testing.F) {
	f.Add([]byte(`{"schema":"perfagent.memory-profile/v1","samples":[{"time":"2026-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ReadMemoryProfile(bytes.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := p.WriteJSON(&out); err != nil {
			t.Fatal(err)
		}
		var csv bytes.Buffer
		if err := WriteCSV(&csv, ChartRows(p.Samples)); err != nil {
			t.Fatal(err)
		}
	})
}
