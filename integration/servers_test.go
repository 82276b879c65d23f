package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireBinary returns the path of a program the test needs. Under CI
// (env CI set) a missing program fails the test: `make test` installs it.
// Elsewhere the test is skipped with the command that installs it.
func requireBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found on PATH; install it with: apt-get install -y %s (make test does this)", name, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// promBinary is one Prometheus version the tests run against.
type promBinary struct {
	// Name names the subtest: "2.42" (Debian's package) or "3" (built by
	// make test).
	Name string
	// Path is the prometheus executable.
	Path string
	// Major is the major version: 2 or 3.
	Major int
}

// prometheus3Dir is where scripts/install-test-deps.sh builds Prometheus 3
// (PERFAGENT_PROMETHEUS3_DIR overrides it, as in the Makefile).
func prometheus3Dir() string {
	if d := os.Getenv("PERFAGENT_PROMETHEUS3_DIR"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "perfagent", "prometheus-v0.316.0", "bin")
}

// forEachPrometheus runs f as a subtest against each Prometheus version:
// Debian's 2.42 on PATH and Prometheus 3 from prometheus3Dir. A missing
// binary fails the subtest under CI and skips it elsewhere.
func forEachPrometheus(t *testing.T, f func(t *testing.T, p promBinary)) {
	t.Helper()
	t.Run("2.42", func(t *testing.T) {
		f(t, promBinary{Name: "2.42", Path: requireBinary(t, "prometheus", "prometheus"), Major: 2})
	})
	t.Run("3", func(t *testing.T) {
		path := filepath.Join(prometheus3Dir(), "prometheus")
		if _, err := os.Stat(path); err != nil {
			msg := fmt.Sprintf("Prometheus 3 not found at %s; build it with ./scripts/install-test-deps.sh (make test does this)", path)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		f(t, promBinary{Name: "3", Path: path, Major: 3})
	})
}

// prometheusServer is a real Prometheus process started for one test.
type prometheusServer struct {
	URL string
	Bin promBinary
}

type scrapeJob struct {
	Name, Target string
	// Native asks for native histograms: scrape_native_histograms with
	// protobuf first on Prometheus 3, the native-histograms feature (which
	// negotiates protobuf for every job) on 2.x.
	Native bool
}

// promConfig configures a Prometheus server beyond its scrape jobs.
type promConfig struct {
	// RuleFiles are loaded and evaluated every 500ms.
	RuleFiles []string
	// OTLP enables Prometheus 3's OTLP receiver at /api/v1/otlp/v1/metrics.
	OTLP bool
	// Extra is appended to the configuration file (top-level YAML).
	Extra string
}

// startPrometheus starts bin on a free loopback port, scraping each job
// every 500ms, and stops it when the test ends.
func startPrometheus(t *testing.T, bin promBinary, pc promConfig, jobs ...scrapeJob) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n  evaluation_interval: 500ms\n")
	if len(pc.RuleFiles) > 0 {
		cfg.WriteString("rule_files:\n")
		for _, f := range pc.RuleFiles {
			fmt.Fprintf(&cfg, "  - %q\n", f)
		}
	}
	cfg.WriteString("scrape_configs:\n")
	native := false
	for _, j := range jobs {
		fmt.Fprintf(&cfg, "  - job_name: %q\n    static_configs:\n      - targets: [%q]\n", j.Name, j.Target)
		if j.Native && bin.Major >= 3 {
			cfg.WriteString("    scrape_native_histograms: true\n    scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4]\n")
		}
		native = native || j.Native
	}
	cfg.WriteString(pc.Extra)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var addr string
	var cmd *exec.Cmd
	var logs strings.Builder
	for attempt := 0; attempt < 3; attempt++ {
		addr = freePort(t)
		args := []string{
			"--config.file=" + cfgPath,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--log.level=warn",
		}
		if native && bin.Major < 3 {
			args = append(args, "--enable-feature=native-histograms")
		}
		if pc.OTLP {
			if bin.Major < 3 {
				t.Fatalf("the OTLP receiver needs Prometheus 3, not %s", bin.Name)
			}
			args = append(args, "--web.enable-otlp-receiver")
		}
		logs.Reset()
		cmd = exec.Command(bin.Path, args...)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if waitReady("http://"+addr+"/-/ready", 20*time.Second) {
			break
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cmd = nil
	}
	if cmd == nil {
		t.Fatalf("prometheus %s did not become ready:\n%s\nconfig:\n%s", bin.Name, logs.String(), cfg.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus %s log:\n%s", bin.Name, logs.String())
		}
	})
	return &prometheusServer{URL: "http://" + addr, Bin: bin}
}

func waitReady(u string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) float(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("value %v: %v", s.Value, err)
	}
	return v
}

// query runs an instant PromQL query through the HTTP API.
func (p *prometheusServer) query(t *testing.T, q string) []promSample {
	t.Helper()
	resp, err := http.Get(p.URL + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string       `json:"resultType"`
			Result     []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %q: %v %s %s", q, err, r.Error, body)
	}
	return r.Data.Result
}

// eventually polls query until it returns a non-empty result or the
// timeout passes.
func (p *prometheusServer) eventually(t *testing.T, q string, timeout time.Duration) []promSample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if res := p.query(t, q); len(res) > 0 {
			return res
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no result for %q within %v", q, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
