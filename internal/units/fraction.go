package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseFraction reads a ratio written as a fraction ("0.001") or a
// percentage ("0.1%", "5 %"), returning the fraction. It is finite and
// between 0 and 1 unless the text is negative (callers bound the lower end
// they accept); more than 1 (100%) is an error, which for a bare number
// suggests the percentage it may have meant.
func ParseFraction(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if num, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%q is not a percentage", s)
		}
		if v > 100 {
			return 0, fmt.Errorf("percentage %q is over 100%%", s)
		}
		return v / 100, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a fraction (write e.g. 0.1%% or 0.001)", s)
	}
	if v > 1 {
		return 0, fmt.Errorf("fraction %q is over 1 (write %s%% for a percentage)", s, s)
	}
	return v, nil
}
