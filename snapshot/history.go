package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultHistorySize is the default capacity of a [History]: two hours
// of snapshots at the agent's default 5s interval, about 0.4 MiB.
const DefaultHistorySize = 1440

// HistorySchema is the value of [HistoryFile.Schema]: the one
// metrics-history schema, written by the agent ([History.Flush]) and by
// `perfagent monitor` (package monitor) alike.
const HistorySchema = "perfagent.metrics-history/v1"

// legacyHistorySchema is the schema the agent wrote before the monitor
// shared it; [ReadHistoryFile] still reads it (the document is the same).
const legacyHistorySchema = "perfagent.history/v1"

// History is a bounded ring of Snapshots: when full, each new snapshot
// replaces the oldest, so its memory is fixed at creation whatever the run
// length. It remembers which snapshots were flushed to files, so that each
// file holds the snapshots added since the previous one and a failed flush
// is retried with the next.
//
// Methods are safe for concurrent use; Add does not allocate.
type History struct {
	mu      sync.Mutex
	buf     []Snapshot
	next    int    // index of the slot the next Add writes
	total   uint64 // snapshots ever added
	flushed uint64 // snapshots [0, flushed) were written (or lost)
	lost    uint64 // snapshots overwritten before they were flushed
}

// NewHistory returns a History keeping the last capacity snapshots
// (capacity ≤ 0 means DefaultHistorySize).
func NewHistory(capacity int) *History {
	if capacity <= 0 {
		capacity = DefaultHistorySize
	}
	return &History{buf: make([]Snapshot, capacity)}
}

// Cap returns the capacity.
func (h *History) Cap() int { return len(h.buf) }

// Len returns the number of snapshots held.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lenLocked()
}

func (h *History) lenLocked() int {
	if h.total < uint64(len(h.buf)) {
		return int(h.total)
	}
	return len(h.buf)
}

// Add appends a copy of s, replacing the oldest snapshot when full.
func (h *History) Add(s *Snapshot) {
	h.mu.Lock()
	h.buf[h.next] = *s
	h.next = (h.next + 1) % len(h.buf)
	h.total++
	if oldest := h.total - uint64(h.lenLocked()); h.flushed < oldest {
		h.lost += oldest - h.flushed
		h.flushed = oldest
	}
	h.mu.Unlock()
}

// at returns the snapshot with sequence number seq (0 is the first ever
// added); it must still be held.
func (h *History) at(seq uint64) *Snapshot {
	back := h.total - seq // 1 is the newest
	i := (h.next - int(back)%len(h.buf) + len(h.buf)) % len(h.buf)
	return &h.buf[i]
}

// Snapshots appends the held snapshots, oldest first, to dst and returns
// it.
func (h *History) Snapshots(dst []Snapshot) []Snapshot {
	return h.Last(dst, -1)
}

// Last appends the newest n snapshots (all when n < 0), oldest first, to
// dst.
func (h *History) Last(dst []Snapshot, n int) []Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.lenLocked()
	if n < 0 || n > l {
		n = l
	}
	for seq := h.total - uint64(n); seq < h.total; seq++ {
		dst = append(dst, *h.at(seq))
	}
	return dst
}

// Since appends the held snapshots taken at or after t, oldest first.
func (h *History) Since(dst []Snapshot, t time.Time) []Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	for seq := h.total - uint64(h.lenLocked()); seq < h.total; seq++ {
		if s := h.at(seq); !s.Time.Before(t) {
			dst = append(dst, *s)
		}
	}
	return dst
}

// Latest returns the newest snapshot.
func (h *History) Latest() (Snapshot, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == 0 {
		return Snapshot{}, false
	}
	return *h.at(h.total - 1), true
}

// Stats reports how many snapshots were ever added and how many were
// overwritten before a flush wrote them.
func (h *History) Stats() (added, lost uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total, h.lost
}

// HistoryFile is the metrics-history schema ([HistorySchema]): the JSON
// document of every monitoring/metrics-history-<ts>.json and of
// /debug/perfagent/history.
//
// Both writers fill the same fields with the same meaning. The agent fills
// every field of each [Snapshot]. `perfagent monitor` reads a target from
// outside (a Prometheus exposition or /proc), so its snapshots hold only the
// fields it measured (heap, RSS, goroutines, threads, FDs, GC, CPU,
// scheduler latency p99, ...): the others are omitted from the file, not
// written as zero, and decode as zero here. A writer may add top-level
// fields of its own (the monitor adds its run: target, status, summary,
// thresholds, breaches, captures); readers ignore fields they do not know,
// so one decoder ([ReadHistoryFile]) reads the files of both.
type HistoryFile struct {
	// Schema is HistorySchema.
	Schema string `json:"schema"`
	// Source says which writer made the file: "agent" or "monitor" (empty
	// in files of earlier versions, which were the agent's).
	Source string `json:"source,omitempty"`
	// From and To are the times of the first and last snapshot (zero when
	// there are none).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Lost counts snapshots dropped from the ring before any file held
	// them (flushes failed or were less frequent than the ring turns
	// over), since the previous file.
	Lost uint64 `json:"lost,omitempty"`
	// Snapshots are in time order.
	Snapshots []Snapshot `json:"snapshots"`
}

