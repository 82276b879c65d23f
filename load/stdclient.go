package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// newTransport returns the net/http transport used for HTTP/2, proxies and
// setup steps: keep-alive with up to conns idle connections, no
// compression (bytes are measured as sent), HTTP/2 only when asked.
func newTransport(cfg *clientConfig, http2 bool, conns int) *http.Transport {
	t := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: cfg.timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg.tls.Clone(),
		TLSHandshakeTimeout: cfg.timeout,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.NextProtos = nil
	var p http.Protocols
	if http2 {
		if cfg.scheme == "https" {
			p.SetHTTP2(true)
		} else {
			p.SetUnencryptedHTTP2(true)
		}
	} else {
		p.SetHTTP1(true)
	}
	t.Protocols = &p
	return t
}

// newHTTPClient wraps a transport; redirects are not followed, so each
// measured request is one exchange.
func newHTTPClient(t http.RoundTripper) *http.Client {
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// stdClient sends requests with net/http and times their phases with
// net/http/httptrace. One per worker; the http.Client is shared.
type stdClient struct {
	cfg *clientConfig
	hc  *http.Client
	buf []byte
}

func newStdClient(cfg *clientConfig, hc *http.Client) *stdClient {
	return &stdClient{cfg: cfg, hc: hc, buf: make([]byte, 32<<10)}
}

func (c *stdClient) close() {}

// phaseTrace collects one request's httptrace events. Note: net/http calls
// them from its own goroutines (HTTP/2 read and write loops), possibly
// after the round trip returned, so each request has its own, locked.
type phaseTrace struct {
	mu                         sync.Mutex
	now                        func() time.Time
	newConn, gotFirst          bool
	dnsAt, conAt, tlsAt, wrote time.Time
	firstAt                    time.Time
	dns, connect, tls          time.Duration
}

func (p *phaseTrace) mark(f func()) {
	p.mu.Lock()
	f()
	p.mu.Unlock()
}

func (p *phaseTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn:           func(info httptrace.GotConnInfo) { p.mark(func() { p.newConn = !info.Reused }) },
		DNSStart:          func(httptrace.DNSStartInfo) { t := p.now(); p.mark(func() { p.dnsAt = t }) },
		DNSDone:           func(httptrace.DNSDoneInfo) { t := p.now(); p.mark(func() { p.dns = t.Sub(p.dnsAt) }) },
		ConnectStart:      func(string, string) { t := p.now(); p.mark(func() { p.conAt = t }) },
		ConnectDone:       func(string, string, error) { t := p.now(); p.mark(func() { p.connect = t.Sub(p.conAt) }) },
		TLSHandshakeStart: func() { t := p.now(); p.mark(func() { p.tlsAt = t }) },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			t := p.now()
			p.mark(func() { p.tls = t.Sub(p.tlsAt) })
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { t := p.now(); p.mark(func() { p.wrote = t }) },
		GotFirstResponseByte: func() {
			t := p.now()
			p.mark(func() {
				if !p.gotFirst {
					p.gotFirst, p.firstAt = true, t
				}
			})
		},
	}
}

func (c *stdClient) do(p *prepared, a *attempt) { c.doKeep(p, a, nil) }

// doKeep is do keeping up to maxSetupBody bytes of the body in keep (when
// not nil); it returns the response header.
func (c *stdClient) doKeep(p *prepared, a *attempt, keep *bytes.Buffer) http.Header {
	*a = attempt{start: c.cfg.now()}
	tr := &phaseTrace{now: c.cfg.now}
	ctx, cancel := context.WithTimeout(httptrace.WithClientTrace(c.cfg.abort, tr.clientTrace()), c.cfg.timeout)
	defer cancel()
	status, hdr, n, err := exchange(ctx, c.hc, p, c.buf, keep)
	end := c.cfg.now()
	tr.mu.Lock()
	a.newConn, a.dns, a.connect, a.tls = tr.newConn, tr.dns, tr.connect, tr.tls
	if tr.gotFirst {
		a.gotFirstByte, a.firstAt = true, tr.firstAt
		if !tr.wrote.IsZero() && tr.wrote.Before(tr.firstAt) {
			a.ttfb = tr.firstAt.Sub(tr.wrote)
		}
	}
	tr.mu.Unlock()
	a.bodyIn = n
	a.finish(end)
	if err != nil {
		if c.cfg.abort.Err() != nil {
			a.kind = errCanceled
			return nil
		}
		a.kind, a.err = classify(err), err
		return nil
	}
	a.status = status
	a.bodyOut = int64(len(p.body))
	return hdr
}

// exchange sends p with hc and reads the whole response body, into keep
// (up to its capacity, for setup steps) or discarding it through buf. It
// returns the status and the number of body bytes read.
func exchange(ctx context.Context, hc *http.Client, p *prepared, buf []byte, keep *bytes.Buffer) (status int, hdr http.Header, n int64, err error) {
	var body io.Reader
	if len(p.body) > 0 {
		body = bytes.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header = p.header
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	if keep != nil {
		n, err = keep.ReadFrom(io.LimitReader(resp.Body, maxSetupBody))
		if err == nil && n == maxSetupBody {
			var m int64
			m, err = io.CopyBuffer(io.Discard, resp.Body, buf)
			n += m
		}
	} else {
		n, err = io.CopyBuffer(io.Discard, resp.Body, buf)
	}
	return resp.StatusCode, resp.Header, n, err
}

// maxSetupBody bounds the part of a setup response kept for extraction.
const maxSetupBody = 1 << 20
