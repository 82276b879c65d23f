package leak

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/perfagent/perfagent/internal/units"
)

// ReportSchema is the value of [Report.Schema] this version writes.
const ReportSchema = "perfagent.leak/v1"

// Report statuses.
const (
	StatusLeaking  = "leaking"  // detected, or still growing at a re-alert
	StatusResolved = "resolved" // stopped growing
)

// Report is a leak report: memory/leak-<ts>.json, with the same facts in
// memory/leak-<ts>.md, the log and the perfagent.leak.* metrics.
type Report struct {
	Schema string `json:"schema"`
	// Kind is KindHeap or KindGoroutine.
	Kind string `json:"kind"`
	// Status is StatusLeaking or StatusResolved.
	Status string `json:"status"`
	// DetectedAt is when the leak was first reported; At is when this
	// report was made (equal for the first report); GrowingSince is when
	// the series started to grow.
	DetectedAt   time.Time `json:"detected_at"`
	At           time.Time `json:"at"`
	GrowingSince time.Time `json:"growing_since"`
	// Evidence is the detector's judgement.
	Evidence Evidence `json:"evidence"`
	// Projection is the projected time to the memory limit (heap leaks
	// with a limit only).
	Projection *Projection `json:"projection,omitempty"`
	// Sites are the top growing allocation sites (heap leaks), from an
	// in-process diff of the baseline and the current heap profile.
	Sites []Site `json:"sites,omitempty"`
	// SitesGainedBytes is the in-use bytes gained over all sites.
	SitesGainedBytes int64 `json:"sites_gained_bytes,omitempty"`
	// Goroutines are the top growing goroutine groups (goroutine leaks),
	// from a diff of the baseline and the current goroutine dump.
	Goroutines []GoroutineGroup `json:"goroutines,omitempty"`
	// Leaked is what the runtime's goroutineleak profile found (goroutine
	// leaks).
	Leaked *LeakedGoroutines `json:"leaked,omitempty"`
	// Files are the paths written for this report.
	Files Files `json:"files"`
	// Notes are findings that limit the report (a profile that could not
	// be taken or written, a baseline re-taken).
	Notes []string `json:"notes,omitempty"`
}

// Projection estimates when a growing heap reaches the memory limit.
type Projection struct {
	// Limit is the memory limit in bytes; Source names it: "GOMEMLIMIT"
	// or "cgroup memory.max".
	Limit  uint64 `json:"limit_bytes"`
	Source string `json:"source"`
	// Used is the memory the limit applies to now: the runtime's total
	// minus released memory (GOMEMLIMIT), or the RSS (cgroup).
	Used uint64 `json:"used_bytes"`
	// Seconds is (Limit - Used) / slope: the time to the limit at the
	// current growth rate; 0 when the limit is already reached.
	Seconds float64 `json:"seconds"`
	// At is the projected time.
	At time.Time `json:"at"`
}

// Files lists what a report wrote.
type Files struct {
	Report          string `json:"report,omitempty"`
	Markdown        string `json:"markdown,omitempty"`
	ChartCSV        string `json:"chart_csv,omitempty"`
	ChartSVG        string `json:"chart_svg,omitempty"`
	BaselineProfile string `json:"baseline_profile,omitempty"`
	Profile         string `json:"profile,omitempty"`
	// PprofCommand reproduces the heap diff: go tool pprof -diff_base.
	PprofCommand string `json:"pprof_command,omitempty"`
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("leak: encode report: %w", err)
	}
	return nil
}

