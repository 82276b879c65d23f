package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
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
	cfg   *clientConfig
	hc    *http.Client
	ctx   context.Context // abort context with the worker's trace
	cur   *attempt
	dnsAt time.Time
	conAt time.Time
	tlsAt time.Time
	wrote time.Time
	buf   []byte
}

func newStdClient(cfg *clientConfig, hc *http.Client) *stdClient {
	c := &stdClient{cfg: cfg, hc: hc, buf: make([]byte, 32<<10)}
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { c.cur.newConn = !info.Reused },
		DNSStart: func(httptrace.DNSStartInfo) {
			c.dnsAt = c.cfg.now()
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			c.cur.dns = c.cfg.now().Sub(c.dnsAt)
		},
		ConnectStart: func(string, string) {
			if c.conAt.IsZero() {
				c.conAt = c.cfg.now()
			}
		},
		ConnectDone: func(string, string, error) {
			c.cur.connect = c.cfg.now().Sub(c.conAt)
		},
		TLSHandshakeStart: func() { c.tlsAt = c.cfg.now() },
		TLSHandshakeDone: func(tls.ConnectionState, error) {
			c.cur.tls = c.cfg.now().Sub(c.tlsAt)
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { c.wrote = c.cfg.now() },
		GotFirstResponseByte: func() {
			c.cur.firstAt = c.cfg.now()
			c.cur.gotFirstByte = true
			if !c.wrote.IsZero() {
				c.cur.ttfb = c.cur.firstAt.Sub(c.wrote)
			}
		},
	}
	c.ctx = httptrace.WithClientTrace(cfg.abort, trace)
	return c
}

func (c *stdClient) close() {}

func (c *stdClient) do(p *prepared, a *attempt) { c.doKeep(p, a, nil) }

// doKeep is do keeping up to maxSetupBody bytes of the body in keep (when
// not nil); it returns the response header.
func (c *stdClient) doKeep(p *prepared, a *attempt, keep *bytes.Buffer) http.Header {
	*a = attempt{start: c.cfg.now()}
	c.cur, c.conAt, c.wrote = a, time.Time{}, time.Time{}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.timeout)
	defer cancel()
	status, hdr, n, err := exchange(ctx, c.hc, p, c.buf, keep)
	a.bodyIn = n
	a.finish(c.cfg.now())
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
