// Command leaky is a test program for package leak: it runs the perfagent
// agent with short leak-detection windows and leaks memory or goroutines
// in one of three ways, until interrupted.
//
//	leaky -mode map|unreachable|reachable -out DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/leak"
)

var (
	kept    = map[int][]byte{}
	sink    []byte
	parking = make(chan struct{}) // reachable: a global holds it
)

// leakMap keeps 16 KiB per call in a global map.
//
//go:noinline
func leakMap(i int) { kept[i] = make([]byte, 16<<10) }

// spawnUnreachable starts a goroutine blocked on a channel that nothing
// else references: the runtime's goroutineleak profile can prove it leaked.
//
//go:noinline
func spawnUnreachable() {
	ch := make(chan int)
	go blockUnreachable(ch)
}

//go:noinline
func blockUnreachable(ch chan int) { <-ch }

// spawnReachable starts a goroutine blocked on a channel a global keeps: a
// leak the runtime cannot prove, found by its growing creation site.
//
//go:noinline
func spawnReachable() { go blockReachable() }

//go:noinline
func blockReachable() { <-parking }

func main() {
	os.Exit(run())
}

func run() int {
	mode := flag.String("mode", "map", "map, unreachable or reachable")
	out := flag.String("out", "perf", "output root")
	maxFiles := flag.Int("max-files", 30, "file quota of each output directory")
	flag.Parse()
	runtime.MemProfileRate = 4096

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := agent.Start(ctx,
		agent.WithoutHTTPServer(), agent.WithOutputDir(*out), agent.WithOutputQuota(64<<20, *maxFiles),
		agent.WithSnapshotInterval(50*time.Millisecond), agent.WithoutCaptureTriggers(),
		agent.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
		agent.WithLeakDetection(leak.Config{WarmUp: 300 * time.Millisecond, Window: 600 * time.Millisecond,
			Persist: 300 * time.Millisecond, MinGrowth: 512 << 10, MinGoroutineGrowth: 20, Realert: 500 * time.Millisecond}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "leaky:", err)
		return 1
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Shutdown(sctx); err != nil {
				fmt.Fprintln(os.Stderr, "leaky: shutdown:", err)
				return 1
			}
			return 0
		case <-t.C:
		}
		for j := 0; j < 4; j++ {
			sink = make([]byte, 32<<10) // garbage, so GCs run
		}
		switch *mode {
		case "map":
			leakMap(i) // 3.2 MB/s
		case "unreachable":
			if i%2 == 0 {
				spawnUnreachable() // 100/s
			}
		case "reachable":
			if i%2 == 0 {
				spawnReachable()
			}
		}
	}
}
