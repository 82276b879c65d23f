package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cfgpkg "github.com/perfagent/perfagent/internal/config"
)

// EnvHTTPMaxConns bounds the built-in listener's open connections.
const EnvHTTPMaxConns = "PERFAGENT_HTTP_MAX_CONNS"

// Bounds of the built-in listener. A request that streams for a requested
// time (/debug/pprof/profile?seconds=N, /debug/pprof/trace?seconds=N,
// /debug/pprof/<name>?seconds=N, a CPU capture) has its read and write
// deadlines moved to N seconds plus these timeouts.
const (
	DefaultMaxConnections    = 64               // open connections; more are answered 503 and closed
	maxMaxConnections        = 10_000           // the most WithMaxConnections accepts
	DefaultReadHeaderTimeout = 5 * time.Second  // to read a request's header
	DefaultReadTimeout       = 15 * time.Second // to read a whole request
	DefaultWriteTimeout      = 30 * time.Second // to write a response (from the end of the header)
	DefaultIdleTimeout       = 30 * time.Second // a keep-alive connection waiting for its next request
	maxHeaderBytes           = 64 << 10
)

// serverConfig bounds the built-in listener.
type serverConfig struct {
	maxConns                  int
	maxConnsSet               bool
	header, read, write, idle time.Duration
}

// WithMaxConnections bounds the built-in listener to n open connections
// (default 64, or PERFAGENT_HTTP_MAX_CONNS; from 1 to 10000). A connection
// over the bound is answered "503 Service Unavailable" and closed at once,
// so a flood of idle connections can never take the host's file
// descriptors. It does not apply to [Agent.Handler] mounted on the host's
// own server.
func WithMaxConnections(n int) Option {
	return optionFunc(func(c *config) error {
		if n < 1 || n > maxMaxConnections {
			return fmt.Errorf("WithMaxConnections(%d): want 1 to %d", n, maxMaxConnections)
		}
		c.server.maxConns, c.server.maxConnsSet = n, true
		return nil
	})
}

// resolveServer fills the listener's bounds from the environment and
// defaults.
func (c *config) resolveServer(r *cfgpkg.Reader) {
	s := &c.server
	for _, d := range []struct {
		dst *time.Duration
		def time.Duration
	}{{&s.header, DefaultReadHeaderTimeout}, {&s.read, DefaultReadTimeout}, {&s.write, DefaultWriteTimeout}, {&s.idle, DefaultIdleTimeout}} {
		if *d.dst <= 0 {
			*d.dst = d.def
		}
	}
	if !s.maxConnsSet {
		s.maxConns = DefaultMaxConnections
		r.Int(EnvHTTPMaxConns, &s.maxConns, 1, maxMaxConnections)
	}
}

// bind opens the built-in listener, before anything else is built, so a
// taken port fails Start before any exporter or profiler exists.
func (a *Agent) bind() error {
	ln, err := net.Listen("tcp", a.cfg.httpAddr)
	if err != nil {
		src := "WithHTTPAddr"
		if !a.cfg.httpAddrSet {
			src = EnvHTTPAddr + " (default " + DefaultHTTPAddr + ")"
		}
		return fmt.Errorf("perfagent: listen on %s (%s): %w", a.cfg.httpAddr, src, err)
	}
	a.listener = &limitListener{Listener: ln, max: int64(a.cfg.server.maxConns)}
	return nil
}

// serve starts serving the handler on the bound listener.
func (a *Agent) serve() {
	sc := a.cfg.server
	a.server = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: sc.header,
		ReadTimeout:       sc.read,
		WriteTimeout:      sc.write,
		IdleTimeout:       sc.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.serveDone = make(chan struct{})
	go func() {
		defer close(a.serveDone)
		defer func() {
			if r := recover(); r != nil {
				a.self.recoverPanic("http")
				a.errlog.Log("serve", slog.LevelError, "perfagent: recovered panic in HTTP server", slog.Any("panic", r))
			}
		}()
		if err := a.server.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errlog.Log("serve", slog.LevelError, "perfagent: HTTP server stopped", slog.String("error", err.Error()))
		}
	}()
	a.log.Info("perfagent: serving metrics", slog.String("url", "http://"+a.listener.Addr().String()+"/metrics"))
}

// extendDeadlines gives a request that streams for d (a profile or trace
// of d seconds) the time it needs past the built-in server's read and
// write timeouts. Requests served by the host's own server (Handler
// mounted there) are left to that server's settings.
func (a *Agent) extendDeadlines(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if a.server == nil || r.Context().Value(http.ServerContextKey) != a.server {
		return
	}
	rc := http.NewResponseController(w)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(d + a.cfg.server.read))
	_ = rc.SetWriteDeadline(now.Add(d + a.cfg.server.write))
}

// HTTPStatus describes the built-in listener in [Status].
type HTTPStatus struct {
	// Connections is the number of open connections.
	Connections int64 `json:"connections"`
	// MaxConnections is the bound (WithMaxConnections).
	MaxConnections int `json:"max_connections"`
	// Refused counts connections answered 503 because of the bound.
	Refused int64 `json:"refused"`
}

func (a *Agent) httpStatus() HTTPStatus {
	l, ok := a.listener.(*limitListener)
	if !ok {
		return HTTPStatus{}
	}
	return HTTPStatus{Connections: l.active.Load(), MaxConnections: int(l.max), Refused: l.refused.Load()}
}

// limitListener bounds the open connections it accepted. Unlike
// golang.org/x/net/netutil.LimitListener it does not stop accepting at the
// bound (which would leave new clients hanging in the kernel's queue
// behind idle connections): it answers 503 and closes at once.
type limitListener struct {
	net.Listener
	max     int64
	active  atomic.Int64
	refused atomic.Int64
}

const refusal = "perfagent: too many connections to the agent's listener\n"

var refusalResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nRetry-After: 1\r\nContent-Length: " + strconv.Itoa(len(refusal)) + "\r\n\r\n" + refusal

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) <= l.max {
			return &limitConn{Conn: c, l: l}, nil
		}
		l.active.Add(-1)
		l.refused.Add(1)
		// Note: a fresh socket's send buffer takes this small write at
		// once; the deadline only guards against the unexpected.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write([]byte(refusalResponse))
		_ = c.Close()
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.active.Add(-1) })
	return err
}
