package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/perfagent/perfagent/results"
)

// k8sObjects decodes the YAML documents perfagent k8s-job wrote into the
// Kubernetes API's own types, refusing unknown fields.
func k8sObjects(t *testing.T, out []byte) (*batchv1.Job, *corev1.Secret) {
	t.Helper()
	var job *batchv1.Job
	var cm *corev1.Secret
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("k8s-job wrote invalid YAML: %v\n%s", err, out)
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		strict := func(v any) {
			d := json.NewDecoder(bytes.NewReader(raw))
			d.DisallowUnknownFields()
			if err := d.Decode(v); err != nil {
				t.Fatalf("%s does not unmarshal into its Kubernetes type: %v\n%s", doc["kind"], err, raw)
			}
		}
		switch doc["kind"] {
		case "Job":
			job = &batchv1.Job{}
			strict(job)
		case "Secret":
			cm = &corev1.Secret{}
			strict(cm)
		default:
			t.Fatalf("unexpected document kind %v", doc["kind"])
		}
	}
	if job == nil {
		t.Fatalf("no Job in\n%s", out)
	}
	return job, cm
}

// argValue returns the value after flag in args.
func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("no %s in %q", flag, args)
	}
	return args[i+1]
}

// podArgs returns the Job's container args for a local process: the
// output root and the scenario's Secret mount replaced by local paths.
func podArgs(t *testing.T, c corev1.Container, out, scenario string, extra ...string) []string {
	t.Helper()
	args := slices.Clone(c.Args)
	for i := range args {
		switch args[i] {
		case "--out":
			args[i+1] = out
		case "--scenario":
			args[i+1] = scenario
		}
	}
	return append(args, extra...)
}

func TestK8sJobIsABatchV1Job(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the perfagent command")
	}
	bin := buildPerfagent(t)
	dir := t.TempDir()
	scen := filepath.Join(dir, "api.yaml")
	os.WriteFile(scen, []byte("name: shop\nbase_url: http://api.shop:8080\nendpoints:\n  - {name: health, path: /health}\n"), 0o644)
	before := time.Now()
	cmd := exec.Command(bin, "k8s-job", "--name", "load", "--namespace", "perf", "--shards", "20", "--image", "registry.example/perfagent:v1",
		"--lead", "2m", "--cpu", "1500m", "--memory", "1Gi", "--", "--scenario", scen, "--rate", "20000", "--duration", "5m", "--concurrency", "2000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("k8s-job: %v\n%s", err, stderr.String())
	}
	job, cm := k8sObjects(t, out)
	if job.APIVersion != "batch/v1" || job.Name != "load" || job.Namespace != "perf" {
		t.Errorf("job %s %s/%s", job.APIVersion, job.Namespace, job.Name)
	}
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Parallelism == nil || s.Completions == nil || *s.Parallelism != 20 || *s.Completions != 20 {
		t.Errorf("parallelism %v completions %v, want 20 and 20", s.Parallelism, s.Completions)
	}
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 {
		t.Errorf("backoffLimit %v, want 0 (a retried shard would start late)", s.BackoffLimit)
	}
	ps := s.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever || len(ps.Containers) != 1 {
		t.Fatalf("restartPolicy %q, %d containers", ps.RestartPolicy, len(ps.Containers))
	}
	if len(ps.TopologySpreadConstraints) != 1 || ps.TopologySpreadConstraints[0].WhenUnsatisfiable != corev1.ScheduleAnyway ||
		ps.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app.kubernetes.io/instance"] != "load" {
		t.Errorf("topology spread %+v", ps.TopologySpreadConstraints)
	}
	c := ps.Containers[0]
	req := c.Resources.Requests
	if c.Image != "registry.example/perfagent:v1" || req.Cpu().MilliValue() != 1500 || req.Memory().Value() != 1<<30 || c.Resources.Limits.Memory().Value() != 1<<30 {
		t.Errorf("container %s, requests cpu %v memory %v, limits %v", c.Image, req.Cpu(), req.Memory(), c.Resources.Limits)
	}
	if c.Args[0] != "bench" || c.Args[1] != "api" || argValue(t, c.Args, "--shards") != "20" || argValue(t, c.Args, "--shard-result") != "-" {
		t.Errorf("args %q", c.Args)
	}
	start, err := time.Parse(time.RFC3339Nano, argValue(t, c.Args, "--start-at"))
	if err != nil || start.Before(before.Add(2*time.Minute)) || start.After(time.Now().Add(2*time.Minute+2*time.Second)) {
		t.Errorf("--start-at %v (%v), want 2m after %v", start, err, before)
	}
	if cm == nil || cm.Type != corev1.SecretTypeOpaque || !strings.Contains(cm.StringData["scenario.yaml"], "http://api.shop:8080") {
		t.Fatalf("no Secret carrying the scenario")
	}
	var mounted bool
	for _, v := range ps.Volumes {
		if v.Secret != nil && v.Secret.SecretName == cm.Name {
			for _, m := range c.VolumeMounts {
				mounted = mounted || (m.Name == v.Name && strings.HasPrefix(argValue(t, c.Args, "--scenario"), m.MountPath+"/"))
			}
		}
	}
	if !mounted {
		t.Errorf("the scenario's Secret is not mounted where --scenario points: %+v %+v", ps.Volumes, c.VolumeMounts)
	}
}

