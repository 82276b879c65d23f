package monitor

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/perfagent/perfagent/results"
)

// Files names the files of one monitoring run in a directory (the output
// root's monitoring/): metrics-history-<stem>.json, report-<stem>.md and the
// report's charts report-<stem>-<series key>.svg. The stem is the run's
// start in [results.TimestampLayout], with a _0002, _0003, ... suffix when
// another run took it.
type Files struct {
	Dir, Stem string
}

// History is the path of the history file.
func (f Files) History() string { return filepath.Join(f.Dir, "metrics-history-"+f.Stem+".json") }

// Report is the path of the Markdown report.
func (f Files) Report() string { return filepath.Join(f.Dir, "report-"+f.Stem+".md") }

// Chart is the path of the report's chart of series s.
func (f Files) Chart(s Series) string {
	return filepath.Join(f.Dir, "report-"+f.Stem+"-"+s.Key()+".svg")
}

// CreateFiles picks the stem for a run that started at start and claims it
// by writing h as the history file, with [results.WriteNewSet]: atomically
// and without replacing anything, and only under a stem whose report name
// is free too, so two monitors starting in the same second get different
// stems. It creates dir.
func CreateFiles(dir string, start time.Time, h *History) (Files, error) {
	stem, _, err := results.WriteNewSet(dir, start, []results.FileSpec{
		{Prefix: "metrics-history-", Ext: ".json", Write: h.WriteJSON},
		{Prefix: "report-", Ext: ".md"}, // written at the end of the run
	})
	if err != nil {
		return Files{}, fmt.Errorf("monitor: %w", err)
	}
	return Files{Dir: dir, Stem: stem}, nil
}

// WriteHistory replaces the history file with h, atomically.
func (f Files) WriteHistory(h *History) error {
	if err := results.WriteFileAtomic(f.History(), h.WriteJSON); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	return nil
}

// WriteReport writes the report of h: an SVG chart per series with values,
// then the Markdown report linking them, each atomically. It returns the
// paths written, the report first. o.Charts is filled in by WriteReport.
func (f Files) WriteReport(h *History, o ReportOptions) ([]string, error) {
	o.Charts = map[Series]string{}
	var paths []string
	var errs []error
	for _, s := range h.Present() {
		p := f.Chart(s)
		err := results.WriteFileAtomic(p, func(w io.Writer) error { return WriteChart(w, h, s) })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.Charts[s] = filepath.Base(p)
		paths = append(paths, p)
	}
	if err := results.WriteFileAtomic(f.Report(), func(w io.Writer) error { return WriteMarkdown(w, h, o) }); err != nil {
		return paths, fmt.Errorf("monitor: %w", errors.Join(append(errs, err)...))
	}
	paths = append([]string{f.Report()}, paths...)
	if len(errs) > 0 {
		return paths, fmt.Errorf("monitor: charts: %w", errors.Join(errs...))
	}
	return paths, nil
}
