// Package rtsample is perfagent's one reader of the Go runtime and of the
// process: runtime/metrics and /proc/self (getrusage elsewhere), read into a
// caller-owned [Sample] without allocating.
//
// Every consumer in perfagent (the OpenTelemetry producer behind /metrics and
// OTLP, the snapshot sampler, the leak detector) reads through one [Reader],
// so the runtime is read once per collection and never through
// runtime.ReadMemStats (which stops the world).
//
// # Concurrency
//
// A Reader is safe for concurrent use. Read serialises calls to
// metrics.Read (its sample buffers are shared) with a mutex and copies every
// histogram into the caller's Sample before unlocking, so Samples are never
// aliased. A Sample must not be shared between goroutines while it is being
// filled.
//
// # Versions
//
// Keys the running Go version does not know are skipped (reported by
// [Sample.Has] as absent), never an error; values that are sentinels (no
// memory limit, GOGC=off) are reported as absent too, so consumers leave
// them out instead of exporting a clamped or meaningless number.
//
//	r := rtsample.New(rtsample.Options{})
//	var s rtsample.Sample
//	r.Read(&s)
//	if v, ok := s.Uint(rtsample.HeapLive); ok { ... }
package rtsample
