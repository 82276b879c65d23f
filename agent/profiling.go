package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/perfagent/perfagent/exporters"
	cfgpkg "github.com/perfagent/perfagent/internal/config"
)

// Environment variables for continuous profiling. Options override them;
// the PYROSCOPE_* names are those Grafana's SDKs and docs use.
const (
	EnvPyroscopeServerAddress     = "PYROSCOPE_SERVER_ADDRESS"       // Pyroscope base URL; setting it turns profiling on
	EnvPyroscopeApplicationName   = "PYROSCOPE_APPLICATION_NAME"     // application name (default: the OTel service name)
	EnvPyroscopeBasicAuthUser     = "PYROSCOPE_BASIC_AUTH_USER"      // HTTP basic auth user
	EnvPyroscopeBasicAuthPassword = "PYROSCOPE_BASIC_AUTH_PASSWORD"  // HTTP basic auth password
	EnvPyroscopeTenantID          = "PYROSCOPE_TENANT_ID"            // sent as X-Scope-OrgID
	EnvProfiling                  = "PERFAGENT_PROFILING"            // "true": profile (local files without a server); "false": never
	EnvProfilingTypes             = "PERFAGENT_PROFILING_TYPES"      // e.g. "cpu,heap,goroutine,mutex,block"
	EnvProfilingInterval          = "PERFAGENT_PROFILING_INTERVAL"   // period between profiles, e.g. "15s"
	EnvProfilingCPUSlice          = "PERFAGENT_PROFILING_CPU_SLICE"  // CPU profiled for this long each period, e.g. "10s"
	EnvProfilingTags              = "PERFAGENT_PROFILING_TAGS"       // static tags, "k=v,k=v"
	EnvProfilingHeaders           = "PERFAGENT_PROFILING_HEADERS"    // upload headers, "k=v,k=v" (values URL-encoded)
	EnvProfilingMutexRate         = "PERFAGENT_PROFILING_MUTEX_RATE" // runtime.SetMutexProfileFraction while mutex is on
	EnvProfilingBlockRate         = "PERFAGENT_PROFILING_BLOCK_RATE" // runtime.SetBlockProfileRate (ns) while block is on
)

// Profiling defaults that differ by destination.
const (
	// DefaultProfilingInterval is the upload period to Pyroscope.
	DefaultProfilingInterval = exporters.DefaultProfileInterval
	// DefaultLocalProfilingInterval is the period of local rolling
	// profiles.
	DefaultLocalProfilingInterval = time.Minute
	// DefaultLocalCPUSlice is how long the CPU is profiled in each local
	// period.
	DefaultLocalCPUSlice = 10 * time.Second
)

// ProfileType names a profile type (see [Profiling.Types]).
type ProfileType = exporters.ProfileType

// Profile types. The four heap types come from one heap profile, the mutex
// and block pairs from one profile each.
const (
	ProfileCPU           = exporters.ProfileCPU
	ProfileInuseObjects  = exporters.ProfileInuseObjects
	ProfileAllocObjects  = exporters.ProfileAllocObjects
	ProfileInuseSpace    = exporters.ProfileInuseSpace
	ProfileAllocSpace    = exporters.ProfileAllocSpace
	ProfileGoroutines    = exporters.ProfileGoroutines
	ProfileMutexCount    = exporters.ProfileMutexCount
	ProfileMutexDuration = exporters.ProfileMutexDuration
	ProfileBlockCount    = exporters.ProfileBlockCount
	ProfileBlockDuration = exporters.ProfileBlockDuration
)

