// Command soak runs a host service with the perfagent agent under every
// fault the agent must survive, for a long time, and records each minute
// what matters to the host and what the agent costs it:
//
//   - the OTLP collector flaps: a real OTLP receiver (the collector's own
//     otlpreceiver) for a while, then a TCP peer that accepts and never
//     answers, then nothing listening, in turn;
//   - Pyroscope hangs: a TCP peer that accepts uploads and never answers;
//   - the output directory fills: the agent writes to a small directory
//     whose quota is far below what a long run produces;
//   - floods: on-demand captures as fast as one client can ask, and
//     hundreds of idle connections held open on the agent's listener.
//
// Every minute it writes one CSV line: the host's request count, errors
// and latency p50/p99/max over the minute (measured by a client at a fixed
// rate), the process's live heap and goroutines, open file descriptors, the
// agent's files and bytes on disk, and the floods' outcomes. At the end it
// shuts the agent down with a background context and records how long that
// took and how many goroutines were left.
//
//	cd integration && go run ./soak -duration 30m -out /tmp/soak.csv
//
// It is not part of `make test`: its figures, not a pass/fail, are the
// point.
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/perfagent/perfagent/agent"
)

func main() {
	duration := flag.Duration("duration", 30*time.Minute, "how long to run")
	every := flag.Duration("every", time.Minute, "how often to record a line")
	flap := flag.Duration("flap", 2*time.Minute, "how long the collector stays in each state (up, hanging, down)")
	rate := flag.Int("rate", 200, "host requests per second sent by the measuring client")
	conns := flag.Int("conns", 700, "idle connections held open on the agent's listener")
	captures := flag.Int("captures", 200, "on-demand capture requests per second")
	out := flag.String("out", "soak.csv", "CSV file of the per-minute figures")
	flag.Parse()
	if *duration <= 0 || *every <= 0 || *flap <= 0 || *rate <= 0 || *conns < 0 {
		log.Fatal("soak: -duration, -every, -flap and -rate must be positive, -conns not negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *duration, *every, *flap, *rate, *conns, *captures, *out); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, duration, every, flap time.Duration, rate, conns, captures int, out string) error {
	dir, err := os.MkdirTemp("", "perfagent-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	col, err := newFlappingCollector()
	if err != nil {
		return err
	}
	defer col.close()
	pyro, err := hangingPeer()
	if err != nil {
		return err
	}
	defer pyro.Close()

	outDir := filepath.Join(dir, "perf")
	a, err := agent.Start(ctx,
		agent.WithServiceName("soak"),
		agent.WithHTTPAddr("127.0.0.1:0"),
		agent.WithOTLP("grpc", "http://"+col.addr),
		agent.WithExportInterval(5*time.Second),
		agent.WithProfiling(agent.Profiling{ServerAddress: "http://" + pyro.Addr().String(), Interval: 10 * time.Second}),
		agent.WithOutputDir(outDir),
		agent.WithOutputQuota(2<<20, 20), // far below what 30 minutes of captures need
		agent.WithSnapshotInterval(time.Second),
		agent.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	)
	if err != nil {
		return fmt.Errorf("agent.Start: %w", err)
	}
	agentURL := "http://" + a.Addr()

	host := &http.Server{Handler: agent.TagHTTP(http.HandlerFunc(work)), ReadHeaderTimeout: 5 * time.Second}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go host.Serve(hl)
	defer host.Close()

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	_ = w.Write([]string{"minute", "collector", "requests", "errors", "p50_ms", "p99_ms", "max_ms",
		"heap_live_mib", "goroutines", "fds", "agent_files", "agent_bytes",
		"captures_ok", "captures_429", "captures_other", "flood_conns_open", "flood_conn_errors"})
	w.Flush()

	runCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var wg sync.WaitGroup
	lat := &latencies{}
	capf := &captureFlood{rate: captures}
	cf := &connFlood{}
	start := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	start(func() { col.flap(runCtx, flap) })
	start(func() { drive(runCtx, "http://"+hl.Addr().String()+"/work", rate, lat) })
	start(func() { capf.run(runCtx, agentURL+"/debug/perfagent/capture?type=heap") })
	start(func() { cf.run(runCtx, a.Addr(), conns) })

	tick := time.NewTicker(every)
	defer tick.Stop()
	for minute := 1; ; minute++ {
		select {
		case <-runCtx.Done():
		case <-tick.C:
			n, errs, p50, p99, pmax := lat.take()
			files, bytes := diskUse(outDir)
			ok, limited, other := capf.take()
			_ = w.Write([]string{strconv.Itoa(minute), col.state(), strconv.Itoa(n), strconv.Itoa(errs),
				ms(p50), ms(p99), ms(pmax), fmt.Sprintf("%.1f", heapLive()/(1<<20)),
				strconv.Itoa(runtime.NumGoroutine()), strconv.Itoa(openFDs()), strconv.Itoa(files), strconv.FormatInt(bytes, 10),
				strconv.Itoa(ok), strconv.Itoa(limited), strconv.Itoa(other), strconv.Itoa(int(cf.open.Load())), strconv.Itoa(int(cf.errs.Load()))})
			w.Flush()
			continue
		}
		break
	}
	wg.Wait()
	cf.closeAll()

	before := runtime.NumGoroutine()
	t0 := time.Now()
	serr := a.Shutdown(context.Background())
	took := time.Since(t0)
	time.Sleep(100 * time.Millisecond) // let exiting goroutines finish their last instruction
	fmt.Fprintf(os.Stderr, "soak: Shutdown(context.Background()) took %s (error: %v); goroutines %d before, %d after\n",
		took.Round(time.Millisecond), serr, before, runtime.NumGoroutine())
	_ = w.Write([]string{"shutdown", took.Round(time.Millisecond).String(), fmt.Sprint(serr)})
	w.Flush()
	return w.Error()
}

// work is the host's handler: a little CPU and a little garbage, like a
// JSON API.
func work(w http.ResponseWriter, _ *http.Request) {
	buf := make([]byte, 4<<10)
	sum := 0
	for i := range buf {
		buf[i] = byte(i)
		sum += int(buf[i])
	}
	fmt.Fprintf(w, "ok %d\n", sum)
}

// --- the measuring client ---

// latencies collects the host's request latencies of one interval.
type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	errs int
}

func (l *latencies) add(d time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs++
		return
	}
	if len(l.d) < 1<<20 {
		l.d = append(l.d, d)
	}
}

func (l *latencies) take() (n, errs int, p50, p99, pmax time.Duration) {
	l.mu.Lock()
	d, errs := l.d, l.errs
	l.d, l.errs = nil, 0
	l.mu.Unlock()
	if len(d) == 0 {
		return 0, errs, 0, 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return len(d), errs, q(0.50), q(0.99), d[len(d)-1]
}

// drive sends rate requests per second on a fixed schedule, each on its
// own goroutine, and records latency from the intended send time (so a
// host that stalls is charged for the requests it delayed).
func drive(ctx context.Context, url string, rate int, l *latencies) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	gap := time.Second / time.Duration(rate)
	next := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		next = next.Add(gap)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		intended := next
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(url)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			l.add(time.Since(intended), err)
		}()
	}
}

