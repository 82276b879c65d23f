package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/perfagent/perfagent/internal/outfile"
	"github.com/perfagent/perfagent/snapshot"
)

// Files names the files of one monitoring run in a store's directory (the
// output root's monitoring/): metrics-history-<ts>.json, report-<ts>.md and
// the report's charts report-<series>-<ts>.svg (the series key with dashes:
// report-rss-bytes-<ts>.svg). The stamp is the run's start in perfagent's
// file-name layout ([snapshot.TimeLayout]), moved on by a millisecond when
// another run took it.
//
// Every file is written through the store: atomically, and under the
// directory's byte and file-count quota that the agent's files there share
// (oldest first out), so a long or repeated `perfagent monitor` never fills
// the disk. Files made by [CreateFiles] write; a Files value made by hand
// only names.
type Files struct {
	Dir, Stem string

	store *snapshot.Store
	at    time.Time
}

// History is the path of the history file.
func (f Files) History() string { return filepath.Join(f.Dir, "metrics-history-"+f.Stem+".json") }

// Report is the path of the Markdown report.
func (f Files) Report() string { return filepath.Join(f.Dir, "report-"+f.Stem+".md") }

// Chart is the path of the report's chart of series s.
func (f Files) Chart(s Series) string {
	return filepath.Join(f.Dir, chartKind(s)+"-"+f.Stem+".svg")
}

// chartKind is the store kind of the chart of s: "report-rss-bytes".
func chartKind(s Series) string { return "report-" + strings.ReplaceAll(s.Key(), "_", "-") }

// errNoStore is returned by a Files value not made by CreateFiles.
var errNoStore = errors.New("monitor: files not created by CreateFiles")

// CreateFiles picks the stamp for a run that started at start and claims it
// by writing h as the history file into store: atomically and without
// replacing anything, and only at a stamp whose report name is free too, so
// two monitors starting in the same millisecond get different stamps. The
// history file is pinned in the store (kept from quota eviction) until
// [Files.Release]. The store creates its directory.
func CreateFiles(store *snapshot.Store, start time.Time, h *History) (Files, error) {
	if store == nil {
		return Files{}, fmt.Errorf("monitor: %w", snapshot.ErrDisabled)
	}
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf); err != nil {
		return Files{}, fmt.Errorf("monitor: encode history: %w", err)
	}
	at := store.FreeTimeOf(start, snapshot.Name{Kind: "metrics-history", Ext: ".json"}, snapshot.Name{Kind: "report", Ext: ".md"})
	path, err := store.WriteFile("metrics-history", ".json", at, buf.Bytes())
	if err != nil {
		return Files{}, fmt.Errorf("monitor: %w", err)
	}
	_, at, _ = snapshot.ParseName(filepath.Base(path)) // later when another writer took at meanwhile
	store.Pin(path)
	return Files{Dir: store.Dir(), Stem: outfile.Stamp(at), store: store, at: at}, nil
}

// Release lets the store's quota evict the history file again, once the run
// is over.
func (f Files) Release() {
	if f.store != nil {
		f.store.Unpin(f.History())
	}
}

// WriteHistory replaces the history file with h, atomically.
func (f Files) WriteHistory(h *History) error {
	if f.store == nil {
		return errNoStore
	}
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf); err != nil {
		return fmt.Errorf("monitor: encode history: %w", err)
	}
	if err := f.store.Replace(f.History(), buf.Bytes()); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	return nil
}

// WriteReport writes the report of h: an SVG chart per series with values,
// then the Markdown report linking them, each atomically through the store.
// It returns the paths written, the report first. o.Charts is filled in by
// WriteReport.
func (f Files) WriteReport(h *History, o ReportOptions) ([]string, error) {
	if f.store == nil {
		return nil, errNoStore
	}
	o.Charts = map[Series]string{}
	var paths []string
	var errs []error
	var buf bytes.Buffer
	for _, s := range h.Present() {
		buf.Reset()
		if err := WriteChart(&buf, h, s); err != nil {
			errs = append(errs, fmt.Errorf("chart %s: %w", s.Key(), err))
			continue
		}
		p, err := f.store.WriteFile(chartKind(s), ".svg", f.at, buf.Bytes())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		o.Charts[s] = filepath.Base(p)
		paths = append(paths, p)
	}
	buf.Reset()
	err := WriteMarkdown(&buf, h, o)
	var report string
	if err == nil {
		report, err = f.store.WriteFile("report", ".md", f.at, buf.Bytes())
	}
	if err != nil {
		return paths, fmt.Errorf("monitor: %w", errors.Join(append(errs, err)...))
	}
	paths = append([]string{report}, paths...)
	if len(errs) > 0 {
		return paths, fmt.Errorf("monitor: charts: %w", errors.Join(errs...))
	}
	return paths, nil
}
