package cpuprof

import (
	"bytes"
	"context"
	"errors"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

type fakeOwner struct {
	mu              sync.Mutex
	paused, resumed int
	running         bool
	buf             bytes.Buffer
}

// A real owner: it holds the CPU profiler while running.
func (o *fakeOwner) start(t *testing.T) {
	if err := pprof.StartCPUProfile(&o.buf); err != nil {
		t.Fatal(err)
	}
	o.running = true
}

func (o *fakeOwner) PauseCPU(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	pprof.StopCPUProfile()
	o.paused++
	return nil
}

func (o *fakeOwner) ResumeCPU() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.resumed++
	_ = pprof.StartCPUProfile(&o.buf)
}

func TestProfileWhileOwnerHoldsProfiler(t *testing.T) {
	var p Profiler
	o := &fakeOwner{}
	o.start(t)
	defer pprof.StopCPUProfile()
	// Without the arbiter, a second profile fails.
	if err := pprof.StartCPUProfile(&bytes.Buffer{}); err == nil {
		t.Fatal("runtime allowed two CPU profiles")
	}
	p.SetOwner(o)
	var out bytes.Buffer
	if err := p.Profile(context.Background(), 50*time.Millisecond, &out); err != nil {
		t.Fatal(err)
	}
	if o.paused != 1 || o.resumed != 1 {
		t.Errorf("owner paused %d resumed %d", o.paused, o.resumed)
	}
	if _, err := profile.Parse(&out); err != nil {
		t.Errorf("profile does not parse: %v", err)
	}
}

func TestProfileBusy(t *testing.T) {
	var p Profiler
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Profile(ctx, time.Minute, &bytes.Buffer{}) }()
	time.Sleep(20 * time.Millisecond)
	for p.mu.TryLock() { // wait until the first profile holds it
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Profile(context.Background(), time.Millisecond, &bytes.Buffer{}); !errors.Is(err, ErrBusy) {
		t.Errorf("second profile: %v", err)
	}
	cancel() // ends the first one early
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
