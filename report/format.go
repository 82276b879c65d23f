package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/internal/units"
	"github.com/perfagent/perfagent/results"
)

// FormatValue renders v in unit for people, the one formatter behind every
// value the HTML and Markdown reports print:
//
//   - times in the largest fitting unit: "1.23ms" for 1.23e6 with unit
//     "ns/op", "ns/wakeup", "p99-ns" or "cpu-ns/op"; "sec/op" and "s"
//     values are seconds;
//   - sizes in binary units: "1.50KiB" for 1536 with "B/op", "B",
//     "bytes", "bytes-script" or "live-heap-bytes";
//   - byte rates in binary units per second: "200KiB/s" for 204800 with
//     "heap-growth-bytes/s" or "B/s"; "MB/s" (the Go benchmark format's
//     decimal megabytes per second) is converted, so 1931 MB/s is
//     "1.80GiB/s";
//   - fractions as percentages: "0.10%" for 0.001 with "error-rate",
//     "timeout-rate", "availability" or "cpu-idle-fraction";
//   - counts as numbers: "3" for "allocs/op", "gc-pauses/op",
//     "requests-script", "goroutines";
//   - other rates with their unit: "4.80k req/s";
//   - unitless scores ("cls") as numbers;
//   - anything else with three significant digits and the unit.
//
// The "/op" of times and sizes is left out, as column headers say it.
// NaN and infinities render as "-".
func FormatValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	k, factor := unitClass(unit)
	v *= factor
	switch k {
	case classTime:
		return FormatDuration(v)
	case classBytes:
		return FormatBytes(v)
	case classByteRate:
		return FormatByteRate(v)
	case classFraction:
		return formatFraction(v)
	case classCount:
		return formatSI(v)
	case classScore:
		return sig3(v)
	}
	return formatSI(v) + " " + unit
}

// FormatDuration renders nanoseconds with 3 significant digits in ns, µs,
// ms or s.
func FormatDuration(ns float64) string {
	a := math.Abs(ns)
	switch {
	case a == 0:
		return "0"
	case a < 1e3:
		return sig3(ns) + "ns"
	case a < 1e6:
		return sig3(ns/1e3) + "µs"
	case a < 1e9:
		return sig3(ns/1e6) + "ms"
	}
	return sig3(ns/1e9) + "s"
}

// FormatBytes renders a byte count with 3 significant digits in B, KiB, MiB
// or GiB, as every perfagent output does (see internal/units).
func FormatBytes(b float64) string { return units.FormatBytes(b) }

// FormatByteRate renders bytes per second with 3 significant digits in
// B/s, KiB/s, MiB/s or GiB/s.
func FormatByteRate(bps float64) string {
	return FormatBytes(bps) + "/s"
}

// formatFraction renders a fraction as a percentage, with more digits near
// 0 and 1 so budgets like 0.01% and 99.99% stay readable.
func formatFraction(f float64) string {
	p := 100 * f
	switch a := math.Abs(p); {
	case a == 0 || p == 100:
		return fmt.Sprintf("%.0f%%", p)
	case a < 0.01 || (p > 99.99 && p < 100):
		return fmt.Sprintf("%.4f%%", p)
	}
	return fmt.Sprintf("%.2f%%", p)
}

// formatSI renders v with 3 significant digits and a k/M/G suffix.
func formatSI(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return sig3(v/1e9) + "G"
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return sig3(v)
}

// sig3 formats v with three significant digits and no exponent for the
// ranges FormatValue produces.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.001:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return fmt.Sprintf("%.3g", v)
}

type valueClass int

const (
	classOther valueClass = iota
	classTime
	classBytes
	classByteRate
	classFraction
	classCount
	classScore
)

// unitClass tells how to render a unit's values and the factor that turns
// them into the class's base unit (nanoseconds, bytes, bytes per second).
func unitClass(unit string) (valueClass, float64) {
	u := strings.TrimSuffix(unit, "/op")
	switch {
	case unit == "MB/s": // testing.B.SetBytes: 1e6 bytes per second
		return classByteRate, 1e6
	case unit == "B/s" || unit == "bytes/s" || strings.HasSuffix(unit, "-bytes/s"):
		return classByteRate, 1
	case unit == "sec/op" || unit == "s" || unit == "sec" || unit == "seconds":
		return classTime, 1e9
	case u == "ns" || strings.HasPrefix(unit, "ns/") || strings.HasSuffix(u, "-ns"):
		return classTime, 1
	case u == "B" || u == "bytes" || strings.HasPrefix(unit, results.UnitBytesPrefix) || strings.HasSuffix(u, "-bytes"):
		return classBytes, 1
	case strings.HasSuffix(unit, "-rate") || unit == results.UnitAvailable || strings.HasSuffix(unit, "-fraction"):
		return classFraction, 1
	case strings.HasSuffix(unit, "/op") || strings.HasPrefix(unit, results.UnitReqsPrefix) || unit == "goroutines" || unit == "count":
		return classCount, 1
	case unit == results.UnitCLS:
		return classScore, 1
	}
	return classOther, 1
}

// formatTime renders a run's timestamp, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
