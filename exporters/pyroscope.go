package exporters

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grafana/pyroscope-go/upstream"
)

// Defaults of [PyroscopeOptions].
const (
	DefaultUploadTimeout  = 10 * time.Second
	DefaultUploadAttempts = 3
	// maxBackoff caps the wait between attempts, including a server's
	// Retry-After.
	maxBackoff = 10 * time.Second
)

// PyroscopeOptions configure [NewPyroscopeSink].
type PyroscopeOptions struct {
	// ServerAddress is the Pyroscope server's base URL, e.g.
	// "http://pyroscope:4040" (required). Profiles are posted to its
	// /ingest path.
	ServerAddress string
	// ApplicationName names the service (required; letters, digits and
	// "_.-/" only, as Pyroscope requires).
	ApplicationName string
	// Tags are static labels on every profile. Names must match
	// [A-Za-z0-9_.]; values are sanitised (see SanitizeLabelValue).
	Tags map[string]string
	// BasicAuthUser and BasicAuthPassword, when both set, are sent as
	// HTTP basic authentication (Grafana Cloud: the instance ID and a
	// token).
	BasicAuthUser, BasicAuthPassword string
	// TenantID, when set, is sent as X-Scope-OrgID (multi-tenant
	// Pyroscope).
	TenantID string
	// Headers are sent with every upload (e.g. "Authorization: Bearer
	// ..."); they override the headers above.
	Headers map[string]string
	// Client sends the uploads; nil means a client of the sink's own,
	// whose idle connections are closed at Close. Redirects are not
	// followed either way (they would drop the credentials).
	Client *http.Client
	// Timeout bounds each upload attempt; zero means
	// DefaultUploadTimeout.
	Timeout time.Duration
	// MaxAttempts bounds the attempts per profile (connection errors,
	// timeouts, 5xx and 429 are retried with backoff; other answers are
	// not); zero means DefaultUploadAttempts.
	MaxAttempts int
	// UserAgent is sent as User-Agent; empty means "perfagent".
	UserAgent string
}

