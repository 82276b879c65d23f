package agent

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/exporters"
	"github.com/perfagent/perfagent/internal/cpuprof"
)

func (a *Agent) buildHandler(prom http.Handler) {
	mux := http.NewServeMux()
	if prom != nil {
		mux.Handle("GET /metrics", prom)
	} else {
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "perfagent: the Prometheus exporter is off (OTEL_METRICS_EXPORTER or an exporter option left it out)", http.StatusNotFound)
		})
	}
	debugMux := http.NewServeMux()
	debugMux.HandleFunc("GET /debug/perfagent/{$}", a.serveStatus)
	if a.cfg.pprof {
		debugMux.HandleFunc("/debug/pprof/", a.streaming(pprof.Index)) // ?seconds=N: delta profiles
		debugMux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		debugMux.HandleFunc("/debug/pprof/profile", a.serveCPUProfile)
		debugMux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		debugMux.HandleFunc("/debug/pprof/trace", a.streaming(pprof.Trace))
	}
	a.profilingRoutes(debugMux)    // profiling.go
	a.registerLeakRoutes(debugMux) // history, leak state, captures (leak.go)
	a.traceRoutes(debugMux)        // flight recorder status (trace.go)
	mux.Handle("/debug/", a.guardDebug(debugMux))
	mux.HandleFunc("GET /{$}", a.serveIndex)
	a.mux = debugMux
	a.handler = a.recoverHTTP(mux)
}

// recoverHTTP turns a handler panic into a 500 and a counted, logged event,
// so a bug in the agent never takes down the host's server goroutine.
func (a *Agent) recoverHTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.self.recoverPanic("http")
				a.errlog.Log("http-panic", slog.LevelError, "perfagent: recovered panic in handler",
					slog.String("path", r.URL.Path), slog.Any("panic", p))
				http.Error(w, "perfagent: internal error", http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// guardDebug enforces the access rule on /debug/: a configured token is
// always required; without one, requests must arrive on a loopback address
// without proxy headers unless remote debug access was allowed.
func (a *Agent) guardDebug(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := a.cfg.debugToken; tok != "" {
			got, ok := bearerToken(r.Header.Get("Authorization"))
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="perfagent"`)
				http.Error(w, "perfagent: debug endpoints need Authorization: Bearer <PERFAGENT_DEBUG_TOKEN>", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		if !a.cfg.remoteDebug && !isLoopbackRequest(r) {
			http.Error(w, "perfagent: debug endpoints are served only on loopback addresses; set PERFAGENT_DEBUG_TOKEN "+
				"(agent.WithDebugToken) or PERFAGENT_DEBUG_REMOTE=true (agent.WithRemoteDebug) to serve them here", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 9110, section 11.1).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// proxyHeaders name the client of a request relayed by a proxy.
var proxyHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"}

// isLoopbackRequest reports whether the request arrived on a loopback
// address (the server's side of the connection), falling back to the
// client's address when the server's is unknown. A request carrying a
// proxy header is never loopback: behind a reverse proxy or sidecar on the
// same host every request arrives on loopback, wherever it came from.
func isLoopbackRequest(r *http.Request) bool {
	for _, h := range proxyHeaders {
		if _, ok := r.Header[h]; ok {
			return false
		}
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return isLoopback(addr.String())
	}
	return isLoopback(r.RemoteAddr)
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveCPUProfile is /debug/pprof/profile routed through the agent's CPU
// profiler arbiter, so it works while continuous profiling holds the CPU
// profiler (which net/http/pprof's handler cannot).
func (a *Agent) serveCPUProfile(w http.ResponseWriter, r *http.Request) {
	sec := 30
	if v := r.FormValue("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 3600 {
			http.Error(w, "perfagent: seconds must be an integer from 1 to 3600", http.StatusBadRequest)
			return
		}
		sec = n
	}
	a.extendDeadlines(w, r, time.Duration(sec)*time.Second)
	var buf bytes.Buffer
	err := a.cpu.Profile(r.Context(), time.Duration(sec)*time.Second, &buf)
	switch {
	case errors.Is(err, cpuprof.ErrBusy):
		http.Error(w, "perfagent: "+err.Error(), http.StatusConflict)
		return
	case err != nil:
		http.Error(w, "perfagent: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="profile"`)
	_, _ = w.Write(buf.Bytes())
}

// streaming wraps a handler that honours ?seconds=N so its response may
// take N seconds past the server's timeouts.
func (a *Agent) streaming(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if n, err := strconv.Atoi(r.FormValue("seconds")); err == nil && n > 0 {
			a.extendDeadlines(w, r, time.Duration(min(n, 3600))*time.Second)
		}
		h(w, r)
	}
}

