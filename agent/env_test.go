package agent

import (
	"testing"
	"time"
)

// Options override environment variables, which override defaults, for
// every kind the configuration reader handles.
func TestPrecedence(t *testing.T) {
	env := map[string]string{
		envExportInterval:    "5000",
		EnvSnapshotInterval:  "2s",
		EnvHistorySize:       "50",
		EnvHTTPMaxConns:      "7",
		EnvOutputMaxBytes:    "1MiB",
		EnvProfilingInterval: "30s",
		EnvLeakMinRatio:      "5%",
		EnvDebugToken:        " from-env ",
		EnvHTTPAddr:          "127.0.0.1:0",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	resolve := func(opts ...Option) config {
		t.Helper()
		var c config
		for _, o := range opts {
			if err := o.apply(&c); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.resolve(lookup); err != nil {
			t.Fatal(err)
		}
		return c
	}
	fromEnv := resolve(WithProfiling(Profiling{ServerAddress: "http://h"}))
	if fromEnv.interval != 5*time.Second || fromEnv.leak.interval != 2*time.Second || fromEnv.leak.historySize != 50 ||
		fromEnv.server.maxConns != 7 || fromEnv.leak.quota.MaxBytes != 1<<20 || fromEnv.profiling.interval != 30*time.Second ||
		fromEnv.leak.leak.MinGrowthRatio != 0.05 || fromEnv.debugToken != "from-env" || fromEnv.httpAddr != "127.0.0.1:0" {
		t.Errorf("environment not applied: %+v", fromEnv)
	}
	fromOpts := resolve(WithExportInterval(time.Hour), WithSnapshotInterval(time.Minute), WithHistory(9, 0), WithMaxConnections(3),
		WithOutputQuota(2<<20, 4), WithProfiling(Profiling{ServerAddress: "http://h", Interval: time.Minute}), WithDebugToken("opt"),
		WithHTTPAddr("off"))
	if fromOpts.interval != time.Hour || fromOpts.leak.interval != time.Minute || fromOpts.leak.historySize != 9 ||
		fromOpts.server.maxConns != 3 || fromOpts.leak.quota.MaxBytes != 2<<20 || fromOpts.profiling.interval != time.Minute ||
		fromOpts.debugToken != "opt" || fromOpts.httpAddr != "" {
		t.Errorf("options did not win: %+v", fromOpts)
	}
	env = nil
	def := resolve()
	if def.leak.interval != DefaultSnapshotInterval || def.server.maxConns != DefaultMaxConnections || def.httpAddr != DefaultHTTPAddr ||
		def.leak.flush != DefaultHistoryFlush || def.profiling.enabled {
		t.Errorf("defaults: %+v", def)
	}
}