// --- floods ---

// captureFlood asks for on-demand captures at a fixed rate (the 200/s the
// issue measured an unlimited agent serving at 1.25 cores).
type captureFlood struct {
	rate               int
	ok, limited, other atomic.Int64
}

func (c *captureFlood) run(ctx context.Context, url string) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(time.Second / time.Duration(max(c.rate, 1)))
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		resp, err := client.Do(req)
		switch {
		case err != nil:
			c.other.Add(1)
			time.Sleep(10 * time.Millisecond)
			continue
		case resp.StatusCode == http.StatusTooManyRequests:
			c.limited.Add(1)
		case resp.StatusCode < 300:
			c.ok.Add(1)
		default:
			c.other.Add(1)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func (c *captureFlood) take() (ok, limited, other int) {
	return int(c.ok.Swap(0)), int(c.limited.Swap(0)), int(c.other.Swap(0))
}

// connFlood holds n idle connections open on the agent's listener and
// replaces those the agent closes.
type connFlood struct {
	mu    sync.Mutex
	conns []net.Conn
	open  atomic.Int64
	errs  atomic.Int64
}

func (c *connFlood) run(ctx context.Context, addr string, n int) {
	for ctx.Err() == nil {
		c.mu.Lock()
		live := c.conns[:0]
		for _, conn := range c.conns {
			_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				conn.Close() // closed by the agent
				continue
			}
			live = append(live, conn)
		}
		c.conns = live
		for len(c.conns) < n && ctx.Err() == nil {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				c.errs.Add(1)
				break
			}
			c.conns = append(c.conns, conn)
		}
		c.open.Store(int64(len(c.conns)))
		c.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (c *connFlood) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// --- peers ---

// hangingPeer accepts connections and never answers.
func hangingPeer() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go hang(l)
	return l, nil
}

// hang accepts on l and never answers; it reads what each client sends and
// closes its side when the client closes (so the peer's own descriptors do
// not count as the agent's), and closes every connection when l closes.
func hang(l net.Listener) {
	var mu sync.Mutex
	held := map[net.Conn]bool{}
	for {
		c, err := l.Accept()
		if err != nil {
			mu.Lock()
			for c := range held {
				c.Close()
			}
			mu.Unlock()
			return
		}
		mu.Lock()
		held[c] = true
		mu.Unlock()
		go func() {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
			mu.Lock()
			delete(held, c)
			mu.Unlock()
		}()
	}
}

// flappingCollector is one address that is in turn a real OTLP receiver
// (up), a peer that accepts and never answers (hanging), and closed (down).
type flappingCollector struct {
	addr string
	mu   sync.Mutex
	cur  string
	rcv  receiver.Metrics
	hang net.Listener
	sink *consumertest.MetricsSink
}

func newFlappingCollector() (*flappingCollector, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	c := &flappingCollector{addr: addr, sink: new(consumertest.MetricsSink)}
	return c, c.set("up")
}

func (c *flappingCollector) state() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

func (c *flappingCollector) set(state string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
	c.cur = state
	switch state {
	case "up":
		f := otlpreceiver.NewFactory()
		cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
		cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = c.addr
		rcv, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, c.sink)
		if err != nil {
			return err
		}
		if err := rcv.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			return err
		}
		c.rcv = rcv
	case "hanging":
		l, err := net.Listen("tcp", c.addr)
		if err != nil {
			return err
		}
		go hang(l)
		c.hang = l
	}
	return nil
}

func (c *flappingCollector) stopLocked() {
	if c.rcv != nil {
		_ = c.rcv.Shutdown(context.Background())
		c.rcv = nil
	}
	if c.hang != nil {
		c.hang.Close()
		c.hang = nil
	}
}

func (c *flappingCollector) flap(ctx context.Context, every time.Duration) {
	states := []string{"hanging", "down", "up"}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if err := c.set(states[i%len(states)]); err != nil {
			fmt.Fprintf(os.Stderr, "soak: collector %s: %v\n", states[i%len(states)], err)
		}
	}
}

func (c *flappingCollector) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
}

// --- readings ---

func heapLive() float64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64())
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func diskUse(dir string) (files int, bytes int64) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			files++
			bytes += info.Size()
		}
		return nil
	})
	return files, bytes
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
