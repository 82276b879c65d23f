package exporters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/pprof/profile"
	"github.com/grafana/pyroscope-go/godeltaprof"
)

func pyroscopeUploader(s *Sink) *uploader { return s.uploader }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// upload is one request the ingest handler received.
type upload struct {
	query   map[string]string
	header  http.Header
	profile []byte
	stc     map[string]map[string]any
}

// ingest answers POST /ingest like Pyroscope, or with the scripted
// statuses first.
type ingest struct {
	mu      sync.Mutex
	got     []upload
	script  []int // statuses to answer before 200
	retryIn string
	hang    chan struct{}
}

func (g *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/base/ingest" {
		http.Error(w, "not found", 404)
		return
	}
	if g.hang != nil {
		select {
		case <-g.hang:
		case <-r.Context().Done():
		}
		return
	}
	g.mu.Lock()
	if len(g.script) > 0 {
		code := g.script[0]
		g.script = g.script[1:]
		g.mu.Unlock()
		if g.retryIn != "" {
			w.Header().Set("Retry-After", g.retryIn)
		}
		http.Error(w, "scripted failure", code)
		return
	}
	g.mu.Unlock()
	u := upload{query: map[string]string{}, header: r.Header}
	for k := range r.URL.Query() {
		u.query[k] = r.URL.Query().Get(k)
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	u.profile = formFile(r.MultipartForm, "profile")
	if b := formFile(r.MultipartForm, "sample_type_config"); b != nil {
		if err := json.Unmarshal(b, &u.stc); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
	}
	g.mu.Lock()
	g.got = append(g.got, u)
	g.mu.Unlock()
}

func formFile(f *multipart.Form, name string) []byte {
	fhs := f.File[name]
	if len(fhs) == 0 {
		return nil
	}
	fh, err := fhs[0].Open()
	if err != nil {
		return nil
	}
	defer fh.Close()
	b, _ := io.ReadAll(fh)
	return b
}

func (g *ingest) uploads() []upload {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]upload(nil), g.got...)
}

func newIngest(t *testing.T, g *ingest) string {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv.URL + "/base"
}

