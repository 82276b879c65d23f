package load

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startBenchTarget starts the canned target in its own process.
func startBenchTarget(b *testing.B) string {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), benchTargetEnv+"=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(addr)
}

// runqueueWait sums the time the process's live threads spent runnable
// but waiting for a CPU (/proc/self/task/*/schedstat, second field): send
// lag the machine's other load causes, which no pacer can avoid.
func runqueueWait() time.Duration {
	paths, _ := filepath.Glob("/proc/self/task/*/schedstat")
	var sum time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// gcPauses reads the process's GC pause histogram so far.
func gcPauses() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return &metrics.Float64Histogram{}
	}
	return s[0].Value.Float64Histogram()
}

// pausesBetween returns the number of GC pauses between two readings and
// an upper bound of the longest (its bucket's upper edge).
func pausesBetween(before, after *metrics.Float64Histogram) (n uint64, longest time.Duration) {
	for i, c := range after.Counts {
		if i < len(before.Counts) {
			c -= before.Counts[i]
		}
		if c > 0 {
			n += c
			longest = time.Duration(after.Buckets[i+1] * 1e9)
		}
	}
	return n, longest
}

// BenchmarkPacer runs the open model for 3 s at 100, 1,000 and 10,000
// req/s against a canned target in another process on the same machine
// and reports the send lag (p50, p99, max), the generator's CPU time per
// second of load, and beside them its GC pauses during the run and the
// time its threads waited for a CPU the machine's other load held. One run per
// rate: use -benchtime=1x.
//
//	go test -run '^$' -bench Pacer -benchtime=1x ./load/
func BenchmarkPacer(b *testing.B) {
	addr := startBenchTarget(b)
	for _, rate := range []float64{100, 1000, 10000} {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			const dur = 3 * time.Second
			for b.Loop() {
				g0 := gcPauses()
				c0, w0 := cpuTime(), runqueueWait()
				rep, err := Run(context.Background(), scenario("http://"+addr, ep("a", "/")), Options{
					Load: Load{Model: ModelOpen, Rate: rate, Duration: dur, Concurrency: 64}})
				if err != nil {
					b.Fatal(err)
				}
				cpu, wait := cpuTime()-c0, runqueueWait()-w0
				n, longest := pausesBetween(g0, gcPauses())
				o := rep.Open
				if rep.Total.Errors > 0 {
					b.Fatalf("%d errors", rep.Total.Errors)
				}
				b.ReportMetric(float64(o.SendLag.P50.Microseconds()), "lag-p50-µs")
				b.ReportMetric(float64(o.SendLag.P99.Microseconds()), "lag-p99-µs")
				b.ReportMetric(float64(o.SendLag.Max.Microseconds()), "lag-max-µs")
				b.ReportMetric(float64(cpu.Milliseconds())/dur.Seconds(), "cpu-ms/s")
				b.ReportMetric(float64(wait.Milliseconds())/dur.Seconds(), "runq-wait-ms/s")
				b.ReportMetric(float64(n), "gc-pauses")
				b.ReportMetric(float64(longest.Microseconds()), "gc-pause-max-µs")
				b.ReportMetric(o.Achieved, "req/s")
			}
		})
	}
}
