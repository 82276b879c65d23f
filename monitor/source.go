package monitor

import (
	"context"
	"errors"
)

// Kinds of [Target].
const (
	KindAgent      = "agent"      // a service running perfagent's agent, read by its URL
	KindProcess    = "process"    // any local process, read from /proc by PID
	KindPrometheus = "prometheus" // any Prometheus exposition endpoint
)

// Target describes what a monitor watches.
type Target struct {
	// Kind is one of the Kind constants.
	Kind string `json:"kind"`
	// Name is a short, stable name for file names and results:
	// "host:port" for URL targets (the agent's service name when it reports
	// one), the command name for a process.
	Name string `json:"name"`
	// URL is the base URL of an agent or the exposition URL of a
	// Prometheus endpoint; empty for processes.
	URL string `json:"url,omitempty"`
	// PID is the process ID of a process target (and of an agent's process
	// when it reports one).
	PID int `json:"pid,omitempty"`
	// Version and GoVersion are the agent's, when the target reports them.
	Version   string `json:"agent_version,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
}

// Source reads a target. Implementations in this package: [AgentSource],
// [PrometheusSource] and [ProcessSource].
//
// Read is called from one goroutine at a time; Target may be called at any
// time after the first successful Read. Close releases what the source holds
// (idle connections, open files); it is called once, after the last Read.
type Source interface {
	// Target describes the target. After the first successful Read it
	// includes what the target reported about itself.
	Target() Target
	// Read fills r (which the caller has reset) with the target's current
	// state and sets r.Time. An error wrapping [ErrTargetGone] means the
	// target is gone for good (the process exited) and ends the run; any
	// other error is a failed read, counted and retried at the next tick.
	Read(ctx context.Context, r *Reading) error
	// Close releases the source's resources.
	Close() error
}

// HeapCapturer is implemented by sources that can ask a remote target to capture a
// heap profile ([AgentSource]). The monitor calls it when a threshold is
// breached, at most once per cooldown.
type HeapCapturer interface {
	// CaptureHeap asks the target to write a heap profile and returns the
	// path the target wrote it to (a path on the target's machine). An
	// error wrapping [ErrCaptureUnsupported] turns captures off for the
	// rest of the run.
	CaptureHeap(ctx context.Context) (path string, err error)
}

var (
	// ErrTargetGone reports a target that ended (a process that exited or
	// whose PID was reused); the monitor stops and keeps what it measured.
	ErrTargetGone = errors.New("target gone")
	// ErrCaptureUnsupported reports a target that cannot capture profiles
	// (an agent without the capture endpoint, or one refusing the
	// monitor's credentials).
	ErrCaptureUnsupported = errors.New("heap captures are off for this run")
)
