package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/perfagent/perfagent/agent"
	"github.com/perfagent/perfagent/bench"
	"github.com/perfagent/perfagent/demo"
	"github.com/perfagent/perfagent/load"
)

// apiOptions are the flags of the API suite.
type apiOptions struct {
	url, scenario   string
	duration        time.Duration
	requests        int64
	concurrency     int
	rate, rampFrom  float64
	ramp, timeout   time.Duration
	netHTTP         bool
	verdict         *load.Verdict // set by a run, checked by the command
	scenarioParsed  *load.Scenario
	scenarioChecked bool
}

func (o *apiOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.url, "url", "", "api: base URL of the service (default: start the built-in demo target on a free loopback port)")
	fs.StringVar(&o.scenario, "scenario", "", "api: scenario file (YAML or JSON); default: health, auth flow, metrics and custom routes")
	fs.DurationVar(&o.duration, "duration", 0, "api: run length (default the scenario's, else 10s; 2s with --quick)")
	fs.Int64Var(&o.requests, "requests", 0, "api: stop after this many measured requests")
	fs.IntVar(&o.concurrency, "concurrency", 0, "api: virtual users (closed model) or maximum requests in flight (open model)")
	fs.Float64Var(&o.rate, "rate", 0, "api: open model at this many requests per second (latency measured from intended send times)")
	fs.Float64Var(&o.rampFrom, "ramp-from", 0, "api: open model: ramp the rate from this value to --rate over --ramp")
	fs.DurationVar(&o.ramp, "ramp", 0, "api: ramp duration")
	fs.DurationVar(&o.timeout, "timeout", 0, "api: per-request timeout (default the scenario's, else 10s)")
	fs.BoolVar(&o.netHTTP, "net-http", false, "api: measure through net/http instead of the lean HTTP/1.1 client")
}

func (o *apiOptions) validate() error {
	if o.rate < 0 || o.rampFrom < 0 || o.concurrency < 0 || o.requests < 0 || o.duration < 0 || o.timeout < 0 || o.ramp < 0 {
		return errors.New("api flags must not be negative")
	}
	if (o.rampFrom > 0 || o.ramp > 0) && o.rate == 0 {
		return errors.New("--ramp-from and --ramp need --rate (the open model)")
	}
	if o.scenario != "" {
		sc, err := load.LoadScenarioFile(o.scenario)
		if err != nil {
			return err
		}
		o.scenarioParsed = sc
	}
	return nil
}

// startDemo starts the built-in demo target with a perfagent agent serving
// its /metrics and /debug/. The returned stop function shuts both down.
func startDemo(ctx context.Context, addr string, logger *slog.Logger, opts ...agent.Option) (*demo.Server, *agent.Agent, func(), error) {
	// The demo is a self-contained target: it may run beside an agent the
	// embedding process already has (tests, or a host calling run()).
	opts = append([]agent.Option{agent.WithoutHTTPServer(), agent.WithServiceName("perfagent-demo"), agent.WithLogger(logger),
		agent.WithAllowMultiple()}, opts...)
	a, err := agent.Start(ctx, opts...)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, err := demo.Start(ctx, demo.Options{Addr: addr, Handler: a.Handler()})
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
	sp := newSpinner(e, "api")
	defer sp.done()
	opts := load.Options{Load: lo, Timeout: ao.timeout, Progress: func(p load.Progress) {
		sp.describe(fmt.Sprintf("api: %d requests, %d errors, %.0f%%", p.Requests, p.Errors, p.Fraction*100))
	}}
	if ao.netHTTP {
		opts.Engine = load.EngineNetHTTP
	}
	rep, err := load.Run(ctx, sc, opts)
	sp.done()
	if rep != nil {
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
		_ = rep.WriteSummary(e.stdout)
		fmt.Fprintln(e.stdout)
		v := rep.Verdict()
		ao.verdict = &v
	}
	return err
}
