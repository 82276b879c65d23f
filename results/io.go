package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// BaselineFile is the name of the baseline in an output directory.
const BaselineFile = "baseline.json"

// maxResultsFile bounds the bytes Read reads (JSON or text).
const maxResultsFile = 256 << 20

// WriteJSON writes res as indented JSON in the versioned schema. An empty
// Schema is written as [Schema]; res is not modified.
func WriteJSON(w io.Writer, res *Run) error {
	if res == nil {
		return errors.New("bench: write json: nil results")
	}
	out := *res
	if out.Schema == "" {
		out.Schema = Schema
	}
	if out.Benchmarks == nil {
		out.Benchmarks = []Benchmark{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("bench: write json: %w", err)
	}
	return nil
}

// ReadFile reads a results file: the JSON of [WriteJSON] or text
// output of `go test -bench` (Go benchmark format), told apart by the first
// non-blank byte ('{' for JSON). Errors name path and the problem.
func ReadFile(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: read results: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read is [ReadFile] on a reader; name is used in errors (and
// in benchmark-format positions). At most 256 MiB are read.
func Read(r io.Reader, name string) (*Run, error) {
	return read(r, name, maxResultsFile)
}

// readResults is Read with a size limit in bytes.
func read(r io.Reader, name string, limit int64) (*Run, error) {
	br := bufio.NewReaderSize(&limitReader{r: r, n: limit}, 64<<10)
	first, err := firstNonSpace(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("bench: read results %s: empty file", name)
		}
		return nil, fmt.Errorf("bench: read results %s: %w", name, err)
	}
	if first == '{' {
		return readJSON(br, name)
	}
	return readBenchfmt(br, name)
}

// errTooLarge is returned by limitReader past its limit.
var errTooLarge = errors.New("file too large (limit 256 MiB)")

// limitReader is io.LimitReader that fails instead of ending early, so a
// truncated file is never taken for a complete one.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// firstNonSpace peeks, without consuming anything, at the first byte that
// is not white space within the reader's buffer. io.EOF means the input is
// empty or blank.
func firstNonSpace(br *bufio.Reader) (byte, error) {
	b, err := br.Peek(br.Size())
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		if len(b) < br.Size() {
			return 0, io.EOF
		}
		return 0, nil // a buffer of blanks: not JSON
	}
	return 0, err
}

func readJSON(r io.Reader, name string) (*Run, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("bench: read results %s: %w", name, err)
	}
	var res Run
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&res); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(data, se.Offset)
			return nil, fmt.Errorf("bench: read results %s:%d:%d: invalid JSON: %w", name, line, col, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			line, col := position(data, te.Offset)
			return nil, fmt.Errorf("bench: read results %s:%d:%d: field %s: %w", name, line, col, te.Field, err)
		}
		return nil, fmt.Errorf("bench: read results %s: invalid JSON: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("bench: read results %s: data after the results object", name)
	}
	if err := validateRun(&res); err != nil {
		return nil, fmt.Errorf("bench: read results %s: %w", name, err)
	}
	if res.Benchmarks == nil {
		res.Benchmarks = []Benchmark{}
	}
	return &res, nil
}

// position returns the 1-based line and column of the byte that ends the
// first off bytes of data (encoding/json reports errors "after reading off
// bytes").
func position(data []byte, off int64) (int, int) {
	i := int(min(max(off-1, 0), int64(len(data))))
	before := data[:i]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := i - bytes.LastIndexByte(before, '\n')
	return line, col
}

