package exporters

import (
	"sync"
	"sync/atomic"
	"time"
)

// Health records the outcome of an exporter's exports. It is safe for
// concurrent use; the zero value is ready.
type Health struct {
	exports  atomic.Int64
	failures atomic.Int64
	panics   atomic.Int64

	mu          sync.Mutex
	lastSuccess time.Time
	lastFailure time.Time
	lastError   string
	lastOK      bool
}

// States of [HealthStatus.State].
const (
	StateUnknown = "unknown" // no export has finished yet
	StateHealthy = "healthy" // the latest export succeeded
	StateFailing = "failing" // the latest export failed
)

// HealthStatus is a point-in-time copy of a [Health], shaped for JSON.
type HealthStatus struct {
	Exports     int64     `json:"exports"`
	Failures    int64     `json:"failures"`
	Panics      int64     `json:"panics_recovered,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFailure time.Time `json:"last_failure,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// State is StateUnknown until the first export finished, then
	// StateHealthy or StateFailing after the latest export.
	State string `json:"state"`
	// Healthy is true when the latest export succeeded (false while the
	// State is StateUnknown: an exporter hanging on its first export is
	// not known to be healthy).
	Healthy bool `json:"healthy"`
}

// Record counts one export with its error (nil for success).
func (h *Health) Record(err error, now time.Time) {
	h.exports.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.lastSuccess, h.lastOK = now, true
		return
	}
	h.failures.Add(1)
	h.lastFailure, h.lastError, h.lastOK = now, err.Error(), false
}

// Status returns a copy of the current state.
func (h *Health) Status() HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return HealthStatus{
		Exports:     h.exports.Load(),
		Failures:    h.failures.Load(),
		Panics:      h.panics.Load(),
		LastSuccess: h.lastSuccess,
		LastFailure: h.lastFailure,
		LastError:   h.lastError,
		State:       h.state(),
		Healthy:     h.lastOK,
	}
}

func (h *Health) state() string {
	switch {
	case h.exports.Load() == 0:
		return StateUnknown
	case h.lastOK:
		return StateHealthy
	}
	return StateFailing
}

// LastFailed reports whether the latest export failed, with its error text.
func (h *Health) LastFailed() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lastOK && h.exports.Load() > 0, h.lastError
}