// shardProc is one load generator process of a sharded run.
type shardProc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	latencies      string
}

// startShards starts the Job's pods as local processes, one per
// JOB_COMPLETION_INDEX, each also logging its latencies.
func startShards(t *testing.T, bin string, c corev1.Container, n int, scenario string) []*shardProc {
	t.Helper()
	dir := t.TempDir()
	var ps []*shardProc
	for i := range n {
		p := &shardProc{latencies: filepath.Join(dir, fmt.Sprintf("lat-%d.txt", i))}
		p.cmd = exec.Command(bin, podArgs(t, c, filepath.Join(dir, strconv.Itoa(i)), scenario, "--latency-log", p.latencies)...)
		p.cmd.Env = append(os.Environ(), "JOB_COMPLETION_INDEX="+strconv.Itoa(i), "CI=1")
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// jobFor writes the Job of a sharded run against scenario.
func jobFor(t *testing.T, bin string, n int, scenario string, api ...string) corev1.Container {
	t.Helper()
	args := append([]string{"k8s-job", "--name", "t", "--shards", strconv.Itoa(n), "--image", "perfagent:test", "--lead", "3s", "--", "--scenario", scenario}, api...)
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("k8s-job: %v", err)
	}
	job, _ := k8sObjects(t, out)
	return job.Spec.Template.Spec.Containers[0]
}

// merged is what the test reads of `perfagent merge --json`.
type merged struct {
	Results *results.Run `json:"results"`
	Merge   struct {
		Shards  int   `json:"shards"`
		Merged  []int `json:"merged"`
		Missing []int `json:"missing"`
	} `json:"merge"`
}

func runMerge(t *testing.T, bin string, files ...string) (int, merged, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"merge", "--json", "--no-baseline", "--out", t.TempDir()}, files...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var m merged
	if code != 2 {
		if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
			t.Fatalf("merge (exit %d) stdout is not one JSON document: %v\n%s\n%s", code, err, stdout.String(), stderr.String())
		}
	}
	return code, m, stderr.String()
}

