package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the committed files from the generator")

// TestCommittedFilesUpToDate fails when a committed dashboard or rules file
// differs from what the generator writes with the default parameters.
func TestCommittedFilesUpToDate(t *testing.T) {
	files, err := generate(DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		path := filepath.Join("..", name)
		if *update {
			if err := writeFile(path, want); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run: cd deploy && go generate ./...)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/%s differs from the generator's output; run: cd deploy && go generate ./... (or go test ./gen -update)", name)
		}
	}
	// No stale generated file: every dashboard in grafana/ is generated.
	entries, err := os.ReadDir(filepath.Join("..", "grafana"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := files["grafana/"+e.Name()]; !ok && strings.HasSuffix(e.Name(), ".json") {
			t.Errorf("deploy/grafana/%s is not generated any more; delete it", e.Name())
		}
	}
}

// TestDashboards checks what Grafana needs of each dashboard: a unique uid,
// unique panel ids, every query on the data source variable and selecting
// the job and instance variables.
func TestDashboards(t *testing.T) {
	uids := map[string]bool{}
	for _, b := range boards() {
		js, err := dashboardJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Panels []struct {
				ID      int    `json:"id"`
				Type    string `json:"type"`
				Title   string `json:"title"`
				Targets []struct {
					Expr       string `json:"expr"`
					RefID      string `json:"refId"`
					Datasource struct {
						UID string `json:"uid"`
					} `json:"datasource"`
				} `json:"targets"`
			} `json:"panels"`
			Templating struct {
				List []struct {
					Name string `json:"name"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(js, &d); err != nil {
			t.Fatal(err)
		}
		if uids[d.UID] || d.UID == "" {
			t.Errorf("uid %q empty or used twice", d.UID)
		}
		uids[d.UID] = true
		var vars []string
		for _, v := range d.Templating.List {
			vars = append(vars, v.Name)
		}
		if got := strings.Join(vars, ","); got != "datasource,service,job,instance" {
			t.Errorf("%s: variables %s", d.UID, got)
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: panel %q id %d zero or used twice", d.UID, p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", d.UID, p.Title)
			}
			for _, q := range p.Targets {
				if q.Datasource.UID != "${datasource}" {
					t.Errorf("%s: %q query %s: data source %q", d.UID, p.Title, q.RefID, q.Datasource.UID)
				}
				if !strings.Contains(q.Expr, sel) {
					t.Errorf("%s: %q query %s does not select the job and instance variables: %s", d.UID, p.Title, q.RefID, q.Expr)
				}
			}
		}
	}
}

func TestParams(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-rate-window=0s"}, "-rate-window"},
		{[]string{"-memory-limit-ratio=1.5"}, "-memory-limit-ratio"},
		{[]string{"-heap-leak-min-rate=0"}, "-heap-leak-min-rate"},
		{[]string{"-operator-labels=nolabel"}, "-operator-labels"},
		{[]string{"-leak-for=-1m"}, "-leak-for"},
	} {
		p := DefaultParams()
		fs := flag.NewFlagSet("gen", flag.ContinueOnError)
		p.Flags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want+" ") {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 500 * time.Millisecond: "500ms", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m", 26 * time.Hour: "1d2h",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestParamsReachRules checks that flags change the rules and only them.
func TestParamsReachRules(t *testing.T) {
	p := DefaultParams()
	p.LeakFor, p.SchedLatencyP99 = 5*time.Second, 0.02
	files, err := generate(p)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := generate(DefaultParams())
	rules := string(files["prometheus/perfagent-rules.yml"])
	for _, want := range []string{"for: 5s", `{quantile="0.99"} > 0.02`} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %q", want)
		}
	}
	for name := range files {
		if strings.HasPrefix(name, "grafana/") && !bytes.Equal(files[name], def[name]) {
			t.Errorf("%s depends on the rule parameters", name)
		}
	}
}

func TestRunBadFlag(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-gc-cpu-ratio=0", "-out", t.TempDir()}, &stderr); code != 2 || !strings.Contains(stderr.String(), "-gc-cpu-ratio") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	dir := t.TempDir()
	if code := run([]string{"-out", dir}, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "grafana", "perfagent-leaks.json")); err != nil {
		t.Error(err)
	}
}

// TestDashboardSchema reads each committed dashboard back with the SDK's
// strict decoder and validator: an unknown field or a value the dashboard
// schema forbids fails here rather than at import.
func TestDashboardSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, b := range boards() {
		data, err := os.ReadFile(filepath.Join("..", "grafana", b.File))
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard.Dashboard
		// Note: the SDK returns an empty cog.BuildErrors, not nil, on success.
		if err := d.UnmarshalJSONStrict(data); err != nil && err.Error() != "" {
			t.Errorf("%s: %v", b.File, err)
			continue
		}
		if err := d.Validate(); err != nil && err.Error() != "" {
			t.Errorf("%s: %v", b.File, err)
		}
	}
}

// TestPrometheusRuleMatchesRulesFile checks that the manifest's spec holds
// exactly the rules file's groups.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	p := DefaultParams()
	manifest := prometheusRule(p)
	_, spec, ok := strings.Cut(manifest, "\nspec:\n")
	if !ok {
		t.Fatal("no spec in the manifest")
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(spec, "\n"), "\n") {
		if !strings.HasPrefix(l, "  ") {
			t.Fatalf("spec line not indented: %q", l)
		}
		lines = append(lines, l[2:])
	}
	if got, want := strings.Join(lines, "\n")+"\n", strings.TrimPrefix(rulesFile(p), header); got != want {
		t.Error("the PrometheusRule spec differs from the rules file")
	}
	for _, want := range []string{"apiVersion: monitoring.coreos.com/v1\n", "kind: PrometheusRule\n", "    app.kubernetes.io/name: 'perfagent'\n"} {
		if !strings.Contains(manifest, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
}
