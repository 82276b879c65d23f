package flightrec

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/perfagent/perfagent/snapshot"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openStore(t *testing.T, opts snapshot.StoreOptions) *snapshot.Store {
	t.Helper()
	st, err := snapshot.OpenStore(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestOneRecorderPerProcess(t *testing.T) {
	r, err := Start(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(nil, Config{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Start: got %v, want ErrInUse", err)
	}
	r.Stop()
	r.Stop() // a second Stop does nothing
	if _, err := r.Capture("after stop"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Capture after Stop: got %v, want ErrStopped", err)
	}
	r2, err := Start(nil, Config{})
	if err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	r2.Stop()
}

func TestRuntimeFlightRecorderRefusesUs(t *testing.T) {
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{})
	if err := fr.Start(); err != nil {
		t.Fatal(err)
	}
	defer fr.Stop()
	if r, err := Start(nil, Config{}); !errors.Is(err, ErrNotAvailable) {
		if r != nil {
			r.Stop()
		}
		t.Fatalf("Start beside a runtime flight recorder: got %v, want ErrNotAvailable", err)
	}
}

func TestCoexistsWithTraceStart(t *testing.T) {
	st := openStore(t, snapshot.StoreOptions{})
	r, err := Start(st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	var own bytes.Buffer
	if err := trace.Start(&own); err != nil {
		t.Fatalf("the user's trace.Start beside the recorder: %v", err)
	}
	work()
	rep, err := r.Capture("while the user traces")
	trace.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if own.Len() == 0 || !bytes.HasPrefix(own.Bytes(), []byte("go 1.")) {
		t.Fatalf("the user's trace is empty or not a trace (%d bytes)", own.Len())
	}
	checkFiles(t, rep)
	// And the user can trace again after, while the recorder runs on.
	own.Reset()
	if err := trace.Start(&own); err != nil {
		t.Fatal(err)
	}
	trace.Stop()
}

func work() {
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Millisecond)
		}()
	}
	wg.Wait()
}

func checkFiles(t *testing.T, rep Report) {
	t.Helper()
	data, err := os.ReadFile(rep.TraceFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("go 1.")) || len(data) != rep.TraceBytes {
		t.Fatalf("trace file: %d bytes, header %q; report says %d", len(data), data[:min(16, len(data))], rep.TraceBytes)
	}
	js, err := os.ReadFile(strings.TrimSuffix(rep.TraceFile, ".out") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatalf("report: %v", err)
	}
	if got.Trigger != rep.Trigger || got.TraceFile != rep.TraceFile || got.WindowEnd.IsZero() || !got.WindowStart.Before(got.WindowEnd) {
		t.Fatalf("report: %+v", got)
	}
}

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCooldownAndQuotaUnderFlood(t *testing.T) {
	st := openStore(t, snapshot.StoreOptions{})
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r, err := Start(st, Config{Cooldown: time.Minute, QuotaEvery: 10 * time.Minute, QuotaBurst: 2, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	var mu sync.Mutex
	flood := func(trigger string) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					if r.Trigger(Evidence{Trigger: trigger}) {
						mu.Lock()
						queued++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
	}
	wait := func() {
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			s := r.Stats()
			if int(s.Taken)+int(s.Skipped[SkipFiles]) >= queued {
				return
			}
		}
	}
	flood(TriggerSlowRequest) // one passes: the cooldown holds the rest
	wait()
	flood(TriggerGCCPU) // another trigger has its own cooldown: one passes
	wait()
	clk.add(2 * time.Minute)
	flood(TriggerSlowRequest) // cooldown over, but the quota of 2 is spent
	wait()
	r.Stop()
	s := r.Stats()
	if queued != 2 || s.Taken != 2 {
		t.Fatalf("queued %d, taken %d; want 2 and 2 (stats %+v)", queued, s.Taken, s)
	}
	if s.Fired[TriggerSlowRequest] != 1600 || s.Skipped[SkipQuota] < 1 || s.Skipped[SkipCooldown] < 1000 {
		t.Fatalf("stats %+v", s)
	}
	files, err := st.Files()
	if err != nil || len(files) != 4 {
		t.Fatalf("files: %v, %v; want 2 traces and 2 reports", files, err)
	}
}

func TestOnDemandRateLimit(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r, err := Start(openStore(t, snapshot.StoreOptions{}), Config{OnDemandEvery: 10 * time.Second, OnDemandBurst: 1, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	rep, err := r.Capture("first")
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, rep)
	var rl *RateLimitError
	if _, err := r.Capture("second"); !errors.As(err, &rl) || !errors.Is(err, snapshot.ErrRateLimited) || rl.RetryAfter <= 0 {
		t.Fatalf("second capture: %v", err)
	}
	clk.add(10 * time.Second)
	if _, err := r.Capture("third"); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
}

func TestFullQuotaDropsAndCounts(t *testing.T) {
	// A byte quota smaller than any trace: the store refuses the file.
	r, err := Start(openStore(t, snapshot.StoreOptions{MaxBytes: 64}), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if _, err := r.Capture("too big"); !errors.Is(err, snapshot.ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if s := r.Stats(); s.Skipped[SkipFiles] != 1 || s.Taken != 0 {
		t.Fatalf("stats %+v", s)
	}
	r.Stop()
	// Files off: a nil store.
	r, err = Start(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if _, err := r.Capture("no files"); !errors.Is(err, snapshot.ErrDisabled) {
		t.Fatalf("got %v, want ErrDisabled", err)
	}
}

func TestSummarizerHook(t *testing.T) {
	var got []byte
	r, err := Start(openStore(t, snapshot.StoreOptions{}), Config{Summarize: func(tr []byte, end time.Time) (Summary, error) {
		got = tr
		return Summary{WindowStart: end.Add(-time.Second), WindowEnd: end, Blocked: []GoroutineTime{{ID: 7, Name: "main.worker", Seconds: 1}}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	rep, err := r.Capture("hook")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != rep.TraceBytes || rep.From != "trace" || len(rep.Blocked) != 1 {
		t.Fatalf("report %+v", rep)
	}
	checkFiles(t, rep)
}

func TestValidate(t *testing.T) {
	bad := []Config{
		{Window: time.Millisecond}, {Window: time.Hour},
		{MaxBytes: 1}, {MaxBytes: 1 << 40},
		{Cooldown: time.Millisecond}, {Cooldown: 48 * time.Hour},
		{QuotaBurst: -1}, {QuotaBurst: 1000},
		{Cooldown: time.Hour, QuotaEvery: time.Minute},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
		if _, err := Start(nil, c); err == nil {
			t.Errorf("Start(%+v): no error", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
}
