package load

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// readInto reads s with a histReader into a new histogram of digits.
func readInto(t testing.TB, hr *histReader, s string, digits int) *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, histMax, digits)
	if err := hr.each(s, digits, func(v, c int64) {
		if err := h.RecordValues(v, c); err != nil {
			t.Fatalf("value %d out of range", v)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHistReaderMatchesTheLibrary(t *testing.T) {
	for _, digits := range []int{histDigits, coarseDigits} {
		if got, want := countsLen(digits), int64(len(hdrhistogram.New(1, histMax, digits).Export().Counts)); got != want {
			t.Errorf("%d digits: countsLen %d, the library has %d", digits, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var hr histReader
	for i := range 200 {
		digits := []int{histDigits, coarseDigits}[i%2]
		h := hdrhistogram.New(1, histMax, digits)
		for range rng.IntN(5000) {
			d := time.Duration(float64(time.Millisecond) * math.Exp(3*rng.NormFloat64()))
			if rng.IntN(50) == 0 {
				d = time.Duration(rng.Int64N(int64(time.Hour)))
			}
			h.RecordValues(int64(clamp(d)), 1+rng.Int64N(3))
		}
		s := encodeHist(h)
		lib, err := decodeHist(s, 1, histMax, digits)
		if err != nil {
			t.Fatal(err)
		}
		got := readInto(t, &hr, s, digits)
		if !got.Equals(lib) || got.TotalCount() != h.TotalCount() || got.Max() != h.Max() || got.Min() != h.Min() {
			t.Fatalf("histogram %d: read %d values (max %d), the library %d (max %d)", i, got.TotalCount(), got.Max(), lib.TotalCount(), lib.Max())
		}
	}
	if err := hr.each(encodeHist(newHist()), coarseDigits, func(int64, int64) {}); err == nil {
		t.Error("a 3-digit histogram read as a 2-digit one")
	}
	for _, bad := range []string{"", "!!", "HISTFAAAAA==", encodeHist(newHist())[:20]} {
		if err := hr.each(bad, histDigits, func(int64, int64) {}); err == nil {
			t.Errorf("%q read without an error", bad)
		}
	}
}

func FuzzHistReader(f *testing.F) {
	h := newCoarse()
	record(h, time.Millisecond)
	record(h, time.Minute)
	f.Add(encodeHist(h))
	f.Add(encodeHist(newCoarse()))
	f.Fuzz(func(t *testing.T, s string) {
		var hr histReader
		var n int64
		err := hr.each(s, coarseDigits, func(v, c int64) {
			if v < 0 || v > histMax || c <= 0 {
				t.Fatalf("bucket %d×%d outside the geometry", v, c)
			}
			n += c
		})
		lib, lerr := hdrhistogram.Decode([]byte(s))
		if err == nil && lerr == nil && lib.SignificantFigures() == coarseDigits && lib.TotalCount() != n {
			t.Fatalf("read %d values, the library %d", n, lib.TotalCount())
		}
	})
}