// Sources of a [HistoryFile].
const (
	SourceAgent   = "agent"
	SourceMonitor = "monitor"
)

// NewHistoryFile returns the agent's document holding snaps.
func NewHistoryFile(snaps []Snapshot, lost uint64) *HistoryFile {
	f := &HistoryFile{Schema: HistorySchema, Source: SourceAgent, Lost: lost, Snapshots: snaps}
	if f.Snapshots == nil {
		f.Snapshots = []Snapshot{}
	}
	if len(snaps) > 0 {
		f.From, f.To = snaps[0].Time, snaps[len(snaps)-1].Time
	}
	return f
}

// Flush writes the snapshots added since the previous successful Flush to
// store as metrics-history-<ts>.json (ts is the newest snapshot's time)
// and returns the path. With nothing new it writes nothing and returns "",
// nil. When the write fails, the snapshots stay pending and the next Flush
// includes them (as far as the ring still holds them; the others are
// counted as lost in the file).
func (h *History) Flush(store *Store) (string, error) {
	h.mu.Lock()
	start, end, lost := h.flushed, h.total, h.lost
	snaps := make([]Snapshot, 0, end-start)
	for seq := start; seq < end; seq++ {
		snaps = append(snaps, *h.at(seq))
	}
	h.mu.Unlock()
	if len(snaps) == 0 {
		return "", nil
	}
	var buf bytes.Buffer
	if err := NewHistoryFile(snaps, lost).Write(&buf); err != nil {
		return "", err
	}
	path, err := store.WriteFile("metrics-history", ".json", snaps[len(snaps)-1].Time, buf.Bytes())
	if err != nil {
		return "", fmt.Errorf("snapshot: flush history: %w", err)
	}
	h.mu.Lock()
	if h.flushed < end {
		h.flushed = end
	}
	h.lost -= lost // reported in this file
	h.mu.Unlock()
	return path, nil
}

// Observe adds s: a History is a [Pipeline] observer.
func (h *History) Observe(s *Snapshot) { h.Add(s) }

// FlushEvery returns an observer that flushes the history to store (see
// [History.Flush]) whenever every has passed, by the snapshots' time, since
// the previous file (or the first snapshot it saw). Files are written on
// the pipeline's goroutine; onError, when set, receives a failed write.
// Put it after the history among the observers so each file includes the
// newest snapshot.
func (h *History) FlushEvery(store *Store, every time.Duration, onError func(error)) Observer {
	var last time.Time
	return ObserverFunc(func(s *Snapshot) {
		if last.IsZero() {
			last = s.Time
			return
		}
		if s.Time.Sub(last) < every {
			return
		}
		last = s.Time
		if _, err := h.Flush(store); err != nil && onError != nil {
			onError(err)
		}
	})
}

// Pending returns the number of snapshots not yet flushed.
func (h *History) Pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int(h.total - h.flushed)
}

// Write writes f as indented JSON.
func (f *HistoryFile) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("snapshot: encode history: %w", err)
	}
	return nil
}

// maxHistoryFile bounds what ReadHistoryFile reads.
const maxHistoryFile = 256 << 20

// ReadHistoryFile parses a history file written by the agent or by
// `perfagent monitor` (the same schema; fields a writer omitted decode as
// zero). It also reads the agent's files of the earlier "perfagent.history/v1"
// schema, returned with Schema set to HistorySchema. It rejects other
// schemas (naming the file and the schema: a monitor file of an earlier
// version is read by package monitor's ReadHistory) and snapshots out of
// time order with an error saying which; name (the file's path, or "")
// prefixes errors.
func ReadHistoryFile(r io.Reader, name string) (*HistoryFile, error) {
	prefix := "snapshot: history"
	if name != "" {
		prefix += " " + name
	}
	dec := json.NewDecoder(io.LimitReader(r, maxHistoryFile))
	var f HistoryFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	if f.Schema == legacyHistorySchema {
		f.Schema = HistorySchema
	}
	if f.Schema != HistorySchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", prefix, f.Schema, HistorySchema)
	}
	for i := 1; i < len(f.Snapshots); i++ {
		if f.Snapshots[i].Time.Before(f.Snapshots[i-1].Time) {
			return nil, fmt.Errorf("%s: snapshot %d (%s) is older than the one before it", prefix, i, f.Snapshots[i].Time.Format(time.RFC3339Nano))
		}
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: %w", prefix, errors.New("trailing data after the document"))
	}
	return &f, nil
}
