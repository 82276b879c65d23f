package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/pprof/profile"
)

// pyroscopePeer is a test server speaking Pyroscope's ingest protocol, as
// pyroscope-go and perfagent use it: POST /ingest with the query name
// (app{k=v,...}), from and until (Unix nanoseconds), spyName, sampleRate,
// units and aggregationType, and a multipart body holding the gzipped
// pprof "profile" part and an optional "sample_type_config" JSON part. It
// validates each upload as the server does (names, label names, UTF-8
// strings) and parses the profile with github.com/google/pprof/profile;
// an upload that fails validation is answered 400 and recorded in
// rejected. It can switch to answering 500, 429, hanging, or closing the
// connection.
type pyroscopePeer struct {
	URL string

	mu       sync.Mutex
	mode     string // "" (accept), "500", "429", "hang", "close"
	uploads  []ingestUpload
	rejected []string
	faults   int // requests answered by a failure mode
	stop     chan struct{}
}

// ingestUpload is one accepted upload.
type ingestUpload struct {
	App              string
	Labels           map[string]string
	From, Until      time.Time
	SpyName, Units   string
	AggregationType  string
	SampleRate       int
	Header           http.Header
	Profile          *profile.Profile
	SampleTypeConfig map[string]map[string]any
}

func startPyroscopePeer(t *testing.T) *pyroscopePeer {
	t.Helper()
	p := &pyroscopePeer{stop: make(chan struct{})}
	srv := httptest.NewServer(p)
	p.URL = srv.URL
	t.Cleanup(func() {
		close(p.stop) // release hanging requests
		srv.Close()
	})
	return p
}

func (p *pyroscopePeer) setMode(m string) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

func (p *pyroscopePeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ingest" || r.Method != http.MethodPost {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	p.mu.Lock()
	mode := p.mode
	if mode != "" {
		p.faults++
	}
	p.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	case "hang":
		select {
		case <-r.Context().Done():
		case <-p.stop:
		}
		return
	case "close":
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	u, err := parseUpload(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.rejected = append(p.rejected, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.uploads = append(p.uploads, u)
}

func parseUpload(r *http.Request) (ingestUpload, error) {
	q := r.URL.Query()
	u := ingestUpload{Header: r.Header.Clone(), SpyName: q.Get("spyName"), Units: q.Get("units"), AggregationType: q.Get("aggregationType")}
	var err error
	if u.App, u.Labels, err = parseAppName(q.Get("name")); err != nil {
		return u, err
	}
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	until, err2 := strconv.ParseInt(q.Get("until"), 10, 64)
	if err1 != nil || err2 != nil || from > until {
		return u, fmt.Errorf("bad from/until %q/%q", q.Get("from"), q.Get("until"))
	}
	u.From, u.Until = time.Unix(0, from), time.Unix(0, until)
	if s := q.Get("sampleRate"); s != "" {
		if u.SampleRate, err = strconv.Atoi(s); err != nil {
			return u, fmt.Errorf("bad sampleRate %q", s)
		}
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		return u, fmt.Errorf("multipart: %w", err)
	}
	f, _, err := r.FormFile("profile")
	if err != nil {
		return u, fmt.Errorf("no profile part: %w", err)
	}
	defer f.Close()
	if u.Profile, err = profile.Parse(f); err != nil {
		return u, fmt.Errorf("profile: %w", err)
	}
	if err := checkUTF8(u.Profile); err != nil {
		return u, err
	}
	if stc, _, err := r.FormFile("sample_type_config"); err == nil {
		defer stc.Close()
		b, _ := io.ReadAll(stc)
		if err := json.Unmarshal(b, &u.SampleTypeConfig); err != nil {
			return u, fmt.Errorf("sample_type_config: %w", err)
		}
	}
	return u, nil
}

// checkUTF8 rejects profiles with invalid UTF-8 strings, as Pyroscope's
// protobuf decoder does.
func checkUTF8(p *profile.Profile) error {
	for _, s := range p.Sample {
		for k, vs := range s.Label {
			for _, v := range append([]string{k}, vs...) {
				if !utf8.ValidString(v) {
					return fmt.Errorf("invalid UTF-8 in label %q", v)
				}
			}
		}
	}
	for _, f := range p.Function {
		if !utf8.ValidString(f.Name) || !utf8.ValidString(f.Filename) {
			return errors.New("invalid UTF-8 in a function")
		}
	}
	return nil
}

// parseAppName reads "app{k=v,...}" as Pyroscope's ingest does: the app name
// of [A-Za-z0-9_.-/], label names of [A-Za-z0-9_.].
func parseAppName(s string) (string, map[string]string, error) {
	app, rest, ok := strings.Cut(s, "{")
	app = strings.TrimSpace(app)
	if app == "" || strings.IndexFunc(app, func(r rune) bool { return !appRune(r) }) >= 0 {
		return "", nil, fmt.Errorf("invalid application name %q", app)
	}
	labels := map[string]string{}
	if !ok {
		return app, labels, nil
	}
	body, ok := strings.CutSuffix(rest, "}")
	if !ok {
		return "", nil, fmt.Errorf("name %q: no closing brace", s)
	}
	if body == "" {
		return app, labels, nil
	}
	for _, kv := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.IndexFunc(k, func(r rune) bool { return !appRune(r) || r == '-' || r == '/' }) >= 0 {
			return "", nil, fmt.Errorf("name %q: invalid label %q", s, kv)
		}
		if strings.ContainsAny(v, "{}") || !utf8.ValidString(v) {
			return "", nil, fmt.Errorf("name %q: invalid label value %q", s, v)
		}
		labels[k] = v
	}
	return app, labels, nil
}

func appRune(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || strings.ContainsRune("_.-/", r)
}

func (p *pyroscopePeer) all() []ingestUpload {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ingestUpload(nil), p.uploads...)
}

func (p *pyroscopePeer) byUnits(units string) []ingestUpload {
	var out []ingestUpload
	for _, u := range p.all() {
		if u.Units == units {
			out = append(out, u)
		}
	}
	return out
}

// heapUploads are those whose profile has the heap's sample types.
func (p *pyroscopePeer) heapUploads() []ingestUpload {
	var out []ingestUpload
	for _, u := range p.all() {
		if len(u.Profile.SampleType) == 4 && u.Profile.SampleType[0].Type == "alloc_objects" {
			out = append(out, u)
		}
	}
	return out
}

func FuzzParseAppName(f *testing.F) {
	for _, s := range []string{"app{}", "a.b/c-d{k=v,x.y=1}", "app", "{k=v}", "app{k=v", "app{=v}", "app{k=}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		app, labels, err := parseAppName(s)
		if err != nil {
			return
		}
		if app == "" {
			t.Fatalf("%q: empty app accepted", s)
		}
		for k := range labels {
			if k == "" || strings.ContainsAny(k, "{},=") {
				t.Fatalf("%q: label name %q", s, k)
			}
		}
	})
}