// validateRun checks what readers rely on: the schema, unique non-empty
// names, finite values and sample counts consistent with Stats.
func validateRun(res *Run) error {
	switch {
	case res.Schema == "":
		return errors.New(`missing "schema": not a perfagent results file`)
	case res.Schema == SchemaV1:
		return fmt.Errorf("schema %q is from an older perfagent whose samples were timed batches, not rounds: measure again (want %s)", res.Schema, Schema)
	case res.Schema != Schema:
		return fmt.Errorf("schema %q not supported (want %s)", res.Schema, Schema)
	}
	seen := make(map[string]int, len(res.Benchmarks))
	for i, b := range res.Benchmarks {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("benchmarks[%d]: %w", i, err)
		}
		if j, dup := seen[b.Name]; dup {
			return fmt.Errorf("benchmarks[%d]: name %q already used by benchmarks[%d]", i, b.Name, j)
		}
		seen[b.Name] = i
	}
	return nil
}

// Validate checks what readers and comparisons rely on: a non-empty name,
// units without spaces, finite samples, Stats.N equal to the sample count
// (when there are samples) and metrics whose Better is "", "lower" or
// "higher".
func (b Benchmark) Validate() error {
	if b.Name == "" {
		return errors.New("empty name")
	}
	if b.Unit != "" {
		if err := CheckUnit(b.Unit); err != nil {
			return fmt.Errorf("%q: %w", b.Name, err)
		}
	}
	if b.Iterations < 0 {
		return fmt.Errorf("%q: negative iterations %d", b.Name, b.Iterations)
	}
	for j, v := range b.Samples {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%q: samples[%d] is not finite", b.Name, j)
		}
	}
	if len(b.Samples) > 0 && b.Stats.N != len(b.Samples) {
		return fmt.Errorf("%q: stats.n is %d but there are %d samples", b.Name, b.Stats.N, len(b.Samples))
	}
	if b.Stats.N < 0 {
		return fmt.Errorf("%q: negative stats.n %d", b.Name, b.Stats.N)
	}
	for j, m := range b.Metrics {
		if err := CheckUnit(m.Unit); err != nil {
			return fmt.Errorf("%q: metrics[%d]: %w", b.Name, j, err)
		}
		for k, v := range m.Samples {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%q: metrics[%d] (%s): samples[%d] is not finite", b.Name, j, m.Unit, k)
			}
		}
		if m.Better != "" && m.Better != BetterLower && m.Better != BetterHigher {
			return fmt.Errorf("%q: metrics[%d] (%s): better is %q, want \"lower\" or \"higher\"", b.Name, j, m.Unit, m.Better)
		}
	}
	return nil
}

// LatestFile returns the path of the newest benchmark-<ts>.json in
// dir, by the time in its name ([ParseTimestamp]: this version's names and
// earlier versions' sort together; names without a timestamp sort first,
// by name). It returns an error
// wrapping fs.ErrNotExist when there is none.
func LatestFile(dir string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "benchmark-*.json"))
	if err != nil {
		return "", fmt.Errorf("bench: latest results in %s: %w", dir, err)
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("bench: latest results in %s: no benchmark-<ts>.json: %w", dir, fs.ErrNotExist)
	}
	stamp := func(p string) time.Time {
		t, _ := ParseTimestamp(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "benchmark-"), ".json"))
		return t
	}
	slices.SortFunc(matches, func(a, b string) int {
		if c := stamp(a).Compare(stamp(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return matches[len(matches)-1], nil
}

// SaveBaseline writes res as <dir>/baseline.json (atomically, replacing an
// older baseline) and returns the path.
func SaveBaseline(dir string, res *Run) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bench: save baseline: %w", err)
	}
	path := filepath.Join(dir, BaselineFile)
	if err := WriteFileAtomic(path, func(w io.Writer) error { return WriteJSON(w, res) }); err != nil {
		return "", fmt.Errorf("bench: save baseline: %w", err)
	}
	return path, nil
}

// LoadBaseline reads <dir>/baseline.json. A missing file gives an error
// wrapping fs.ErrNotExist; a corrupt or incompatible one an error naming the
// file and the problem.
func LoadBaseline(dir string) (*Run, error) {
	res, err := ReadFile(filepath.Join(dir, BaselineFile))
	if err != nil {
		return nil, fmt.Errorf("load baseline: %w", err)
	}
	return res, nil
}
