package results

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/perf/benchfmt"
)

// maxImportWarnings bounds the syntax warnings kept from one imported file.
const maxImportWarnings = 20

// WriteBenchfmt writes res in the Go benchmark format (the output of `go test
// -bench`), which benchstat reads. File configuration lines carry the
// environment (goos, goarch, cpu, go, revision, suite) and, when set,
// "partial: true" and "quick: true", so that a reader of the text alone knows
// an interrupted or shortened run. Each benchmark is written as
// Benchmark<name>-<GOMAXPROCS>, with white space in names replaced by "_", and
// one line per sample (per round), so benchstat's n is the number of rounds.
// Metrics measured in every round carry that round's value on its line;
// allocs/op, B/op and metrics measured once are on the first line only:
// repeating them on every line would make benchstat test n copies of one
// value as if they were n measurements. A result without samples is one line
// of its mean. Metrics whose Better is "higher" get a
// "Unit <unit> better=higher" line. Failed benchmarks are followed by
// "--- FAIL:" and their error, as `go test` prints them.
func WriteBenchfmt(w io.Writer, res *Run) error {
	if res == nil {
		return errors.New("bench: write benchmark format: nil results")
	}
	bw := bufio.NewWriter(w)
	fw := benchfmt.NewWriter(bw)
	env := res.Environment
	var cfg []benchfmt.Config
	for _, kv := range [][2]string{
		{"goos", env.GOOS}, {"goarch", env.GOARCH}, {"cpu", env.CPU}, {"go", env.GoVersion},
		{"revision", env.Revision}, {"suite", res.Suite}, {"partial", boolConfig(res.Partial)}, {"quick", boolConfig(res.Quick)},
	} {
		if v := configValue(kv[1]); v != "" {
			cfg = append(cfg, benchfmt.Config{Key: kv[0], Value: []byte(v), File: true})
		}
	}
	higher := map[string]bool{}
	for _, b := range res.Benchmarks {
		for _, m := range b.Metrics {
			if m.Better == BetterHigher && !higher[m.Unit] {
				higher[m.Unit] = true
				md := &benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: m.Unit, Key: "better"}, OrigUnit: m.Unit, Value: BetterHigher}
				if err := fw.Write(md); err != nil {
					return fmt.Errorf("bench: write benchmark format: %w", err)
				}
			}
		}
	}
	procs := env.GOMAXPROCS
	if procs <= 0 {
		procs = 1
	}
	for _, b := range res.Benchmarks {
		rec := &benchfmt.Result{Config: cfg, Name: benchfmt.Name(benchName(b.Name) + "-" + strconv.Itoa(procs))}
		unit := b.PrimaryUnit()
		once := make([]benchfmt.Value, 0, 2+len(b.Metrics))
		if b.AllocsPerOp != nil {
			once = append(once, benchfmt.Value{Value: *b.AllocsPerOp, Unit: "allocs/op"})
		}
		if b.BytesPerOp != nil {
			once = append(once, benchfmt.Value{Value: *b.BytesPerOp, Unit: "B/op"})
		}
		var perRound []Metric
		for _, m := range b.Metrics {
			if len(m.Samples) > 0 && len(m.Samples) == len(b.Samples) {
				perRound = append(perRound, m)
			} else {
				once = append(once, benchfmt.Value{Value: m.Value, Unit: m.Unit})
			}
		}
		write := func(i int, iters int64, v float64) error {
			rec.Iters = int(max(iters, 1))
			rec.Values = append(rec.Values[:0], benchfmt.Value{Value: v, Unit: unit})
			for _, m := range perRound {
				rec.Values = append(rec.Values, benchfmt.Value{Value: m.Samples[i], Unit: m.Unit})
			}
			if i == 0 {
				rec.Values = append(rec.Values, once...)
			}
			return fw.Write(rec)
		}
		if len(b.Samples) == 0 {
			perRound = nil
			if b.Stats.N > 0 || b.Error == "" {
				if err := write(0, b.Iterations, b.Stats.Mean); err != nil {
					return fmt.Errorf("bench: write benchmark format: %w", err)
				}
			}
		} else {
			per := b.Iterations / int64(len(b.Samples))
			for i, v := range b.Samples {
				if err := write(i, per, v); err != nil {
					return fmt.Errorf("bench: write benchmark format: %w", err)
				}
			}
		}
		if b.Error != "" {
			msg := strings.ReplaceAll(strings.TrimSpace(b.Error), "\n", "\n    ")
			if _, err := fmt.Fprintf(bw, "--- FAIL: Benchmark%s\n    %s\n", benchName(b.Name), msg); err != nil {
				return fmt.Errorf("bench: write benchmark format: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("bench: write benchmark format: %w", err)
	}
	return nil
}

// benchName makes name usable in a benchmark line: no white space.
func benchName(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, name)
}

// boolConfig renders a flag as a configuration value: "true", or "" (left
// out) when false.
func boolConfig(v bool) string {
	if v {
		return "true"
	}
	return ""
}

// configValue makes v usable as a one-line configuration value.
func configValue(v string) string {
	return strings.Join(strings.Fields(v), " ")
}

// imported accumulates the lines of one benchmark of a text file.
type imported struct {
	name, pkg string
	unit      string
	samples   []float64
	iters     int64
	extra     map[string][]float64
	units     []string // extra units in first-seen order
}

// readBenchfmt imports `go test -bench` output.
func readBenchfmt(r io.Reader, name string) (*Run, error) {
	rd := benchfmt.NewReader(r, name)
	res := &Run{Schema: Schema, Benchmarks: []Benchmark{}}
	var (
		order    []*imported
		byKey    = map[[2]string]*imported{}
		warnings []string
		nwarn    int
		firstErr error
	)
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			if firstErr == nil {
				firstErr = rec
			}
			if nwarn++; nwarn <= maxImportWarnings {
				warnings = append(warnings, "skipped line: "+rec.Error())
			}
		case *benchfmt.Result:
			if len(rec.Values) == 0 {
				continue
			}
			env := &res.Environment
			for _, c := range rec.Config {
				if !c.File {
					continue
				}
				v := validUTF8(string(c.Value))
				switch c.Key {
				case "goos":
					env.GOOS = v
				case "goarch":
					env.GOARCH = v
				case "cpu":
					env.CPU = v
				case "go":
					env.GoVersion = v
				case "revision":
					env.Revision = v
				case "suite":
					res.Suite = v
				case "partial":
					res.Partial = v == "true"
				case "quick":
					res.Quick = v == "true"
				}
			}
			pkg := validUTF8(rec.GetConfig("pkg"))
			key := [2]string{pkg, validUTF8(rec.Name.String())}
			acc := byKey[key]
			first := valueOf(rec.Values[0])
			if acc == nil {
				acc = &imported{name: key[1], pkg: pkg, unit: first.Unit, extra: map[string][]float64{}}
				byKey[key] = acc
				order = append(order, acc)
			}
			if first.Unit != acc.unit {
				if nwarn++; nwarn <= maxImportWarnings {
					fn, line := rec.Pos()
					warnings = append(warnings, fmt.Sprintf("skipped line: %s:%d: first unit %s differs from %s of earlier lines of Benchmark%s", fn, line, first.Unit, acc.unit, acc.name))
				}
				continue
			}
			acc.samples = append(acc.samples, first.Value)
			acc.iters += int64(rec.Iters)
			for _, v := range rec.Values[1:] {
				v = valueOf(v)
				if _, ok := acc.extra[v.Unit]; !ok {
					acc.units = append(acc.units, v.Unit)
				}
				acc.extra[v.Unit] = append(acc.extra[v.Unit], v.Value)
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("bench: read results %s: %w", name, err)
	}
	if len(order) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("bench: read results %s: no benchmark results: %w", name, firstErr)
		}
		return nil, fmt.Errorf("bench: read results %s: no benchmark results found (want perfagent JSON or `go test -bench` output)", name)
	}
	if nwarn > maxImportWarnings {
		warnings = append(warnings, fmt.Sprintf("and %d more skipped lines", nwarn-maxImportWarnings))
	}
	res.Warnings = warnings

	// GOMAXPROCS suffixes: `go test` appends -N to every name when N > 1.
	// Strip it only when every name carries the same one, so a sub-benchmark
	// named "size-64" in a GOMAXPROCS=1 run keeps its name.
	procs := commonProcs(order)
	if procs > 0 {
		res.Environment.GOMAXPROCS = procs
	}
	units := rd.Units()
	names := map[string]int{}
	for _, acc := range order {
		if procs > 0 {
			acc.name = acc.name[:strings.LastIndexByte(acc.name, '-')]
		}
		names[acc.name]++
	}
	for _, acc := range order {
		b := Benchmark{Name: acc.name, Kind: KindFunc, Unit: acc.unit, Iterations: acc.iters, Samples: acc.samples}
		if acc.pkg != "" {
			b.Category = path.Base(acc.pkg)
			b.Labels = map[string]string{"pkg": acc.pkg}
			if names[acc.name] > 1 {
				b.Name = acc.pkg + "." + acc.name
			}
		}
		var w []string
		b.Stats, w = Summarize(b.Samples)
		b.Warnings = w
		for _, u := range acc.units {
			vals := acc.extra[u]
			mean := meanOf(vals)
			var samples []float64
			if len(vals) > 1 {
				// One value per line: measured in every round (or -count
				// run), so the metric is replicated and its centre is the
				// median, as for the primary unit.
				samples = vals
				mean = Quantile(vals, 0.5)
			}
			switch u {
			case "allocs/op":
				b.AllocsPerOp = &mean
			case "B/op":
				b.BytesPerOp = &mean
			default:
				m := Metric{Unit: u, Value: mean, Samples: samples}
				if units.GetBetter(u) > 0 {
					m.Better = BetterHigher
				}
				b.Metrics = append(b.Metrics, m)
			}
		}
		res.Benchmarks = append(res.Benchmarks, b)
	}
	if err := validateRun(res); err != nil {
		return nil, fmt.Errorf("bench: read results %s: %w", name, err)
	}
	return res, nil
}

// validUTF8 replaces invalid UTF-8, which JSON could not carry unchanged.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// valueOf returns v in the unit it was written in (benchfmt converts ns/op to
// sec/op; results keep the file's unit).
func valueOf(v benchfmt.Value) benchfmt.Value {
	if v.OrigUnit != "" {
		return benchfmt.Value{Value: v.OrigValue, Unit: validUTF8(v.OrigUnit)}
	}
	v.Unit = validUTF8(v.Unit)
	return v
}

// commonProcs returns N when every name ends in the same "-N", else 0.
func commonProcs(order []*imported) int {
	procs := 0
	for _, acc := range order {
		i := strings.LastIndexByte(acc.name, '-')
		if i <= 0 {
			return 0
		}
		n, err := strconv.Atoi(acc.name[i+1:])
		if err != nil || n <= 0 || (procs != 0 && n != procs) {
			return 0
		}
		procs = n
	}
	return procs
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
