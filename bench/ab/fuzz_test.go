package ab_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/perfagent/perfagent/bench/ab"
)

// FuzzParseGoTest: any argument list is parsed or refused without a panic,
// and a parsed one never passes -count, never takes a flag for a package,
// and always runs one round with -benchmem.
func FuzzParseGoTest(f *testing.F) {
	for _, s := range []string{"-bench . ./...", "-tags=x -race -run ^$ -bench=Foo -benchtime 1x .", "-count 3", "-args -x y", "-bench", "--test.bench=. -v=false ./a ./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ab.ParseGoTest(strings.Fields(s))
		if err != nil {
			return
		}
		args := p.RunArgs()
		if !slices.Contains(args, "-test.count=1") || !slices.Contains(args, "-test.benchmem") || len(p.Packages) == 0 {
			t.Fatalf("%q: run args %q, packages %q", s, args, p.Packages)
		}
		for _, pk := range p.Packages {
			if strings.HasPrefix(pk, "-") && pk != "-" {
				t.Fatalf("%q: flag %q taken for a package", s, pk)
			}
		}
		i := slices.Index(strings.Fields(s), "-args")
		for _, a := range args {
			if strings.HasPrefix(a, "-test.count=") && a != "-test.count=1" && i < 0 {
				t.Fatalf("%q: passes %s", s, a)
			}
		}
	})
}
