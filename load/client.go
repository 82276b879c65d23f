package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// attempt is the outcome of one HTTP exchange, filled by a client.
type attempt struct {
	start        time.Time // actual send (before dialling when a connection was needed)
	end          time.Time
	status       int
	kind         errKind
	err          error
	bodyIn       int64
	bodyOut      int64
	wireIn       int64
	wireOut      int64
	newConn      bool
	gotFirstByte bool
	dns          time.Duration
	connect      time.Duration
	tls          time.Duration
	ttfb         time.Duration // request written → first response byte
	body         time.Duration // first response byte → end
	firstAt      time.Time
}

// finish sets the end time and the body phase.
func (a *attempt) finish(now time.Time) {
	a.end = now
	if a.gotFirstByte {
		a.body = now.Sub(a.firstAt)
	}
}

// prepared is an endpoint's request with its variables substituted, in the
// forms both clients need. It is immutable and shared by all workers.
type prepared struct {
	method string
	url    string
	header http.Header // net/http client; read-only
	body   []byte
	wire   []byte // the whole HTTP/1.1 request message
	head   bool   // HEAD: the response has no body
	// replayable requests may be retried once on a fresh connection when
	// a reused keep-alive connection turns out closed, as net/http does.
	replayable bool
}

// client sends prepared requests. A client is used by one worker at a time.
type client interface {
	do(p *prepared, a *attempt)
	close()
}

// clientConfig is what both clients need to know.
type clientConfig struct {
	scheme   string // "http" or "https"
	host     string // host[:port] as in the URL
	addr     string // host:port to dial
	hostname string // host without port (TLS server name, DNS)
	timeout  time.Duration
	tls      *tls.Config
	now      func() time.Time
	abort    context.Context // cancelled: abort in-flight requests
}

// h1Client is a lean HTTP/1.1 client holding one keep-alive connection. It
// writes pre-serialised requests and reads responses through one reused
// buffer, without allocating per request. It supports Content-Length,
// chunked and close-delimited bodies, 1xx interim responses, "Connection:
// close", TLS (ALPN http/1.1) and per-request timeouts covering connect,
// write and the whole response.
type h1Client struct {
	cfg       *clientConfig
	conn      net.Conn
	br        *bufio.Reader
	stopAbort func() bool
}

const h1BufSize = 16 << 10

func newH1Client(cfg *clientConfig) *h1Client {
	return &h1Client{cfg: cfg, br: bufio.NewReaderSize(nil, h1BufSize)}
}

func (c *h1Client) close() {
	if c.stopAbort != nil {
		c.stopAbort()
		c.stopAbort = nil
	}
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *h1Client) do(p *prepared, a *attempt) {
	*a = attempt{start: c.cfg.now()}
	deadline := time.Now().Add(c.cfg.timeout)
	for try := 0; ; try++ {
		reused := c.conn != nil
		if !reused {
			if err := c.dial(deadline, a); err != nil {
				c.fail(a, err)
				return
			}
		} else if err := c.conn.SetDeadline(deadline); err != nil {
			c.fail(a, err)
			return
		}
		n, err := c.conn.Write(p.wire)
		a.wireOut += int64(n)
		if err == nil {
			wrote := c.cfg.now()
			var readAny bool
			readAny, err = c.readResponse(p, a, wrote)
			if err == nil {
				a.bodyOut = int64(len(p.body))
				a.finish(c.cfg.now())
				return
			}
			if readAny {
				c.fail(a, err)
				return
			}
		}
		// Nothing read: a reused connection the server had closed is
		// retried once on a fresh one.
		if reused && try == 0 && p.replayable && c.cfg.abort.Err() == nil && isStaleConnErr(err) {
			c.close()
			*a = attempt{start: a.start}
			continue
		}
		c.fail(a, err)
		return
	}
}

