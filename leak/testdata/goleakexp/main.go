// Command goleakexp is a test program for package leak, built with
// GOEXPERIMENT=goroutineleakprofile: it leaks goroutines (blocked on
// channels nothing references, or on one a global keeps) under a
// leak.Monitor fed by a real sampler, and prints the path of the first
// goroutine leak report.
//
//	goleakexp -mode unreachable|reachable -out DIR
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/perfagent/perfagent/leak"
	"github.com/perfagent/perfagent/snapshot"
)

var parking = make(chan struct{})

//go:noinline
func spawnUnreachable() {
	ch := make(chan int)
	go blockUnreachable(ch)
}

//go:noinline
func blockUnreachable(ch chan int) { <-ch }

//go:noinline
func spawnReachable() { go blockReachable() }

//go:noinline
func blockReachable() { <-parking }

func main() {
	mode := flag.String("mode", "unreachable", "unreachable or reachable")
	out := flag.String("out", "perf", "output directory")
	flag.Parse()
	store, _ := snapshot.OpenStore(filepath.Join(*out, "memory"), snapshot.StoreOptions{})
	reports := make(chan *leak.Report, 8)
	m, err := leak.NewMonitor(leak.MonitorOptions{
		Config: leak.Config{WarmUp: 200 * time.Millisecond, Window: 500 * time.Millisecond, Persist: 200 * time.Millisecond,
			MinGrowth: -1, MinGoroutineGrowth: 20},
		Store: store, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		OnReport: func(r *leak.Report) { reports <- r },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := snapshot.NewSampler(nil)
	deadline := time.Now().Add(30 * time.Second)
	var snap snapshot.Snapshot
	for i := 0; time.Now().Before(deadline); i++ {
		time.Sleep(10 * time.Millisecond)
		if *mode == "reachable" {
			spawnReachable()
		} else {
			spawnUnreachable()
		}
		if i%5 == 0 {
			s.Sample(&snap)
			m.Observe(&snap)
		}
		select {
		case r := <-reports:
			fmt.Println(r.Files.Report)
			return
		default:
		}
	}
	fmt.Fprintln(os.Stderr, "goleakexp: no report within 30s")
	os.Exit(1)
}
