package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The operations kit end to end: real Prometheus servers scrape (and, on
// Prometheus 3, receive OTLP pushes from) examples/leaky and
// examples/quickstart, load the kit's rules, and the test asserts through
// the HTTP API that every query of the committed dashboards returns data
// and that the heap leak alert fires for the leaky process only.

// kitRulesArgs shorten the rules' windows and for: durations so a leak shows
// in seconds; they are the generator's documented flags, and the shipped
// defaults stay as they are (deploy/prometheus/perfagent-rules.yml).
var kitRulesArgs = []string{"-leak-for=5s", "-floor-window=3s", "-trend-window=15s"}

// eventOnly are the counters the agent exports only once their first event
// happened, which a test cannot cause from outside the process (a panic in
// the agent, a failed or skipped capture, a failed profile collection).
// Their queries must be valid but may return nothing; the panels show
// their NoValue text then.
var eventOnly = []string{
	"perfagent_agent_panics_total",
	"perfagent_capture_failures_total",
	"perfagent_capture_skipped_total",
	"perfagent_profiling_collection_errors_total",
}

// kitSetup is one way the data reaches Prometheus: its jobs, and which
// histogram form it carries.
type kitSetup struct {
	Name              string
	Leaky, Quickstart string // job names
	Native            bool   // native histograms instead of classic buckets
}

func (s kitSetup) jobs() string { return s.Leaky + "|" + s.Quickstart }

func TestOpsKit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and six example processes for about two minutes")
	}
	bins := buildExamples(t, "leaky", "quickstart")
	rules := generateKitRules(t, kitRulesArgs...)
	boards := loadDashboards(t)
	forEachPrometheus(t, func(t *testing.T, bin promBinary) {
		testOpsKit(t, bin, bins, rules, boards)
	})
}

func testOpsKit(t *testing.T, bin promBinary, bins map[string]string, rules string, boards []dashboardFile) {
	pyro := hungPyroscope(t)
	setups := []kitSetup{
		{Name: "scrape, classic histograms", Leaky: "scrape-leaky", Quickstart: "scrape-quickstart"},
		{Name: "scrape, native histograms", Leaky: "native-leaky", Quickstart: "native-quickstart", Native: true},
	}
	var jobs []scrapeJob
	procs := map[string]*exampleProc{}
	for _, s := range setups {
		hist := ""
		if s.Native {
			hist = "exponential"
		}
		procs[s.Leaky] = startLeaky(t, bins["leaky"], pyro, hist, nil)
		procs[s.Quickstart] = startQuickstart(t, bins["quickstart"], hist, nil)
		jobs = append(jobs, scrapeJob{Name: s.Leaky, Target: procs[s.Leaky].agent, Native: s.Native},
			scrapeJob{Name: s.Quickstart, Target: procs[s.Quickstart].agent, Native: s.Native})
	}
	prom := startPrometheus(t, bin, promConfig{RuleFiles: []string{rules}, OTLP: bin.Major >= 3}, jobs...)
	if bin.Major >= 3 {
		// Pushed through OTLP: job is service.name, instance
		// service.instance.id (Prometheus 3's default translation).
		otlp := kitSetup{Name: "OTLP push", Leaky: "leaky", Quickstart: "quickstart"}
		push := []string{
			"OTEL_METRICS_EXPORTER=otlp",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=" + prom.URL + "/api/v1/otlp/v1/metrics",
			"OTEL_METRIC_EXPORT_INTERVAL=1000",
		}
		procs[otlp.Leaky] = startLeaky(t, bins["leaky"], pyro, "", append(push, "OTEL_RESOURCE_ATTRIBUTES=service.instance.id=leaky-otlp"))
		procs[otlp.Quickstart] = startQuickstart(t, bins["quickstart"], "", append(push, "OTEL_RESOURCE_ATTRIBUTES=service.instance.id=quickstart-otlp"))
		setups = append(setups, otlp)
	}
	for _, p := range procs {
		p.captureHeap(t)
	}

	// The leak alert fires for every leaky process.
	for _, s := range setups {
		q := fmt.Sprintf(`ALERTS{alertname="PerfagentHeapLeak", alertstate="firing", job=%q}`, s.Leaky)
		prom.eventually(t, q, 150*time.Second)
		t.Logf("Prometheus %s, %s: PerfagentHeapLeak firing for %s", bin.Name, s.Name, s.Leaky)
	}
	// Let the slower counters appear: profiles dropped from the full queue
	// behind the hung server, then failed after three 10s attempts.
	for _, s := range setups {
		for _, m := range []string{`perfagent_agent_dropped_total{kind="profile"`, `perfagent_profiling_dropped_total{sink="pyroscope"`, `perfagent_profiling_failed_total{sink="pyroscope"`} {
			prom.eventually(t, fmt.Sprintf(`rate(%s, job=%q}[5s])`, m, s.Leaky), 90*time.Second)
		}
	}

	for _, s := range setups {
		// Never firing for the quickstart, whose detector runs with the same
		// short windows.
		q := fmt.Sprintf(`count_over_time(ALERTS{alertname=~"PerfagentHeapLeak|PerfagentGoroutineLeak", alertstate="firing", job=%q}[10m])`, s.Quickstart)
		if res := prom.query(t, q); len(res) > 0 {
			t.Errorf("Prometheus %s, %s: a leak alert fired for the quickstart: %v", bin.Name, s.Name, res)
		}
		// With windows this short the quickstart's detector may suspect its
		// start-up growth for a moment: the look-alike the rules' floor
		// trend and for: are there to ignore.
		if res := prom.query(t, fmt.Sprintf(`sum_over_time(perfagent_leak_suspected{job=%q}[10m]) > 0`, s.Quickstart)); len(res) > 0 {
			for _, r := range res {
				t.Logf("Prometheus %s, %s: the quickstart's detector suspected a %s leak in %v scrapes; no alert fired", bin.Name, s.Name, r.Metric["kind"], r.Value[1])
			}
		}
	}

	checkDashboards(t, prom, boards, setups)
	logSeriesCounts(t, prom, boards, rules, setups)

	if bin.Major >= 3 {
		checkUTF8Names(t, prom, procs["scrape-leaky"].agent)
		checkOTLPNames(t, prom, "scrape-leaky", "leaky")
	}
}