// TestShardsMergeExactly runs the pods of a generated Indexed Job as local
// processes (JOB_COMPLETION_INDEX=0..N-1, one --start-at) against a
// loopback target, collects their logs as kubectl logs would, and merges
// them: counts are sums, percentiles are those of one histogram fed every
// latency of every shard, the arrival rate is the intended one; a killed
// shard makes the merge partial and named; another scenario is refused.
func TestShardsMergeExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sharded load generators")
	}
	bin := buildPerfagent(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Millisecond)
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	dir := t.TempDir()
	scen := filepath.Join(dir, "api.yaml")
	os.WriteFile(scen, []byte("name: shards\nbase_url: "+srv.URL+"\nendpoints:\n  - {name: fast, path: /fast, weight: 3}\n  - {name: slow, path: /slow}\n"), 0o644)

	const n, rate = 3, 600.0
	c := jobFor(t, bin, n, scen, "--rate", "600", "--duration", "3s", "--concurrency", "60", "--rounds", "3")
	procs := startShards(t, bin, c, n, scen)
	var files []string
	hists := map[string]*hdrhistogram.Histogram{}
	for i, p := range procs {
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v\n%s", i, err, p.stderr.String())
		}
		// The pod's log: the shard result is its last stdout line.
		log := filepath.Join(dir, fmt.Sprintf("t-%d.log", i))
		os.WriteFile(log, append(p.stderr.Bytes(), p.stdout.Bytes()...), 0o644)
		files = append(files, log)
		f, err := os.Open(p.latencies)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, v, _ := strings.Cut(sc.Text(), " ")
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("latency log line %q", sc.Text())
			}
			if hists[name] == nil {
				hists[name] = hdrhistogram.New(1, int64(time.Hour), 3) // the load package's geometry
			}
			hists[name].RecordValue(ns)
		}
		f.Close()
	}
	// Exit 1 is a check failed on this machine (a busy generator's
	// saturation): the merge itself is what is tested here.
	code, m, stderr := runMerge(t, bin, files...)
	if code != 0 && code != 1 {
		t.Fatalf("merge: exit %d\n%s", code, stderr)
	}
	if m.Merge.Shards != n || len(m.Merge.Merged) != n || len(m.Merge.Missing) != 0 {
		t.Errorf("merge %+v", m.Merge)
	}
	var achieved float64
	for _, b := range m.Results.Benchmarks {
		name := strings.TrimPrefix(b.Name, "shards/")
		h := hists[name]
		if h == nil || b.PerOp == nil {
			t.Fatalf("%s: no latencies logged or merged", b.Name)
		}
		if b.Iterations != h.TotalCount() || b.PerOp.N != h.TotalCount() {
			t.Errorf("%s: merged %d requests (%d latencies), the shards logged %d", b.Name, b.Iterations, b.PerOp.N, h.TotalCount())
		}
		for _, q := range []struct {
			p   float64
			got float64
		}{{50, b.PerOp.P50}, {90, b.PerOp.P90}, {95, b.PerOp.P95}, {99, b.PerOp.P99}, {99.9, b.PerOp.P999}, {100, b.PerOp.Max}} {
			want := float64(h.ValueAtPercentile(q.p))
			if q.p == 100 {
				want = float64(h.Max())
			}
			if q.got != want {
				t.Errorf("%s: merged p%g %v, one histogram of every latency says %v", b.Name, q.p, time.Duration(q.got), time.Duration(want))
			}
		}
		if len(b.Samples) != 3 {
			t.Errorf("%s: %d round samples, want 3", b.Name, len(b.Samples))
		}
		var d struct {
			Run struct {
				Open struct {
					Rate     float64 `json:"rate"`
					Achieved float64 `json:"achieved_rate"`
				} `json:"open"`
			} `json:"run"`
		}
		if err := json.Unmarshal(b.Detail, &d); err != nil {
			t.Fatal(err)
		}
		achieved = d.Run.Open.Achieved
		if d.Run.Open.Rate != rate {
			t.Errorf("merged intended rate %g, want %g", d.Run.Open.Rate, rate)
		}
	}
	t.Logf("merged %d shards: arrival rate %.2f req/s (intended %g)", n, achieved, rate)
	if math.Abs(achieved-rate)/rate > 0.01 {
		t.Errorf("merged arrival rate %.1f req/s, intended %g (more than 1%% off)", achieved, rate)
	}

	// A second run of another scenario, with one shard killed mid-run.
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, []byte("name: shards\nbase_url: "+srv.URL+"\nendpoints:\n  - {name: fast, path: /other}\n"), 0o644)
	c2 := jobFor(t, bin, 2, other, "--rate", "200", "--duration", "3s", "--concurrency", "4", "--rounds", "1")
	procs = startShards(t, bin, c2, 2, other)
	time.Sleep(3500 * time.Millisecond) // past the start
	procs[1].cmd.Process.Kill()
	procs[1].cmd.Wait()
	if err := procs[0].cmd.Wait(); err != nil {
		t.Fatalf("shard 0: %v\n%s", err, procs[0].stderr.String())
	}
	kept := filepath.Join(dir, "other-0.log")
	os.WriteFile(kept, procs[0].stdout.Bytes(), 0o644)
	killed := filepath.Join(dir, "other-1.log") // what kubectl logs gives for a killed pod
	os.WriteFile(killed, procs[1].stdout.Bytes(), 0o644)
	if code, _, stderr := runMerge(t, bin, kept, killed); code != 2 || !strings.Contains(stderr, killed) {
		t.Errorf("merge with a killed shard's log: exit %d, stderr %q; want 2 naming %s", code, stderr, killed)
	}
	code, m, stderr = runMerge(t, bin, kept)
	if code != 3 || !slices.Equal(m.Merge.Missing, []int{1}) || !m.Results.Partial || !strings.Contains(stderr, "shard(s) 1 of 2 missing") {
		t.Errorf("merge without the killed shard: exit %d, missing %v, partial %v, stderr %q", code, m.Merge.Missing, m.Results.Partial, stderr)
	}
	if code, _, stderr := runMerge(t, bin, files[0], kept); code != 2 || !strings.Contains(stderr, "another scenario") || !strings.Contains(stderr, kept) {
		t.Errorf("shards of different scenarios: exit %d, stderr %q; want 2 naming %s", code, stderr, kept)
	}
}
