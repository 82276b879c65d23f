package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/perfagent/perfagent/snapshot"
)

// A History of snapshots flushed to a store: each file holds the snapshots
// taken since the previous one.
func ExampleHistory_Flush() {
	dir, _ := os.MkdirTemp("", "perf")
	defer os.RemoveAll(dir)
	store, _ := snapshot.OpenStore(filepath.Join(dir, "monitoring"), snapshot.StoreOptions{MaxFiles: 50})

	s := snapshot.NewSampler(nil)
	defer s.Close()
	h := snapshot.NewHistory(360)
	var snap snapshot.Snapshot
	for i := 0; i < 3; i++ {
		s.Sample(&snap)
		h.Add(&snap)
	}
	path, err := h.Flush(store)
	if err != nil {
		fmt.Println(err)
		return
	}
	f, _ := os.Open(path)
	defer f.Close()
	file, _ := snapshot.ReadHistoryFile(f, path)
	kind, _, _ := snapshot.ParseName(filepath.Base(path))
	fmt.Println(kind, len(file.Snapshots), h.Pending())
	// Output: metrics-history 3 0
}

// Store names files by kind and time and keeps its directory within its
// quotas.
func ExampleStore_Write() {
	dir, _ := os.MkdirTemp("", "perf")
	defer os.RemoveAll(dir)
	store, _ := snapshot.OpenStore(dir, snapshot.StoreOptions{MaxFiles: 2})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < 3; i++ {
		store.Write("heap", at.Add(time.Duration(i)*time.Minute), []byte("profile bytes"))
	}
	files, _ := store.Files()
	for _, f := range files {
		fmt.Println(filepath.Base(f.Path))
	}
	// Output:
	// heap-20260102T030505.000Z.pb.gz
	// heap-20260102T030605.000Z.pb.gz
}

// An on-demand heap capture.
func ExampleCapturer_Capture() {
	dir, _ := os.MkdirTemp("", "perf")
	defer os.RemoveAll(dir)
	store, _ := snapshot.OpenStore(dir, snapshot.StoreOptions{})
	c := snapshot.NewCapturer(store, snapshot.CaptureConfig{Triggers: snapshot.Off()})
	defer c.Close(context.Background())
	res, err := c.Capture(context.Background(), snapshot.Heap, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	kind, _, _ := snapshot.ParseName(filepath.Base(res.Path))
	fmt.Println(kind, res.Trigger, res.Bytes > 0)
	// Output: heap on-demand true
}
