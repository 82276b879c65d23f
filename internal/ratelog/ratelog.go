// Package ratelog logs repeated failures without flooding the host's logs:
// per key, at most one record per interval, carrying how many were
// suppressed since the last one.
//
// A Limiter is safe for concurrent use; the set of keys it remembers is
// bounded (keys are meant to be few and fixed: an exporter's name, a file
// operation).
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxKeys bounds the keys a Limiter remembers; the oldest is forgotten.
const maxKeys = 64

// Limiter rate-limits log records per key.
type Limiter struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter logging to logger (nil means slog.Default()) at most
// once per every per key (zero means one minute). now may be nil (time.Now).
func New(logger *slog.Logger, every time.Duration, now func() time.Time) *Limiter {
	if logger == nil {
		logger = slog.Default()
	}
	if every <= 0 {
		every = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{logger: logger, every: every, now: now, keys: make(map[string]*entry)}
}

// Log logs msg with args at level unless a record with the same key was
// logged less than the interval ago; it reports whether it logged. A logged
// record carries "suppressed" when earlier ones were dropped.
func (l *Limiter) Log(key string, level slog.Level, msg string, args ...any) bool {
	now := l.now()
	l.mu.Lock()
	e, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= maxKeys {
			l.evictOldest()
		}
		e = &entry{}
		l.keys[key] = e
	}
	if ok && now.Sub(e.last) < l.every {
		e.suppressed++
		l.mu.Unlock()
		return false
	}
	suppressed := e.suppressed
	e.last, e.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, slog.Int("suppressed", suppressed))
	}
	l.logger.Log(context.Background(), level, msg, args...)
	return true
}

func (l *Limiter) evictOldest() {
	var oldest string
	var t time.Time
	for k, e := range l.keys {
		if oldest == "" || e.last.Before(t) {
			oldest, t = k, e.last
		}
	}
	delete(l.keys, oldest)
}
