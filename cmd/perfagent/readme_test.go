package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var envAssign = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=\S*$`)

// readmeCommands returns the perfagent command lines shown in README.md:
// lines of ```sh blocks and indented code lines that start with
// "perfagent " or "go run ./cmd/perfagent ", without trailing comments.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	inSh, inOther := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trim, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(trim, "```"):
			if inSh {
				inSh = false
			} else {
				inOther = !inOther
			}
			continue
		}
		if inOther || (!inSh && !strings.HasPrefix(line, "    ")) {
			continue
		}
		if i := strings.Index(trim, "  #"); i >= 0 {
			trim = strings.TrimSpace(trim[:i])
		}
		// Leading VAR=value assignments stay in front of the command.
		env := ""
		for {
			f := strings.SplitN(trim, " ", 2)
			if len(f) < 2 || !envAssign.MatchString(f[0]) {
				break
			}
			env, trim = env+f[0]+" ", f[1]
		}
		switch {
		case strings.HasPrefix(trim, "perfagent "):
			cmds = append(cmds, env+strings.TrimPrefix(trim, "perfagent "))
		case strings.HasPrefix(trim, "go run ./cmd/perfagent "):
			cmds = append(cmds, env+strings.TrimPrefix(trim, "go run ./cmd/perfagent "))
		}
	}
	return cmds
}

// TestReadmeCommands runs every perfagent command the README shows, against
// the built-in demo target, so the README cannot rot. Runs are shortened
// (PERFAGENT_QUICK=1, one page load, a short monitor) and paths under perf/
// go to a temporary output root; each command must exit 0, or 1 when a
// budget or comparison legitimately fails on this machine.
func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every README command")
	}
	cmds := readmeCommands(t)
	if len(cmds) < 8 {
		t.Fatalf("found only %d commands in README.md: %q", len(cmds), cmds)
	}
	root := t.TempDir()
	srv, _, stop, err := startDemo(context.Background(), "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// Files the README's examples name.
	budgets, _ := os.ReadFile("../../examples/budgets/budgets.yaml")
	os.WriteFile(filepath.Join(root, "budgets.yaml"), budgets, 0o644)
	os.WriteFile(filepath.Join(root, "api.yaml"), []byte("name: shop\nbase_url: "+srv.URL()+"\nendpoints:\n  - {name: health, path: /health, category: health}\n"), 0o644)

	vars := map[string]string{"PERFAGENT_OUTPUT_DIR": root, "PERFAGENT_QUICK": "1"}
	tsFile := regexp.MustCompile(`perf/benchmarks/benchmark-\d{8}T\d{6}(?:\.\d{3})?Z\.json`)
	for _, line := range cmds {
		line = strings.ReplaceAll(line, "http://127.0.0.1:8080", srv.URL())
		line = strings.ReplaceAll(line, "--pid 4242", "--pid "+strconv.Itoa(os.Getpid()))
		cmdVars := maps.Clone(vars)
		for { // VAR=value prefixes, as a shell would take them
			f := strings.SplitN(line, " ", 2)
			if len(f) < 2 || !envAssign.MatchString(f[0]) {
				break
			}
			k, v, _ := strings.Cut(f[0], "=")
			cmdVars[k], line = v, f[1]
		}
		if i := strings.Index(line, " > "); i >= 0 {
			line = line[:i] // output redirection
		}
		if m := tsFile.FindString(line); m != "" {
			latest, err := latestResults(root)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			line = strings.ReplaceAll(line, m, latest)
		}
		line = strings.ReplaceAll(line, "perf/", root+"/")
		args := strings.Fields(line)
		if len(args) == 0 {
			continue
		}
		for i, a := range args {
			a = strings.Trim(a, "'") // shell quoting
			args[i] = a
			switch ext := filepath.Ext(a); {
			case strings.HasPrefix(a, "./"): // repository paths (packages)
				args[i] = "../../" + a[2:]
			case strings.HasPrefix(a, "examples/"): // repository paths
				args[i] = filepath.Join("..", "..", a)
			case (ext == ".yaml" || ext == ".json") && !strings.Contains(a, "/"): // example files live in the output root
				args[i] = filepath.Join(root, a)
			}
		}
		switch args[0] {
		case "page":
			args = append(args[:1], append([]string{"--runs", "1", "--quiet-window", "300ms"}, args[1:]...)...)
		case "monitor": // a 1 s run instead of the presets
			args = slices.DeleteFunc(args, func(a string) bool { return a == "--quick" || a == "--extended" })
			args = append(args, "--duration", "1s", "--interval", "250ms")
		case "demo":
			args = append(args, "--addr", "127.0.0.1:0", "--duration", "200ms")
		case "bench":
			if len(args) > 1 && args[1] == "api" {
				args = append(args, "--duration", "1s")
			}
		}
		t.Run(line, func(t *testing.T) {
			code, out, errb := cli(t, cmdVars, args...)
			if code != exitOK && code != exitFailed {
				t.Errorf("perfagent %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errb)
			}
		})
	}
}
