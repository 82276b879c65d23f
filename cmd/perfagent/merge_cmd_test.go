package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfagent/perfagent/load"
	"github.com/perfagent/perfagent/results"
)

func TestShardFlagsRefused(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--shards", "0", "--shard", "0"}, "--shards 0: must be between 1"},
		{nil, []string{"--shards", "3", "--shard", "3"}, "--shard 3: outside 0..2"},
		{nil, []string{"--shards", "3", "--shard", "-1"}, "--shard -1: outside 0..2"},
		{nil, []string{"--shards", "3", "--shard", "x"}, `--shard: invalid value "x"`},
		{nil, []string{"--shards", "3"}, "give --shard 0..2 (or set JOB_COMPLETION_INDEX)"},
		{map[string]string{shardEnv: "7"}, []string{"--shards", "3"}, "JOB_COMPLETION_INDEX=7: outside 0..2"},
		{map[string]string{shardEnv: "one"}, []string{"--shards", "3"}, `JOB_COMPLETION_INDEX="one": not a shard index`},
		{nil, []string{"--shard", "1"}, "--shard and --shard-result need --shards"},
		{nil, []string{"--start-at", "tomorrow"}, `--start-at: invalid value "tomorrow"`},
		{nil, []string{"--start-at", past, "--duration", "10s"}, "in the past, more than the run's length 10s"},
		{nil, []string{"--shards", "2", "--shard", "0", "--shard-result", "-", "--json"}, "--shard-result - and --json both want stdout"},
		{nil, []string{"--shards", "11", "--shard", "0"}, "--shards 11: more shards than connections in all (--concurrency 10)"},
		{nil, []string{"--shards", "11", "--shard", "0", "--rate", "100"}, "--shards 11: more shards than connections in all (--concurrency 10)"},
		{nil, []string{"--shards", "4", "--shard", "0", "--requests", "10", "--rounds", "3"}, "--requests 10 leaves a shard without a request per round"},
	}
	for _, c := range cases {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		args := append([]string{"bench", "api", "--url", "http://127.0.0.1:9"}, c.args...)
		code, _, errb := cli(t, nil, args...)
		if code != exitUsage || !strings.Contains(errb, c.want) || strings.Count(strings.TrimSpace(errb), "\n") != 0 {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 and one line with %q", c.env, c.args, code, errb, c.want)
		}
		for k := range c.env {
			os.Unsetenv(k)
		}
	}
}

// shardRun runs one shard of a small closed-model run with the CLI and
// returns the shard result file.
func shardRun(t *testing.T, dir, url, path string, i, n int) string {
	t.Helper()
	scen := filepath.Join(dir, "api.yaml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(scen, []byte("name: t\nbase_url: http://127.0.0.1:9\nendpoints:\n  - {name: a, path: "+path+"}\n  - {name: b, path: /b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "shard.json")
	t.Setenv(shardEnv, "")
	os.Unsetenv(shardEnv)
	t.Setenv(shardEnv, string(rune('0'+i)))
	code, so, errb := cli(t, nil, "bench", "api", "--out", filepath.Join(dir, "perf"), "--url", url, "--scenario", scen, "--no-baseline",
		"--requests", "60", "--rounds", "3", "--concurrency", "4", "--shards", string(rune('0'+n)), "--shard-result", out)
	if code != exitOK {
		t.Fatalf("shard %d: exit %d\n%s\n%s", i, code, so, errb)
	}
	if !strings.Contains(so, "judged on the merged shards") {
		t.Errorf("shard %d does not say where its checks are judged:\n%s", i, so)
	}
	return out
}

func TestMergeCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	root := t.TempDir()
	var files []string
	for i := range 2 {
		dir := filepath.Join(root, "s"+string(rune('0'+i)))
		files = append(files, shardRun(t, dir, srv.URL, "/a", i, 2))
	}
	out := filepath.Join(root, "merged")
	code, so, errb := cli(t, nil, "merge", "--out", out, "--json", "--no-baseline", files[0], files[1])
	if code != exitOK {
		t.Fatalf("merge: exit %d\n%s\n%s", code, so, errb)
	}
	var doc struct {
		Results *results.Run    `json:"results"`
		Merge   *load.MergeInfo `json:"merge"`
		Verdict load.Verdict    `json:"verdict"`
		Files   []string        `json:"files"`
	}
	if err := json.Unmarshal([]byte(so), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, so)
	}
	var reqs int64
	for _, b := range doc.Results.Benchmarks {
		if !strings.Contains(b.Name, "/setup/") {
			reqs += b.Iterations
			if len(b.Samples) != 3 {
				t.Errorf("%s: %d round samples, want 3", b.Name, len(b.Samples))
			}
		}
	}
	if reqs != 60 || doc.Merge.Shards != 2 || len(doc.Merge.Merged) != 2 || !doc.Verdict.Pass {
		t.Errorf("merged %d requests, merge %+v, verdict %+v", reqs, doc.Merge, doc.Verdict)
	}
	for _, f := range doc.Files {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("merge did not write %s: %v", f, err)
		}
	}
	if len(doc.Files) != 3 || !strings.HasSuffix(doc.Files[1], ".txt") {
		t.Errorf("files %v: want results JSON, .txt and the HTML report", doc.Files)
	}

	// A missing shard: partial, named, exit 3.
	code, _, errb = cli(t, nil, "merge", "--out", out, "--no-baseline", files[1])
	if code != exitRunError || !strings.Contains(errb, "shard(s) 0 of 2 missing") {
		t.Errorf("missing shard: exit %d, stderr %q", code, errb)
	}
	// Another scenario: refused, exit 2, naming the file.
	other := shardRun(t, filepath.Join(root, "other"), srv.URL, "/other", 1, 2)
	code, _, errb = cli(t, nil, "merge", "--out", out, files[0], other)
	if code != exitUsage || !strings.Contains(errb, other) || !strings.Contains(errb, "another scenario") {
		t.Errorf("other scenario: exit %d, stderr %q", code, errb)
	}
	// A truncated file: refused, exit 2, naming the file.
	data, _ := os.ReadFile(files[1])
	trunc := filepath.Join(root, "trunc.json")
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	code, _, errb = cli(t, nil, "merge", "--out", out, files[0], trunc)
	if code != exitUsage || !strings.Contains(errb, trunc) || !strings.Contains(errb, "truncated") {
		t.Errorf("truncated file: exit %d, stderr %q", code, errb)
	}
	if code, _, errb = cli(t, nil, "merge", filepath.Join(root, "nope.json")); code != exitUsage || !strings.Contains(errb, "nope.json") {
		t.Errorf("unreadable file: exit %d, stderr %q", code, errb)
	}
}

func TestShardResultOnStdout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	dir := t.TempDir()
	scen := filepath.Join(dir, "api.yaml")
	if err := os.WriteFile(scen, []byte("base_url: http://127.0.0.1:9\nendpoints:\n  - {name: a, path: /a}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, so, errb := cli(t, nil, "bench", "api", "--out", dir, "--url", srv.URL, "--scenario", scen, "--no-baseline", "--requests", "20", "--rounds", "1",
		"--shards", "2", "--shard", "1", "--shard-result", "-")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, so, errb)
	}
	lines := strings.Split(strings.TrimRight(so, "\n"), "\n")
	sr, err := load.ReadShard(strings.NewReader(lines[len(lines)-1]), "last line")
	if err != nil || sr.Shard != 1 || sr.Shards != 2 {
		t.Fatalf("last stdout line is not the shard result: %v", err)
	}
	if len(lines) < 2 {
		t.Errorf("the summary should precede the shard result on stdout")
	}
}
