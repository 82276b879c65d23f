package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// AgentSource reads a service running perfagent's agent: its Prometheus
// exposition at <base>/metrics every interval, and its status at
// <base>/debug/perfagent/ once, on the first Read, to confirm the target is
// an agent (and learn its version). It asks the agent for heap profiles
// with POST <base>/debug/perfagent/capture?type=heap ([HeapCapturer]).
type AgentSource struct {
	base, redacted string
	sc             *scraper

	mu      sync.Mutex
	target  Target
	checked bool
}

var (
	_ Source       = (*AgentSource)(nil)
	_ HeapCapturer = (*AgentSource)(nil)
)

// NewAgentSource returns a source for the agent whose HTTP handler is
// served at baseURL (e.g. http://127.0.0.1:9464). A trailing "/metrics" or
// "/debug/perfagent/" is accepted and removed. It does not contact the
// target; the first Read does.
func NewAgentSource(baseURL string, o HTTPOptions) (*AgentSource, error) {
	u, _, err := parseHTTPURL(baseURL, "agent URL")
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/metrics")
	p = strings.TrimSuffix(strings.TrimSuffix(p, "/debug/perfagent"), "/")
	u.Path, u.RawPath, u.RawQuery, u.Fragment = p, "", "", ""
	sc, err := newScraper(o)
	if err != nil {
		return nil, err
	}
	red := u.Redacted()
	return &AgentSource{base: u.String(), redacted: red, sc: sc,
		target: Target{Kind: KindAgent, Name: u.Host, URL: red}}, nil
}

// Target describes the agent; after the first Read it carries the agent's
// version and, when its exposition reports them, the service name (as
// Name) and PID.
func (a *AgentSource) Target() Target {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.target
}

// agentStatus is the part of the agent's /debug/perfagent/ document the
// monitor reads.
type agentStatus struct {
	Version   string    `json:"version"`
	GoVersion string    `json:"go_version"`
	StartedAt time.Time `json:"started_at"`
}

// checkStatus reads /debug/perfagent/ and explains every way it can fail in
// terms of what to do about it.
func (a *AgentSource) checkStatus(ctx context.Context) error {
	u, red := a.base+"/debug/perfagent/", a.redacted+"/debug/perfagent/"
	resp, cancel, err := a.sc.do(ctx, http.MethodGet, u, red, "application/json", a.sc.o.Timeout)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return fmt.Errorf("GET %s: 401: the agent needs its debug token (--token or PERFAGENT_DEBUG_TOKEN)", red)
	case http.StatusForbidden:
		return fmt.Errorf("GET %s: 403: the agent serves /debug/ only on loopback here; start it with PERFAGENT_DEBUG_TOKEN and pass the token", red)
	case http.StatusNotFound:
		return fmt.Errorf("GET %s: 404: not a perfagent agent (for any Prometheus endpoint use --metrics-url)", red)
	default:
		return statusError("GET", red, resp)
	}
	var st agentStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil || st.Version == "" || st.StartedAt.IsZero() {
		return fmt.Errorf("GET %s: not a perfagent status document (for any Prometheus endpoint use --metrics-url)", red)
	}
	a.mu.Lock()
	a.target.Version, a.target.GoVersion = st.Version, st.GoVersion
	a.mu.Unlock()
	return nil
}

// Read scrapes the agent's /metrics; the first call checks its status
// first.
func (a *AgentSource) Read(ctx context.Context, r *Reading) error {
	a.mu.Lock()
	checked := a.checked
	a.mu.Unlock()
	if !checked {
		if err := a.checkStatus(ctx); err != nil {
			return err
		}
		a.mu.Lock()
		a.checked = true
		a.mu.Unlock()
	}
	x, err := a.sc.scrape(ctx, a.base+"/metrics", a.redacted+"/metrics", r)
	if err != nil {
		return err
	}
	a.mu.Lock()
	if x.service != "" && !strings.HasPrefix(x.service, "unknown_service") {
		a.target.Name = x.service
	}
	if x.pid > 0 {
		a.target.PID = x.pid
	}
	a.mu.Unlock()
	return nil
}

// captureResponse is the agent's answer to a capture request: the
// capture's record, of which the monitor reads the file and any error.
type captureResponse struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// CaptureHeap asks the agent to write a heap profile and returns the path
// it wrote (on the agent's machine). An agent without the capture endpoint
// (404, 405) or refusing the credentials (401, 403) gives an error wrapping
// [ErrCaptureUnsupported]; a busy or rate-limited agent (409, 429, 503)
// an ordinary error, so the next breach may try again.
func (a *AgentSource) CaptureHeap(ctx context.Context) (string, error) {
	u, red := a.base+"/debug/perfagent/capture?type=heap", a.redacted+"/debug/perfagent/capture?type=heap"
	resp, cancel, err := a.sc.do(ctx, http.MethodPost, u, red, "application/json", 3*a.sc.o.Timeout)
	if err != nil {
		return "", err
	}
	defer cancel()
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated:
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return "", fmt.Errorf("the agent has no capture endpoint (POST %s: %s): %w", red, resp.Status, ErrCaptureUnsupported)
	case http.StatusUnauthorized, http.StatusForbidden:
		return "", fmt.Errorf("the agent refused the capture (%w): %w", statusError("POST", red, resp), ErrCaptureUnsupported)
	default:
		return "", statusError("POST", red, resp)
	}
	var cr captureResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&cr); err != nil {
		return "", fmt.Errorf("POST %s: reading the capture record: %w", red, err)
	}
	if cr.Error != "" {
		return cr.Path, fmt.Errorf("POST %s: capture failed: %s", red, cr.Error)
	}
	if cr.Path == "" {
		return "", errors.New("POST " + red + ": the capture record names no file")
	}
	return cr.Path, nil
}

// Close releases idle connections of the source's own HTTP client.
func (a *AgentSource) Close() error {
	a.sc.close()
	return nil
}
