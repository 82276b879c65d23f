package page

import (
	"encoding/json"
	"io"
	"math"
	"testing"
)

func FuzzParseNetwork(f *testing.F) {
	for _, s := range []string{"slow-3g", "none", "150ms,1.6Mbit,750kbit", "0,8M,0", "1s,2G/s,1000", "1ms,1e400,1", "x,y,z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNetwork(s)
		if err != nil || n == nil {
			return
		}
		for _, v := range []float64{n.Download, n.Upload} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("ParseNetwork(%q) = %+v", s, n)
			}
		}
		if n.Latency < 0 {
			t.Fatalf("negative latency from %q", s)
		}
	})
}

func FuzzDecodeDetail(f *testing.F) {
	res, err := sampleReport().Result()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(res.Detail))
	f.Add([]byte(`{"schema":"perfagent.page/v1","runs":[{"index":1,"load_ns":5,"requests":[{"url":"x","start_ns":9,"end_ns":1}]}]}`))
	f.Add([]byte(`{"schema":"perfagent.page/v1","summary":[{"unit":"bytes-total","median":1e308}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeDetail(json.RawMessage(data))
		if err != nil {
			return
		}
		if err := RenderSVG(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Result(); err != nil {
			t.Fatal(err)
		}
	})
}