// checkDashboards evaluates every target of every panel for each setup,
// with the dashboard variables set to the setup's jobs.
func checkDashboards(t *testing.T, prom *prometheusServer, boards []dashboardFile, setups []kitSetup) {
	t.Helper()
	panels, targets := 0, 0
	for _, b := range boards {
		for _, p := range b.Panels {
			if len(p.Targets) == 0 {
				continue
			}
			panels++
			for _, s := range setups {
				any := false
				for _, tg := range p.Targets {
					targets++
					q := expandVars(tg.Expr, s.jobs())
					n := len(prom.query(t, q))
					any = any || n > 0
					if n > 0 || isEventOnly(tg.Expr) || !histogramVariantApplies(tg.Expr, s.Native) {
						continue
					}
					t.Errorf("Prometheus %s, %s: %s / %q query %s returned no data: %s", prom.Bin.Name, s.Name, b.UID, p.Title, tg.RefID, q)
				}
				if !any && !allEventOnly(p.Targets) {
					t.Errorf("Prometheus %s, %s: %s / %q shows no data", prom.Bin.Name, s.Name, b.UID, p.Title)
				}
			}
		}
	}
	t.Logf("Prometheus %s: %d panels, %d target evaluations over %d setups", prom.Bin.Name, panels, targets, len(setups))
}

// histogramVariantApplies tells whether a heatmap query reading classic
// buckets (…_bucket) or a native histogram is expected to have data when the
// setup carries native histograms or not.
func histogramVariantApplies(expr string, native bool) bool {
	for _, h := range []string{"go_schedule_duration_seconds", "go_memory_gc_pause_duration_seconds"} {
		if strings.Contains(expr, h+"_bucket") {
			return !native
		}
		if strings.Contains(expr, h+"{") {
			return native
		}
	}
	return true
}

func isEventOnly(expr string) bool {
	return slices.ContainsFunc(eventOnly, func(m string) bool { return strings.Contains(expr, m) })
}

func allEventOnly(ts []dashboardTarget) bool {
	return !slices.ContainsFunc(ts, func(t dashboardTarget) bool { return !isEventOnly(t.Expr) })
}

// expandVars sets the dashboard variables as Grafana would with the given
// jobs and every instance selected.
func expandVars(expr, jobs string) string {
	return strings.NewReplacer("$job", jobs, "$instance", ".*", "$service", ".*", "$__rate_interval", "5s").Replace(expr)
}