// NewPyroscopeSink returns a sink uploading profiles to a Pyroscope server
// with the ingest protocol pyroscope-go speaks (POST /ingest, a multipart
// body with the gzipped pprof "profile" and its "sample_type_config"). It
// validates the options and does not connect.
//
// Unlike pyroscope-go's uploader it retries (bounded in attempts, and in
// memory by the queue), counts every outcome, drains at Close within the
// deadline, and rewrites a CPU or goroutine profile whose label strings are
// not valid UTF-8 (the server would reject the whole upload).
func NewPyroscopeSink(o PyroscopeOptions, so SinkOptions) (*Sink, error) {
	u, err := parseServerAddress(o.ServerAddress)
	if err != nil {
		return nil, err
	}
	if err := ValidateApplicationName(o.ApplicationName); err != nil {
		return nil, fmt.Errorf("exporters: pyroscope: %w", err)
	}
	for k := range o.Tags {
		if err := ValidateLabelName(k); err != nil {
			return nil, fmt.Errorf("exporters: pyroscope: tag %w", err)
		}
	}
	for k, v := range o.Headers {
		if err := ValidateHeader(k, v); err != nil {
			return nil, fmt.Errorf("exporters: pyroscope: %w", err)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultUploadTimeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultUploadAttempts
	}
	if o.UserAgent == "" {
		o.UserAgent = "perfagent"
	}
	u.Path = path.Join(u.Path, "ingest")
	up := &uploader{opts: o, ingest: u, name: AppNameWithTags(o.ApplicationName, o.Tags), sleep: sleepCtx}
	var release func()
	if o.Client != nil {
		c := *o.Client
		c.CheckRedirect = noRedirect
		up.client = &c
	} else {
		tr := &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: o.Timeout,
			MaxIdleConnsPerHost:   4,
			MaxConnsPerHost:       4,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}
		up.client = &http.Client{Transport: tr, CheckRedirect: noRedirect}
		release = tr.CloseIdleConnections
	}
	s := newSink("pyroscope", so, up.deliver, release)
	up.stats = &s.stats
	s.uploader = up
	return s.start(), nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func parseServerAddress(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("exporters: pyroscope server address %q is not a URL: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("exporters: pyroscope server address %q must be an http:// or https:// URL with a host, e.g. http://localhost:4040", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("exporters: pyroscope server address %q must not have a query or fragment", s)
	}
	return u, nil
}

type uploader struct {
	opts   PyroscopeOptions
	ingest *url.URL
	name   string // app{tags}
	client *http.Client
	stats  *sinkStats
	sleep  func(ctx context.Context, d time.Duration) error
	clean  sanitizer
}

// job describes p the way pyroscope-go's session describes its uploads.
func (up *uploader) job(p *Profile) *upstream.UploadJob {
	j := &upstream.UploadJob{
		Name: up.name, StartTime: p.Start, EndTime: p.End, SpyName: "gospy",
		Format: upstream.FormatPprof, Profile: p.Data,
	}
	switch p.Kind {
	case KindCPU:
		j.SampleRate, j.Units, j.AggregationType = 100, "samples", "sum"
	case KindHeap:
		j.SampleRate, j.SampleTypeConfig = 100, sampleTypesHeap()
	case KindGoroutine:
		j.Units, j.AggregationType = "goroutines", "average"
		j.SampleTypeConfig = map[string]*upstream.SampleType{
			"goroutine": {DisplayName: "goroutine", Units: "goroutines", Aggregation: "average"},
		}
	case KindMutex:
		j.SampleTypeConfig = sampleTypesContention("mutex")
	case KindBlock:
		j.SampleTypeConfig = sampleTypesContention("block")
	}
	return j
}

func sampleTypesHeap() map[string]*upstream.SampleType {
	return map[string]*upstream.SampleType{
		"alloc_objects": {Units: "objects"},
		"alloc_space":   {Units: "bytes"},
		"inuse_space":   {Units: "bytes", Aggregation: "average"},
		"inuse_objects": {Units: "objects", Aggregation: "average"},
	}
}

func sampleTypesContention(kind string) map[string]*upstream.SampleType {
	return map[string]*upstream.SampleType{
		"contentions": {DisplayName: kind + "_count", Units: "lock_samples"},
		"delay":       {DisplayName: kind + "_duration", Units: "lock_nanoseconds"},
	}
}

// encode builds the /ingest URL and multipart body of j, as pyroscope-go's
// remote uploader does.
func (up *uploader) encode(j *upstream.UploadJob) (target, contentType string, body []byte, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile("profile", "profile.pprof")
	if err != nil {
		return "", "", nil, err
	}
	_, _ = fw.Write(j.Profile)
	if j.SampleTypeConfig != nil {
		fw, err = w.CreateFormFile("sample_type_config", "sample_type_config.json")
		if err != nil {
			return "", "", nil, err
		}
		b, err := json.Marshal(j.SampleTypeConfig)
		if err != nil {
			return "", "", nil, err
		}
		_, _ = fw.Write(b)
	}
	if err := w.Close(); err != nil {
		return "", "", nil, err
	}
	q := url.Values{}
	q.Set("name", j.Name)
	q.Set("from", strconv.FormatInt(j.StartTime.UnixNano(), 10))
	q.Set("until", strconv.FormatInt(j.EndTime.UnixNano(), 10))
	q.Set("spyName", j.SpyName)
	q.Set("sampleRate", strconv.FormatUint(uint64(j.SampleRate), 10))
	q.Set("units", j.Units)
	q.Set("aggregationType", j.AggregationType)
	u := *up.ingest
	u.RawQuery = q.Encode()
	return u.String(), w.FormDataContentType(), buf.Bytes(), nil
}

func (up *uploader) deliver(ctx context.Context, p *Profile) (string, error) {
	if p.Kind == KindCPU || p.Kind == KindGoroutine {
		// Only these carry pprof labels, the one place where host data
		// (request label values) reaches the profile's strings.
		if fixed, changed, err := up.clean.sanitize(p.Data); err == nil && changed {
			p.Data = fixed
		}
	}
	target, ctype, body, err := up.encode(up.job(p))
	if err != nil {
		return "", fmt.Errorf("encode upload: %w", err)
	}
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = up.post(ctx, target, ctype, body)
		if err == nil {
			return "", nil
		}
		wait, retry := retryAfter(err, backoff)
		if !retry || attempt >= up.opts.MaxAttempts || ctx.Err() != nil {
			return "", err
		}
		up.stats.retry()
		if err := up.sleep(ctx, wait); err != nil {
			return "", err
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (up *uploader) post(ctx context.Context, target, ctype string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, up.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", up.opts.UserAgent)
	if up.opts.BasicAuthUser != "" && up.opts.BasicAuthPassword != "" {
		req.SetBasicAuth(up.opts.BasicAuthUser, up.opts.BasicAuthPassword)
	}
	if up.opts.TenantID != "" {
		req.Header.Set("X-Scope-OrgID", up.opts.TenantID)
	}
	for k, v := range up.opts.Headers {
		req.Header.Set(k, v)
	}
	resp, err := up.client.Do(req)
	if err != nil {
		return &networkError{err}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode/100 == 2 {
		return nil
	}
	e := &StatusError{Code: resp.StatusCode, Body: strings.ToValidUTF8(strings.TrimSpace(string(msg)), "?")}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// StatusError is an upload the server answered with a non-2xx status.
type StatusError struct {
	Code       int
	Body       string        // the start of the response body
	RetryAfter time.Duration // the Retry-After header, when given in seconds
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("pyroscope answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("pyroscope answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

type networkError struct{ err error }

func (e *networkError) Error() string { return e.err.Error() }
func (e *networkError) Unwrap() error { return e.err }

// retryAfter reports whether err is worth another attempt, and how long to
// wait first: connection errors, timeouts, 5xx and 429 are; a Retry-After
// longer than the backoff is honoured up to maxBackoff.
func retryAfter(err error, backoff time.Duration) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) {
		if se.Code != http.StatusTooManyRequests && se.Code < 500 {
			return 0, false
		}
		return min(max(backoff, se.RetryAfter), maxBackoff), true
	}
	var ne *networkError
	return backoff, errors.As(err, &ne)
}

func failureReason(err error) string {
	var se *StatusError
	var ne *networkError
	var we *writeError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusTooManyRequests:
		return "throttled"
	case errors.As(err, &se) && se.Code >= 500:
		return "server_error"
	case errors.As(err, &se):
		return "rejected"
	case errors.As(err, &ne):
		return "network"
	case errors.As(err, &we):
		return "write"
	}
	return "error"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ValidateLabelName reports an error unless name is a label name Pyroscope
// accepts: non-empty, letters, digits, '_' and '.' only, and not the
// reserved "__name__".
func ValidateLabelName(name string) error {
	if name == "" {
		return errors.New("name is empty")
	}
	if name == "__name__" {
		return fmt.Errorf("name %q is reserved", name)
	}
	for _, r := range name {
		if !labelNameRune(r) {
			return fmt.Errorf("name %q: character %q is not allowed (want letters, digits, '_' or '.')", name, r)
		}
	}
	return nil
}

// ValidateApplicationName reports an error unless name is an application
// name Pyroscope accepts: non-empty; letters, digits and "_.-/" only.
func ValidateApplicationName(name string) error {
	if name == "" {
		return errors.New("application name is empty")
	}
	for _, r := range name {
		if !appNameRune(r) {
			return fmt.Errorf("application name %q: character %q is not allowed (want letters, digits, '_', '.', '-' or '/')", name, r)
		}
	}
	return nil
}

// SanitizeApplicationName returns name with every character Pyroscope does
// not accept replaced by '_' ("unknown_service" for an empty name), for
// names taken from elsewhere (the OTel service name).
func SanitizeApplicationName(name string) string {
	if name == "" {
		return "unknown_service"
	}
	return strings.Map(func(r rune) rune {
		if appNameRune(r) {
			return r
		}
		return '_'
	}, name)
}

// SanitizeLabelName returns name with every character Pyroscope does not
// accept in a label name replaced by '_' ("_" for an empty name). It
// returns name itself, without allocating, when it is already valid.
func SanitizeLabelName(name string) string {
	ok := name != ""
	for _, r := range name {
		if !labelNameRune(r) {
			ok = false
			break
		}
	}
	if ok {
		return name
	}
	if name == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if labelNameRune(r) {
			return r
		}
		return '_'
	}, name)
}

// SanitizeLabelValue returns v as valid UTF-8 (invalid bytes become U+FFFD)
// without the characters that would break the application name's
// "{k=v,...}" form ('{', '}', ',', '=' become '_'). It returns v itself,
// without allocating, when nothing needs replacing.
func SanitizeLabelValue(v string) string {
	if utf8.ValidString(v) && !strings.ContainsAny(v, "{},=") {
		return v
	}
	v = strings.ToValidUTF8(v, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch r {
		case '{', '}', ',', '=':
			return '_'
		}
		return r
	}, v)
}

// AppNameWithTags returns the name Pyroscope's /ingest expects: app followed
// by its tags as {k=v,...}, keys sorted, values sanitised, empty values
// left out.
func AppNameWithTags(app string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k, v := range tags {
		if v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(app)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(SanitizeLabelValue(strings.TrimSpace(tags[k])))
	}
	b.WriteByte('}')
	return b.String()
}

// ValidateHeader reports an error unless name is an HTTP header name (a
// token) and value has no control characters other than tab.
func ValidateHeader(name, value string) error {
	if name == "" {
		return errors.New("header name is empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return fmt.Errorf("header name %q: character %q is not allowed", name, c)
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("header %q: value has a control character", name)
		}
	}
	return nil
}

func labelNameRune(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' || r == '.'
}

func appNameRune(r rune) bool { return labelNameRune(r) || r == '-' || r == '/' }