// Profiling configures continuous profiling for [WithProfiling]. Each zero
// field is filled from its environment variable, else its default.
type Profiling struct {
	// ServerAddress is the Pyroscope server's URL, e.g.
	// "http://pyroscope:4040" (PYROSCOPE_SERVER_ADDRESS). Without one,
	// profiles are written as local rolling files to the profile store.
	ServerAddress string
	// ApplicationName names the service in Pyroscope
	// (PYROSCOPE_APPLICATION_NAME; default: the OTel service name, with
	// characters Pyroscope does not accept replaced by '_'). An explicit
	// name must use letters, digits and "_.-/" only.
	ApplicationName string
	// Tags are static labels on every profile, added to (and overriding)
	// PERFAGENT_PROFILING_TAGS and the tags taken from the OTel resource
	// (service_version, deployment_environment). Names must match
	// [A-Za-z0-9_.].
	Tags map[string]string
	// BasicAuthUser and BasicAuthPassword authenticate uploads
	// (PYROSCOPE_BASIC_AUTH_USER, PYROSCOPE_BASIC_AUTH_PASSWORD); both or
	// neither must be set.
	BasicAuthUser, BasicAuthPassword string
	// TenantID is sent as X-Scope-OrgID (PYROSCOPE_TENANT_ID).
	TenantID string
	// Headers are sent with every upload, e.g. {"Authorization": "Bearer
	// ..."}; added to (and overriding) PERFAGENT_PROFILING_HEADERS.
	Headers map[string]string
	// Types are the profiles taken (PERFAGENT_PROFILING_TYPES). Default:
	// CPU and the four heap types when streaming; CPU, heap and goroutine
	// for local files. Goroutine, mutex and block are opt-in when
	// streaming.
	Types []ProfileType
	// Interval is the period between profiles (PERFAGENT_PROFILING_INTERVAL;
	// default 15s when streaming, 1m for local files). It must be from
	// 50ms to 24h.
	Interval time.Duration
	// CPUSlice profiles the CPU only for this long at the start of each
	// period (PERFAGENT_PROFILING_CPU_SLICE; default: the whole period when
	// streaming, 10s for local files; at least 10ms). A slice as
	// long as the period or longer means continuous.
	CPUSlice time.Duration
	// MutexProfileFraction and BlockProfileRate are set while mutex and
	// block profiles are on (PERFAGENT_PROFILING_MUTEX_RATE,
	// PERFAGENT_PROFILING_BLOCK_RATE; defaults 10 and 10000ns; at most
	// 1000000 and 1e9 (1s)) and restored
	// at Shutdown (the block rate to 0: the runtime cannot report the
	// previous one).
	MutexProfileFraction, BlockProfileRate int
}

// WithProfiling turns continuous profiling on: streaming to Pyroscope when
// a server address is set (here or PYROSCOPE_SERVER_ADDRESS), else local
// rolling profile files. p's zero fields come from the environment, then
// defaults. Profiling is also on, without this option, when
// PYROSCOPE_SERVER_ADDRESS is set or PERFAGENT_PROFILING=true.
func WithProfiling(p Profiling) Option {
	return optionFunc(func(c *config) error {
		pc := &c.profiling
		pc.enabled, pc.enabledSet = true, true
		p.Tags, p.Headers, p.Types = maps.Clone(p.Tags), maps.Clone(p.Headers), slices.Clone(p.Types)
		pc.opt = p
		return nil
	})
}

// WithoutProfiling turns continuous profiling off, whatever the
// environment says.
func WithoutProfiling() Option {
	return optionFunc(func(c *config) error {
		c.profiling = profilingConfig{enabledSet: true}
		return nil
	})
}

// profilingConfig is the resolved profiling configuration.
type profilingConfig struct {
	enabled, enabledSet bool
	opt                 Profiling // as given to WithProfiling

	server, app      string
	user, password   string
	tenant           string
	tags, headers    map[string]string
	types            []ProfileType
	interval, slice  time.Duration
	mutexRate, block int
}

// Bounds of the profiling settings; options and variables outside them
// fail Start.
const (
	// minProfilingInterval and maxProfilingInterval bound
	// Profiling.Interval and PERFAGENT_PROFILING_INTERVAL.
	minProfilingInterval = 50 * time.Millisecond
	maxProfilingInterval = 24 * time.Hour
	// minCPUSlice bounds Profiling.CPUSlice and
	// PERFAGENT_PROFILING_CPU_SLICE from below (a slice as long as the
	// interval or longer means continuous).
	minCPUSlice = 10 * time.Millisecond
	// maxMutexProfileFraction and maxBlockProfileRate bound the mutex and
	// block rates (from 0).
	maxMutexProfileFraction = 1_000_000
	maxBlockProfileRate     = int(time.Second)
)

