package leak

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/perfagent/perfagent/snapshot"
)

// MonitorOptions configure a [Monitor].
type MonitorOptions struct {
	// Config holds the detector's thresholds (zero fields: defaults).
	Config Config
	// Store is where reports, charts and profiles go (the output root's
	// memory/ directory). Nil keeps everything in memory: detection,
	// logs, metrics and status still work.
	Store *snapshot.Store
	// History provides the snapshots the memory chart draws. Nil draws
	// no chart.
	History *snapshot.History
	// Logger receives the leak warnings (default slog.Default()).
	Logger *slog.Logger
	// OnWriteError is called for each file that could not be written
	// (the agent logs them rate-limited and counts them). May be nil.
	OnWriteError func(error)
	// OnReport is called with each report after its files are written.
	// May be nil.
	OnReport func(*Report)
	// HeapProfile writes an in-use heap profile (default:
	// pprof.Lookup("heap").WriteTo(w, 0)). Tests inject failures here.
	HeapProfile func(w io.Writer) error
	// GoroutineDump takes a grouped goroutine dump (default
	// TakeGoroutineDump).
	GoroutineDump func() (*GoroutineDump, error)
}

// maxBaseline bounds the baseline heap profile kept in memory.
const maxBaseline = 16 << 20

// Monitor turns the [Detector]'s verdicts into explained reports, on its
// own: it keeps baseline profiles from the end of the warm-up, and when a
// leak is detected (again at each re-alert, and when it is resolved) it
// diffs the heap profiles by allocation site (or groups the goroutines by
// creation site), projects the time to the memory limit, and writes
// leak-<ts>.json and .md, memory-chart-<ts>.csv and .svg and the profiles,
// logs a warning and calls OnReport.
//
// Feed it with [Monitor.Observe] from one goroutine (the agent's sampler);
// Status is safe to call concurrently. Profiles and files are taken and
// written on the calling goroutine, only when an event needs them.
type Monitor struct {
	opts MonitorOptions
	det  *Detector
	log  *slog.Logger

	baseline     []byte // gzipped in-use heap profile, as taken
	baselinePath string
	baseDump     *GoroutineDump

	mu      sync.Mutex
	reports []ReportSummary // newest last, bounded
	written int
	failed  int
}

// ReportSummary is the short form of a report kept for status.
type ReportSummary struct {
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	At       time.Time `json:"at"`
	Headline string    `json:"headline"`
	Path     string    `json:"path,omitempty"`
}

// maxSummaries bounds the reports a Monitor remembers.
const maxSummaries = 16

// NewMonitor returns a Monitor. It fails for an invalid Config, naming the
// field.
func NewMonitor(opts MonitorOptions) (*Monitor, error) {
	det, err := NewDetector(opts.Config)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HeapProfile == nil {
		opts.HeapProfile = func(w io.Writer) error { return pprof.Lookup("heap").WriteTo(w, 0) }
	}
	if opts.GoroutineDump == nil {
		opts.GoroutineDump = TakeGoroutineDump
	}
	return &Monitor{opts: opts, det: det, log: opts.Logger}, nil
}

// Detector returns the Monitor's detector (for its status).
func (m *Monitor) Detector() *Detector { return m.det }

// MonitorStatus is the state served at /debug/perfagent/leak.
type MonitorStatus struct {
	Config          Config          `json:"config"`
	Series          []SeriesStatus  `json:"series"`
	BaselineProfile string          `json:"baseline_profile,omitempty"`
	Reports         []ReportSummary `json:"reports"`
	// ReportsWritten counts reports whose files were written;
	// WriteFailures counts files that could not be written.
	ReportsWritten int `json:"reports_written"`
	WriteFailures  int `json:"write_failures"`
}

// Status returns the detector's state and the latest reports.
func (m *Monitor) Status() MonitorStatus {
	st := MonitorStatus{Config: m.det.Config(), Series: m.det.Status()}
	m.mu.Lock()
	defer m.mu.Unlock()
	st.BaselineProfile = m.baselinePath
	st.Reports = append([]ReportSummary{}, m.reports...)
	st.ReportsWritten, st.WriteFailures = m.written, m.failed
	return st
}

// Observe feeds a snapshot to the detector and acts on what it reports.
func (m *Monitor) Observe(s *snapshot.Snapshot) {
	for _, e := range m.det.Observe(s) {
		switch e.Type {
		case WarmedUp:
			m.takeBaselines(e.Time)
		case Detected, StillLeaking, Resolved:
			m.report(e, s)
		}
	}
}

func (m *Monitor) takeBaselines(at time.Time) {
	cfg := m.det.Config()
	if cfg.MinGrowth >= 0 {
		if err := m.retakeBaseline(at); err != nil {
			m.log.Warn("perfagent: leak detection: no baseline heap profile", slog.String("error", err.Error()))
		}
	}
	if cfg.MinGoroutineGrowth >= 0 {
		d, err := m.opts.GoroutineDump()
		if err != nil {
			m.log.Warn("perfagent: leak detection: no baseline goroutine dump", slog.String("error", err.Error()))
			return
		}
		m.baseDump = d
	}
}

