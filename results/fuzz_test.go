package results_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/perfagent/perfagent/results"
)

// FuzzReadResults feeds arbitrary bytes to the auto-detecting reader (JSON
// and Go benchmark format). Whatever it accepts must be writable in both
// formats and the JSON must read back to the same benchmarks.
func FuzzReadResults(f *testing.F) {
	// Small seeds keep mutation and minimisation fast.
	small := sampleResults()
	for i := range small.Benchmarks {
		b := &small.Benchmarks[i]
		if len(b.Samples) > 3 {
			b.Samples = b.Samples[:3]
			b.Stats, _ = results.Summarize(b.Samples)
		}
	}
	var js, txt bytes.Buffer
	if err := results.WriteJSON(&js, small); err != nil {
		f.Fatal(err)
	}
	if err := results.WriteBenchfmt(&txt, small); err != nil {
		f.Fatal(err)
	}
	gotest, err := os.ReadFile("testdata/gotest.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(js.Bytes())
	f.Add(txt.Bytes())
	f.Add(gotest)
	f.Add([]byte(`{"schema":"perfagent.bench/v2","benchmarks":[{"name":"a","samples":[1,2,3],"stats":{"n":3}}]}`))
	f.Add([]byte("BenchmarkX-2 10 5 ns/op 3 B/op\nUnit B/op better=higher\nBenchmarkX-2 10 6 ns/op\n"))
	f.Add([]byte("  \n{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := results.Read(bytes.NewReader(data), "fuzz")
		if err != nil {
			if res != nil {
				t.Fatal("results with an error")
			}
			return
		}
		var out bytes.Buffer
		if err := results.WriteJSON(&out, res); err != nil {
			t.Fatalf("write json: %v", err)
		}
		back, err := results.Read(bytes.NewReader(out.Bytes()), "again")
		if err != nil {
			t.Fatalf("re-read: %v\n%s", err, out.Bytes())
		}
		if len(back.Benchmarks) != len(res.Benchmarks) {
			t.Fatalf("%d benchmarks, then %d", len(res.Benchmarks), len(back.Benchmarks))
		}
		for i := range res.Benchmarks {
			if back.Benchmarks[i].Name != res.Benchmarks[i].Name || len(back.Benchmarks[i].Samples) != len(res.Benchmarks[i].Samples) {
				t.Fatalf("benchmark %d changed: %+v vs %+v", i, res.Benchmarks[i], back.Benchmarks[i])
			}
		}
		if err := results.WriteBenchfmt(&bytes.Buffer{}, res); err != nil {
			t.Fatalf("write benchmark format: %v", err)
		}
	})
}