// resolveProfiling fills the profiling configuration from the option and
// the environment, and validates it. The variables are checked even while
// profiling is off, so a mistake shows before profiling is turned on.
func (c *config) resolveProfiling(r *cfgpkg.Reader) {
	pc := &c.profiling
	if !pc.enabledSet {
		pc.enabled = r.Has(EnvPyroscopeServerAddress)
		r.Bool(EnvProfiling, &pc.enabled)
	}
	o := pc.opt
	if pc.server = o.ServerAddress; pc.server != "" {
		if err := cfgpkg.CheckURL(pc.server); err != nil {
			r.Add(fmt.Errorf("WithProfiling: Profiling.ServerAddress %q: %v (e.g. http://localhost:4040)", pc.server, err))
		}
	} else {
		r.URL(EnvPyroscopeServerAddress, &pc.server)
	}
	if pc.app = o.ApplicationName; pc.app != "" {
		if err := exporters.ValidateApplicationName(pc.app); err != nil {
			r.Add(fmt.Errorf("WithProfiling: Profiling.ApplicationName %q: %v", pc.app, err))
		}
	} else {
		r.Func(EnvPyroscopeApplicationName, func(v string) error {
			pc.app = v
			return exporters.ValidateApplicationName(v)
		})
	}
	pc.user, pc.password, pc.tenant = o.BasicAuthUser, o.BasicAuthPassword, o.TenantID
	optString(r, EnvPyroscopeBasicAuthUser, &pc.user)
	optString(r, EnvPyroscopeBasicAuthPassword, &pc.password)
	optString(r, EnvPyroscopeTenantID, &pc.tenant)
	if (pc.user == "") != (pc.password == "") {
		r.Add(fmt.Errorf("profiling basic auth needs both a user and a password (%s, %s, or Profiling.BasicAuthUser/Password)",
			EnvPyroscopeBasicAuthUser, EnvPyroscopeBasicAuthPassword))
	}
	pc.tags = keyValues(r, EnvProfilingTags, "Tags", o.Tags, false, checkTag)
	pc.headers = keyValues(r, EnvProfilingHeaders, "Headers", o.Headers, true, exporters.ValidateHeader)
	pc.resolveTypes(r)
	pc.resolveTimes(r)
	if !pc.enabled {
		*pc = profilingConfig{enabledSet: pc.enabledSet}
	}
}

// optString reads the variable when the option left *dst empty.
func optString(r *cfgpkg.Reader, env string, dst *string) {
	if *dst == "" {
		r.String(env, dst)
	}
}

func checkTag(k, _ string) error {
	if err := exporters.ValidateLabelName(k); err != nil {
		return fmt.Errorf("tag %w", err)
	}
	return nil
}

// keyValues reads env as k=v pairs and adds over (the option's field) on
// top, checking each pair.
func keyValues(r *cfgpkg.Reader, env, field string, over map[string]string, decode bool, check func(k, v string) error) map[string]string {
	out := map[string]string{}
	r.Func(env, func(v string) error {
		m, err := cfgpkg.ParseKeyValues(v, decode)
		if err != nil {
			return err
		}
		var errs []error
		for k, val := range m {
			errs = append(errs, check(k, val))
			out[k] = val
		}
		return errors.Join(errs...)
	})
	for k, val := range over {
		if err := check(k, val); err != nil {
			r.Add(fmt.Errorf("WithProfiling: Profiling.%s: %v", field, err))
		}
		out[k] = val
	}
	return out
}

