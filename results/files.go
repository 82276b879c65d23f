package results

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/perfagent/perfagent/internal/outfile"
)

// The output root's layout (the CLI's default root is ./perf): the
// directories under it that each kind of file goes to.
const (
	BenchmarksDir = "benchmarks" // benchmark-<ts>.json and .txt, report-<ts>.html, baseline.json
	MemoryDir     = "memory"     // memory profiles and charts, heap profiles, leak reports
	MonitoringDir = "monitoring" // metrics-history-<ts>.json, report-<ts>.md
)

// TimestampLayout is the time layout of the <ts> part of file names
// (benchmark-<ts>.json, report-<ts>.html): perfagent's one file-name layout
// (UTC, millisecond resolution, sorting lexically in time order). When a
// name is taken, the time is moved on by a millisecond until it is free.
// [ParseTimestamp] also reads the second-resolution names (with their
// _0002, _0003, ... suffixes) of earlier versions.
const TimestampLayout = outfile.Layout

// Timestamp formats t for a file name with [TimestampLayout].
func Timestamp(t time.Time) string { return outfile.Stamp(t) }

// ParseTimestamp parses the <ts> part of a file name written by this or an
// earlier version.
func ParseTimestamp(s string) (time.Time, bool) { return outfile.ParseStamp(s) }

// FreePath returns dir/<prefix><stem><ext> for the first stem derived from
// t (as [WriteNewSet] derives them) whose file does not exist yet, for a
// file that another program writes (a heap profile from go test). Unlike
// WriteNewSet it does not claim the name.
func FreePath(dir, prefix, ext string, t time.Time) (string, error) {
	for try := range outfile.MaxTries {
		p := filepath.Join(dir, prefix+stemFor(t, try)+ext)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("write %s: no free file name for timestamp %s after %d tries", dir, Timestamp(t), outfile.MaxTries)
}

// stemFor returns the stem of the try'th attempt (from 0) at a time: its
// timestamp moved on by try milliseconds.
func stemFor(t time.Time, try int) string {
	return outfile.Stamp(outfile.Truncate(t).Add(time.Duration(try) * outfile.Step))
}

// WriteFileAtomic writes a file at path through write, so that path is either
// absent or complete: write fills a temporary file in the same directory,
// which is synced, closed and renamed over path. An existing file at path is
// replaced. write's error (or any I/O error) aborts, removes the temporary file
// and leaves path untouched. The file gets mode 0644.
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	if err := outfile.Replace(path, write); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// FileSpec is one member of a set of files sharing a timestamp stem, such as
// benchmark-<ts>.json and benchmark-<ts>.txt.
type FileSpec struct {
	Prefix, Ext string                // "benchmark-", ".json"
	Write       func(io.Writer) error // writes the file's content; nil: the name is only reserved
}

// Path returns dir/<Prefix><stem><Ext>.
func (s FileSpec) Path(dir, stem string) string { return filepath.Join(dir, s.Prefix+stem+s.Ext) }

// WriteNewSet writes every spec under a fresh timestamp stem derived from t:
// the first stem for which none of the files exists. Each file is written
// atomically and without replacing anything (a hard link from the complete
// temporary file, which fails when the name is taken, e.g. by another process
// in the same second). A spec whose Write is nil names a file the caller
// writes later under the same stem (a report after a run): the stem is only
// taken when that name is free too, and nothing is written for it. It
// returns the stem and the paths in spec order.
func WriteNewSet(dir string, t time.Time, specs []FileSpec) (string, []string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("create output dir: %w", err)
	}
	tmps := make([]string, len(specs))
	defer func() {
		for _, tmp := range tmps {
			if tmp != "" {
				_ = os.Remove(tmp)
			}
		}
	}()
	for i, s := range specs {
		if s.Write == nil {
			continue
		}
		tmp, err := outfile.WriteTemp(dir, s.Write)
		if err != nil {
			return "", nil, fmt.Errorf("write %s: %w", s.Path(dir, "<ts>"), err)
		}
		tmps[i] = tmp
	}
	for try := range outfile.MaxTries {
		stem := stemFor(t, try)
		paths, err := linkSet(dir, stem, specs, tmps)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return stem, paths, nil
	}
	return "", nil, fmt.Errorf("write %s: no free file name for timestamp %s after %d tries", dir, Timestamp(t), outfile.MaxTries)
}

// linkSet links each temporary file to its final name under stem. If any
// name is taken it removes the links it made and returns an error wrapping
// fs.ErrExist.
func linkSet(dir, stem string, specs []FileSpec, tmps []string) ([]string, error) {
	paths := make([]string, 0, len(specs))
	for _, s := range specs {
		p := s.Path(dir, stem)
		if _, err := os.Lstat(p); s.Write == nil && err == nil {
			return nil, fmt.Errorf("write %s: %w", p, fs.ErrExist)
		}
		paths = append(paths, p)
	}
	var linked []string
	for i, s := range specs {
		if s.Write == nil {
			continue
		}
		if err := linkNew(tmps[i], paths[i]); err != nil {
			for _, p := range linked {
				_ = os.Remove(p)
			}
			return nil, err
		}
		linked = append(linked, paths[i])
	}
	return paths, nil
}

// linkNew gives the complete file tmp the name path unless path exists.
func linkNew(tmp, path string) error {
	if err := outfile.Link(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SaveRun writes res under dir as benchmark-<ts>.json and its Go benchmark
// format twin benchmark-<ts>.txt, stamped with res.FinishedAt (now when
// unset) under a fresh stem ([WriteNewSet]). It returns the JSON file's path.
func SaveRun(dir string, res *Run) (string, error) {
	ts := res.FinishedAt
	if ts.IsZero() {
		ts = time.Now()
	}
	_, paths, err := WriteNewSet(dir, ts, []FileSpec{
		{Prefix: "benchmark-", Ext: ".json", Write: func(w io.Writer) error { return WriteJSON(w, res) }},
		{Prefix: "benchmark-", Ext: ".txt", Write: func(w io.Writer) error { return WriteBenchfmt(w, res) }},
	})
	if err != nil {
		return "", err
	}
	return paths[0], nil
}
