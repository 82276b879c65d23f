package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// FormatValue renders v in unit for people: times in the largest fitting
// unit ("1.23ms" for 1.23e6 with unit "ns/op" or "p99-ns"), sizes in binary
// units ("1.5KiB" for "B/op" or "bytes-total"), fractions as percentages
// ("0.10%" for "error-rate"), rates with their unit ("4.5k req/s"), anything
// else with four significant digits and the unit. The unit's "/op" suffix is
// left out for times and sizes, as the column header says it. NaN and
// infinities render as "-".
func FormatValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	switch unitClass(unit) {
	case classTime:
		return FormatDuration(v)
	case classBytes:
		return FormatBytes(v)
	case classFraction:
		return fmt.Sprintf("%.2f%%", 100*v)
	case classCount:
		return formatSI(v)
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
// or GiB.
func FormatBytes(b float64) string {
	a := math.Abs(b)
	switch {
	case a < 1<<10:
		return sig3(b) + "B"
	case a < 1<<20:
		return sig3(b/(1<<10)) + "KiB"
	case a < 1<<30:
		return sig3(b/(1<<20)) + "MiB"
	}
	return sig3(b/(1<<30)) + "GiB"
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
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
	}
	return fmt.Sprintf("%.3g", v)
}

type valueClass int

const (
	classOther valueClass = iota
	classTime
	classBytes
	classFraction
	classCount
)

// unitClass tells how to render a unit's values.
func unitClass(unit string) valueClass {
	u := strings.TrimSuffix(unit, "/op")
	switch {
	case u == "ns" || strings.HasPrefix(u, "ns/") || strings.HasSuffix(u, "-ns") || strings.HasSuffix(u, "ns/op"):
		return classTime
	case u == "B" || strings.HasPrefix(unit, "bytes-") || strings.HasSuffix(u, "-bytes") || unit == "B/op":
		return classBytes
	case strings.HasSuffix(unit, "-rate") || unit == "availability" || strings.HasSuffix(unit, "-fraction"):
		return classFraction
	case unit == "allocs/op" || strings.HasPrefix(unit, "requests-") || strings.HasSuffix(unit, "/op") && !strings.Contains(unit, "ns"):
		return classCount
	}
	return classOther
}

// formatPercent renders a relative change (0.05 → "+5.0%").
func formatPercent(d float64) string {
	return fmt.Sprintf("%+.1f%%", 100*d)
}

// formatTime renders a run's timestamp, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
