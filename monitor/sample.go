package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Sample is one point of a monitoring history: the values of the series the
// target exposed at Time. Gauges (RSS, goroutines, ...) are as read at Time;
// interval series (CPU, GC rate, scheduler lag) cover the interval that ends
// at Time. The zero value has no values.
//
// A Sample is a small value, copied freely; it holds no pointers.
type Sample struct {
	// Time is when the target was read (UTC). For a point merged from
	// several readings it is the time of the last of them.
	Time time.Time
	// N is the number of readings the point stands for: 1, or 2^k after the
	// history was downsampled k times (see [History.Downsampled]). Zero is
	// read as 1.
	N int

	v   [NumSeries]float64
	has uint32 // bit i set: v[i] holds a value
}

// Get returns the value of series s and whether the sample has one.
func (p *Sample) Get(s Series) (float64, bool) {
	if !s.valid() || p.has&(1<<s) == 0 {
		return math.NaN(), false
	}
	return p.v[s], true
}

// Set stores v as the value of series s. A NaN or infinite v, or an invalid
// series, removes the value instead: samples only hold finite numbers.
func (p *Sample) Set(s Series, v float64) {
	if !s.valid() {
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		p.has &^= 1 << s
		p.v[s] = 0
		return
	}
	p.v[s] = v
	p.has |= 1 << s
}

// Has reports whether the sample has a value for s.
func (p *Sample) Has(s Series) bool { return s.valid() && p.has&(1<<s) != 0 }

// weight is N with zero read as 1.
func (p *Sample) weight() int {
	if p.N <= 0 {
		return 1
	}
	return p.N
}

// merge folds q (a later point) into p: the time becomes q's, each series
// the weighted mean of the values present.
func (p *Sample) merge(q *Sample) {
	wp, wq := float64(p.weight()), float64(q.weight())
	for s := Series(0); s < NumSeries; s++ {
		a, okA := p.Get(s)
		b, okB := q.Get(s)
		switch {
		case okA && okB:
			p.v[s] = (a*wp + b*wq) / (wp + wq)
		case okB:
			p.Set(s, b)
		}
	}
	p.Time = q.Time
	p.N = p.weight() + q.weight()
}

// MarshalJSON writes the sample as one flat object:
//
//	{"time":"2026-11-25T19:00:05.001Z","rss_bytes":2.1e+07,"cpu_cores":0.02}
//
// with "n" only when the point stands for more than one reading, and only
// the series it has.
func (p Sample) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64+24*NumSeries)
	return p.appendJSON(b), nil
}

func (p *Sample) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = p.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if p.N > 1 {
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, int64(p.N), 10)
	}
	for s := Series(0); s < NumSeries; s++ {
		if v, ok := p.Get(s); ok {
			b = append(b, ',', '"')
			b = append(b, s.Key()...)
			b = append(b, '"', ':')
			b = appendNumber(b, v)
		}
	}
	return append(b, '}')
}

// UnmarshalJSON reads what MarshalJSON writes. Unknown keys are ignored so
// files from later versions with more series still load; "time" is
// required, and values must be numbers.
func (p *Sample) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*p = Sample{}
	t, ok := raw["time"]
	if !ok {
		return errors.New("sample without \"time\"")
	}
	if err := json.Unmarshal(t, &p.Time); err != nil {
		return fmt.Errorf("sample time: %w", err)
	}
	if n, ok := raw["n"]; ok {
		if err := json.Unmarshal(n, &p.N); err != nil || p.N < 0 {
			return fmt.Errorf("sample n %s: not a count", n)
		}
	}
	for key, msg := range raw {
		s, ok := SeriesByKey(key)
		if !ok {
			continue
		}
		if bytes.Equal(msg, []byte("null")) {
			continue
		}
		var v float64
		if err := json.Unmarshal(msg, &v); err != nil {
			return fmt.Errorf("sample %s: %w", key, err)
		}
		p.Set(s, v)
	}
	return nil
}

// appendNumber formats v as encoding/json does: shortest exact digits, with
// an exponent only for very small or very large magnitudes.
func appendNumber(b []byte, v float64) []byte {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
