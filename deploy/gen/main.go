// Command gen writes perfagent's operations kit: the Grafana dashboards
// (deploy/grafana/*.json, built with the Grafana Foundation SDK), the
// Prometheus recording and alerting rules (deploy/prometheus/perfagent-rules.yml)
// and the same rules as a Prometheus Operator PrometheusRule
// (deploy/prometheus/perfagent-prometheusrule.yaml).
//
// The committed files are its output with the default parameters; a test in
// this module fails when they differ. Regenerate them from the repository
// root with
//
//	cd deploy && go generate ./...    # or: cd deploy && go run ./gen -out .
//
// Every threshold, window and for: duration of the rules is a flag, so a
// calibrated copy for one service is
//
//	cd deploy && go run ./gen -out /tmp/ops -sched-latency-p99=0.02 -leak-for=1h
//
// The dashboards do not depend on the flags. The generator needs only the
// SDK, which lives in this module's go.mod, never in the library's.
package main

//go:generate go run . -out ..

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := DefaultParams()
	p.Flags(fs)
	out := fs.String("out", ".", "directory holding grafana/ and prometheus/ (the deploy directory)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := p.Validate(); err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 2
	}
	files, err := generate(p)
	if err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	for name, data := range files {
		path := filepath.Join(*out, name)
		if err := writeFile(path, data); err != nil {
			fmt.Fprintf(stderr, "gen: -out %s: %v\n", *out, err)
			return 1
		}
	}
	return 0
}

// generate returns every output file by its path under the deploy directory.
func generate(p Params) (map[string][]byte, error) {
	files := map[string][]byte{
		"prometheus/perfagent-rules.yml":           []byte(rulesFile(p)),
		"prometheus/perfagent-prometheusrule.yaml": []byte(prometheusRule(p)),
	}
	var errs []error
	for _, b := range boards() {
		js, err := dashboardJSON(b)
		errs = append(errs, err)
		files["grafana/"+b.File] = js
	}
	return files, errors.Join(errs...)
}

// writeFile writes data to path through a temporary file and a rename.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
