package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/results"
)

// Paths inside a load generator pod.
const (
	k8sOutDir       = "/perf"
	k8sScenarioDir  = "/etc/perfagent"
	k8sScenarioFile = "scenario.yaml"
)

// k8sJobOptions are the flags of k8s-job.
type k8sJobOptions struct {
	name, namespace, image, output string
	cpu, memory                    string
	lead                           time.Duration
	shards                         int
	startAt                        string
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	quantity = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
)

func k8sJobCommand() command {
	c := command{
		name: "k8s-job",
		args: "-- [bench api flags]",
		summary: "Write a Kubernetes batch/v1 Indexed Job that runs a sharded API benchmark: N pods, each 'bench api --shards N' with its " +
			"JOB_COMPLETION_INDEX, a shared --start-at a lead in the future, and its shard result as the last line of its log (then: perfagent merge).",
		examples: []string{
			"perfagent k8s-job --name load --shards 20 --image registry.example/perfagent:v1 -- --url http://api.prod:8080 --rate 20000 --duration 5m --concurrency 2000 > job.yaml",
			"perfagent k8s-job --name load --shards 4 --image perfagent:dev --lead 2m -- --scenario perf/api.yaml",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		var o k8sJobOptions
		fs.StringVar(&o.name, "name", "", "the Job's name (a DNS label, at most 52 characters); required")
		fs.StringVar(&o.namespace, "namespace", "", "the Job's namespace (default: kubectl's)")
		fs.StringVar(&o.image, "image", "", "the container image holding the perfagent binary (see the Dockerfile); required")
		fs.IntVar(&o.shards, "shards", 0, fmt.Sprintf("pods (shards), 1 to %d; required", load.MaxShards))
		fs.DurationVar(&o.lead, "lead", time.Minute, "start the measured phase this long after the Job is written (time to apply it, schedule and pull), 1s to 24h")
		fs.StringVar(&o.startAt, "start-at", "", "start the measured phase at this RFC 3339 time instead of --lead")
		fs.StringVar(&o.cpu, "cpu", "1", "CPU request of each pod (a Kubernetes quantity: 1, 500m)")
		fs.StringVar(&o.memory, "memory", "512Mi", "memory request and limit of each pod (a Kubernetes quantity: 512Mi, 2Gi)")
		fs.StringVar(&o.output, "output", "", "write the YAML to this file (default stdout)")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		var pass []string
		for i, a := range args {
			if a == "--" {
				pass = args[i+1:]
				args = args[:i]
				break
			}
		}
		if len(args) > 0 {
			return usageErr(e, c.name, "unexpected argument %q (bench api flags go after --)", args[0])
		}
		doc, err := o.build(e, pass, time.Now())
		if err != nil {
			return usageErr(e, c.name, "%v", err)
		}
		if o.output == "" {
			_, _ = e.stdout.Write(doc)
			return exitOK
		}
		if err := results.WriteFileAtomic(o.output, func(w io.Writer) error { _, err := w.Write(doc); return err }); err != nil {
			return runErr(e, c.name, fmt.Errorf("--output: %w", err))
		}
		fmt.Fprintf(e.stderr, "wrote %s\n", o.output)
		return exitOK
	}
	return c
}

// build checks the flags and the bench api flags and returns the YAML
// documents: a Secret with the scenario when --scenario was given (a
// scenario may hold credentials),
// then the Job.
func (o *k8sJobOptions) build(e *env, pass []string, now time.Time) ([]byte, error) {
	switch {
	case o.name == "":
		return nil, errors.New("--name is required")
	case len(o.name) > 52 || !dnsLabel.MatchString(o.name):
		return nil, fmt.Errorf("--name %q: must be a DNS label of at most 52 characters (lower case letters, digits, '-')", o.name)
	case o.namespace != "" && (len(o.namespace) > 63 || !dnsLabel.MatchString(o.namespace)):
		return nil, fmt.Errorf("--namespace %q: not a DNS label", o.namespace)
	case o.image == "":
		return nil, errors.New("--image is required")
	case o.shards < 1 || o.shards > load.MaxShards:
		return nil, fmt.Errorf("--shards %d: must be between 1 and %d", o.shards, load.MaxShards)
	case !quantity.MatchString(o.cpu):
		return nil, fmt.Errorf("--cpu %q: not a Kubernetes quantity (1, 500m)", o.cpu)
	case !quantity.MatchString(o.memory):
		return nil, fmt.Errorf("--memory %q: not a Kubernetes quantity (512Mi, 2Gi)", o.memory)
	}
	start := now.Add(o.lead).Truncate(time.Second).Add(time.Second)
	if o.startAt != "" {
		t, err := time.Parse(time.RFC3339Nano, o.startAt)
		if err != nil {
			return nil, fmt.Errorf("--start-at: invalid value %q (want an RFC 3339 time such as 2026-01-02T15:04:05Z)", o.startAt)
		}
		if !t.After(now) {
			return nil, fmt.Errorf("--start-at %s: not in the future", o.startAt)
		}
		start = t
	} else if o.lead < time.Second || o.lead > 24*time.Hour {
		return nil, fmt.Errorf("--lead %v: must be between 1s and 24h", o.lead)
	}

	// The bench api flags, checked as bench api checks them.
	var ao apiOptions
	fs := flag.NewFlagSet("bench api", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ao.flags(fs)
	if err := fs.Parse(pass); err != nil {
		return nil, fmt.Errorf("bench api flags after --: %v", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("bench api flags after --: unexpected argument %q", fs.Arg(0))
	}
	for _, f := range []string{"shards", "shard", "start-at", "shard-result", "latency-log"} {
		if flagSet(fs, f) {
			return nil, fmt.Errorf("bench api flags after --: --%s is set by the Job", f)
		}
	}
	if err := ao.validate(); err != nil {
		return nil, fmt.Errorf("bench api flags after --: %v", err)
	}
	if ao.url == "" && (ao.scenarioParsed == nil || ao.scenarioParsed.BaseURL == "") {
		return nil, errors.New("bench api flags after --: give --url or a --scenario with a base_url (the pods measure a service, not a demo target of their own)")
	}
	if conc := ao.totalConcurrency(); conc < o.shards {
		return nil, fmt.Errorf("--shards %d: more shards than connections in all (--concurrency %d); each pod needs one", o.shards, conc)
	}

	podArgs := []string{"bench", "api", "--shards", strconv.Itoa(o.shards), "--start-at", start.UTC().Format(time.RFC3339Nano),
		"--shard-result", "-", "--no-baseline", "--out", k8sOutDir}
	var scenario []byte
	for i := 0; i < len(pass); i++ {
		a := pass[i]
		// The scenario file travels in a Secret.
		switch {
		case a == "--scenario" || a == "-scenario":
			i++
			continue
		case len(a) > len("--scenario=") && (a[:len("--scenario=")] == "--scenario=" || a[:len("-scenario=")] == "-scenario="):
			continue
		}
		podArgs = append(podArgs, a)
	}
	if ao.scenario != "" {
		b, err := os.ReadFile(ao.scenario)
		if err != nil {
			return nil, fmt.Errorf("--scenario: %w", err)
		}
		scenario = b
		podArgs = append(podArgs, "--scenario", k8sScenarioDir+"/"+k8sScenarioFile)
	}

	labels := map[string]string{"app.kubernetes.io/name": "perfagent-load", "app.kubernetes.io/instance": o.name}
	meta := k8sMeta{Name: o.name, Namespace: o.namespace, Labels: labels}
	mounts := []k8sMount{{Name: "out", MountPath: k8sOutDir}}
	volumes := []k8sVolume{{Name: "out", EmptyDir: &struct{}{}}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if scenario != nil {
		sec := k8sSecret{APIVersion: "v1", Kind: "Secret", Metadata: k8sMeta{Name: o.name + "-scenario", Namespace: o.namespace, Labels: labels},
			Type: "Opaque", StringData: map[string]string{k8sScenarioFile: string(scenario)}}
		if err := enc.Encode(sec); err != nil {
			return nil, err
		}
		mounts = append(mounts, k8sMount{Name: "scenario", MountPath: k8sScenarioDir, ReadOnly: true})
		volumes = append(volumes, k8sVolume{Name: "scenario", Secret: &k8sSecretRef{SecretName: sec.Metadata.Name}})
	}
	zero, n := int32(0), int32(o.shards)
	job := k8sJob{
		APIVersion: "batch/v1", Kind: "Job", Metadata: meta,
		Spec: k8sJobSpec{
			CompletionMode: "Indexed", Completions: &n, Parallelism: &n,
			// Note: a retried pod would start after the shared start and
			// measure a shorter window; a failed shard is named by merge.
			BackoffLimit: &zero,
			Template: k8sPodTemplate{
				Metadata: k8sMeta{Labels: labels, Annotations: map[string]string{"perfagent.io/start-at": start.UTC().Format(time.RFC3339Nano)}},
				Spec: k8sPodSpec{
					RestartPolicy: "Never",
					// Generators on different nodes where the cluster
					// allows: one node's network is not the bottleneck.
					TopologySpreadConstraints: []k8sSpread{{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: "ScheduleAnyway",
						LabelSelector: k8sSelector{MatchLabels: labels}}},
					Containers: []k8sContainer{{
						Name: "perfagent", Image: o.image, Args: podArgs,
						Env: []k8sEnv{{Name: "CI", Value: "1"}},
						Resources: k8sResources{
							Requests: map[string]string{"cpu": o.cpu, "memory": o.memory},
							Limits:   map[string]string{"memory": o.memory},
						},
						VolumeMounts: mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
	if err := enc.Encode(job); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "perfagent k8s-job: %d shards start measuring at %s\n", o.shards, start.UTC().Format(time.RFC3339))
	return buf.Bytes(), nil
}

// totalConcurrency is the run's connections in all: --concurrency, else
// the scenario's, else the model's default.
func (o *apiOptions) totalConcurrency() int {
	sl := load.DefaultScenario("http://127.0.0.1").Load
	if o.scenarioParsed != nil {
		sl = o.scenarioParsed.Load
	}
	switch {
	case o.concurrency > 0:
		return o.concurrency
	case sl.Concurrency > 0:
		return sl.Concurrency
	case o.rate > 0 || sl.Model == load.ModelOpen:
		return load.DefaultOpenConcurrency
	}
	return load.DefaultConcurrency
}

// The subset of the Kubernetes API the Job uses, with its field names.
type (
	k8sMeta struct {
		Name        string            `yaml:"name,omitempty"`
		Namespace   string            `yaml:"namespace,omitempty"`
		Labels      map[string]string `yaml:"labels,omitempty"`
		Annotations map[string]string `yaml:"annotations,omitempty"`
	}
	k8sSecret struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   k8sMeta           `yaml:"metadata"`
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
	}
	k8sJob struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   k8sMeta    `yaml:"metadata"`
		Spec       k8sJobSpec `yaml:"spec"`
	}
	k8sJobSpec struct {
		CompletionMode string         `yaml:"completionMode"`
		Completions    *int32         `yaml:"completions"`
		Parallelism    *int32         `yaml:"parallelism"`
		BackoffLimit   *int32         `yaml:"backoffLimit"`
		Template       k8sPodTemplate `yaml:"template"`
	}
	k8sPodTemplate struct {
		Metadata k8sMeta    `yaml:"metadata"`
		Spec     k8sPodSpec `yaml:"spec"`
	}
	k8sPodSpec struct {
		RestartPolicy             string         `yaml:"restartPolicy"`
		TopologySpreadConstraints []k8sSpread    `yaml:"topologySpreadConstraints,omitempty"`
		Containers                []k8sContainer `yaml:"containers"`
		Volumes                   []k8sVolume    `yaml:"volumes,omitempty"`
	}
	k8sSpread struct {
		MaxSkew           int32       `yaml:"maxSkew"`
		TopologyKey       string      `yaml:"topologyKey"`
		WhenUnsatisfiable string      `yaml:"whenUnsatisfiable"`
		LabelSelector     k8sSelector `yaml:"labelSelector"`
	}
	k8sSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	k8sContainer struct {
		Name         string       `yaml:"name"`
		Image        string       `yaml:"image"`
		Args         []string     `yaml:"args"`
		Env          []k8sEnv     `yaml:"env,omitempty"`
		Resources    k8sResources `yaml:"resources"`
		VolumeMounts []k8sMount   `yaml:"volumeMounts,omitempty"`
	}
	k8sEnv struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	}
	k8sResources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits,omitempty"`
	}
	k8sMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly,omitempty"`
	}
	k8sVolume struct {
		Name     string        `yaml:"name"`
		EmptyDir *struct{}     `yaml:"emptyDir,omitempty"`
		Secret   *k8sSecretRef `yaml:"secret,omitempty"`
	}
	k8sSecretRef struct {
		SecretName string `yaml:"secretName"`
	}
)