// retakeBaseline takes a heap profile, checks that it parses, keeps it and
// writes it.
func (m *Monitor) retakeBaseline(at time.Time) error {
	data, _, err := m.heapProfile()
	if err != nil {
		return err
	}
	m.setBaseline(data, at)
	return nil
}

func (m *Monitor) setBaseline(data []byte, at time.Time) {
	if len(data) > maxBaseline {
		data = nil
	}
	m.baseline = data
	path, _ := m.write("heap", ".pb.gz", at, data)
	m.mu.Lock()
	old := m.baselinePath
	m.baselinePath = path
	m.mu.Unlock()
	if old != "" {
		m.opts.Store.Unpin(old)
	}
	if path != "" {
		m.opts.Store.Pin(path)
	}
}

// heapProfile takes an in-use heap profile and parses it.
func (m *Monitor) heapProfile() ([]byte, *profile.Profile, error) {
	var buf bytes.Buffer
	if err := m.opts.HeapProfile(&buf); err != nil {
		return nil, nil, fmt.Errorf("leak: heap profile: %w", err)
	}
	p, err := parseHeap(buf.Bytes())
	if err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), p, nil
}

func parseHeap(data []byte) (*profile.Profile, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("leak: heap profile does not parse: %w", err)
	}
	if _, err := sampleIndex(p, "inuse_space"); err != nil {
		return nil, fmt.Errorf("leak: heap profile: %w", err)
	}
	return p, nil
}

// write stores a file, counting and reporting a failure. It returns the
// path, or "" and the error.
func (m *Monitor) write(kind, ext string, at time.Time, data []byte) (string, error) {
	if m.opts.Store == nil || data == nil {
		return "", nil
	}
	path, err := m.opts.Store.WriteFile(kind, ext, at, data)
	if err != nil {
		m.mu.Lock()
		m.failed++
		m.mu.Unlock()
		if m.opts.OnWriteError != nil {
			m.opts.OnWriteError(err)
		}
		return "", err
	}
	return path, nil
}

func (m *Monitor) report(e Event, s *snapshot.Snapshot) {
	r := &Report{
		Schema: ReportSchema, Kind: e.Kind, Status: StatusLeaking,
		At: e.Time, DetectedAt: e.Time, GrowingSince: e.Since, Evidence: e.Evidence,
	}
	switch e.Type {
	case StillLeaking:
		r.DetectedAt = e.Since
		r.GrowingSince = time.Time{}
	case Resolved:
		r.Status, r.DetectedAt, r.GrowingSince = StatusResolved, e.Since, time.Time{}
	}
	if r.Status == StatusLeaking {
		if e.Kind == KindHeap {
			r.Projection = projectLimit(s, e.Evidence.Slope, e.Time)
			m.attributeHeap(r)
		} else {
			m.attributeGoroutines(r)
		}
	}
	m.writeChart(r)
	m.writeReport(r)
	args := []any{slog.String("kind", r.Kind), slog.String("status", r.Status),
		slog.Float64("slope_per_second", r.Evidence.Slope), slog.Float64("growth", r.Evidence.Growth)}
	if r.Files.Report != "" {
		args = append(args, slog.String("report", r.Files.Report))
	}
	if r.Status == StatusResolved {
		m.log.Info("perfagent: "+r.Headline(), args...)
	} else {
		m.log.Warn("perfagent: "+r.Headline(), args...)
	}
	m.mu.Lock()
	if len(m.reports) == maxSummaries {
		copy(m.reports, m.reports[1:])
		m.reports = m.reports[:maxSummaries-1]
	}
	m.reports = append(m.reports, ReportSummary{Kind: r.Kind, Status: r.Status, At: r.At, Headline: r.Headline(), Path: r.Files.Report})
	m.mu.Unlock()
	if m.opts.OnReport != nil {
		m.opts.OnReport(r)
	}
}

// projectLimit projects the time to GOMEMLIMIT or the cgroup's memory.max,
// whichever comes first.
func projectLimit(s *snapshot.Snapshot, slope float64, now time.Time) *Projection {
	var best *Projection
	if s.MemLimit > 0 {
		best = projection(s.MemLimit, s.MemTotal-min(s.HeapReleased, s.MemTotal), "GOMEMLIMIT", slope, now)
	}
	if limit := s.CgroupMemLimit; limit > 0 && s.RSS > 0 {
		if p := projection(limit, s.RSS, "cgroup memory.max", slope, now); best == nil || (p != nil && p.Seconds < best.Seconds) {
			best = p
		}
	}
	return best
}