// resolveTypes sets the profile types: the option's, else the variable's,
// else the defaults for the destination.
func (pc *profilingConfig) resolveTypes(r *cfgpkg.Reader) {
	if ts := pc.opt.Types; ts != nil {
		if len(ts) == 0 {
			r.Add(errors.New("WithProfiling: Profiling.Types is empty (leave it nil for the defaults)"))
		}
		for _, t := range ts {
			if _, err := exporters.ParseProfileTypes(string(t)); err != nil || strings.Contains(string(t), ",") {
				r.Add(fmt.Errorf("WithProfiling: Profiling.Types: unknown profile type %q", t))
			}
		}
		pc.types = ts
		return
	}
	pc.types = exporters.DefaultProfileTypes()
	if pc.server == "" {
		pc.types = append(pc.types, ProfileGoroutines)
	}
	r.Func(EnvProfilingTypes, func(v string) (err error) {
		t, err := exporters.ParseProfileTypes(v)
		if err == nil {
			pc.types = t
		}
		return err
	})
}

// resolveTimes sets the interval, the CPU slice and the mutex and block
// rates.
func (pc *profilingConfig) resolveTimes(r *cfgpkg.Reader) {
	o := pc.opt
	pc.interval, pc.slice = DefaultProfilingInterval, 0
	if pc.server == "" {
		pc.interval, pc.slice = DefaultLocalProfilingInterval, DefaultLocalCPUSlice
	}
	optDuration(r, o.Interval, "Interval", EnvProfilingInterval, &pc.interval, minProfilingInterval, maxProfilingInterval)
	optDuration(r, o.CPUSlice, "CPUSlice", EnvProfilingCPUSlice, &pc.slice, minCPUSlice, maxProfilingInterval)
	if pc.slice >= pc.interval {
		pc.slice = 0 // continuous
	}
	optInt(r, o.MutexProfileFraction, "MutexProfileFraction", EnvProfilingMutexRate, &pc.mutexRate, maxMutexProfileFraction)
	optInt(r, o.BlockProfileRate, "BlockProfileRate", EnvProfilingBlockRate, &pc.block, maxBlockProfileRate)
}

// optDuration sets *dst to opt when it is not zero (checking its bounds),
// else reads env.
func optDuration(r *cfgpkg.Reader, opt time.Duration, field, env string, dst *time.Duration, min, max time.Duration) {
	if opt == 0 {
		r.Duration(env, dst, min, max)
		return
	}
	r.Add(cfgpkg.CheckDuration("WithProfiling: Profiling."+field, opt, min, max))
	*dst = opt
}

// optInt sets *dst to opt when it is not zero (checking it is from 0 to
// max), else reads env.
func optInt(r *cfgpkg.Reader, opt int, field, env string, dst *int, max int) {
	if opt == 0 {
		r.Int(env, dst, 0, max)
		return
	}
	r.Add(cfgpkg.CheckInt("WithProfiling: Profiling."+field, opt, 0, max))
	*dst = opt
}

// profilingState is the running profiler of an Agent.
type profilingState struct {
	mode     string // "pyroscope" or "local"
	app      string
	tags     map[string]string
	profiler *exporters.Profiler
	sink     *exporters.Sink
}