// fail closes the connection and records err.
func (c *h1Client) fail(a *attempt, err error) {
	c.close()
	a.finish(c.cfg.now())
	a.status = 0
	if c.cfg.abort.Err() != nil {
		a.kind = errCanceled
		return
	}
	a.kind, a.err = classify(err), err
}

func isStaleConnErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *h1Client) dial(deadline time.Time, a *attempt) error {
	if err := c.cfg.abort.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithDeadline(c.cfg.abort, deadline)
	defer cancel()
	a.newConn = true
	t0 := c.cfg.now()
	host, port, _ := net.SplitHostPort(c.cfg.addr)
	var ips []string
	if ip := net.ParseIP(host); ip != nil {
		ips = []string{host}
	} else {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return err
		}
		ips = addrs
	}
	t1 := c.cfg.now()
	a.dns = t1.Sub(t0)
	var d net.Dialer
	var conn net.Conn
	var err error
	for _, ip := range ips {
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
		if err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	t2 := c.cfg.now()
	a.connect = t2.Sub(t1)
	if c.cfg.tls != nil {
		tc := tls.Client(conn, c.cfg.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tc
		a.tls = c.cfg.now().Sub(t2)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return err
	}
	c.conn = conn
	c.br.Reset(conn)
	// Cancelling the run closes the connection, which interrupts a
	// blocked read or write at once.
	c.stopAbort = context.AfterFunc(c.cfg.abort, func() { conn.Close() })
	return nil
}

// protocolError is a malformed response.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "malformed HTTP response: " + e.msg }

var (
	errLineTooLong   = &protocolError{"header line longer than 16 KiB"}
	errBadStatusLine = &protocolError{"bad status line"}
	errBadHeader     = &protocolError{"bad header line"}
	errBadLength     = &protocolError{"bad Content-Length"}
	errBadChunk      = &protocolError{"bad chunk"}
	errTooManyHeads  = &protocolError{"too many 1xx responses"}
)

// readResponse reads one response. readAny reports whether any byte was
// read (a request that got no byte may be retried).
func (c *h1Client) readResponse(p *prepared, a *attempt, wrote time.Time) (readAny bool, err error) {
	br := c.br
	for interim := 0; ; interim++ {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 || err == nil {
			if !readAny {
				readAny = true
				a.firstAt = c.cfg.now()
				a.gotFirstByte = true
				a.ttfb = a.firstAt.Sub(wrote)
			}
		}
		if err != nil {
			return readAny, lineErr(err)
		}
		a.wireIn += int64(len(line))
		status, minor, ok := parseStatusLine(line)
		if !ok {
			return true, errBadStatusLine
		}
		a.status = status
		length, chunked, closeConn, err := c.readHeaders(a, minor)
		if err != nil {
			return true, err
		}
		if status >= 100 && status < 200 && status != 101 {
			if interim >= 10 {
				return true, errTooManyHeads
			}
			continue
		}
		switch {
		case p.head || status == 204 || status == 304 || status == 101:
		case chunked:
			err = c.readChunked(a)
		case length >= 0:
			var n int
			n, err = br.Discard(int(length))
			a.bodyIn += int64(n)
			a.wireIn += int64(n)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
		default:
			// Close-delimited body.
			var n int64
			n, err = io.Copy(io.Discard, br)
			a.bodyIn += n
			a.wireIn += n
			closeConn = true
		}
		if err != nil {
			return true, err
		}
		if closeConn || status == 101 {
			c.close()
		}
		return true, nil
	}
}

func lineErr(err error) error {
	if err == bufio.ErrBufferFull {
		return errLineTooLong
	}
	return err
}

// parseStatusLine parses "HTTP/1.x SSS reason\r\n".
func parseStatusLine(line []byte) (status, minor int, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return 0, 0, false
	}
	if line[7] < '0' || line[7] > '9' {
		return 0, 0, false
	}
	minor = int(line[7] - '0')
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, 0, false
		}
		status = status*10 + int(d-'0')
	}
	if len(line) > 12 && line[12] != ' ' && line[12] != '\r' && line[12] != '\n' {
		return 0, 0, false
	}
	return status, minor, status >= 100
}

