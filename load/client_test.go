package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// readCanned parses data as one response with a fresh h1Client.
func readCanned(data []byte, head bool) (*attempt, error) {
	c := &h1Client{cfg: &clientConfig{now: time.Now, abort: context.Background()}, br: bufio.NewReaderSize(bytes.NewReader(data), h1BufSize)}
	a := &attempt{}
	_, err := c.readResponse(&prepared{head: head}, a, time.Now())
	return a, err
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		in     string
		head   bool
		status int
		body   int64
		err    string
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false, 200, 3, ""},
		{"HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\nabc", false, 200, 3, ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true, 200, 0, ""},
		{"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n", false, 304, 0, ""},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, 200, 3, ""},
		{"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, 200, 0, ""},
		{"HTTP/1.1 200 OK\nContent-Length: 1\n\nx", false, 200, 1, ""},
		{"HTTP/2.0 200 OK\r\n\r\n", false, 0, 0, "bad status line"},
		{"HTTP/1.1 099 Low\r\n\r\n", false, 0, 0, "bad status line"},
		{"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", false, 0, 0, "bad header line"},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, 0, 0, "bad Content-Length"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, 0, 0, "bad Content-Length"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", false, 0, 0, "bad chunk"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false, 0, 0, "unexpected EOF"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", false, 0, 0, "unexpected EOF"},
		{"", false, 0, 0, "EOF"},
	}
	for _, tt := range tests {
		a, err := readCanned([]byte(tt.in), tt.head)
		if tt.err != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.err)) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || a.status != tt.status || a.bodyIn != tt.body {
			t.Errorf("%q: status %d body %d err %v; want %d %d", tt.in, a.status, a.bodyIn, err, tt.status, tt.body)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want errKind
	}{
		{nil, errNone},
		{context.DeadlineExceeded, errTimeout},
		{os.ErrDeadlineExceeded, errTimeout},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, errDNS},
		{&net.DNSError{Err: "timeout", IsTimeout: true}, errTimeout},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, errRefused},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, errConnect},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, errReset},
		{io.ErrUnexpectedEOF, errEOF},
		{errBadChunk, errProtocol},
		{errors.New("tls: handshake failure"), errTLS},
		{errors.New("something else"), errOther},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		a, err := readCanned(data, head)
		if err != nil {
			return
		}
		if a.status < 100 || a.status > 999 {
			t.Fatalf("accepted status %d", a.status)
		}
		if a.bodyIn > int64(len(data)) || a.wireIn > int64(len(data)) {
			t.Fatalf("read %d body, %d wire bytes of %d", a.bodyIn, a.wireIn, len(data))
		}
	})
}