func (m *Monitor) attributeHeap(r *Report) {
	data, cur, err := m.heapProfile()
	if err != nil {
		r.Notes = append(r.Notes, "no heap profile: "+err.Error())
		return
	}
	r.Files.Profile, err = m.write("heap", ".pb.gz", r.At, data)
	if err != nil {
		r.Notes = append(r.Notes, "heap profile not written: "+err.Error())
	}
	if m.baseline == nil {
		r.Notes = append(r.Notes, "no baseline heap profile: this profile is the baseline for the next report")
		m.setBaseline(data, r.At)
		return
	}
	base, err := parseHeap(m.baseline)
	if err != nil {
		// A corrupt baseline is discarded; the current profile becomes the
		// baseline, so the next report can name sites.
		r.Notes = append(r.Notes, "baseline heap profile discarded ("+err.Error()+"); re-taken now, sites follow in the next report")
		m.setBaseline(data, r.At)
		return
	}
	r.Sites, r.SitesGainedBytes, err = DiffHeap(base, cur, m.det.Config().TopSites)
	if err != nil {
		r.Notes = append(r.Notes, err.Error())
	}
	r.Files.BaselineProfile = m.ensureBaselineFile()
	if r.Files.BaselineProfile != "" && r.Files.Profile != "" {
		r.Files.PprofCommand = fmt.Sprintf("go tool pprof -sample_index=inuse_space -diff_base=%s %s", r.Files.BaselineProfile, r.Files.Profile)
	}
}

// ensureBaselineFile returns the baseline's path, writing it again when the
// file is gone (removed by someone, or its earlier write failed).
func (m *Monitor) ensureBaselineFile() string {
	m.mu.Lock()
	path := m.baselinePath
	m.mu.Unlock()
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	if m.opts.Store == nil || m.baseline == nil {
		return ""
	}
	_, t, _ := snapshot.ParseName(baseName(path))
	if t.IsZero() {
		t = time.Now()
	}
	p, err := m.write("heap", ".pb.gz", t, m.baseline)
	if err != nil {
		return ""
	}
	m.opts.Store.Pin(p)
	m.mu.Lock()
	m.baselinePath = p
	m.mu.Unlock()
	return p
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if os.IsPathSeparator(p[i]) {
			return p[i+1:]
		}
	}
	return p
}

func (m *Monitor) attributeGoroutines(r *Report) {
	n := m.det.Config().TopSites
	dump, err := m.opts.GoroutineDump()
	if err != nil {
		r.Notes = append(r.Notes, "no goroutine dump: "+err.Error())
	} else {
		if m.baseDump == nil {
			r.Notes = append(r.Notes, "no baseline goroutine dump: gains are counted from zero")
		}
		r.Goroutines = DiffGoroutines(m.baseDump, dump, n)
		if dump.Truncated {
			r.Notes = append(r.Notes, "the goroutine dump was truncated: counts are lower bounds")
		}
	}
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 0); err == nil {
		r.Files.Profile, _ = m.write("goroutine", ".pb.gz", r.At, buf.Bytes())
	}
	r.Leaked = m.leakedGoroutines(r.At, n)
}

// leakedGoroutines takes the runtime's goroutineleak profile when the
// binary has it.
func (m *Monitor) leakedGoroutines(at time.Time, n int) *LeakedGoroutines {
	p := GoroutineLeakProfile()
	if p == nil {
		return &LeakedGoroutines{Available: false}
	}
	out := &LeakedGoroutines{Available: true}
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 0); err != nil {
		return out
	}
	out.Profile, _ = m.write("goroutineleak", ".pb.gz", at, buf.Bytes())
	if prof, err := profile.ParseData(buf.Bytes()); err == nil {
		out.Count, out.Groups = GroupProfile(prof, n)
	}
	return out
}

func (m *Monitor) writeChart(r *Report) {
	if m.opts.History == nil || m.opts.Store == nil {
		return
	}
	rows := ChartRows(m.opts.History.Snapshots(nil))
	at := m.opts.Store.FreeTime("memory-chart", r.At, ".csv", ".svg")
	var csvBuf, svgBuf bytes.Buffer
	if err := WriteCSV(&csvBuf, rows); err == nil {
		var err error
		if r.Files.ChartCSV, err = m.write("memory-chart", ".csv", at, csvBuf.Bytes()); err != nil {
			r.Notes = append(r.Notes, "chart not written: "+err.Error())
		}
	}
	title := fmt.Sprintf("perfagent: %s leak (%s), %s", r.Kind, r.Status, r.At.UTC().Format(time.RFC3339))
	if err := WriteSVG(&svgBuf, rows, title); err == nil {
		r.Files.ChartSVG, _ = m.write("memory-chart", ".svg", at, svgBuf.Bytes())
	}
}

func (m *Monitor) writeReport(r *Report) {
	if m.opts.Store == nil {
		return
	}
	// One timestamp for both files, so each can name the other.
	at := m.opts.Store.FreeTime("leak", r.At, ".json", ".md")
	r.Files.Report, r.Files.Markdown = m.opts.Store.Path("leak", ".json", at), m.opts.Store.Path("leak", ".md", at)
	var js, md bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		return
	}
	if err := r.WriteMarkdown(&md); err != nil {
		return
	}
	path, err := m.write("leak", ".json", at, js.Bytes())
	r.Files.Report = path
	if mdPath, err := m.write("leak", ".md", at, md.Bytes()); err != nil || mdPath == "" {
		r.Files.Markdown = ""
	}
	if err == nil && path != "" {
		m.mu.Lock()
		m.written++
		m.mu.Unlock()
	}
}
