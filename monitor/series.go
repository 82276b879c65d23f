package monitor

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/internal/units"
	"github.com/perfagent/perfagent/report"
)

// Series identifies one measured quantity of a target. Every value of a
// series is in the series' base unit: bytes, seconds, cores (CPU seconds per
// second), a count, a rate per second or a fraction.
type Series int

// The series a monitor records. A target that does not expose a series simply
// has no values for it (a process by PID has no heap or goroutines).
const (
	CPU         Series = iota // process CPU use over each interval, in cores (1 = one core busy)
	RSS                       // resident set size, bytes
	Heap                      // heap bytes: live heap (agent) or allocated heap objects (client_golang)
	HeapGoal                  // the GC's heap goal, bytes
	Goroutines                // live goroutines
	Threads                   // OS threads of the process
	FDs                       // open file descriptors
	GCRate                    // completed GC cycles per second over each interval
	GCCPU                     // fraction of CPU time spent in GC, as the target reports it
	SchedLagP99               // scheduler latency p99 over each interval, seconds

	NumSeries // the number of series; not a series
)

// quantity says how a series' values are written and read.
type quantity int

const (
	qCores quantity = iota
	qBytes
	qCount
	qRate
	qFraction
	qSeconds
)

type seriesInfo struct {
	key   string // name in summaries, origins, thresholds and chart names
	title string // for reports
	q     quantity
	gauge bool // read as it is; otherwise derived from counters over an interval
	// field is the series' place in a snapshot of the metrics-history
	// schema (snapshot.Snapshot's JSON), "parent.child" inside an object.
	field string
}

// seriesInfos returns the description of every series, indexed by Series.
// It is a function, not a package variable, so nothing can change it.
func seriesInfos() [NumSeries]seriesInfo {
	return [NumSeries]seriesInfo{
		CPU:         {"cpu_cores", "CPU (cores)", qCores, false, "process_cpu_utilization"},
		RSS:         {"rss_bytes", "RSS", qBytes, true, "rss_bytes"},
		Heap:        {"heap_bytes", "Heap", qBytes, true, heapLiveField},
		HeapGoal:    {"heap_goal_bytes", "Heap goal", qBytes, true, "heap_goal_bytes"},
		Goroutines:  {"goroutines", "Goroutines", qCount, true, "goroutines.total"},
		Threads:     {"threads", "Threads", qCount, true, "threads"},
		FDs:         {"open_fds", "Open FDs", qCount, true, "open_fds"},
		GCRate:      {"gc_per_second", "GC cycles/s", qRate, false, "gc_cycles_per_second"},
		GCCPU:       {"gc_cpu_fraction", "GC CPU", qFraction, true, "gc_cpu_fraction"},
		SchedLagP99: {"sched_lag_p99_seconds", "Scheduler lag p99", qSeconds, false, "sched_latency.p99_seconds"},
	}
}

// The snapshot fields the Heap series maps onto: the live heap (what the
// agent exports) or the heap objects in use (client_golang's
// go_memstats_heap_alloc_bytes), chosen by the series' origin.
const (
	heapLiveField  = "heap_live_bytes"
	heapInUseField = "heap_in_use_bytes"
)

// info returns the description of a valid series.
func (s Series) info() seriesInfo { return seriesInfos()[s] }

func (s Series) valid() bool { return s >= 0 && s < NumSeries }

// Key is the series' name in a history's summary, origins and thresholds,
// on the command line and in chart names ("rss_bytes", "cpu_cores", ...).
// In the snapshots of a history file a series is written under its
// metrics-history field instead ("process_cpu_utilization",
// "goroutines":{"total":...}, ...; see [History]).
func (s Series) Key() string {
	if !s.valid() {
		return "series(" + strconv.Itoa(int(s)) + ")"
	}
	return s.info().key
}

// String returns the series' title for reports ("RSS", "CPU (cores)").
func (s Series) String() string {
	if !s.valid() {
		return s.Key()
	}
	return s.info().title
}

// SeriesByKey returns the series whose [Series.Key] is key.
func SeriesByKey(key string) (Series, bool) {
	for i, info := range seriesInfos() {
		if info.key == key {
			return Series(i), true
		}
	}
	return 0, false
}

// Format renders a value of the series for people: "1.50MiB", "12.3ms",
// "0.25 cores", "42", "1.20%". NaN renders as "-".
func (s Series) Format(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	if !s.valid() {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	switch s.info().q {
	case qBytes:
		return units.FormatBytes(v)
	case qSeconds:
		return report.FormatDuration(v * 1e9)
	case qFraction:
		return fmt.Sprintf("%.2f%%", 100*v)
	case qCores:
		return trimFloat(v, 3) + " cores"
	case qRate:
		return trimFloat(v, 3) + "/s"
	}
	if v >= 1e4 || v == math.Trunc(v) {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return trimFloat(v, 1)
}

// trimFloat formats v with at most prec digits after the point, without
// trailing zeros.
func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// ParseLimit reads a threshold for the series as a person writes it: sizes
// for byte series ("512MiB", "1.5GB", "1048576"; KiB/MiB/GiB/TiB are powers
// of 1024, kB/KB/MB/GB/TB powers of 1000, a bare number is bytes), Go
// durations for seconds series ("50ms"), a fraction or percentage for
// fractions ("0.05", "5%"), and plain numbers for cores, counts and rates
// ("0.8", "10000"). The result is positive and finite, in the series' base
// unit.
func (s Series) ParseLimit(text string) (float64, error) {
	if !s.valid() {
		return 0, fmt.Errorf("unknown series %d", int(s))
	}
	t := strings.TrimSpace(text)
	if t == "" {
		return 0, errors.New("empty value")
	}
	var v float64
	var err error
	switch s.info().q {
	case qBytes:
		v, err = units.ParseBytes(t)
	case qSeconds:
		var d time.Duration
		d, err = time.ParseDuration(t)
		if err != nil {
			err = fmt.Errorf("%q is not a duration like 50ms or 1.5s", t)
		}
		v = d.Seconds()
	case qFraction:
		v, err = units.ParseFraction(t)
	default:
		v, err = parseNumber(t)
	}
	if err != nil {
		return 0, err
	}
	if !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q must be a positive, finite value", t)
	}
	return v, nil
}

func parseNumber(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

// MarshalText writes the series' [Series.Key], so JSON shows "rss_bytes".
func (s Series) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, fmt.Errorf("monitor: unknown series %d", int(s))
	}
	return []byte(s.Key()), nil
}

// UnmarshalText reads a [Series.Key].
func (s *Series) UnmarshalText(b []byte) error {
	x, ok := SeriesByKey(string(b))
	if !ok {
		return fmt.Errorf("monitor: unknown series %q", b)
	}
	*s = x
	return nil
}
