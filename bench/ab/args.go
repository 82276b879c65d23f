package ab

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultBenchtime is the -benchtime of each run when the go test arguments
// give none, as for go test itself.
const DefaultBenchtime = "1s"

// DefaultTimeout is the -test.timeout of each run when the go test arguments
// give none, as go test sets it.
const DefaultTimeout = 10 * time.Minute

// Plan is a `go test` command line taken apart: what builds the test
// binaries and what each run of them gets.
type Plan struct {
	// BuildFlags go to `go test -c` on both sides (-tags, -race, -gcflags,
	// ...), in the order given.
	BuildFlags []string
	// Packages are the package patterns, "." when none was given.
	Packages []string
	// Run and Bench are the -run and -bench patterns: Run defaults to "^$"
	// (no tests; a test or TestMain that runs a perfagent bench.Runner needs
	// a -run that selects it), Bench to "" (no testing.B benchmark, as for
	// go test).
	Run, Bench string
	// Benchtime is -benchtime, default [DefaultBenchtime].
	Benchtime string
	// TestFlags are the other test flags for every run, already spelled as
	// test binary flags (-test.cpu=1,2), followed by the arguments after
	// -args.
	TestFlags []string
}

// flagKind says how a go test flag is handled.
type flagKind int

const (
	buildValue flagKind = iota // a build flag with a value: passed to go test -c
	buildBool                  // a boolean build flag
	testValue                  // a test flag with a value: passed to each run as -test.X
	testBool                   // a boolean test flag
)

// goTestFlags are the go test flags the A/B mode honours; every other flag
// is refused by name, since passing it on blindly could measure something
// else than asked (-count, -cpuprofile, -json, -c, -o, ...).
var goTestFlags = map[string]flagKind{
	"tags": buildValue, "gcflags": buildValue, "ldflags": buildValue, "asmflags": buildValue,
	"gccgoflags": buildValue, "mod": buildValue, "pgo": buildValue, "buildvcs": buildValue,
	"p": buildValue, "covermode": buildValue, "coverpkg": buildValue, "vet": buildValue,
	"race": buildBool, "msan": buildBool, "asan": buildBool, "trimpath": buildBool,
	"cover": buildBool, "a": buildBool, "x": buildBool, "modcacherw": buildBool,

	"run": testValue, "bench": testValue, "benchtime": testValue, "cpu": testValue,
	"timeout": testValue, "parallel": testValue, "skip": testValue,
	"benchmem": testBool, "short": testBool, "v": testBool, "failfast": testBool,
}

// refusedWhy explains refused flags that users are likely to give.
var refusedWhy = map[string]string{
	"count": "the rounds are the count (use --rounds)",
	"c":     "the A/B mode builds the test binaries itself",
	"o":     "the A/B mode builds the test binaries itself",
	"json":  "the A/B mode reads the benchmark lines itself (use perfagent's --json)",
	"exec":  "the test binaries run directly",
}

// ParseGoTest takes apart the arguments of `go test` (everything after "go
// test"): flags in any of go's spellings (-bench=., -bench ., --bench .,
// -test.bench .), package patterns, and -args followed by arguments for the
// test binaries. Flags the A/B mode cannot honour are refused with an error
// naming them.
func ParseGoTest(args []string) (*Plan, error) {
	p := &Plan{Run: "^$", Benchtime: DefaultBenchtime}
	var refused []string
	timeout := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--args" {
			p.TestFlags = append(p.TestFlags, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			p.Packages = append(p.Packages, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		name = strings.TrimPrefix(name, "test.")
		kind, ok := goTestFlags[name]
		if !ok {
			why := "not supported by the A/B mode"
			if w, ok := refusedWhy[name]; ok {
				why = w
			}
			refused = append(refused, fmt.Sprintf("-%s (%s)", name, why))
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && looksLikeValue(name) {
				i++ // skip the value, so it is not taken for a package
			}
			continue
		}
		if (kind == buildValue || kind == testValue) && !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("go test flag -%s needs a value", name)
			}
			i++
			value = args[i]
		}
		switch kind {
		case buildValue:
			p.BuildFlags = append(p.BuildFlags, "-"+name+"="+value)
		case buildBool:
			p.BuildFlags = append(p.BuildFlags, "-"+name+boolSuffix(hasValue, value))
		case testValue:
			switch name {
			case "run":
				p.Run = value
			case "bench":
				p.Bench = value
			case "benchtime":
				p.Benchtime = value
			case "timeout":
				timeout = value
			default:
				p.TestFlags = append(p.TestFlags, "-test."+name+"="+value)
			}
		case testBool:
			if name != "benchmem" { // always on
				p.TestFlags = append(p.TestFlags, "-test."+name+boolSuffix(hasValue, value))
			}
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("go test flags the A/B mode cannot honour: %s", strings.Join(refused, ", "))
	}
	if timeout == "" {
		timeout = DefaultTimeout.String()
	}
	p.TestFlags = slices.Insert(p.TestFlags, 0, "-test.timeout="+timeout)
	if len(p.Packages) == 0 {
		p.Packages = []string{"."}
	}
	return p, nil
}

// RunArgs returns the arguments of one run of a test binary: one round
// (-test.count=1) of the selected benchmarks with -test.benchmem.
func (p *Plan) RunArgs() []string {
	args := []string{"-test.run=" + p.Run, "-test.count=1", "-test.benchmem"}
	if p.Bench != "" {
		args = append(args, "-test.bench="+p.Bench, "-test.benchtime="+p.Benchtime)
	}
	return append(args, p.TestFlags...)
}

func boolSuffix(hasValue bool, value string) string {
	if hasValue {
		return "=" + value
	}
	return ""
}

// looksLikeValue reports whether a refused flag takes a value (so the next
// argument is its value, not a package).
func looksLikeValue(name string) bool {
	switch name {
	case "count", "o", "exec", "cpuprofile", "memprofile", "blockprofile", "mutexprofile", "trace",
		"coverprofile", "outputdir", "fuzz", "fuzztime", "fuzzminimizetime", "list", "shuffle",
		"memprofilerate", "blockprofilerate", "mutexprofilefraction", "overlay", "modfile", "toolexec",
		"compiler", "installsuffix", "buildmode", "pkgdir", "C":
		return true
	}
	return false
}