// ReadReport parses a report written by WriteJSON. It rejects other
// schemas and unknown kinds with an error saying which; name (a path, or
// "") prefixes errors.
func ReadReport(rd io.Reader, name string) (*Report, error) {
	prefix := "leak: report"
	if name != "" {
		prefix += " " + name
	}
	dec := json.NewDecoder(io.LimitReader(rd, 64<<20))
	var r Report
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if r.Schema != ReportSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", prefix, r.Schema, ReportSchema)
	}
	if r.Kind != KindHeap && r.Kind != KindGoroutine {
		return nil, fmt.Errorf("%s: kind %q, want heap or goroutine", prefix, r.Kind)
	}
	if r.Status != StatusLeaking && r.Status != StatusResolved {
		return nil, fmt.Errorf("%s: status %q, want leaking or resolved", prefix, r.Status)
	}
	return &r, nil
}

// Headline is the report in one line, as logged.
func (r *Report) Headline() string {
	e := &r.Evidence
	verb := "leaking"
	if r.Status == StatusResolved {
		verb = "leak resolved"
	}
	var b strings.Builder
	switch r.Kind {
	case KindHeap:
		fmt.Fprintf(&b, "heap %s: live heap growing %s/min (+%s, %.1f%%, in %s)", verb,
			FormatBytes(e.Slope*60), FormatBytes(e.Growth), 100*e.GrowthRatio, duration(time.Duration(e.GrowthSeconds*1e9)))
		if len(r.Sites) > 0 {
			fmt.Fprintf(&b, "; top site %s +%s", r.Sites[0].String(), FormatBytes(float64(r.Sites[0].Bytes)))
		}
	default:
		fmt.Fprintf(&b, "goroutine %s: %.1f goroutines/min (+%.0f in %s)", verb, e.Slope*60, e.Growth, duration(time.Duration(e.GrowthSeconds*1e9)))
		if len(r.Goroutines) > 0 {
			g := r.Goroutines[0]
			fmt.Fprintf(&b, "; +%d %q created by %s", g.Gained, g.State, orUnknown(g.CreatedBy))
		}
	}
	if p := r.Projection; p != nil {
		fmt.Fprintf(&b, "; %s limit in %s", p.Source, duration(time.Duration(p.Seconds*1e9)))
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// WriteMarkdown writes the report as Markdown: the same facts as the JSON,
// for people.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	e := &r.Evidence
	title := "Heap leak"
	unit := func(v float64) string { return FormatBytes(v) }
	if r.Kind == KindGoroutine {
		title = "Goroutine leak"
		unit = func(v float64) string { return fmt.Sprintf("%.0f goroutines", v) }
	}
	if r.Status == StatusResolved {
		title += " resolved"
	}
	fmt.Fprintf(bw, "# %s\n\n%s\n\n", title, mdEscape(r.Headline()))
	fmt.Fprintf(bw, "| | |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(bw, "| %s | %s |\n", k, mdEscape(v)) }
	row("Status", r.Status)
	row("Detected at", r.DetectedAt.UTC().Format(time.RFC3339))
	row("Report at", r.At.UTC().Format(time.RFC3339))
	row("Growing since", r.GrowingSince.UTC().Format(time.RFC3339))
	row("Look-back", fmt.Sprintf("%s – %s (%d samples)", e.From.UTC().Format(time.RFC3339), e.To.UTC().Format(time.RFC3339), e.Samples))
	row("Slope ("+e.Estimator+")", unit(e.Slope*60)+"/min; earlier "+unit(e.SlopeEarlier*60)+"/min, later "+unit(e.SlopeLater*60)+"/min")
	row("Growth", fmt.Sprintf("%s in %s at that slope (%.2f%% of %s)", unit(e.Growth), duration(time.Duration(e.GrowthSeconds*1e9)), 100*e.GrowthRatio, unit(e.Level)))
	row("Level", fmt.Sprintf("%s → %s (medians of the earlier and later window)", unit(e.Level), unit(e.LevelNow)))
	row("Trend", fmt.Sprintf("Mann–Kendall z %.2f; slope %.1f standard errors above zero; noise %s", e.TrendZ, e.SlopeZ, unit(e.Noise)))
	if p := r.Projection; p != nil {
		row("Memory limit", fmt.Sprintf("%s (%s), %s used: reached in %s, about %s", FormatBytes(float64(p.Limit)), p.Source,
			FormatBytes(float64(p.Used)), duration(time.Duration(p.Seconds*1e9)), p.At.UTC().Format(time.RFC3339)))
	}
	if len(r.Sites) > 0 {
		fmt.Fprintf(bw, "\n## Growing allocation sites\n\nIn-use heap gained since the baseline profile (sampled estimates; %s over all sites).\n\n", FormatBytes(float64(r.SitesGainedBytes)))
		fmt.Fprintf(bw, "| Function | File:line | Bytes gained | Objects gained | In use |\n|---|---|---:|---:|---:|\n")
		for _, s := range r.Sites {
			fmt.Fprintf(bw, "| `%s` | %s:%d | %s | %d | %s |\n", mdCode(s.Function), mdEscape(s.File), s.Line,
				FormatBytes(float64(s.Bytes)), s.Objects, FormatBytes(float64(s.InUseBytes)))
		}
	}
	if len(r.Goroutines) > 0 {
		fmt.Fprintf(bw, "\n## Growing goroutine groups\n\n| Gained | Now | State | Waiting in | Created by |\n|---:|---:|---|---|---|\n")
		for _, g := range r.Goroutines {
			fmt.Fprintf(bw, "| %d | %d | %s | `%s` | `%s` |\n", g.Gained, g.Count, mdEscape(g.State), mdCode(g.WaitingIn), mdCode(orUnknown(g.CreatedBy)))
		}
	}
	if l := r.Leaked; l != nil {
		if !l.Available {
			fmt.Fprintf(bw, "\nThe goroutineleak profile is not available in this binary (build with GOEXPERIMENT=goroutineleakprofile, Go 1.26+).\n")
		} else {
			fmt.Fprintf(bw, "\n## Goroutines the runtime proved leaked\n\n%d goroutines are blocked on something no running goroutine can reach.\n\n", l.Count)
			for _, g := range l.Groups {
				fmt.Fprintf(bw, "- %d × `%s`\n", g.Count, mdCode(g.WaitingIn))
			}
		}
	}
	fmt.Fprintf(bw, "\n## Files\n\n")
	for _, f := range []struct{ k, v string }{
		{"Report", r.Files.Report}, {"Chart (CSV)", r.Files.ChartCSV}, {"Chart (SVG)", r.Files.ChartSVG},
		{"Baseline profile", r.Files.BaselineProfile}, {"Profile", r.Files.Profile},
	} {
		if f.v != "" {
			fmt.Fprintf(bw, "- %s: `%s`\n", f.k, mdCode(f.v))
		}
	}
	if r.Files.PprofCommand != "" {
		fmt.Fprintf(bw, "\nReproduce the diff:\n\n```\n%s\n```\n", r.Files.PprofCommand)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(bw, "\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(bw, "- %s\n", mdEscape(n))
		}
	}
	return bw.Flush()
}

// mdEscape escapes the characters that break a Markdown table cell.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mdCode makes s safe inside a code span in a table.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(s)
}

// FormatBytes formats a byte count as every perfagent output does, with
// three significant digits and binary units ("1.50MiB"); negative values
// keep their sign.
func FormatBytes(v float64) string { return units.FormatBytes(v) }

// duration formats d rounded to the second for reading ("4m30s", "2m",
// "3h5m"), or in days beyond one.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d >= 24*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// projection computes the time to limit at slope bytes/s from used bytes.
func projection(limit, used uint64, source string, slope float64, now time.Time) *Projection {
	if limit == 0 || slope <= 0 {
		return nil
	}
	p := &Projection{Limit: limit, Source: source, Used: used}
	if used < limit {
		p.Seconds = math.Round(float64(limit-used) / slope)
	}
	p.At = now.Add(time.Duration(p.Seconds * 1e9))
	return p
}
