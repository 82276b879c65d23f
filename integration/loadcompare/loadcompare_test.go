package loadcompare

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tool is one load generator under comparison.
type tool struct {
	name string
	// cmd returns the command line for a run against url.
	cmd func(bin, url string, conns int, d time.Duration) []string
	// stdin is fed to the command (vegeta's targets).
	stdin func(url string) string
	// rate extracts requests per second from the output.
	rate func(out []byte) (float64, error)
}

func TestLoadCompare(t *testing.T) {
	if os.Getenv("PERFAGENT_LOADCOMPARE") == "" {
		t.Skip("set PERFAGENT_LOADCOMPARE=1 to run the generator comparison (see run.sh)")
	}
	for _, b := range []string{"taskset", "wrk"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found (apt-get install -y %s)", b, map[string]string{"taskset": "util-linux", "wrk": "wrk"}[b])
		}
	}
	dur := envDuration(t, "LOADCOMPARE_DURATION", 10*time.Second)
	rounds := envInt(t, "LOADCOMPARE_ROUNDS", 3)
	const conns = 50

	bin := t.TempDir()
	build := func(name, pkg string) string {
		out := filepath.Join(bin, name)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		return out
	}
	server := build("minserver", "github.com/perfagent/perfagent/integration/loadcompare/minserver")
	bins := map[string]string{
		"perfagent":         build("perfload", "github.com/perfagent/perfagent/integration/loadcompare/perfload"),
		"perfagent-nethttp": filepath.Join(bin, "perfload"),
		"hey":               build("hey", "github.com/rakyll/hey"),
		"vegeta":            build("vegeta", "github.com/tsenart/vegeta/v12"),
		"wrk":               "wrk",
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, "taskset", "-c", "0", server, "-addr", "127.0.0.1:0")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer cancel()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("minserver: %v", err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening on ")) + "/"

	tools := []tool{
		{name: "wrk", cmd: func(b, u string, c int, d time.Duration) []string {
			return []string{b, "-t1", "-c" + strconv.Itoa(c), "-d" + d.String(), u}
		}, rate: grepRate(`Requests/sec:\s+([0-9.]+)`)},
		{name: "perfagent", cmd: func(b, u string, c int, d time.Duration) []string {
			return []string{b, "-url", u, "-c", strconv.Itoa(c), "-d", d.String()}
		}, rate: jsonRate},
		{name: "perfagent-nethttp", cmd: func(b, u string, c int, d time.Duration) []string {
			return []string{b, "-url", u, "-c", strconv.Itoa(c), "-d", d.String(), "-engine", "net/http"}
		}, rate: jsonRate},
		{name: "hey", cmd: func(b, u string, c int, d time.Duration) []string {
			return []string{b, "-z", d.String(), "-c", strconv.Itoa(c), u}
		}, rate: grepRate(`Requests/sec:\s+([0-9.]+)`)},
		{name: "vegeta", cmd: func(b, u string, c int, d time.Duration) []string {
			return []string{b, "attack", "-rate=0", "-max-workers=" + strconv.Itoa(c), "-workers=" + strconv.Itoa(c),
				"-connections=" + strconv.Itoa(c), "-duration=" + d.String()}
		}, stdin: func(u string) string { return "GET " + u + "\n" }, rate: nil},
	}

	rates := map[string][]float64{}
	for r := range rounds {
		// wrk first in every round: the ratios divide by it.
		for _, tl := range tools {
			args := append([]string{"-c", "1"}, tl.cmd(bins[tl.name], url, conns, dur)...)
			var out []byte
			var err error
			if tl.name == "vegeta" {
				// vegeta attack | vegeta report -type=json
				out, err = vegetaRun(ctx, bins["vegeta"], args, tl.stdin(url))
			} else {
				cmd := exec.CommandContext(ctx, "taskset", args...)
				out, err = cmd.CombinedOutput()
			}
			if err != nil {
				t.Fatalf("round %d %s: %v\n%s", r+1, tl.name, err, out)
			}
			rate := tl.rate
			if rate == nil {
				rate = vegetaRate
			}
			v, err := rate(out)
			if err != nil {
				t.Fatalf("round %d %s: %v\n%s", r+1, tl.name, err, out)
			}
			rates[tl.name] = append(rates[tl.name], v)
			t.Logf("round %d %-18s %9.0f req/s", r+1, tl.name, v)
		}
	}
	// Background load changes between runs; each round's ratio to that
	// round's wrk run is steadier than a ratio of medians.
	ratios := func(name string) []float64 {
		out := make([]float64, len(rates[name]))
		for i, v := range rates[name] {
			out[i] = v / rates["wrk"][i]
		}
		return out
	}
	var b strings.Builder
	fmt.Fprintf(&b, "loopback, minserver on CPU 0, generator on CPU 1, %d connections, closed model, %v × %d interleaved rounds\n", conns, dur, rounds)
	fmt.Fprintf(&b, "  %-18s %12s %14s   %s\n", "generator", "median req/s", "median ×wrk", "per round: req/s (×wrk)")
	for _, tl := range tools {
		r := ratios(tl.name)
		var per []string
		for i, v := range rates[tl.name] {
			per = append(per, fmt.Sprintf("%.0f (%.2f)", v, r[i]))
		}
		fmt.Fprintf(&b, "  %-18s %12.0f %13.2f×   %s\n", tl.name, median(rates[tl.name]), median(r), strings.Join(per, ", "))
	}
	t.Log("\n" + b.String())
	if p := os.Getenv("LOADCOMPARE_OUT"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if got := median(ratios("perfagent")); got < 0.9 {
		t.Errorf("perfagent drove %.2f× wrk's rate (median over rounds); the target is ≥ 0.9×", got)
	}
}

func vegetaRun(ctx context.Context, bin string, args []string, targets string) ([]byte, error) {
	attack := exec.CommandContext(ctx, "taskset", args...)
	attack.Stdin = strings.NewReader(targets)
	var results, stderr bytes.Buffer
	attack.Stdout, attack.Stderr = &results, &stderr
	if err := attack.Run(); err != nil {
		return stderr.Bytes(), err
	}
	report := exec.CommandContext(ctx, bin, "report", "-type=json")
	report.Stdin = &results
	return report.CombinedOutput()
}

func grepRate(expr string) func([]byte) (float64, error) {
	re := regexp.MustCompile(expr)
	return func(out []byte) (float64, error) {
		m := re.FindSubmatch(out)
		if m == nil {
			return 0, fmt.Errorf("no match for %q", expr)
		}
		return strconv.ParseFloat(string(m[1]), 64)
	}
}

func jsonRate(out []byte) (float64, error) {
	var v struct {
		RPS    float64 `json:"rps"`
		Errors int64   `json:"errors"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &v); err != nil {
		return 0, err
	}
	if v.Errors > 0 {
		return 0, fmt.Errorf("%d errors", v.Errors)
	}
	return v.RPS, nil
}

func vegetaRate(out []byte) (float64, error) {
	var v struct {
		Rate    float64 `json:"rate"`
		Success float64 `json:"success"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return 0, err
	}
	if v.Success < 1 {
		return 0, fmt.Errorf("success ratio %.4f", v.Success)
	}
	return v.Rate, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRates(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, " ")
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s: want a positive duration like 10s, got %q", name, s)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s: want a positive whole number, got %q", name, s)
	}
	return n
}
