// Package ab compares the benchmarks of a git revision with those of the
// working tree in one session on one machine: the A/B mode behind
// `perfagent bench --against REF -- go test ...`.
//
// A baseline saved days ago on another machine cannot tell a code change
// from a different or busier machine; two builds measured side by side,
// interleaved, can. [Run] checks REF out in a temporary, detached git
// worktree (removed afterwards, also on error or Ctrl-C), builds the test
// binary of every listed package on both sides with `go test -c` (build flags
// such as -tags and -race apply to both), and runs the binaries alternately
// in the order A B B A A B B A ..., one round of every selected benchmark
// per run (-test.count=1), until each side has Rounds runs (10 by default).
// The ABBA order cancels a linear drift of the machine (thermal throttling, a
// neighbour starting) between the sides; tools that run the base and then
// the head (benchdiff, cob) let such drift pass for a change.
//
// Each run is one sample of each benchmark, so the n of the Mann-Whitney U
// test is the number of runs, and runs are independent processes. The two
// sides are compared with the gate of package bench ([bench.Compare]: Holm's
// correction over the gated primary rows, a family-wise α and a threshold)
// and written as results files (ab-base-<ts>.json, ab-head-<ts>.json and
// their .txt twins in Go benchmark format) that `perfagent compare` and
// benchstat read again.
//
//	out, err := ab.Run(ctx, ab.Config{
//		Ref:    "origin/main",
//		GoTest: []string{"-run", "^$", "-bench", ".", "./pkg/..."},
//	})
//	if errors.Is(err, ab.ErrInput) { /* usage: exit 2 */ }
//	if out.Regressed() { /* exit 1 */ }
//
// # Benchmarks written with perfagent's runner
//
// Every run gets the environment variables [bench.EnvEmit]=stdout and
// [bench.EnvRounds]=1, so a [bench.Runner] in the user's tests (in TestMain,
// or in a test that -run selects) prints each benchmark, one round per run,
// in Go benchmark format beside testing.B's benchmarks, without a change to
// the user's code. A Runner inside a testing.B benchmark works too with
// -benchtime 1x (testing calls the benchmark once); otherwise testing calls
// it again with a larger b.N and only the last line of each run counts.
//
// # Go test arguments
//
// [ParseGoTest] accepts build flags (-tags, -race, -gcflags, -ldflags, ...),
// the test flags -run, -bench, -benchtime, -benchmem, -cpu, -timeout,
// -short, -v, -failfast, -parallel and -skip, package patterns, and -args.
// Anything else (-count, -cpuprofile, -json, -c, -o, ...) is refused with an
// error naming it rather than passed on to measure something else than
// asked.
//
// # Concurrency
//
// Run may be called from several goroutines, but runs on one machine
// measure each other: call it once at a time.
package ab