func heapProfileBytes(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := godeltaprof.NewHeapProfiler().Profile(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPyroscopeSinkUploads(t *testing.T) {
	g := &ingest{}
	sink, err := NewPyroscopeSink(PyroscopeOptions{
		ServerAddress: newIngest(t, g), ApplicationName: "checkout",
		Tags:          map[string]string{"region": "eu,1", "version": "1.2", "empty": ""},
		BasicAuthUser: "u", BasicAuthPassword: "p", TenantID: "team-a",
		Headers: map[string]string{"X-Extra": "yes"},
	}, SinkOptions{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 5)
	heap := heapProfileBytes(t)
	sink.Send(Profile{Kind: KindCPU, Start: start, End: start.Add(time.Second), Data: cpuProfileBytes(t, "endpoint", "/ok")})
	sink.Send(Profile{Kind: KindHeap, Start: start, End: start.Add(time.Second), Data: heap})
	if err := sink.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ups := g.uploads()
	if len(ups) != 2 {
		t.Fatalf("%d uploads", len(ups))
	}
	byUnits := map[string]upload{}
	for _, u := range ups {
		byUnits[u.query["units"]] = u
		if u.query["name"] != "checkout{region=eu_1,version=1.2}" || u.query["from"] != "1700000000000000005" ||
			u.query["until"] != "1700000001000000005" || u.query["spyName"] != "gospy" {
			t.Errorf("query %v", u.query)
		}
		if user, pass, ok := (&http.Request{Header: u.header}).BasicAuth(); !ok || user != "u" || pass != "p" {
			t.Errorf("basic auth %q %q %v", user, pass, ok)
		}
		if u.header.Get("X-Scope-OrgID") != "team-a" || u.header.Get("X-Extra") != "yes" {
			t.Errorf("headers %v", u.header)
		}
		if _, err := profile.ParseData(u.profile); err != nil {
			t.Errorf("profile part: %v", err)
		}
	}
	if c := byUnits["samples"]; c.query["aggregationType"] != "sum" || c.query["sampleRate"] != "100" || c.stc != nil {
		t.Errorf("CPU upload %v %v", c.query, c.stc)
	}
	if h := byUnits[""]; len(h.stc) != 4 || h.stc["inuse_space"]["aggregation"] != "average" {
		t.Errorf("heap sample_type_config %v", h.stc)
	}
	st := sink.Stats()
	if st.Delivered[KindCPU] != 1 || st.Delivered[KindHeap] != 1 || st.Bytes == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPyroscopeSinkRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		script   []int
		retryIn  string
		ok       bool
		reason   string
		attempts int
		wait     time.Duration
	}{
		{"5xx then ok", []int{500, 503}, "", true, "", 3, 500 * time.Millisecond},
		{"429 honours Retry-After", []int{429}, "4", true, "", 2, 4 * time.Second},
		{"Retry-After capped", []int{429}, "3600", true, "", 2, maxBackoff},
		{"5xx exhausts attempts", []int{500, 500, 500}, "", false, "server_error", 3, 500 * time.Millisecond},
		{"429 exhausts attempts", []int{429, 429, 429}, "", false, "throttled", 3, 500 * time.Millisecond},
		{"4xx not retried", []int{400}, "", false, "rejected", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &ingest{script: tc.script, retryIn: tc.retryIn}
			sink, err := NewPyroscopeSink(PyroscopeOptions{ServerAddress: newIngest(t, g), ApplicationName: "a"}, SinkOptions{Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			up := pyroscopeUploader(sink)
			up.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			sink.Send(Profile{Kind: KindHeap, Data: heapProfileBytes(t)})
			sink.Close(context.Background())
			st := sink.Stats()
			if ok := st.Delivered[KindHeap] == 1; ok != tc.ok || (!tc.ok && st.Failed[tc.reason] != 1) {
				t.Errorf("stats %+v", st)
			}
			if int(st.Retries) != tc.attempts-1 || len(waits) != tc.attempts-1 {
				t.Errorf("%d retries, waits %v", st.Retries, waits)
			}
			if len(waits) > 0 && waits[0] != tc.wait {
				t.Errorf("first wait %v, want %v", waits[0], tc.wait)
			}
		})
	}
}

// A server that hangs costs a bounded wait per attempt and never holds
// Close past its deadline.
func TestPyroscopeSinkHangingServer(t *testing.T) {
	g := &ingest{hang: make(chan struct{})}
	addr := newIngest(t, g)
	t.Cleanup(func() { close(g.hang) })
	sink, err := NewPyroscopeSink(PyroscopeOptions{ServerAddress: addr, ApplicationName: "a", Timeout: 50 * time.Millisecond, MaxAttempts: 2},
		SinkOptions{Logger: quietLog(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	pyroscopeUploader(sink).sleep = func(context.Context, time.Duration) error { return nil }
	sink.Send(Profile{Kind: KindHeap, Data: []byte("x")})
	for sink.Stats().Failed["network"] == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if st := sink.Stats(); st.Retries != 1 {
		t.Errorf("stats %+v", st)
	}
	sink.Close(context.Background())

	// Now one upload hangs in flight and one waits; Close gives up at its
	// deadline and counts both as dropped.
	sink, _ = NewPyroscopeSink(PyroscopeOptions{ServerAddress: addr, ApplicationName: "a", Timeout: time.Hour},
		SinkOptions{Logger: quietLog(), Workers: 1})
	sink.Send(Profile{Kind: KindHeap, Data: []byte("y")})
	for sink.Stats().Queued > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	sink.Send(Profile{Kind: KindHeap, Data: []byte("z")})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := sink.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v", err)
	}
	if st := sink.Stats(); st.Dropped["shutdown"] != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestPyroscopeSinkConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	sink, _ := NewPyroscopeSink(PyroscopeOptions{ServerAddress: addr, ApplicationName: "a", MaxAttempts: 1}, SinkOptions{Logger: quietLog()})
	sink.Send(Profile{Kind: KindCPU, Data: []byte("x")})
	sink.Close(context.Background())
	if st := sink.Stats(); st.Failed["network"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPyroscopeOptionsValidation(t *testing.T) {
	for _, o := range []PyroscopeOptions{
		{ServerAddress: "localhost:4040", ApplicationName: "a"},
		{ServerAddress: "ftp://h", ApplicationName: "a"},
		{ServerAddress: "http://h?x=1", ApplicationName: "a"},
		{ServerAddress: "http://h", ApplicationName: ""},
		{ServerAddress: "http://h", ApplicationName: "my app"},
		{ServerAddress: "http://h", ApplicationName: "a", Tags: map[string]string{"bad-name": "v"}},
		{ServerAddress: "http://h", ApplicationName: "a", Tags: map[string]string{"__name__": "v"}},
		{ServerAddress: "http://h", ApplicationName: "a", Headers: map[string]string{"Bad Header": "v"}},
		{ServerAddress: "http://h", ApplicationName: "a", Headers: map[string]string{"X": "a\r\nb"}},
	} {
		if s, err := NewPyroscopeSink(o, SinkOptions{}); err == nil {
			s.Close(context.Background())
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestLabelSanitising(t *testing.T) {
	for in, want := range map[string]string{"ok.v_1": "ok.v_1", "a-b c": "a_b_c", "": "_", "é": "_"} {
		if got := SanitizeLabelName(in); got != want {
			t.Errorf("SanitizeLabelName(%q) = %q", in, got)
		}
	}
	for in, want := range map[string]string{"/api/x": "/api/x", "a{b}=c,d": "a_b__c_d", "\xff\xfe": "\uFFFD"} {
		if got := SanitizeLabelValue(in); got != want {
			t.Errorf("SanitizeLabelValue(%q) = %q", in, got)
		}
	}
	if got := SanitizeApplicationName("my service!"); got != "my_service_" {
		t.Errorf("SanitizeApplicationName = %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = SanitizeLabelValue("/api/items/{id}x"[:10]) }); n != 0 {
		t.Errorf("valid value allocates %v times", n)
	}
}

// cpuProfileBytes returns a CPU-profile-shaped pprof (gzipped) whose one
// sample carries the label key=value, exactly as given.
func cpuProfileBytes(t *testing.T, key, value string) []byte {
	fn := &profile.Function{ID: 1, Name: "main.handler", SystemName: "main.handler", Filename: "main.go"}
	loc := &profile.Location{ID: 1, Address: 0x1000, Line: []profile.Line{{Function: fn, Line: 10}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10000000,
		Sample:   []*profile.Sample{{Location: []*profile.Location{loc}, Value: []int64{1, 10000000}, Label: map[string][]string{key: {value}}}},
		Location: []*profile.Location{loc}, Function: []*profile.Function{fn},
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSanitizeProfileStrings(t *testing.T) {
	valid := cpuProfileBytes(t, "endpoint", "/items")
	out, changed, err := SanitizeProfileStrings(valid)
	if err != nil || changed || !bytes.Equal(out, valid) {
		t.Fatalf("valid profile changed: %v %v", changed, err)
	}
	bad := cpuProfileBytes(t, "endpoint", "/items/\xff\xfe")
	out, changed, err = SanitizeProfileStrings(bad)
	if err != nil || !changed {
		t.Fatalf("invalid profile not changed: %v %v", changed, err)
	}
	p, err := profile.ParseData(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Sample[0].Label["endpoint"][0]; got != "/items/\uFFFD" || !utf8.ValidString(got) {
		t.Errorf("label %q", got)
	}
	if p.Function[0].Name != "main.handler" || p.Sample[0].Value[1] != 10000000 {
		t.Errorf("other fields changed: %v", p)
	}
	for _, junk := range [][]byte{{0x1f, 0x8b, 1, 2}, {0xff, 0xff, 0xff}} {
		if _, _, err := SanitizeProfileStrings(junk); err == nil {
			t.Errorf("%x accepted", junk)
		}
	}
}

// The sink rewrites a CPU profile with invalid UTF-8 labels before it
// uploads it, so the server never rejects it.
func TestPyroscopeSinkSanitisesLabels(t *testing.T) {
	g := &ingest{}
	sink, _ := NewPyroscopeSink(PyroscopeOptions{ServerAddress: newIngest(t, g), ApplicationName: "a"}, SinkOptions{Logger: quietLog()})
	sink.Send(Profile{Kind: KindCPU, Data: cpuProfileBytes(t, "user", "bad\xc3")})
	sink.Close(context.Background())
	ups := g.uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads", len(ups))
	}
	p, err := profile.ParseData(ups[0].profile)
	if err != nil || !strings.HasPrefix(p.Sample[0].Label["user"][0], "bad") || !utf8.ValidString(p.Sample[0].Label["user"][0]) {
		t.Errorf("uploaded label %q, %v", p.Sample[0].Label["user"], err)
	}
}
