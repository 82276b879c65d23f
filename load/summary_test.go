package load

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func goldenReport() *Report {
	ms := time.Millisecond
	return &Report{
		Scenario: "shop",
		BaseURL:  "http://127.0.0.1:8080",
		Protocol: "HTTP/1.1",
		Engine:   "lean-http1",
		Load:     Load{Model: ModelOpen, Concurrency: 50, Rate: 200, Duration: 30 * time.Second},
		Elapsed:  30*time.Second + 12*ms,
		Budgets:  DefaultBudgets(),
		Total: Totals{Requests: 6000, Errors: 12, Timeouts: 2, Rate: 199.6, ErrorRate: 0.002, TimeoutRate: 1.0 / 3000, Availability: 0.9985,
			Latency: Summary{N: 5998, P50: 2 * ms, P90: 4 * ms, P95: 6 * ms, P99: 20 * ms, P999: 900 * ms, Max: time.Second}},
		Endpoints: []EndpointReport{
			{Name: "health", Category: "health", Phase: "measured",
				Totals:      Totals{Requests: 2000, Rate: 66.5, Availability: 1, Latency: Summary{N: 2000, P50: 1 * ms, P90: 2 * ms, P95: 3 * ms, P99: 5 * ms, P999: 8 * ms, Max: 9 * ms}},
				ServiceTime: &Summary{N: 2000, P99: 4 * ms},
				StatusCodes: map[string]int64{"200": 2000},
				Targets:     Targets{P50: 50 * ms, P95: 100 * ms, P99: 200 * ms}},
			{Name: "search", Category: "database", Phase: "measured",
				Totals: Totals{Requests: 4000, Errors: 12, Timeouts: 2, Rate: 133.1, ErrorRate: 0.003, TimeoutRate: 0.0005, Availability: 0.99775,
					Latency: Summary{N: 3998, P50: 3 * ms, P90: 6 * ms, P95: 9 * ms, P99: 130 * ms, P999: 950 * ms, Max: time.Second}},
				ServiceTime:      &Summary{N: 3998, P99: 12 * ms},
				StatusCodes:      map[string]int64{"200": 3990, "500": 9},
				UnexpectedStatus: map[string]int64{"500": 9},
				ErrorKinds:       map[string]int64{"status": 9, "timeout": 2, "reset": 1},
				ErrorSamples:     []string{"timeout: read tcp 127.0.0.1:50000->127.0.0.1:8080: i/o timeout"},
				Targets:          Targets{P50: 20 * ms, P95: 50 * ms, P99: 100 * ms}},
		},
		Setup:     []EndpointReport{{Name: "login", Phase: "setup", Totals: Totals{Requests: 3, Latency: Summary{N: 3, P50: 4 * ms}}}},
		Refreshes: 2,
		Open: &OpenReport{Rate: 200, Achieved: 199.9, Intended: 6000, Dispatched: 6000, LateAfter: 5 * ms,
			SendLag: Summary{N: 6000, P50: 300 * time.Microsecond, P99: 1200 * time.Microsecond, Max: 3 * ms}, Waited: 40, Late: 41, GeneratorLate: 1},
		Warnings: []string{"40 requests became due while all 50 connections were busy; their latency includes the wait (raise load.concurrency if the target should absorb more in flight)"},
	}
}

func TestWriteSummaryGolden(t *testing.T) {
	var b strings.Builder
	if err := goldenReport().WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/summary.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestWriteSummaryGolden -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("summary differs from %s (-update rewrites it):\n%s", golden, b.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteSummaryError(t *testing.T) {
	if err := goldenReport().WriteSummary(failWriter{}); err == nil || err.Error() != "disk full" {
		t.Errorf("WriteSummary = %v, want the writer's error", err)
	}
}
