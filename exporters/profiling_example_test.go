package exporters_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/perfagent/perfagent/exporters"
)

func ExampleAppNameWithTags() {
	fmt.Println(exporters.AppNameWithTags("checkout", map[string]string{"region": "eu-west,1", "version": "1.4.2"}))
	// Output: checkout{region=eu-west_1,version=1.4.2}
}

func ExampleParseProfileTypes() {
	types, err := exporters.ParseProfileTypes("cpu,heap,goroutine")
	fmt.Println(types, err)
	// Output: [cpu alloc_objects alloc_space inuse_objects inuse_space goroutine] <nil>
}

// Stream CPU and heap profiles to a Pyroscope server every 15 seconds. The
// agent package does this from agent.WithProfiling; build it by hand only
// for a custom pipeline.
func ExampleStartProfiler() {
	sink, err := exporters.NewPyroscopeSink(exporters.PyroscopeOptions{
		ServerAddress:   "http://localhost:4040",
		ApplicationName: "checkout",
		Tags:            map[string]string{"region": "eu"},
	}, exporters.SinkOptions{})
	if err != nil {
		log.Fatal(err)
	}
	p, err := exporters.StartProfiler(exporters.ProfilerConfig{Interval: 15 * time.Second}, sink)
	if err != nil {
		log.Fatal(err)
	}
	// ... the service runs ...

	// Stop hands over the final profiles and uploads them within the
	// deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		log.Print(err)
	}
}
