package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
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

// MarshalJSON writes the sample as a snapshot of the metrics-history
// schema (snapshot.Snapshot's JSON) holding only the fields the sample has:
//
//	{"time":"2026-11-25T19:00:05.001Z","process_cpu_utilization":0.02,"rss_bytes":2.1e+07,"goroutines":{"total":12}}
//
// with "readings" only when the point stands for more than one reading.
// Heap is written as heap_live_bytes; a [History] writes it as
// heap_in_use_bytes when it came from client_golang's heap-alloc gauge.
func (p Sample) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64+32*NumSeries)
	return p.appendJSON(b, heapLiveField), nil
}

// field returns the snapshot field series s is written under, with
// heapField for Heap.
func field(s Series, heapField string) string {
	if s == Heap {
		return heapField
	}
	return s.info().field
}

func (p *Sample) appendJSON(b []byte, heapField string) []byte {
	b = append(b, `{"time":"`...)
	b = p.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if p.N > 1 {
		b = append(b, `,"readings":`...)
		b = strconv.AppendInt(b, int64(p.N), 10)
	}
	// Note: every nested field has a parent of its own (goroutines,
	// sched_latency), so each is written as a one-member object.
	for s := Series(0); s < NumSeries; s++ {
		if v, ok := p.Get(s); ok {
			parent, child, nested := strings.Cut(field(s, heapField), ".")
			b = append(b, ',', '"')
			b = append(b, parent...)
			b = append(b, '"', ':')
			if nested {
				b = append(b, '{', '"')
				b = append(b, child...)
				b = append(b, '"', ':')
			}
			b = appendNumber(b, v)
			if nested {
				b = append(b, '}')
			}
		}
	}
	return append(b, '}')
}

// readPaths returns where a series may be found in a sample object, in
// order of preference: its metrics-history field (either heap field for
// Heap), then its key in the "perfagent.monitor/v1" files of earlier
// versions.
func readPaths(s Series) []string {
	info := s.info()
	if s == Heap {
		return []string{heapLiveField, heapInUseField, info.key}
	}
	if info.key == info.field {
		return []string{info.field}
	}
	return []string{info.field, info.key}
}

// UnmarshalJSON reads what MarshalJSON writes, a snapshot of an agent's
// metrics history (the fields the series map onto), and the samples of
// "perfagent.monitor/v1" files. Unknown keys are ignored so files from
// later versions with more fields still load; "time" is required, and
// values must be numbers.
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
	for _, key := range []string{"readings", "n"} {
		if n, ok := raw[key]; ok {
			if err := json.Unmarshal(n, &p.N); err != nil || p.N < 0 {
				return fmt.Errorf("sample %s %s: not a count", key, n)
			}
			break
		}
	}
	objects := map[string]map[string]json.RawMessage{}
	for s := Series(0); s < NumSeries; s++ {
		for _, path := range readPaths(s) {
			msg, ok, err := lookup(raw, objects, path)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			var v float64
			if err := json.Unmarshal(msg, &v); err != nil {
				return fmt.Errorf("sample %s: %w", path, err)
			}
			p.Set(s, v)
			break
		}
	}
	return nil
}

// lookup finds path ("key" or "parent.child") in a sample object; objects
// caches the parsed nested objects. A null, or a number where an object is
// expected (and the reverse), is not found: "goroutines" is an object in
// the metrics-history schema and a number in earlier monitor files.
func lookup(raw map[string]json.RawMessage, objects map[string]map[string]json.RawMessage, path string) (json.RawMessage, bool, error) {
	parent, child, nested := strings.Cut(path, ".")
	msg, ok := raw[parent]
	if !ok || bytes.Equal(msg, []byte("null")) {
		return nil, false, nil
	}
	isObject := len(msg) > 0 && msg[0] == '{'
	if !nested {
		return msg, !isObject, nil
	}
	if !isObject {
		return nil, false, nil
	}
	obj, ok := objects[parent]
	if !ok {
		if err := json.Unmarshal(msg, &obj); err != nil {
			return nil, false, fmt.Errorf("sample %s: %w", parent, err)
		}
		objects[parent] = obj
	}
	msg, ok = obj[child]
	if !ok || bytes.Equal(msg, []byte("null")) {
		return nil, false, nil
	}
	return msg, true, nil
}

// appendNumber formats v as encoding/json does: shortest exact digits, with
// an exponent only for very small or very large magnitudes.
func appendNumber(b []byte, v float64) []byte {
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
