package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// cannedServer answers every request on a connection with one fixed
// response, as cheaply as possible, so the benchmark measures the client.
func cannedServer(b *testing.B, resp string) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	var conns sync.WaitGroup
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				out := []byte(resp)
				for {
					// Requests have no body: read up to the blank line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			})
		}
	}()
	return ln.Addr().String(), func() { ln.Close(); <-done; conns.Wait() }
}

// BenchmarkClient measures one keep-alive round trip and the recording
// of its outcome, with the lean HTTP/1.1 client and with net/http: the
// generator's cost per request (the canned server's share is included).
func BenchmarkClient(b *testing.B) {
	for _, engine := range []Engine{EngineAuto, EngineNetHTTP} {
		name := map[Engine]string{EngineAuto: "lean", EngineNetHTTP: "net-http"}[engine]
		b.Run(name, func(b *testing.B) {
			addr, stop := cannedServer(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")
			defer stop()
			e, err := newEngine(context.Background(), scenario("http://"+addr, ep("a", "/")), Options{Load: Load{Concurrency: 1}, Engine: engine})
			if err != nil {
				b.Fatal(err)
			}
			defer e.cancel()
			defer e.tr.CloseIdleConnections()
			set, err := e.renderAll(nil, 1)
			if err != nil {
				b.Fatal(err)
			}
			e.rendered.Store(set)
			w := &worker{e: e, sh: e.shards[0], c: newH1Client(&e.cfg)}
			if e.useStd {
				w.c = newStdClient(&e.cfg, e.hc)
			}
			defer w.c.close()
			w.one(token{}, false) // connect
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.one(token{}, false)
			}
			b.StopTimer()
			if s := e.shards[0].eps[0]; s.errors != 0 {
				b.Fatalf("%d errors: %v", s.errors, s.samples.msgs)
			}
		})
	}
}

// BenchmarkReadResponse measures parsing a response from a buffer.
func BenchmarkReadResponse(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nDate: Wed, 25 Nov 2026 19:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"status\":\"ok\",\"uptime\":1}\n")
	r := &repeatReader{data: resp}
	c := &h1Client{cfg: &clientConfig{now: time.Now, abort: context.Background()}, br: bufio.NewReaderSize(r, h1BufSize)}
	p := &prepared{}
	var a attempt
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(resp)))
	for b.Loop() {
		if _, err := c.readResponse(p, &a, now); err != nil {
			b.Fatal(err)
		}
	}
}

type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(p[n:], r.data[r.off:])
		n += m
		r.off = (r.off + m) % len(r.data)
	}
	return n, nil
}

var _ io.Reader = (*repeatReader)(nil)

// BenchmarkRecord measures recording one outcome in a shard.
func BenchmarkRecord(b *testing.B) {
	sh := &shard{eps: []*epStats{newEpStats(true, false)}, sendLag: newCoarse()}
	expect := newStatusSet(nil)
	a := &attempt{status: 200, gotFirstByte: true, ttfb: 40 * time.Microsecond, body: time.Microsecond}
	o := &outcome{a: a, hasLatency: true, open: true, latency: 120 * time.Microsecond, service: 80 * time.Microsecond}
	b.ReportAllocs()
	for b.Loop() {
		sh.add(0, o, &expect)
	}
}
