package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/internal/demo"
	"github.com/perfagent/perfagent/load"
)

// apiOptions are the flags of the API suite. Numeric flags keep their text
// as given and are checked after parsing, so a bad value is one line naming
// the flag (exit 2).
type apiOptions struct {
	url, scenario string
	netHTTP       bool
	jsonOut       bool // --json: the human summary goes to stderr

	durationF, requestsF, concurrencyF, rateF, rampFromF, rampF, timeoutF, roundsF textFlag

	// Checked values; zero means unset (the scenario's or the default).
	duration, ramp, timeout time.Duration
	requests                int64
	concurrency, rounds     int
	rate, rampFrom          float64

	shardF, shardsF, startAtF textFlag
	shardResult, latencyLog   string
	shard                     load.Shard // Count 0: not sharded
	startAt                   time.Time

	verdict         *load.Verdict // set by a run, checked by the command
	scenarioParsed  *load.Scenario
	scenarioChecked bool
}

// Bounds of the API flags (documented in their help).
const (
	apiMaxDuration = 24 * time.Hour
	apiMaxTimeout  = time.Hour
	apiMaxRequests = 1_000_000_000_000
	// apiRounds is the default number of rounds, apiQuickRounds that of
	// --quick: Holm's correction over a suite's rows needs n ≥ 6 per side
	// before any row can be significant, so quick runs keep 8.
	apiRounds      = 10
	apiQuickRounds = 8
)

// textFlag is a flag.Value that keeps its text; set tells whether it was
// given.
type textFlag struct {
	s   string
	set bool
}

func (f *textFlag) String() string     { return f.s }
func (f *textFlag) Set(s string) error { f.s, f.set = s, true; return nil }

func (o *apiOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "url", "", "api: base URL of the service (default: start the built-in demo target on a free loopback port)")
	fs.StringVar(&o.scenario, "scenario", "", "api: scenario file (YAML or JSON); default: health, auth flow, metrics and custom routes")
	fs.Var(&o.durationF, "duration", "api: run length, 10ms per round to 24h (default the scenario's, else 10s; 2s with --quick)")
	fs.Var(&o.requestsF, "requests", "api: stop after this many measured requests, 1 to 1e12")
	fs.Var(&o.concurrencyF, "concurrency", fmt.Sprintf("api: virtual users (closed model) or maximum requests in flight (open model), 1 to %d", load.MaxConcurrency))
	fs.Var(&o.rateF, "rate", "api: open model at this many requests per second, above 0 up to 1e7 (latency measured from intended send times)")
	fs.Var(&o.rampFromF, "ramp-from", "api: open model: ramp the rate from this value (0 to 1e7) to --rate over --ramp")
	fs.Var(&o.rampF, "ramp", "api: ramp duration, above 0 up to the run's length")
	fs.Var(&o.timeoutF, "timeout", "api: per-request timeout, above 0 up to 1h (default the scenario's, else 10s)")
	fs.Var(&o.roundsF, "rounds", fmt.Sprintf("api: rounds the run is cut into, each driving the whole scenario mix; 1 to %d (default %d, %d with --quick)", load.MaxRounds, apiRounds, apiQuickRounds))
	fs.BoolVar(&o.netHTTP, "net-http", false, "api: measure through net/http instead of the lean HTTP/1.1 client")
	fs.Var(&o.shardsF, "shards", fmt.Sprintf("api: the run is split across this many generators, 1 to %d; --concurrency and --requests are the run's totals", load.MaxShards))
	fs.Var(&o.shardF, "shard", "api: with --shards: this generator's shard, 0 to shards-1 (default env JOB_COMPLETION_INDEX, as in a Kubernetes Indexed Job)")
	fs.Var(&o.startAtF, "start-at", "api: start the measured phase at this RFC 3339 time, shared by every shard (e.g. 2026-01-02T15:04:05Z)")
	fs.StringVar(&o.shardResult, "shard-result", "", "api: with --shards: write the shard result here ('-': as the last line of stdout; default benchmarks/shard-<I>-of-<N>-<ts>.json)")
	fs.StringVar(&o.latencyLog, "latency-log", "", "api: write every measured latency to this file, one 'endpoint nanoseconds' line per request")
}

// shardEnv is the index of a pod in a Kubernetes Indexed Job.
const shardEnv = "JOB_COMPLETION_INDEX"