const maxHeaderLines = 256

// readHeaders reads header lines up to the empty line. length is -1 when
// there is no Content-Length.
func (c *h1Client) readHeaders(a *attempt, minor int) (length int64, chunked, closeConn bool, err error) {
	length = -1
	keepAlive := minor >= 1
	for i := 0; ; i++ {
		if i > maxHeaderLines {
			return 0, false, false, errBadHeader
		}
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, false, false, lineErr(err)
		}
		a.wireIn += int64(len(line))
		line = trimCRLF(line)
		if len(line) == 0 {
			break
		}
		colon := indexByte(line, ':')
		if colon <= 0 {
			return 0, false, false, errBadHeader
		}
		name, value := line[:colon], trimSpace(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok || (length >= 0 && length != n) {
				return 0, false, false, errBadLength
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			if hasToken(value, "chunked") {
				chunked = true
			}
		case equalFold(name, "connection"):
			if hasToken(value, "close") {
				keepAlive = false
			} else if hasToken(value, "keep-alive") {
				keepAlive = true
			}
		}
	}
	if chunked {
		length = -1
		if minor == 0 {
			keepAlive = false
		}
	}
	return length, chunked, !keepAlive, nil
}

func (c *h1Client) readChunked(a *attempt) error {
	br := c.br
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return lineErr(eofUnexpected(err))
		}
		a.wireIn += int64(len(line))
		line = trimCRLF(line)
		if i := indexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, ok := parseHex(trimSpace(line))
		if !ok {
			return errBadChunk
		}
		if size == 0 {
			// Trailers up to the empty line.
			for {
				t, err := br.ReadSlice('\n')
				if err != nil {
					return lineErr(eofUnexpected(err))
				}
				a.wireIn += int64(len(t))
				if len(trimCRLF(t)) == 0 {
					return nil
				}
			}
		}
		n, err := br.Discard(int(size))
		a.bodyIn += int64(n)
		a.wireIn += int64(n)
		if err != nil {
			return eofUnexpected(err)
		}
		crlf, err := br.ReadSlice('\n')
		if err != nil {
			return lineErr(eofUnexpected(err))
		}
		a.wireIn += int64(len(crlf))
		if len(trimCRLF(crlf)) != 0 {
			return errBadChunk
		}
	}
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func trimCRLF(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// equalFold compares an ASCII header name with a lower-case name.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok
// (case-insensitive).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := indexByte(v, ',')
		var part []byte
		if i < 0 {
			part, v = v, nil
		} else {
			part, v = v[:i], v[i+1:]
		}
		if equalFold(trimSpace(part), tok) {
			return true
		}
	}
	return false
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

// classify maps a request error to its kind.
func classify(err error) errKind {
	var (
		dnsErr  *net.DNSError
		netErr  net.Error
		opErr   *net.OpError
		protErr *protocolError
		recErr  tls.RecordHeaderError
		certErr *tls.CertificateVerificationError
		alert   tls.AlertError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
	)
	switch {
	case err == nil:
		return errNone
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return errTimeout
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return errTimeout
		}
		return errDNS
	case errors.As(err, &netErr) && netErr.Timeout():
		return errTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return errRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return errReset
	case errors.As(err, &recErr), errors.As(err, &certErr), errors.As(err, &alert),
		errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invErr):
		return errTLS
	case errors.As(err, &protErr):
		return errProtocol
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errEOF
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return errConnect
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "malformed HTTP"), strings.Contains(msg, "http2: "), strings.Contains(msg, "PROTOCOL_ERROR"):
		return errProtocol
	case strings.Contains(msg, "tls: "), strings.Contains(msg, "x509: "):
		return errTLS
	case strings.Contains(msg, "server closed"), strings.Contains(msg, "connection closed"):
		return errEOF
	}
	return errOther
}