// startProfiling starts continuous profiling when it is configured:
// streaming to Pyroscope when a server address is set, else local rolling
// profiles written through store. It registers the profiler as the CPU
// profiler's owner, so /debug/pprof/profile and on-demand captures pause
// it. A nil store with local profiling configured fails with an error
// saying what to set.
//
// Note: store is the agent's profile store (snapshot.Store); pass nil when
// the agent has none (an untyped nil, not a nil *snapshot.Store).
func (a *Agent) startProfiling(res *resource.Resource, store exporters.ProfileWriter) error {
	pc := &a.cfg.profiling
	if !pc.enabled {
		return nil
	}
	st := &profilingState{mode: "pyroscope", app: pc.app, tags: map[string]string{}}
	if st.app == "" {
		v, _ := res.Set().Value("service.name")
		st.app = exporters.SanitizeApplicationName(v.AsString())
	}
	// Static tags from the resource, under Pyroscope-style names.
	for key, name := range map[attribute.Key]string{
		"service.version": "service_version", "deployment.environment.name": "deployment_environment",
		"deployment.environment": "deployment_environment",
	} {
		if v, ok := res.Set().Value(key); ok && v.AsString() != "" {
			if _, dup := st.tags[name]; !dup || key == "deployment.environment.name" {
				st.tags[name] = v.AsString()
			}
		}
	}
	maps.Copy(st.tags, pc.tags)
	if err := a.newProfileSink(st, store); err != nil {
		return err
	}
	var err error
	st.profiler, err = exporters.StartProfiler(exporters.ProfilerConfig{
		Types: pc.types, Interval: pc.interval, CPUSlice: pc.slice,
		MutexProfileFraction: pc.mutexRate, BlockProfileRate: pc.block,
		GCCycles: a.gcCycles,
		Logger:   a.log,
		OnPanic:  func(c string) { a.self.recoverPanic(c) },
	}, st.sink)
	if err != nil {
		_ = st.sink.Close(context.Background())
		return fmt.Errorf("perfagent: profiling: %w", err)
	}
	a.profiling = st
	a.profMetrics.Store(st) // the profiling metrics ride along in each collection (selfMetrics)
	a.cpu.SetOwner(st.profiler)
	a.log.Info("perfagent: continuous profiling", "mode", st.mode, "application", st.app,
		"server", redactURL(pc.server), "interval", pc.interval.String())
	return nil
}

// gcCycles is the GC cycle count of the newest snapshot, which tells the
// profiler whether a heap profile has changed.
//
// Note: the count is as old as the newest snapshot (at most one snapshot
// interval), so a GC in that span shows in the next heap profile rather
// than this one; nothing is lost, since heap profiles are deltas. Shutdown
// takes a final snapshot before the final profiles.
func (a *Agent) gcCycles() uint64 {
	if a.lk == nil {
		return 0
	}
	s, _ := a.lk.pipeline.Latest()
	return s.GCCycles
}

// newProfileSink sets st.sink: a Pyroscope sink when a server is
// configured, else a file sink writing to store.
func (a *Agent) newProfileSink(st *profilingState, store exporters.ProfileWriter) error {
	pc := &a.cfg.profiling
	so := exporters.SinkOptions{
		Logger:  a.log,
		OnPanic: func(c string) { a.self.recoverPanic(c) },
		OnDrop:  func(n int64) { a.self.drop("profile", n) },
	}
	var err error
	if pc.server != "" {
		st.sink, err = exporters.NewPyroscopeSink(exporters.PyroscopeOptions{
			ServerAddress: pc.server, ApplicationName: st.app, Tags: st.tags,
			BasicAuthUser: pc.user, BasicAuthPassword: pc.password, TenantID: pc.tenant, Headers: pc.headers,
			UserAgent: "perfagent/" + a.version,
		}, so)
	} else {
		st.mode = "local"
		if store == nil {
			return fmt.Errorf("perfagent: profiling is on but no Pyroscope server address is set (%s or agent.Profiling.ServerAddress), "+
				"and local rolling profiles need the agent's profile store (its output directory), which is not configured", EnvPyroscopeServerAddress)
		}
		st.sink, err = exporters.NewFileSink(store, so)
	}
	if err != nil {
		return fmt.Errorf("perfagent: profiling: %w", err)
	}
	return nil
}