var metricNameRe = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]`)

// logSeriesCounts logs how many series of one leaky process the dashboards
// and rules read, and how many the rules record for it.
func logSeriesCounts(t *testing.T, prom *prometheusServer, boards []dashboardFile, rules string, setups []kitSetup) {
	t.Helper()
	text, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range metricNameRe.FindAllStringSubmatch(string(text), -1) {
		names[m[1]] = true
	}
	for _, b := range boards {
		for _, p := range b.Panels {
			for _, tg := range p.Targets {
				for _, m := range metricNameRe.FindAllStringSubmatch(tg.Expr, -1) {
					names[m[1]] = true
				}
			}
		}
	}
	var raw, recorded []string
	for n := range names {
		if strings.Contains(n, ":") {
			recorded = append(recorded, n)
		} else if n != "ALERTS" {
			raw = append(raw, n)
		}
	}
	sort.Strings(raw)
	count := func(q string) float64 {
		res := prom.query(t, q)
		if len(res) == 0 {
			return 0
		}
		return res[0].float(t)
	}
	for _, s := range setups {
		all := count(fmt.Sprintf(`count({job=%q, __name__!~"ALERTS.*|perfagent:.*"})`, s.Leaky))
		read := count(fmt.Sprintf(`count({__name__=~%q, job=%q})`, strings.Join(raw, "|"), s.Leaky))
		rec := count(fmt.Sprintf(`count({__name__=~%q, job=%q})`, strings.Join(recorded, "|"), s.Leaky))
		t.Logf("Prometheus %s, %s: one agent target has %v series; the dashboards and rules read %v of them (of %d metric names) and the rules record %v more",
			prom.Bin.Name, s.Name, all, read, len(raw), rec)
	}
}

// checkUTF8Names asks the agent for the exposition with
// escaping=allow-utf-8, as Prometheus 3 does, and checks that the names it
// serves, and those Prometheus stored, are the underscore names the
// dashboards use: the agent's exporter translates OpenTelemetry names
// before any negotiation.
func checkUTF8Names(t *testing.T, prom *prometheusServer, agentAddr string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+agentAddr+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=1.0.0;escaping=allow-utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	t.Logf("agent answers escaping=allow-utf-8 with Content-Type %q", ct)
	if !strings.Contains(ct, "escaping=allow-utf-8") {
		t.Errorf("Content-Type %q does not confirm escaping=allow-utf-8", ct)
	}
	if !bytes.Contains(body, []byte("\ngo_memory_used_bytes{go_memory_type=")) || bytes.Contains(body, []byte("go.memory.used")) {
		t.Errorf("with escaping=allow-utf-8 the agent should serve go_memory_used_bytes{go_memory_type=...}, not dotted names")
	}
	if res := prom.query(t, `count({__name__=~".*[.].*"})`); len(res) > 0 {
		t.Errorf("Prometheus 3 stored %v series with dotted names", res[0].Value[1])
	}
	if res := prom.query(t, `{"go.memory.used"}`); len(res) > 0 {
		t.Errorf("Prometheus 3 holds go.memory.used: %v", res)
	}
}

// checkOTLPNames checks that the agent's metrics pushed through OTLP into
// Prometheus 3 (default translation strategy UnderscoreEscapingWithSuffixes)
// carry the names the scrape gives, so one set of dashboards serves both.
func checkOTLPNames(t *testing.T, prom *prometheusServer, scrapeJob, otlpJob string) {
	t.Helper()
	names := func(job string) []string {
		var out []string
		for _, s := range prom.query(t, fmt.Sprintf(`group by (__name__) ({job=%q})`, job)) {
			n := s.Metric["__name__"]
			if n == "up" || strings.HasPrefix(n, "scrape_") || strings.HasPrefix(n, "perfagent:") || n == "ALERTS" || n == "ALERTS_FOR_STATE" {
				continue
			}
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	}
	scraped, pushed := names(scrapeJob), names(otlpJob)
	var onlyScraped, onlyPushed []string
	for _, n := range scraped {
		if !slices.Contains(pushed, n) {
			onlyScraped = append(onlyScraped, n)
		}
	}
	for _, n := range pushed {
		if !slices.Contains(scraped, n) {
			onlyPushed = append(onlyPushed, n)
		}
	}
	t.Logf("metric names: %d scraped, %d pushed through OTLP", len(scraped), len(pushed))
	if len(onlyScraped)+len(onlyPushed) > 0 {
		t.Errorf("OTLP and scrape names differ: only scraped %v, only pushed %v", onlyScraped, onlyPushed)
	}
}

// dashboardFile is the part of a committed dashboard the test reads.
type dashboardFile struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string            `json:"title"`
		Targets []dashboardTarget `json:"targets"`
	} `json:"panels"`
}

type dashboardTarget struct {
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
}

func loadDashboards(t *testing.T) []dashboardFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "deploy", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards under deploy/grafana: %v", err)
	}
	var out []dashboardFile
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboardFile
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// generateKitRules runs the kit's generator (its own module, deploy/) with
// args and returns the path of the rules file it wrote.
func generateKitRules(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"run", "./gen", "-out", dir}, args...)...)
	cmd.Dir = filepath.Join("..", "deploy")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./gen %v: %v\n%s", args, err, out)
	}
	return filepath.Join(dir, "prometheus", "perfagent-rules.yml")
}

// buildExamples builds the named examples/ programs of the main module.
func buildExamples(t *testing.T, names ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for _, n := range names {
		bin := filepath.Join(dir, n)
		cmd := exec.Command("go", "build", "-o", bin, "./examples/"+n)
		cmd.Dir = ".."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build ./examples/%s: %v\n%s", n, err, b)
		}
		out[n] = bin
	}
	return out
}

// hungPyroscope returns the URL of a profiling server that accepts uploads
// and never answers: the agent's upload queue fills and drops, as with a
// real server that hangs.
func hungPyroscope(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) })
	return srv.URL
}

// exampleProc is a running example program.
type exampleProc struct {
	agent   string // the agent's listener, host:port
	service string // the example service's base URL
}

// lockedBuffer collects a process' output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	agentURLRe   = regexp.MustCompile(`(?m)^(?:metrics|leak): +http://([^/\s]+)/`)
	serviceURLRe = regexp.MustCompile(`(?m)^service: +(http://[^/\s]+)/`)
)

