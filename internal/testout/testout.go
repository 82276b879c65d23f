// Package testout keeps the files agents write during tests out of the
// source tree: test binaries call [Redirect] from TestMain, so agents
// started without an output directory (and child processes inheriting the
// environment) write under a temporary directory instead of ./perf in the
// package directory.
package testout

import "os"

// Env is the variable agents read their output root from.
const Env = "PERFAGENT_OUTPUT_DIR"

// Redirect points Env at a new temporary directory unless it is already
// set, and returns a function that removes that directory. It never
// fails: when no temporary directory can be made, Env is left alone.
func Redirect() (cleanup func()) {
	if os.Getenv(Env) != "" {
		return func() {}
	}
	dir, err := os.MkdirTemp("", "perfagent-test-output-")
	if err != nil {
		return func() {}
	}
	os.Setenv(Env, dir)
	return func() {
		os.Unsetenv(Env)
		os.RemoveAll(dir)
	}
}
