package load

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchTargetEnv) != "" {
		// The test binary re-executed as the pacer benchmark's target, so
		// the generator's CPU time is its own.
		os.Exit(serveBenchTarget())
	}
	goleak.VerifyTestMain(m)
}