// stopProfiling stops the profiler: it hands over the final profiles and
// delivers them within ctx; those still waiting or in flight when ctx ends
// are dropped and counted (perfagent.profiling.dropped, reason shutdown,
// and perfagent.agent.dropped, kind profile). It returns nil when
// profiling is off, and an error saying how many profiles were not
// delivered (failed or dropped).
func (a *Agent) stopProfiling(ctx context.Context) error {
	st := a.profiling
	if st == nil {
		return nil
	}
	a.cpu.SetOwner(nil)
	before := st.sink.Stats()
	err := st.profiler.Stop(ctx)
	if errors.Is(err, exporters.ErrProfilerStopped) {
		err = nil
	}
	after := st.sink.Stats()
	var errs []error
	if n := sumCounts(after.Failed) - sumCounts(before.Failed); n > 0 {
		errs = append(errs, fmt.Errorf("%d final profiles not delivered (%s sink): %s", n, st.sink.Name(), after.LastError))
	}
	if n := after.Dropped["shutdown"] - before.Dropped["shutdown"]; n > 0 && !a.aborted {
		errs = append(errs, fmt.Errorf("%d profiles dropped at the shutdown deadline (%s sink): %w", n, st.sink.Name(), err))
	} else if err != nil && !a.aborted {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("profiling: %w", err)
	}
	return nil
}

func sumCounts(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// ProfilingStatus is the document served at /debug/perfagent/profiling.
type ProfilingStatus struct {
	Enabled bool `json:"enabled"`
	// Mode is "pyroscope" (streaming) or "local" (rolling files).
	Mode            string                  `json:"mode,omitempty"`
	Server          string                  `json:"server,omitempty"`
	Application     string                  `json:"application,omitempty"`
	Tags            map[string]string       `json:"tags,omitempty"`
	Types           []ProfileType           `json:"types,omitempty"`
	IntervalSeconds float64                 `json:"interval_seconds,omitempty"`
	CPUSliceSeconds float64                 `json:"cpu_slice_seconds,omitempty"`
	Profiler        exporters.ProfilerStats `json:"profiler"`
	Delivery        exporters.SinkStats     `json:"delivery"`
}

// ProfilingStatus returns the state of continuous profiling (Enabled false
// when it is off).
func (a *Agent) ProfilingStatus() ProfilingStatus {
	st := a.profiling
	if st == nil {
		return ProfilingStatus{}
	}
	pc := &a.cfg.profiling
	return ProfilingStatus{
		Enabled: true, Mode: st.mode, Server: redactURL(pc.server), Application: st.app,
		Tags: maps.Clone(st.tags), Types: slices.Clone(pc.types),
		IntervalSeconds: pc.interval.Seconds(), CPUSliceSeconds: pc.slice.Seconds(),
		Profiler: st.profiler.Stats(), Delivery: st.sink.Stats(),
	}
}

// profilingRoutes registers GET /debug/perfagent/profiling on the debug mux.
func (a *Agent) profilingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/perfagent/profiling", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, a.ProfilingStatus())
	})
}

// metricsData returns the perfagent.profiling.* metrics as metric data
// (counters cumulative since start), read from the profiler's and the
// sink's stats in each collection, without SDK instruments.
func (st *profilingState) metricsData(b *metricsBuilder) metricdata.ScopeMetrics {
	ps, ss := st.profiler.Stats(), st.sink.Stats()
	sink := st.sink.Name()
	b.counter("perfagent.profiling.collected", "Profiles taken, by kind.", "{profile}", b.byKey(ps.Collected, "kind"))
	b.counter("perfagent.profiling.collection.errors",
		"Profiles that could not be taken, by reason (cpu_busy: the CPU profiler was held outside perfagent).", "{error}", b.byKey(ps.Errors, "reason"))
	b.counter("perfagent.profiling.uploaded", "Profiles delivered (uploaded to Pyroscope or written to files), by kind and sink.", "{profile}",
		b.byKeyAnd(ss.Delivered, "kind", "sink", sink))
	b.counter("perfagent.profiling.failed", "Profiles given up after their attempts, by reason (rejected, throttled, server_error, network, write).",
		"{profile}", b.byKeyAnd(ss.Failed, "reason", "sink", sink))
	b.counter("perfagent.profiling.dropped", "Profiles never delivered, by reason (queue_full, shutdown, closed).", "{profile}",
		b.byKeyAnd(ss.Dropped, "reason", "sink", sink))
	sinkSet := b.sets.one("sink", sink)
	b.counter("perfagent.profiling.retries", "Upload attempts repeated after a retryable failure.", "{attempt}",
		[]metricdata.DataPoint[int64]{{Attributes: sinkSet, StartTime: b.start, Time: b.now, Value: ss.Retries}})
	b.counter("perfagent.profiling.uploaded.size", "Bytes of profiles delivered.", "By",
		[]metricdata.DataPoint[int64]{{Attributes: sinkSet, StartTime: b.start, Time: b.now, Value: ss.Bytes}})
	b.ms = append(b.ms,
		metricdata.Metrics{Name: "perfagent.profiling.collection.time", Unit: "s",
			Description: "Time spent taking profiles (the profiler's own cost, besides CPU sampling).",
			Data: metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[float64]{{StartTime: b.start, Time: b.now, Value: ps.CollectSeconds}}}},
		metricdata.Metrics{Name: "perfagent.profiling.queue.size", Unit: "{profile}", Description: "Profiles waiting for delivery.",
			Data: metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{{Attributes: sinkSet, Time: b.now, Value: int64(ss.Queued)}}}})
	return metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: "github.com/perfagent/perfagent/profiling"}, Metrics: b.ms}
}

