package system_test

import (
	"fmt"

	"github.com/perfagent/perfagent/bench/system"
)

func ExampleNames() {
	for _, name := range system.Names(system.Options{}) {
		fmt.Println(name)
	}
	// Output:
	// sched/latency/idle
	// sched/latency/loaded
	// alloc/small-64B
	// alloc/large-1MiB
	// cpu/sha256-64KiB
	// gc/live-heap-16MiB
	// gc/live-heap-64MiB
	// gc/live-heap-256MiB
	// json/encode
	// json/decode
}
