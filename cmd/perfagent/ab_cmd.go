package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/bench/ab"
	"github.com/perfagent/perfagent/results"
)

// abFlags are the bench flags the A/B mode (--against) uses.
type abFlags struct {
	ref              string
	rounds           textFlag // --rounds, shared with the api suite
	alpha, threshold float64
	json             bool
	root             string
	gate             bench.CompareOptions // from --alpha and --threshold
}

// abFlagNames are the flags that mean something with --against; any other
// bench flag given with it is refused rather than ignored.
var abFlagNames = map[string]bool{"against": true, "rounds": true, "alpha": true, "threshold": true, "json": true, "out": true}

// benchAgainst is `perfagent bench --against REF -- go test ...`: package
// bench/ab builds and runs both sides; this checks the flags, prints the
// comparison and returns the exit code (1 on a regression, 2 on bad input,
// 3 when a build or run failed).
func benchAgainst(e *env, fs *flag.FlagSet, args []string, o abFlags) int {
	const name = "bench"
	var extra []string
	fs.Visit(func(f *flag.Flag) {
		if !abFlagNames[f.Name] {
			extra = append(extra, "--"+f.Name)
		}
	})
	if len(extra) > 0 {
		return usageErr(e, name, "--against cannot be combined with %s", strings.Join(extra, ", "))
	}
	var rest, tail []string
	rest = args
	for i, a := range args {
		if a == "--" {
			rest, tail = args[:i], args[i+1:]
			break
		}
	}
	if len(rest) > 0 {
		return usageErr(e, name, "--against takes no suite (%q): give the benchmarks as -- go test [flags] [packages]", rest[0])
	}
	if len(tail) < 2 || filepath.Base(tail[0]) != "go" || tail[1] != "test" {
		return usageErr(e, name, "--against needs the benchmarks after --: -- go test -run '^$' -bench . ./pkg/...")
	}
	rounds := ab.DefaultRounds
	if o.rounds.set {
		n, err := strconv.Atoi(o.rounds.s)
		if err != nil || n < 2 || n > bench.MaxRounds {
			return usageErr(e, name, "--rounds %s: with --against, a count of runs per side between 2 and %d", o.rounds.s, bench.MaxRounds)
		}
		rounds = n
	}
	if err := checkGateFlags(o.alpha, o.threshold); err != nil {
		return usageErr(e, name, "%v", err)
	}
	out, err := ab.Run(e.ctx, ab.Config{
		Ref: o.ref, GoTest: tail[2:], Go: tail[0], Rounds: rounds,
		Compare:   o.gate,
		OutputDir: benchDir(o.root), Log: e.stderr,
	})
	switch {
	case errors.Is(err, ab.ErrInput):
		return inputErr(e, name, err)
	case err != nil:
		return runErr(e, name, err)
	}
	cmp := out.Comparison
	if o.json {
		err = printJSON(e.stdout, struct {
			Ref        string            `json:"ref"`
			BaseCommit string            `json:"base_commit"`
			Base       *results.Run      `json:"base"`
			Head       *results.Run      `json:"head"`
			Comparison *bench.Comparison `json:"comparison"`
			Files      []string          `json:"files"`
		}{out.Ref, out.BaseCommit, out.Base, out.Head, cmp, out.Files})
	} else {
		fmt.Fprintf(e.stdout, "A/B in one session: %s (%.12s) as baseline, the working tree as current; %d runs per side, order A B B A ...\n", out.Ref, out.BaseCommit, rounds)
		if err = cmp.WriteText(e.stdout); err == nil {
			_, err = fmt.Fprintf(e.stdout, "\nresults: %s\n", strings.Join(out.Files, "\n         "))
		}
	}
	if err != nil {
		return runErr(e, name, err)
	}
	if cmp.Failed() {
		fmt.Fprintf(e.stderr, "perfagent bench: %d significant regression(s) against %s beyond %.0f%% (%d gated row(s), family-wise α=%g)\n",
			len(cmp.Regressions()), o.ref, 100*cmp.Threshold, cmp.Gated, cmp.Alpha)
		return exitFailed
	}
	return exitOK
}