// startExample runs bin with args and env (added to the test's own),
// reads the addresses it prints, and stops it when the test ends.
func startExample(t *testing.T, bin string, args, env []string) *exampleProc {
	t.Helper()
	var out lockedBuffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s %v output:\n%s", filepath.Base(bin), args, out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s := out.String()
		a, sv := agentURLRe.FindStringSubmatch(s), serviceURLRe.FindStringSubmatch(s)
		if a != nil && sv != nil {
			return &exampleProc{agent: a[1], service: sv[1]}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not print its addresses:\n%s", bin, out.String())
	return nil
}

// commonEnv configures an example's agent for the kit test: a memory limit
// (so time-to-limit panels have data), its own output root, local or
// server profiling every second.
func commonEnv(t *testing.T, histograms string) []string {
	env := []string{"GOMEMLIMIT=1GiB", "PERFAGENT_OUTPUT_DIR=" + t.TempDir(), "PERFAGENT_PROFILING_INTERVAL=1s"}
	if histograms != "" {
		env = append(env, "PERFAGENT_HISTOGRAMS="+histograms)
	}
	return env
}

// startLeaky runs examples/leaky leaking 30 MiB a minute with its short
// detector windows, profiling to a server that hangs and pushing OTLP to a
// closed port (export failures), unless env says otherwise.
func startLeaky(t *testing.T, bin, pyroscope, histograms string, env []string) *exampleProc {
	t.Helper()
	base := append(commonEnv(t, histograms),
		"PYROSCOPE_SERVER_ADDRESS="+pyroscope,
		"PERFAGENT_PROFILING_TYPES=cpu,heap,goroutine,mutex,block",
		"OTEL_METRICS_EXPORTER=prometheus,otlp",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://"+freePort(t)+"/v1/metrics",
		"OTEL_METRIC_EXPORT_INTERVAL=1000", "OTEL_METRIC_EXPORT_TIMEOUT=500")
	return startExample(t, bin, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-out", t.TempDir(), "-fast", "-goroutines", "-rate", "30MiB/min"}, append(base, env...))
}

// startQuickstart runs examples/quickstart with the leak detector's windows
// as short as leaky's -fast, local rolling profiles, and a little traffic
// until the test ends.
func startQuickstart(t *testing.T, bin, histograms string, env []string) *exampleProc {
	t.Helper()
	base := append(commonEnv(t, histograms), "PERFAGENT_PROFILING=true",
		"PERFAGENT_SNAPSHOT_INTERVAL=200ms", "PERFAGENT_LEAK_WARMUP=2s", "PERFAGENT_LEAK_WINDOW=4s",
		"PERFAGENT_LEAK_PERSIST=2s", "PERFAGENT_LEAK_MIN_GOROUTINES=5")
	p := startExample(t, bin, []string{"-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0"}, append(base, env...))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				req, _ := http.NewRequestWithContext(ctx, "GET", p.service+"/hello?name=kit", nil)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return p
}

// captureHeap takes a heap profile on demand, so the captures panels have
// data.
func (p *exampleProc) captureHeap(t *testing.T) {
	t.Helper()
	resp, err := http.Post("http://"+p.agent+"/debug/perfagent/capture?type=heap", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("capture on %s: %s %s", p.agent, resp.Status, body)
	}
}
