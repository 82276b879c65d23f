package load

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/results"
)

func okServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv
}

// checkRounds asserts that rep's rounds partition its measured traffic.
func checkRounds(t *testing.T, rep *Report, want int) {
	t.Helper()
	if len(rep.Rounds) != want {
		t.Fatalf("%d rounds, want %d", len(rep.Rounds), want)
	}
	for k := 1; k < len(rep.Rounds); k++ {
		if prev := rep.Rounds[k-1]; rep.Rounds[k].Start != prev.Start+prev.Length {
			t.Errorf("round %d starts at %v, round %d ended at %v", k, rep.Rounds[k].Start, k-1, prev.Start+prev.Length)
		}
	}
	for _, ep := range rep.Endpoints {
		if len(ep.Rounds) != want {
			t.Fatalf("%s: %d rounds, want %d", ep.Name, len(ep.Rounds), want)
		}
		var reqs, errs, lat int64
		for _, r := range ep.Rounds {
			reqs += r.Requests
			errs += r.Errors
			lat += r.LatencyN
		}
		if reqs != ep.Requests || errs != ep.Errors || lat != ep.Latency.N {
			t.Errorf("%s: rounds sum to %d requests, %d errors, %d latencies; the endpoint has %d, %d, %d",
				ep.Name, reqs, errs, lat, ep.Requests, ep.Errors, ep.Latency.N)
		}
	}
}

func TestRoundsPartitionATimedRun(t *testing.T) {
	srv := okServer(t)
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/a"), ep("b", "/b")), Options{
		Load: Load{Concurrency: 2, Duration: time.Second}, Rounds: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRounds(t, rep, 5)
	res := rep.BenchResults()
	for i, b := range res.Benchmarks {
		ep := rep.Endpoints[i]
		if len(b.Samples) != 5 || b.Stats.N != 5 {
			t.Fatalf("%s: %d samples (stats n %d), want one per round", b.Name, len(b.Samples), b.Stats.N)
		}
		for k, s := range b.Samples {
			if s != float64(ep.Rounds[k].P50) {
				t.Errorf("%s sample %d = %v, want round median %v", b.Name, k, s, ep.Rounds[k].P50)
			}
		}
		if b.PerOp == nil || b.PerOp.N != ep.Requests || b.PerOp.P99 != float64(ep.Latency.P99) {
			t.Errorf("%s: per-op %+v, want every one of %d requests", b.Name, b.PerOp, ep.Requests)
		}
		for _, unit := range []string{results.UnitReqPerSec, results.UnitErrorRate, results.UnitTimeoutRate, results.UnitAvailable, unitP99} {
			m := b.MetricByUnit(unit)
			if m == nil || len(m.Samples) != 5 {
				t.Errorf("%s: metric %s = %+v, want 5 per-round samples", b.Name, unit, m)
			}
		}
		if m := b.MetricByUnit(results.UnitAvailable); m.Value != 1 {
			t.Errorf("%s: availability %v", b.Name, m.Value)
		}
		if err := b.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestRoundsCutByCount(t *testing.T) {
	srv := okServer(t)
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/")), Options{
		Load: Load{Concurrency: 2, Requests: 400}, Rounds: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRounds(t, rep, 4)
	for k, r := range rep.Endpoints[0].Rounds {
		// A request belongs to the round of its completion index.
		if r.Requests != 100 {
			t.Errorf("round %d has %d requests, want 100", k, r.Requests)
		}
	}
}

func TestRoundsOpenModel(t *testing.T) {
	srv := okServer(t)
	rep, err := Run(context.Background(), scenario(srv.URL, ep("a", "/")), Options{
		Load: Load{Model: ModelOpen, Rate: 200, Duration: time.Second}, Rounds: 4, LateAfter: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRounds(t, rep, 4)
	for k, r := range rep.Endpoints[0].Rounds {
		if r.Requests < 25 || r.Requests > 75 {
			t.Errorf("round %d: %d requests at 200 req/s over 250ms", k, r.Requests)
		}
	}
}

func TestRoundsOptionBounds(t *testing.T) {
	s := scenario("http://127.0.0.1:1", ep("a", "/"))
	for _, o := range []Options{
		{Rounds: -1},
		{Rounds: MaxRounds + 1},
		{Rounds: 200, Load: Load{Duration: time.Second}},
		{Rounds: 10, Load: Load{Requests: 5}},
	} {
		if _, err := Run(context.Background(), s, o); err == nil || !strings.Contains(err.Error(), "options.rounds") {
			t.Errorf("%+v: err %v, want options.rounds", o, err)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestClosedPortIsNotAvailable(t *testing.T) {
	base := "http://" + closedPort(t)
	rep, err := Run(context.Background(), scenario(base, ep("a", "/")), Options{Load: Load{Concurrency: 2, Duration: 200 * time.Millisecond}, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := rep.Endpoints[0]
	if e.Requests == 0 || e.Errors != e.Requests || e.ErrorKinds["connect-refused"] != e.Requests {
		t.Fatalf("requests %d errors %d kinds %v: every request should be refused", e.Requests, e.Errors, e.ErrorKinds)
	}
	if e.Availability != 0 || rep.Total.Availability != 0 || e.ErrorRate != 1 {
		t.Errorf("availability %v (total %v), error rate %v; want 0, 0, 1", e.Availability, rep.Total.Availability, e.ErrorRate)
	}
	if rep.Verdict().Pass {
		t.Error("a refused target passed the verdict")
	}
	b := rep.BenchResults().Benchmarks[0]
	if !strings.Contains(b.Error, "no response") || !strings.Contains(b.Error, "connect-refused") {
		t.Errorf("error %q, want no response by kind", b.Error)
	}
	if m := b.MetricByUnit(results.UnitAvailable); m == nil || m.Value != 0 || len(m.Samples) != 2 || m.Samples[0] != 0 {
		t.Errorf("availability metric %+v, want 0 in each round", m)
	}
	if len(b.Samples) != 0 || b.PerOp != nil {
		t.Errorf("no response, yet samples %v per-op %+v", b.Samples, b.PerOp)
	}
}

func TestClosedPortWithSetup(t *testing.T) {
	base := "http://" + closedPort(t)
	rep, err := Run(context.Background(), DefaultScenario(base), Options{Load: Load{Duration: 100 * time.Millisecond}})
	if !errors.Is(err, ErrSetup) {
		t.Fatalf("err %v, want ErrSetup", err)
	}
	if rep.Total.Availability != 0 {
		t.Errorf("total availability %v with nothing answered", rep.Total.Availability)
	}
	var avail *Check
	for _, c := range rep.Verdict().Checks {
		if c.Metric == "availability" {
			avail = &c
		}
	}
	if avail == nil || avail.Pass || !strings.Contains(avail.Message, "not measured") {
		t.Errorf("availability check %+v, want failing as not measured", avail)
	}
	for _, b := range rep.BenchResults().Benchmarks {
		if b.Labels["phase"] == "setup" {
			if m := b.MetricByUnit(results.UnitAvailable); m == nil || m.Value != 0 {
				t.Errorf("%s availability %+v, want 0", b.Name, m)
			}
			continue
		}
		if b.MetricByUnit(results.UnitAvailable) != nil || b.MetricByUnit(results.UnitErrorRate) != nil {
			t.Errorf("%s: rate metrics for an endpoint never measured: %+v", b.Name, b.Metrics)
		}
		if !strings.Contains(b.Error, "setup failed") {
			t.Errorf("%s: error %q", b.Name, b.Error)
		}
	}
}