// LabelSet is a set of profiler labels made by [Labels].
type LabelSet = pprof.LabelSet

// Labels returns the profiler labels given as key, value pairs, sanitised
// for Pyroscope: characters a label name may not have ([A-Za-z0-9_.] only)
// become '_', and values become valid UTF-8. An unpaired last key is left
// out. Build label sets for fixed values once and reuse them.
func Labels(kv ...string) LabelSet {
	kv = kv[:len(kv)&^1]
	clean := kv
	for i := 0; i < len(kv); i += 2 {
		k, v := exporters.SanitizeLabelName(kv[i]), strings.ToValidUTF8(kv[i+1], "\uFFFD")
		if k != kv[i] || v != kv[i+1] {
			if &clean[0] == &kv[0] {
				clean = slices.Clone(kv)
			}
			clean[i], clean[i+1] = k, v
		}
	}
	return pprof.Labels(clean...)
}

// Tag runs fn with labels added to ctx's profiler labels: CPU samples taken
// while fn runs, and in goroutines it starts, carry them, so flame graphs
// can be filtered by them (e.g. by endpoint). Nested Tags add up. Labels
// cost a little on each call and in profile size: use few keys with
// bounded values (an endpoint pattern, not a URL with IDs).
//
//	agent.Tag(ctx, agent.Labels("endpoint", "/checkout"), func(ctx context.Context) {
//		checkout(ctx)
//	})
func Tag(ctx context.Context, labels LabelSet, fn func(context.Context)) {
	pprof.Do(ctx, labels, fn)
}

// maxRouteLabels bounds the label sets TagHTTP keeps per handler.
const maxRouteLabels = 1024

// TagHTTP wraps next so the CPU samples of each request carry the label
// "endpoint" with its route pattern (such as "GET /items/{id}"): the
// pattern an *http.ServeMux next routes the request to, or, when next is
// registered on a ServeMux itself, the pattern that matched. Requests with
// no pattern run unlabelled. For other routers, call [Tag] in a handler
// with the router's route template.
//
//	http.ListenAndServe(addr, agent.TagHTTP(mux))
func TagHTTP(next http.Handler) http.Handler {
	router, _ := next.(interface {
		Handler(*http.Request) (http.Handler, string)
	})
	var (
		cache sync.Map // pattern → LabelSet
		size  atomic.Int64
	)
	labelsFor := func(pattern string) LabelSet {
		if v, ok := cache.Load(pattern); ok {
			return v.(LabelSet)
		}
		ls := Labels("endpoint", pattern)
		if size.Add(1) <= maxRouteLabels {
			cache.Store(pattern, ls)
		}
		return ls
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pattern := r.Pattern
		if router != nil {
			_, pattern = router.Handler(r)
		}
		if pattern == "" {
			next.ServeHTTP(w, r)
			return
		}
		pprof.Do(r.Context(), labelsFor(pattern), func(ctx context.Context) {
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	})
}
