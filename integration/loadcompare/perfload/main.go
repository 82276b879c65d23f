// Command perfload drives package load against one URL, for the generator
// comparison: closed model, -c users, -d duration. It prints one JSON line
// with the achieved rate and latency percentiles.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"runtime/pprof"
	"time"

	"github.com/perfagent/perfagent/load"
)

func main() {
	target := flag.String("url", "", "target URL")
	conns := flag.Int("c", 50, "connections (closed-model users)")
	dur := flag.Duration("d", 10*time.Second, "duration")
	engine := flag.String("engine", "", `"" (lean HTTP/1.1) or "net/http"`)
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "perfload:", err)
			os.Exit(2)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "perfload:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		fmt.Fprintln(os.Stderr, "perfload: -url must be an absolute URL")
		os.Exit(2)
	}
	path := u.RequestURI()
	u.Path, u.RawQuery = "", ""
	s := &load.Scenario{
		Name:      "loadcompare",
		BaseURL:   u.String(),
		Endpoints: []load.Endpoint{{Request: load.Request{Name: "get", Path: path}}},
	}
	rep, err := load.Run(context.Background(), s, load.Options{
		Load:   load.Load{Model: load.ModelClosed, Concurrency: *conns, Duration: *dur},
		Engine: load.Engine(*engine),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "perfload:", err)
		return
	}
	t := rep.Total
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"rps": t.Rate, "requests": t.Requests, "errors": t.Errors,
		"p50_ns": t.Latency.P50, "p99_ns": t.Latency.P99, "engine": rep.Engine,
	})
}
