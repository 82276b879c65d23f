package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/report"
	"github.com/perfagent/perfagent/results"
)

// outputRoot is the --out flag: the root of perfagent's files, with the
// seed's layout below it (benchmarks/, memory/, monitoring/).
func outputRoot(e *env, fs *flag.FlagSet) *string {
	def := e.getenv("PERFAGENT_OUTPUT_DIR")
	if def == "" {
		def = "perf"
	}
	return fs.String("out", def, "output root: benchmarks/, memory/ and monitoring/ go below it (env PERFAGENT_OUTPUT_DIR)")
}

func benchDir(root string) string      { return filepath.Join(root, results.BenchmarksDir) }
func memoryDir(root string) string     { return filepath.Join(root, results.MemoryDir) }
func monitoringDir(root string) string { return filepath.Join(root, results.MonitoringDir) }

// interactive reports whether progress may be drawn on w: a terminal, and
// not under CI.
func interactive(e *env, w io.Writer) bool {
	if e.getenv("CI") != "" || e.getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// spinner shows progress of a long run on a terminal; on anything else it
// does nothing.
type spinner struct {
	bar *progressbar.ProgressBar
}

func newSpinner(e *env, what string) *spinner {
	if !interactive(e, e.stderr) {
		return &spinner{}
	}
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionShowElapsedTimeOnFinish(),
	)
	return &spinner{bar: bar}
}

func (s *spinner) describe(msg string) {
	if s.bar != nil {
		s.bar.Describe(msg)
		_ = s.bar.Add(1)
	}
}

func (s *spinner) done() {
	if s.bar != nil {
		_ = s.bar.Finish()
		_ = s.bar.Clear()
	}
}

// benchProgress adapts bench progress reports to a spinner.
func (s *spinner) benchProgress(p bench.Progress) {
	switch p.Phase {
	case bench.PhaseDone:
		s.describe(p.Name + " done")
	default:
		s.describe(fmt.Sprintf("%s: %s %d/%d samples, %s", p.Name, p.Phase, p.Samples, p.Runs, p.Elapsed.Round(100*time.Millisecond)))
	}
}

// readResults reads a results file (perfagent JSON or `go test -bench`
// output).
func readResults(path string) (*results.Run, error) {
	return results.ReadFile(path)
}

// latestResults returns the newest benchmark-<ts>.json under root.
func latestResults(root string) (string, error) {
	p, err := results.LatestFile(benchDir(root))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no results in %s (run 'perfagent bench' first, or name a file)", benchDir(root))
		}
		return "", err
	}
	return p, nil
}

// writeHTMLReport writes report-<ts>.html next to the results, under a
// fresh stem.
func writeHTMLReport(dir string, res *results.Run, cmp *bench.Comparison) (string, error) {
	ts := res.FinishedAt
	if ts.IsZero() {
		ts = time.Now()
	}
	_, paths, err := results.WriteNewSet(dir, ts, []results.FileSpec{
		{Prefix: "report-", Ext: ".html", Write: func(w io.Writer) error { return report.HTML(w, res, cmp) }},
	})
	if err != nil {
		return "", err
	}
	return paths[0], nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
