package budget

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/internal/units"
)

// Quantity says what a budget's value measures and so how it is written in a
// budgets file and printed in a verdict.
type Quantity int

// Quantities of budget values. The base unit of each is what [Limit.Value]
// holds.
const (
	Duration Quantity = iota // nanoseconds; written "50ms", "1.8s"
	Bytes                    // bytes; written "15KiB", "512MB", "1000"
	Fraction                 // a fraction in [0, 1]; written "0.1%" or 0.001
	Count                    // a whole number of things (requests)
	Score                    // a unitless score (cumulative layout shift)
)

func (q Quantity) String() string {
	switch q {
	case Duration:
		return "duration"
	case Bytes:
		return "bytes"
	case Fraction:
		return "fraction"
	case Count:
		return "count"
	case Score:
		return "score"
	}
	return "quantity(" + strconv.Itoa(int(q)) + ")"
}

// parseValue reads one budget value written as q expects. It never returns
// NaN, an infinity or a negative number without an error.
func parseValue(q Quantity, s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty value")
	}
	var v float64
	var err error
	switch q {
	case Duration:
		v, err = parseDuration(s)
	case Bytes:
		v, err = units.ParseBytes(s)
	case Fraction:
		v, err = units.ParseFraction(s)
	case Count:
		var n uint64
		n, err = strconv.ParseUint(s, 10, 53)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number of requests", s)
		}
		v = float64(n)
	case Score:
		v, err = parseNumber(s)
	default:
		return 0, fmt.Errorf("unknown quantity %v", q)
	}
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("%q is not a finite non-negative value", s)
	}
	return v, nil
}

func parseNumber(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

func parseDuration(s string) (float64, error) {
	if s == "0" {
		return 0, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("duration %q needs a unit, e.g. %sms or %ss", s, s, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write e.g. 50ms, 1.8s)", s)
	}
	return float64(d), nil
}

// Format writes v, in q's base unit, the way a verdict prints it: durations
// with three significant digits ("132ms", "1.85s"), sizes as [units.FormatBytes] writes them
// ("1.50MiB"), fractions as percentages.
func (q Quantity) Format(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	switch q {
	case Duration:
		return formatDuration(v)
	case Bytes:
		return units.FormatBytes(v)
	case Fraction:
		return strconv.FormatFloat(v*100, 'g', 4, 64) + "%"
	case Count:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

func formatDuration(ns float64) string {
	a := math.Abs(ns)
	switch {
	case a < 1e3:
		return strconv.FormatFloat(ns, 'f', 0, 64) + "ns"
	case a < 1e6:
		return sig3(ns/1e3) + "µs"
	case a < 1e9:
		return sig3(ns/1e6) + "ms"
	default:
		return sig3(ns/1e9) + "s"
	}
}

// sig3 formats v with three significant digits and no exponent, dropping
// trailing zeros ("132", "1.85", "0.5").
func sig3(v float64) string {
	if v == 0 {
		return "0"
	}
	digits := 2 - int(math.Floor(math.Log10(math.Abs(v))))
	if digits < 0 {
		digits = 0
	}
	s := strconv.FormatFloat(v, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
