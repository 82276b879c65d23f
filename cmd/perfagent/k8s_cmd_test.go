package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// k8sDocs decodes the YAML documents k8s-job wrote.
func k8sDocs(t *testing.T, out string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(out))
	var docs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("k8s-job wrote invalid YAML: %v\n%s", err, out)
		}
		docs = append(docs, d)
	}
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func TestK8sJobWritesIndexedJob(t *testing.T) {
	dir := t.TempDir()
	scen := filepath.Join(dir, "api.yaml")
	os.WriteFile(scen, []byte("name: shop\nbase_url: http://api.shop:8080\nendpoints:\n  - {name: health, path: /health}\n"), 0o644)
	before := time.Now()
	code, out, errb := cli(t, nil, "k8s-job", "--name", "load", "--shards", "5", "--image", "registry.example/perfagent:v1", "--lead", "90s",
		"--cpu", "500m", "--memory", "1Gi", "--", "--scenario", scen, "--rate", "1000", "--duration", "2m", "--concurrency", "50")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errb)
	}
	docs := k8sDocs(t, out)
	if len(docs) != 2 || docs[0]["kind"] != "Secret" || docs[1]["kind"] != "Job" {
		t.Fatalf("want a Secret and a Job, got %d documents", len(docs))
	}
	if !strings.Contains(dig(docs[0], "stringData", "scenario.yaml").(string), "base_url: http://api.shop:8080") {
		t.Errorf("the Secret does not carry the scenario")
	}
	job := docs[1]
	if dig(job, "spec", "completionMode") != "Indexed" || dig(job, "spec", "completions") != 5 || dig(job, "spec", "parallelism") != 5 {
		t.Errorf("job spec %v", dig(job, "spec"))
	}
	c := dig(job, "spec", "template", "spec", "containers", 0)
	if dig(c, "image") != "registry.example/perfagent:v1" || dig(c, "resources", "requests", "cpu") != "500m" || dig(c, "resources", "requests", "memory") != "1Gi" {
		t.Errorf("container %v", c)
	}
	var args []string
	for _, a := range dig(c, "args").([]any) {
		args = append(args, a.(string))
	}
	i := slices.Index(args, "--start-at")
	if i < 0 || !slices.Contains(args, "--shard-result") || args[slices.Index(args, "--shard-result")+1] != "-" ||
		args[slices.Index(args, "--scenario")+1] != "/etc/perfagent/scenario.yaml" || slices.Contains(args, scen) {
		t.Fatalf("pod args %q", args)
	}
	start, err := time.Parse(time.RFC3339, args[i+1])
	if err != nil || start.Before(before.Add(90*time.Second)) || start.After(time.Now().Add(92*time.Second)) {
		t.Errorf("start-at %q (%v), want 90s after %v", args[i+1], err, before)
	}
	// The pod's own command line parses as bench api's.
	var ao apiOptions
	fs := newFlags(&env{stderr: io.Discard}, command{name: "bench"})
	ao.flags(fs)
	fs.Bool("no-baseline", false, "")
	fs.String("out", "", "")
	if err := fs.Parse(args[2:]); err != nil || fs.NArg() != 0 {
		t.Errorf("pod args do not parse as bench api flags: %v %q", err, fs.Args())
	}
}

func TestK8sJobBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shards", "2", "--image", "i"}, "--name is required"},
		{[]string{"--name", "Load_1", "--shards", "2", "--image", "i"}, `--name "Load_1"`},
		{[]string{"--name", "l", "--shards", "0", "--image", "i"}, "--shards 0"},
		{[]string{"--name", "l", "--shards", "2"}, "--image is required"},
		{[]string{"--name", "l", "--shards", "2", "--image", "i", "--cpu", "lots"}, `--cpu "lots"`},
		{[]string{"--name", "l", "--shards", "2", "--image", "i", "--start-at", "2001-01-01T00:00:00Z", "--", "--url", "http://a"}, "not in the future"},
		{[]string{"--name", "l", "--shards", "2", "--image", "i", "--", "--rate", "10"}, "give --url or a --scenario"},
		{[]string{"--name", "l", "--shards", "2", "--image", "i", "--", "--url", "http://a", "--shard", "1"}, "--shard is set by the Job"},
		{[]string{"--name", "l", "--shards", "20", "--image", "i", "--", "--url", "http://a"}, "more shards than connections"},
		{[]string{"--name", "l", "--shards", "2", "--image", "i", "--", "--url", "http://a", "--rate", "fast"}, `--rate: invalid value "fast"`},
	} {
		code, out, errb := cli(t, nil, append([]string{"k8s-job"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errb, c.want) || out != "" || bytes.Count([]byte(strings.TrimSpace(errb)), []byte("\n")) != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", c.args, code, errb, c.want)
		}
	}
}
