package results

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

// CurrentEnvironment describes this process: Go version, GOOS/GOARCH, CPU
// model (from /proc/cpuinfo on Linux, empty elsewhere or when unreadable),
// NumCPU, GOMAXPROCS, hostname and, when the binary was built with VCS
// stamping (go build -buildvcs, the default in a repository), the revision and
// whether the tree was modified. It reads files and build info on every call;
// it does not fail: unknown fields stay empty.
func CurrentEnvironment() Environment {
	env := Environment{
		GoVersion:  runtime.Version(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		CPU:        cpuModel(),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	env.Hostname, _ = os.Hostname()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				env.Revision = s.Value
			case "vcs.modified":
				env.Modified = s.Value == "true"
			}
		}
	}
	return env
}

// Diff lists the fields that differ between two environments and change
// performance, as "field: a vs b" strings (a is the receiver). Fields unknown
// on either side are not compared.
func (a Environment) Diff(b Environment) []string {
	var out []string
	add := func(field, x, y string) {
		if x != y && x != "" && y != "" {
			out = append(out, field+": "+x+" vs "+y)
		}
	}
	add("go version", a.GoVersion, b.GoVersion)
	add("GOOS", a.GOOS, b.GOOS)
	add("GOARCH", a.GOARCH, b.GOARCH)
	add("cpu", a.CPU, b.CPU)
	if a.GOMAXPROCS != 0 && b.GOMAXPROCS != 0 && a.GOMAXPROCS != b.GOMAXPROCS {
		out = append(out, "GOMAXPROCS: "+strconv.Itoa(a.GOMAXPROCS)+" vs "+strconv.Itoa(b.GOMAXPROCS))
	}
	if a.NumCPU != 0 && b.NumCPU != 0 && a.NumCPU != b.NumCPU {
		out = append(out, "NumCPU: "+strconv.Itoa(a.NumCPU)+" vs "+strconv.Itoa(b.NumCPU))
	}
	return out
}
