package units

import (
	"math"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{"15KiB", 15360, ""}, {"1.5MiB", 1572864, ""}, {"2 GiB", 2 << 30, ""}, {" 1TiB ", 1 << 40, ""},
		{"1kB", 1000, ""}, {"1KB", 1000, ""}, {"1.5GB", 1.5e9, ""}, {"2TB", 2e12, ""}, {"512B", 512, ""},
		{"1048576", 1 << 20, ""}, {"0", 0, ""}, {"-1MiB", -1 << 20, ""}, {"0.5B", 1, ""},
		{"1.5", 0, "whole number"}, {"2 gigs", 0, "not a size"}, {"MiB", 0, "not a size"}, {"", 0, "not a size"},
		{"1e308KiB", 0, "not a finite size"}, {"NaN", 0, "not a finite size"}, {"Inf", 0, "not a finite size"},
		{"0x10", 0, "not a size"}, {"1_000", 0, "not a size"},
	} {
		got, err := ParseBytes(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseBytes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseBytes(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0B"}, {12, "12B"}, {512, "512B"}, {1023, "1023B"}, {1536, "1.50KiB"}, {24576, "24.0KiB"},
		{96 << 20, "96.0MiB"}, {3911512, "3.73MiB"}, {1 << 30, "1.00GiB"}, {3 << 40, "3.00TiB"},
		{-3 << 20, "-3.00MiB"}, {0.5, "0.5B"}, {math.NaN(), "NaN"}, {math.Inf(1), "+Inf"},
	} {
		if got := FormatBytes(tc.in); got != tc.want {
			t.Errorf("FormatBytes(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRoundTrip checks that what FormatBytes writes ParseBytes reads back
// within the three digits written.
func TestRoundTrip(t *testing.T) {
	for _, v := range []float64{512, 1536, 24576, 3911512, 1 << 30, 5e12} {
		got, err := ParseBytes(FormatBytes(v))
		if err != nil || math.Abs(got-v) > 0.005*v {
			t.Errorf("%v → %q → %v, %v", v, FormatBytes(v), got, err)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"512MiB", "1.5GB", "1048576", "2 KiB", "1e308KiB", "-0", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseBytes(s)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v)) {
			t.Fatalf("%q → %v", s, v)
		}
	})
}

func TestParseFraction(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{"0.001", 0.001, ""}, {"0.1%", 0.001, ""}, {" 5 %", 0.05, ""}, {"100%", 1, ""}, {"1", 1, ""}, {"0", 0, ""},
		{"-1%", -0.01, ""}, {"101%", 0, "over 100%"}, {"5", 0, "write 5% for a percentage"}, {"x%", 0, "not a percentage"},
		{"NaN", 0, "not a fraction"}, {"Inf%", 0, "not a percentage"}, {"", 0, "not a fraction"},
	} {
		got, err := ParseFraction(tc.in)
		switch {
		case tc.err == "" && (err != nil || math.Abs(got-tc.want) > 1e-15):
			t.Errorf("ParseFraction(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseFraction(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}