func (a *Agent) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "perfagent %s\n\n/metrics            Prometheus exposition\n/debug/perfagent/   status (JSON)\n", a.version)
	fmt.Fprintln(w, "/debug/perfagent/history   snapshots (JSON; ?last=N, ?since=RFC3339)")
	fmt.Fprintln(w, "/debug/perfagent/leak      leak detector state, reports, captures (JSON)")
	fmt.Fprintln(w, "/debug/perfagent/profiling continuous profiling status (JSON)")
	fmt.Fprintln(w, "POST /debug/perfagent/capture?type=heap|goroutine|cpu|allocs|mutex|block|trace")
	if a.cfg.pprof {
		fmt.Fprintln(w, "/debug/pprof/       Go profiles")
	}
}

// Status is the document served at /debug/perfagent/.
type Status struct {
	Version   string         `json:"version"`
	GoVersion string         `json:"go_version"`
	StartedAt time.Time      `json:"started_at"`
	Uptime    float64        `json:"uptime_seconds"`
	HTTPAddr  string         `json:"http_addr,omitempty"`
	Config    map[string]any `json:"config"`
	// Collection is the cost of reading the runtime and producing metrics.
	Collection struct {
		Count        int64   `json:"count"`
		Errors       int64   `json:"errors"`
		LastSeconds  float64 `json:"last_seconds"`
		TotalSeconds float64 `json:"total_seconds"`
		MeanSeconds  float64 `json:"mean_seconds"`
	} `json:"collection"`
	HTTP      HTTPStatus                        `json:"http"`
	Exporters map[string]exporters.HealthStatus `json:"exporters"`
	Panics    map[string]int64                  `json:"panics_recovered,omitempty"`
	Dropped   map[string]int64                  `json:"dropped,omitempty"`
}

// Status returns the agent's current status, as served at
// /debug/perfagent/.
func (a *Agent) Status() Status {
	s := Status{
		Version:   a.version,
		GoVersion: goVersion(),
		StartedAt: a.started,
		Uptime:    time.Since(a.started).Seconds(),
		HTTPAddr:  a.Addr(),
		HTTP:      a.httpStatus(),
		Config:    a.cfg.redacted(),
		Exporters: map[string]exporters.HealthStatus{},
		Panics:    a.self.counts(&a.self.panics),
		Dropped:   a.self.counts(&a.self.dropped),
	}
	c := &s.Collection
	c.Count = a.self.collections.Load()
	c.Errors = a.self.collectErrors.Load()
	c.LastSeconds = time.Duration(a.self.lastCollectNanos.Load()).Seconds()
	c.TotalSeconds = time.Duration(a.self.collectNanos.Load()).Seconds()
	if c.Count > 0 {
		c.MeanSeconds = c.TotalSeconds / float64(c.Count)
	}
	for _, r := range a.readers {
		if r.Health != nil {
			s.Exporters[r.Name] = r.Health.Status()
		} else {
			s.Exporters[r.Name] = exporters.HealthStatus{State: exporters.StateHealthy, Healthy: true} // pulled: served by the handler
		}
	}
	return s
}

func (a *Agent) serveStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, a.Status())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// redacted returns the configuration in force with secrets replaced.
func (c *config) redacted() map[string]any {
	secret := func(s string) string {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	headers := map[string]string{}
	for k := range c.otlpHeaders {
		headers[k] = "[redacted]"
	}
	groups := []string{}
	for _, g := range []struct {
		name string
		g    MetricGroup
	}{{"recommended", RuntimeRecommended}, {"optin", RuntimeOptIn}, {"extras", RuntimeExtras}, {"process", ProcessMetrics}} {
		if c.groups&g.g != 0 {
			groups = append(groups, g.name)
		}
	}
	hist := "explicit"
	if c.histograms != 0 {
		hist = "exponential"
	}
	return map[string]any{
		"http_addr":               c.httpAddr,
		"pprof":                   c.pprof,
		"debug_token":             secret(c.debugToken),
		"remote_debug":            c.remoteDebug,
		"allow_multiple":          c.allowMultiple,
		"metric_groups":           groups,
		"histograms":              hist,
		"exporters":               c.exporters,
		"otlp_protocol":           c.otlpProtocol,
		"otlp_endpoint":           redactURL(c.otlpEndpoint),
		"otlp_headers":            headers,
		"export_interval_seconds": c.interval.Seconds(),
		"export_timeout_seconds":  c.timeout.Seconds(),
	}
}

// redactURL removes user information (credentials) from a URL.
func redactURL(s string) string {
	if i := strings.Index(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "[redacted]" + s[i:]
		}
	}
	return s
}
