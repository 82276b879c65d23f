package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Default credentials and settings.
const (
	DefaultUser     = "demo"
	DefaultPassword = "demo"
	DefaultAddr     = "127.0.0.1:0"
	DefaultTokenTTL = 15 * time.Minute
	// DefaultMaxTokens bounds the live tokens kept; the oldest is forgotten
	// first (its holder gets 401 and logs in again).
	DefaultMaxTokens = 100_000
)

// ErrClosed is returned by Shutdown and Close after the first call.
var ErrClosed = errors.New("demo: server closed")

// Options configure the demo target. The zero value is a server on a free
// loopback port with the user demo/demo.
type Options struct {
	// Addr is the listen address; default DefaultAddr (a free loopback
	// port). A non-loopback address exposes the demo to the network.
	Addr string
	// Handler, when set, serves /metrics and /debug/ (the perfagent
	// agent's handler). When nil, /metrics serves the demo's own metrics
	// (unless MeterProvider is set) and /debug/ is 404.
	Handler http.Handler
	// MeterProvider records the demo's request metrics (MetricRequests,
	// MetricDuration, MetricTokens). Give the agent's
	// (agent.Agent.MeterProvider) so they reach the agent's /metrics and its
	// OTLP export with the runtime metrics. When nil the demo records them
	// on a private provider that only its own /metrics serves, and only
	// when Handler is nil: with Handler set and no MeterProvider they are
	// recorded but exported nowhere. One demo per provider: two would add
	// to the same counters and report conflicting token gauges.
	MeterProvider metric.MeterProvider
	// Users maps user names to passwords; nil means {demo: demo}.
	Users map[string]string
	// TokenTTL is the lifetime of a token from /auth/login; default
	// DefaultTokenTTL.
	TokenTTL time.Duration
	// MaxTokens bounds the live tokens; default DefaultMaxTokens.
	MaxTokens int
	// Now is the clock for token expiry; default time.Now.
	Now func() time.Time
}

// Server is a running demo target.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	url     string
	handler http.Handler
	metrics *metrics
	served  chan struct{}
	serveMu sync.Mutex
	err     error
	closed  bool
}

// Start listens on opts.Addr and serves the demo routes until Shutdown or
// Close. ctx bounds the start only (as in net.ListenConfig.Listen).
func Start(ctx context.Context, opts Options) (*Server, error) {
	h, m, err := newHandler(opts)
	if err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		m.close(ctx)
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			Protocols:         &protos,
		},
		ln:      ln,
		url:     "http://" + ln.Addr().String(),
		handler: h,
		metrics: m,
		served:  make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveMu.Lock()
		s.err = err
		s.serveMu.Unlock()
	}()
	return s, nil
}

// URL returns the server's base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handler returns the server's handler (to serve the demo elsewhere or in
// tests).
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown stops accepting connections, waits for requests in flight until
// ctx is done (returning ctx.Err() then, after closing what remains), and
// returns once the serving goroutine has exited. It then detaches the
// demo's metrics from Options.MeterProvider (values already recorded stay
// with the provider). Later calls return ErrClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.markClosed() {
		return ErrClosed
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.served
	merr := s.metrics.close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("demo: shutdown: %w", err)
	}
	return errors.Join(s.serveErr(), merr)
}

// Close closes the listener and every connection at once, returns once the
// serving goroutine has exited and, like Shutdown, detaches the demo's
// metrics. Later calls return ErrClosed.
func (s *Server) Close() error {
	if !s.markClosed() {
		return ErrClosed
	}
	err := s.srv.Close()
	<-s.served
	merr := s.metrics.close(context.Background())
	if err != nil {
		return fmt.Errorf("demo: close: %w", err)
	}
	return errors.Join(s.serveErr(), merr)
}

func (s *Server) markClosed() bool {
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	return true
}

func (s *Server) serveErr() error {
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	if s.err != nil {
		return fmt.Errorf("demo: serve: %w", s.err)
	}
	return nil
}
