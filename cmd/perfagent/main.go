package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit codes (DESIGN.md, CLI contract).
const (
	exitOK       = 0 // success
	exitFailed   = 1 // a budget or regression check failed
	exitUsage    = 2 // usage or input error
	exitRunError = 3 // the run itself failed
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what every command gets: its arguments, its output streams, and
// the process environment (injectable for tests).
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// last is written to stdout after the command's own output: a shard's
	// result line (bench api --shard-result -).
	last *bytes.Buffer
}

// command is one subcommand: a usage line, a description, examples, and
// a function returning an exit code.
type command struct {
	name     string
	args     string // argument synopsis after the flags
	summary  string
	examples []string
	run      func(e *env, args []string) int
}

func commands() []command {
	return []command{
		benchCommand(),
		mergeCommand(),
		k8sJobCommand(),
		baselineCommand(),
		compareCommand(),
		reportCommand(),
		checkCommand(),
		pageCommand(),
		monitorCommand(),
		demoCommand(),
		versionCommand(),
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(&env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: os.Getenv}, args)
}

func runEnv(e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			if c, ok := findCommand(args[1]); ok {
				return c.run(e, []string{"--help"})
			}
		}
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == systemRoundCommand {
		return systemRound(e)
	}
	c, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(e.stderr, "perfagent: unknown command %q (run 'perfagent help' for the list)\n", args[0])
		return exitUsage
	}
	if e.last == nil {
		e.last = &bytes.Buffer{}
	}
	code := c.run(e, args[1:])
	_, _ = e.stdout.Write(e.last.Bytes())
	return code
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "perfagent: performance monitoring, profiling and benchmarking for Go services")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: perfagent <command> [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'perfagent <command> --help' for a command's flags and examples.")
	fmt.Fprintln(w, "Exit status: 0 ok, 1 a budget or regression check failed, 2 usage or input error, 3 the run failed.")
}

// newFlags returns a flag set for c whose usage prints c's synopsis, flags
// and examples.
func newFlags(e *env, c command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: perfagent %s [flags] %s\n\n%s\n", c.name, c.args, c.summary)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
		if len(c.examples) > 0 {
			fmt.Fprintln(w, "\nexamples:")
			for _, ex := range c.examples {
				fmt.Fprintln(w, "  "+ex)
			}
		}
	}
	return fs
}

// parse parses flags, which may come before or after positional
// arguments ("perfagent bench api --quick"); everything after "--" is
// passed through untouched. It returns the positional arguments (followed
// by "--" and the rest when "--" was given), or (nil, code, false) when the
// command must stop: --help (0, printed to stdout) or a bad flag (2).
func parse(e *env, fs *flag.FlagSet, args []string) ([]string, int, bool) {
	head, tail := args, []string(nil)
	for i, a := range args {
		if a == "--" {
			head, tail = args[:i], args[i:]
			break
		}
	}
	for _, a := range head {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return nil, exitOK, false
		}
	}
	var pos []string
	for {
		if err := fs.Parse(head); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		head = fs.Args()
		if len(head) == 0 {
			break
		}
		pos = append(pos, head[0])
		head = head[1:]
	}
	return append(pos, tail...), 0, true
}

// usageErr prints a one-line usage error naming the command and returns 2.
func usageErr(e *env, cmd, format string, a ...any) int {
	fmt.Fprintf(e.stderr, "perfagent %s: %s\n", cmd, fmt.Sprintf(format, a...))
	return exitUsage
}

// runErr prints a one-line run error and returns 3.
func runErr(e *env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "perfagent %s: %v\n", cmd, err)
	return exitRunError
}

// inputErr prints a one-line input error (bad file, bad value) and returns 2.
func inputErr(e *env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "perfagent %s: %v\n", cmd, err)
	return exitUsage
}

// checkGateFlags validates --alpha and --threshold: finite, alpha strictly
// between 0 and 1, threshold between 0 and 10 (1000%).
func checkGateFlags(alpha, threshold float64) error {
	switch {
	case math.IsNaN(alpha) || alpha <= 0 || alpha >= 1:
		return fmt.Errorf("--alpha %v: must be a number strictly between 0 and 1", alpha)
	case math.IsNaN(threshold) || threshold < 0 || threshold > 10:
		return fmt.Errorf("--threshold %v: must be a number between 0 and 10 (0.05 = 5%%)", threshold)
	}
	return nil
}

// files returns the positional arguments of a command that takes no
// pass-through command: a "--" separator is dropped (so "compare -- a b"
// compares a and b).
func files(args []string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		if a != "--" {
			out = append(out, a)
		}
	}
	return out
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
