// Package units reads and writes byte sizes, the one way perfagent does so
// in budgets files, monitor thresholds, reports and leak reports.
//
// Sizes are read as people write them: "512MiB", "1.5 GB", "1048576".
// KiB, MiB, GiB and TiB are powers of 1024; kB (or KB), MB, GB and TB
// powers of 1000; a bare number is bytes and must be whole. They are
// written with three significant digits and binary units: "512B",
// "1.50KiB", "96.0MiB", "2.38GiB".
//
//	n, err := units.ParseBytes("1.5MiB") // 1572864
//	s := units.FormatBytes(n)            // "1.50MiB"
//
// Every function is safe for concurrent use.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteUnits are the size suffixes ParseBytes accepts, longest first so
// "KiB" is not read as "B".
var byteUnits = [...]struct {
	suffix string
	factor float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes reads a byte size ("15KiB", "512 MB", "1000"), rounded to
// whole bytes. Spaces around the number and between it and the unit are
// allowed; a number without a unit must be whole. The sign is kept (callers
// bound the range they accept); NaN and infinities, also from overflow
// ("1e308KiB"), are errors. Errors read `"2 gigs" is not a size (write e.g.
// 15KiB, 512MB, 1000)`.
func ParseBytes(s string) (float64, error) {
	s = strings.TrimSpace(s)
	num, factor := s, 1.0
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "xXpP_") {
		return 0, fmt.Errorf("%q is not a size (write e.g. 15KiB, 512MB, 1000)", s)
	}
	v *= factor
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a finite size", s)
	}
	if num == s && v != math.Trunc(v) {
		return 0, fmt.Errorf("size %q without a unit must be a whole number of bytes", s)
	}
	return math.Round(v), nil
}

// FormatBytes writes a byte count with three significant digits in B, KiB,
// MiB, GiB or TiB ("512B", "1.50KiB", "96.0MiB"); negative values keep
// their sign, and NaN and infinities are written as strconv does.
func FormatBytes(b float64) string {
	if math.IsNaN(b) || math.IsInf(b, 0) {
		return strconv.FormatFloat(b, 'g', -1, 64)
	}
	a := math.Abs(b)
	switch {
	case a < 1<<10 && b == math.Trunc(b):
		return strconv.FormatFloat(b, 'f', 0, 64) + "B"
	case a < 1<<10:
		return sig3(b) + "B"
	case a < 1<<20:
		return sig3(b/(1<<10)) + "KiB"
	case a < 1<<30:
		return sig3(b/(1<<20)) + "MiB"
	case a < 1<<40:
		return sig3(b/(1<<30)) + "GiB"
	}
	return sig3(b/(1<<40)) + "TiB"
}

// sig3 formats v with three significant digits, keeping trailing zeros
// ("1.50", "96.0", "512") and no exponent above 0.001.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