// validateShard checks --shards, --shard (or JOB_COMPLETION_INDEX) and
// --start-at; length is the run's duration (0 when bounded by requests
// only).
func (o *apiOptions) validateShard(length time.Duration) error {
	if o.startAtF.set {
		t, err := time.Parse(time.RFC3339Nano, o.startAtF.s)
		if err != nil {
			return badSyntax("start-at", o.startAtF.s, "an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		if late := time.Since(t); late > length {
			return flagErr("start-at", o.startAtF.s, "is %v in the past, more than the run's length %v: nothing left to measure", late.Round(time.Millisecond), length)
		}
		o.startAt = t
	}
	if !o.shardsF.set {
		if o.shardF.set || o.shardResult != "" {
			return errors.New("--shard and --shard-result need --shards")
		}
		return nil
	}
	n, err := parseIntFlag(o.shardsF, "shards", 1, load.MaxShards)
	if err != nil {
		return err
	}
	idx := o.shardF
	name := "shard"
	if !idx.set {
		v, ok := os.LookupEnv(shardEnv)
		if !ok {
			return fmt.Errorf("--shards %d: give --shard 0..%d (or set %s)", n, n-1, shardEnv)
		}
		idx, name = textFlag{s: v, set: true}, shardEnv
	}
	i, err := strconv.ParseInt(strings.TrimSpace(idx.s), 10, 64)
	switch {
	case err != nil && name == shardEnv:
		return fmt.Errorf("%s=%q: not a shard index (want 0 to %d)", shardEnv, idx.s, n-1)
	case err != nil:
		return badSyntax(name, idx.s, fmt.Sprintf("a whole number from 0 to %d", n-1))
	case (i < 0 || i >= n) && name == shardEnv:
		return fmt.Errorf("%s=%s: outside 0..%d (--shards %d)", shardEnv, idx.s, n-1, n)
	case i < 0 || i >= n:
		return flagErr(name, idx.s, "outside 0..%d (--shards %d)", n-1, n)
	}
	if o.shardResult == "-" && o.jsonOut {
		return errors.New("--shard-result - and --json both want stdout; write the shard result to a file")
	}
	if c := o.totalConcurrency(); c < int(n) {
		return flagErr("shards", o.shardsF.s, "more shards than connections in all (--concurrency %d); each shard needs one", c)
	}
	if o.requests > 0 && o.requests < n*int64(max(o.rounds, 1)) {
		return flagErr("shards", o.shardsF.s, "--requests %d leaves a shard without a request per round", o.requests)
	}
	o.shard = load.Shard{Index: int(i), Count: int(n)}
	return nil
}

// flagErr is a bad flag value; its message names the flag.
func flagErr(name, text, format string, a ...any) error {
	return fmt.Errorf("--%s %s: %s", name, text, fmt.Sprintf(format, a...))
}

// badSyntax is a flag value that does not parse.
func badSyntax(name, text, want string) error {
	return fmt.Errorf("--%s: invalid value %q (want %s)", name, text, want)
}

// parseDurationFlag checks a duration flag against (0, hi].
func parseDurationFlag(f textFlag, name string, hi time.Duration) (time.Duration, error) {
	if !f.set {
		return 0, nil
	}
	d, err := time.ParseDuration(f.s)
	switch {
	case err != nil:
		return 0, badSyntax(name, f.s, "a duration such as 500ms, 30s or 2m")
	case d <= 0:
		return 0, flagErr(name, f.s, "must be positive")
	case d > hi:
		return 0, flagErr(name, f.s, "must be at most %v", hi)
	}
	return d, nil
}

// parseFloatFlag checks a number flag against [lo, hi] (above lo when
// open), refusing NaN and infinities.
func parseFloatFlag(f textFlag, name string, lo, hi float64, open bool) (float64, error) {
	if !f.set {
		return 0, nil
	}
	v, err := strconv.ParseFloat(f.s, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, badSyntax(name, f.s, "a number")
	case math.IsNaN(v) || math.IsInf(v, 0) || errors.Is(err, strconv.ErrRange):
		return 0, flagErr(name, f.s, "must be a finite number between %g and %g", lo, hi)
	case open && v <= lo:
		return 0, flagErr(name, f.s, "must be above %g (at most %g)", lo, hi)
	case v < lo || v > hi:
		return 0, flagErr(name, f.s, "must be between %g and %g", lo, hi)
	}
	return v, nil
}

// parseIntFlag checks a whole-number flag against [lo, hi].
func parseIntFlag(f textFlag, name string, lo, hi int64) (int64, error) {
	if !f.set {
		return 0, nil
	}
	v, err := strconv.ParseInt(f.s, 10, 64)
	if err != nil {
		if x, ferr := strconv.ParseFloat(f.s, 64); ferr == nil && !math.IsNaN(x) && (x < float64(lo) || x > float64(hi)) {
			return 0, flagErr(name, f.s, "must be between %d and %d", lo, hi)
		}
		return 0, badSyntax(name, f.s, fmt.Sprintf("a whole number between %d and %d", lo, hi))
	}
	if v < lo || v > hi {
		return 0, flagErr(name, f.s, "must be between %d and %d", lo, hi)
	}
	return v, nil
}

func (o *apiOptions) validate() error {
	var err error
	if o.rate, err = parseFloatFlag(o.rateF, "rate", 0, load.MaxRate, true); err != nil {
		return err
	}
	if o.rampFrom, err = parseFloatFlag(o.rampFromF, "ramp-from", 0, load.MaxRate, false); err != nil {
		return err
	}
	var n int64
	if n, err = parseIntFlag(o.concurrencyF, "concurrency", 1, load.MaxConcurrency); err != nil {
		return err
	}
	o.concurrency = int(n)
	if o.requests, err = parseIntFlag(o.requestsF, "requests", 1, apiMaxRequests); err != nil {
		return err
	}
	if n, err = parseIntFlag(o.roundsF, "rounds", 1, load.MaxRounds); err != nil {
		return err
	}
	o.rounds = int(n)
	if o.duration, err = parseDurationFlag(o.durationF, "duration", apiMaxDuration); err != nil {
		return err
	}
	if o.timeout, err = parseDurationFlag(o.timeoutF, "timeout", apiMaxTimeout); err != nil {
		return err
	}
	if o.ramp, err = parseDurationFlag(o.rampF, "ramp", apiMaxDuration); err != nil {
		return err
	}
	if (o.rampFromF.set || o.rampF.set) && !o.rateF.set {
		return errors.New("--ramp-from and --ramp need --rate (the open model)")
	}
	if o.duration > 0 && o.ramp > o.duration {
		return flagErr("ramp", o.rampF.s, "longer than --duration %v", o.duration)
	}
	if o.duration > 0 && o.rounds > 0 && o.duration/time.Duration(o.rounds) < load.MinRoundLength {
		return flagErr("rounds", o.roundsF.s, "rounds of a %v run would last %v; a round needs at least %v", o.duration, o.duration/time.Duration(o.rounds), load.MinRoundLength)
	}
	if o.requests > 0 && o.rounds > 0 && int64(o.rounds) > o.requests {
		return flagErr("rounds", o.roundsF.s, "more rounds than --requests %d", o.requests)
	}
	if o.scenario != "" {
		sc, err := load.LoadScenarioFile(o.scenario)
		if err != nil {
			return err
		}
		o.scenarioParsed = sc
	}
	sc := o.scenarioParsed
	if sc == nil {
		sc = &load.Scenario{}
	}
	return o.validateShard(effectiveLoad(sc, load.Load{Duration: o.duration, Requests: o.requests}).Duration)
}

// startDemo starts the built-in demo target with a perfagent agent serving
// its /metrics and /debug/ and exporting its request metrics. The returned
// stop function shuts both down.
func startDemo(ctx context.Context, addr string, logger *slog.Logger, opts ...agent.Option) (*demo.Server, *agent.Agent, func(), error) {
	return startDemoWith(ctx, demo.Options{Addr: addr}, logger, opts...)
}

// startDemoWith is startDemo with the demo's options (Handler and
// MeterProvider are the agent's).
func startDemoWith(ctx context.Context, dopts demo.Options, logger *slog.Logger, opts ...agent.Option) (*demo.Server, *agent.Agent, func(), error) {
	// The demo is a self-contained target: it may run beside an agent the
	// embedding process already has (tests, or a host calling run()).
	opts = append([]agent.Option{agent.WithoutHTTPServer(), agent.WithServiceName("perfagent-demo"), agent.WithLogger(logger),
		agent.WithAllowMultiple()}, opts...)
	a, err := agent.Start(ctx, opts...)
	if err != nil {
		return nil, nil, nil, err
	}
	dopts.Handler, dopts.MeterProvider = a.Handler(), a.MeterProvider()
	srv, err := demo.Start(ctx, dopts)
	if err != nil {
		_ = a.Shutdown(context.Background())
		return nil, nil, nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = a.Shutdown(sctx)
	}
	return srv, a, stop, nil
}

func runAPISuite(ctx context.Context, e *env, r *bench.Runner, o *benchOptions) error {
	ao := &o.api
	base := ao.url
	if base == "" && (ao.scenarioParsed == nil || ao.scenarioParsed.BaseURL == "") {
		srv, _, stop, err := startDemo(ctx, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return fmt.Errorf("starting the demo target: %w", err)
		}
		defer stop()
		base = srv.URL()
		fmt.Fprintf(e.stderr, "perfagent bench api: no --url given; measuring the built-in demo target at %s\n", base)
	}
	sc := ao.scenarioParsed
	if sc == nil {
		sc = load.DefaultScenario(base)
	} else if base != "" {
		sc.BaseURL = base
		if err := sc.Validate(); err != nil {
			return err
		}
	}
	lo := load.Load{Duration: ao.duration, Requests: ao.requests, Concurrency: ao.concurrency,
		Rate: ao.rate, RampFrom: ao.rampFrom, RampDuration: ao.ramp}
	if ao.rate > 0 {
		lo.Model = load.ModelOpen
	}
	if o.quick && lo.Duration == 0 && lo.Requests == 0 {
		lo.Duration = 2 * time.Second
	}
	rounds := ao.rounds
	if rounds == 0 {
		rounds = apiRounds
		if o.quick {
			rounds = apiQuickRounds
		}
		// A short run (or few requests) gets as many rounds as fit.
		if eff := effectiveLoad(sc, lo); eff.Duration > 0 {
			rounds = max(1, min(rounds, int(eff.Duration/load.MinRoundLength)))
		} else if eff.Requests > 0 {
			rounds = int(max(1, min(int64(rounds), eff.Requests/int64(max(ao.shard.Count, 1)))))
		}
	}
	sp := newSpinner(e, "api")
	defer sp.done()
	opts := load.Options{Load: lo, Timeout: ao.timeout, Rounds: rounds, Progress: func(p load.Progress) {
		sp.describe(fmt.Sprintf("api: %d requests, %d errors, %.0f%%", p.Requests, p.Errors, p.Fraction*100))
	}}
	if ao.netHTTP {
		opts.Engine = load.EngineNetHTTP
	}
	opts.Shard, opts.StartAt = ao.shard, ao.startAt
	closeLog, err := latencyLog(ao.latencyLog, sc, &opts)
	if err != nil {
		return err
	}
	r.SetQuick(o.quick)
	rep, err := load.Run(ctx, sc, opts)
	sp.done()
	err = errors.Join(err, closeLog())
	if rep != nil && rep.ShardResult != nil {
		if werr := writeShardResult(e, ao.shardResult, o.memory.root, rep.ShardResult); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if rep != nil {
		r.SetParameters(apiParameters(rep, rounds))
		if rep.Partial {
			r.MarkPartial("the API run was stopped early")
		}
		for _, b := range rep.BenchResults().Benchmarks {
			if o.filter != nil && !o.filter.MatchString(b.Name) {
				continue
			}
			if aerr := r.Add(b); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		human := e.stdout
		if ao.jsonOut {
			human = e.stderr
		}
		_ = rep.WriteSummary(human)
		fmt.Fprintln(human)
		v := rep.Verdict()
		if rep.Shard == nil {
			ao.verdict = &v
		} else {
			// Targets and budgets are judged on the merged shards.
			fmt.Fprintf(human, "shard %d of %d: targets and budgets are judged on the merged shards (perfagent merge), not here\n", rep.Shard.Index, rep.Shard.Count)
		}
	}
	return err
}

// effectiveLoad is the load a run of sc with the overrides lo will have,
// defaults applied.
func effectiveLoad(sc *load.Scenario, lo load.Load) load.Load {
	l := lo
	if l.Duration == 0 && l.Requests == 0 {
		l.Duration, l.Requests = sc.Load.Duration, sc.Load.Requests
	}
	if l.Duration == 0 && l.Requests == 0 {
		l.Duration = load.DefaultDuration
	}
	return l
}

// apiParameters are the settings that shaped an API run, for
// results.Run.Parameters.
func apiParameters(rep *load.Report, rounds int) map[string]string {
	l := rep.Load
	p := map[string]string{
		"api.scenario":    rep.Scenario,
		"api.model":       string(l.Model),
		"api.concurrency": strconv.Itoa(l.Concurrency),
		"api.rounds":      strconv.Itoa(rounds),
		"api.timeout":     rep.Timeout.String(),
	}
	if l.Duration > 0 {
		p["api.duration"] = l.Duration.String()
	}
	if l.Requests > 0 {
		p["api.requests"] = strconv.FormatInt(l.Requests, 10)
	}
	if l.Model == load.ModelOpen {
		p["api.rate"] = strconv.FormatFloat(l.Rate, 'g', -1, 64)
		if l.RampDuration > 0 {
			p["api.ramp_from"] = strconv.FormatFloat(l.RampFrom, 'g', -1, 64)
			p["api.ramp"] = l.RampDuration.String()
		}
	}
	return p
}
