package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/page"
	"github.com/perfagent/perfagent/results"
)

func pageCommand() command {
	c := command{
		name: "page",
		args: "URL...",
		summary: "Load pages in headless Chromium and measure bytes and requests by resource type, TTFB, FCP, LCP, CLS, TTI and TBT " +
			"(medians and spread over --runs cold loads); check them against page budgets with --budgets.",
		examples: []string{
			"perfagent page http://127.0.0.1:8080/",
			"perfagent page --runs 3 --network fast-3g --cpu-slowdown 4 https://example.com/",
			"perfagent page --budgets examples/budgets/budget.json http://127.0.0.1:8080/",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		root := outputRoot(e, fs)
		runs := fs.Int("runs", 5, "cold loads per URL")
		chrome := fs.String("chrome", "", "browser binary (default $CHROME_PATH, then /usr/lib/chromium/chromium, /usr/bin/chromium, Chrome's paths)")
		cpu := fs.Float64("cpu-slowdown", 1, "CPU throttling factor, e.g. 4")
		network := fs.String("network", "none", "network emulation: slow-3g | fast-3g | 4g | none | LATENCY,DOWN,UP (e.g. 150ms,1.6Mbit,750kbit)")
		viewport := fs.String("viewport", "1350x940", "emulated viewport WxH")
		timeout := fs.Duration("timeout", 30*time.Second, "limit per run")
		quiet := fs.Duration("quiet-window", 5*time.Second, "TTI quiet window (Lighthouse's 5s; each run lasts at least this after FCP)")
		firstParty := fs.String("first-party", "", "comma-separated hosts counted as first party (e.g. *.example-cdn.com)")
		budgetsFile := fs.String("budgets", "", "check the pages against this budgets file (perfagent YAML or Lighthouse budget.json)")
		asJSON := fs.Bool("json", false, "print the results JSON instead of the text summary")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		if len(args) == 0 {
			return usageErr(e, c.name, "give at least one URL")
		}
		net, err := page.ParseNetwork(*network)
		if err != nil {
			return usageErr(e, c.name, "--network: %v", err)
		}
		w, h, err := parseViewport(*viewport)
		if err != nil {
			return usageErr(e, c.name, "--viewport: %v", err)
		}
		var budgets *budget.Budgets
		if *budgetsFile != "" {
			if budgets, err = budget.Load(*budgetsFile); err != nil {
				return inputErr(e, c.name, err)
			}
		}
		opts := page.Options{
			Runs: *runs, ChromePath: *chrome, CPUSlowdown: *cpu, Network: net, Width: w, Height: h,
			Timeout: *timeout, QuietWindow: *quiet, Getenv: e.getenv,
		}
		if *firstParty != "" {
			opts.FirstPartyHosts = strings.Split(*firstParty, ",")
		}
		if budgets != nil { // a Lighthouse file's options.firstPartyHostnames
			for _, u := range args {
				opts.FirstPartyHosts = append(opts.FirstPartyHosts, budgets.FirstPartyHosts(u)...)
			}
		}
		sp := newSpinner(e, "loading pages")
		defer sp.done()
		opts.OnRun = func(url string, l page.Load) { sp.describe(fmt.Sprintf("%s: run %d", url, l.Index)) }

		b, err := page.Launch(e.ctx, opts)
		if err != nil {
			// No browser (page.ErrNoBrowser: the message says how to install
			// one) or a bad option: an input error.
			return inputErr(e, c.name, err)
		}
		defer b.Close()

		res := &results.Run{Schema: results.Schema, Suite: "page", StartedAt: time.Now().UTC(), Environment: results.CurrentEnvironment()}
		var failures int
		for _, u := range args {
			r, err := b.Measure(e.ctx, u)
			if r != nil {
				if result, rerr := r.Result(); rerr == nil {
					res.Benchmarks = append(res.Benchmarks, result)
					if result.Error != "" && err == nil {
						err = errors.New(result.Error)
					}
				}
				if !*asJSON {
					_ = r.WriteMarkdown(e.stdout)
					fmt.Fprintln(e.stdout)
				}
			}
			if err != nil {
				if e.ctx.Err() != nil {
					res.Partial = true
					break
				}
				failures++
				fmt.Fprintf(e.stderr, "perfagent page: %s: %v\n", u, err)
			}
		}
		sp.done()
		res.FinishedAt = time.Now().UTC()
		path, err := results.SaveRun(benchDir(*root), res)
		if err != nil {
			return runErr(e, c.name, err)
		}
		var verdict *budget.Verdict
		if budgets != nil {
			verdict = budget.Evaluate(budgets, res)
		}
		if *asJSON {
			_ = printJSON(e.stdout, struct {
				Results *results.Run    `json:"results"`
				Budgets *budget.Verdict `json:"budgets,omitempty"`
				Files   []string        `json:"files"`
			}{res, verdict, []string{path}})
		} else {
			fmt.Fprintf(e.stdout, "results: %s\n", path)
			if verdict != nil {
				_ = verdict.WriteText(e.stdout)
			}
		}
		switch {
		case res.Partial:
			fmt.Fprintln(e.stderr, "perfagent page: interrupted; the results measured so far were saved (marked partial)")
			return exitRunError
		case failures == len(args):
			// Note: no page loaded, so nothing was measured: budgets are
			// "not measured" and the run failed, whatever they say.
			fmt.Fprintf(e.stderr, "perfagent page: no page loaded (%d of %d URLs failed); results saved in %s\n", failures, len(args), path)
			return exitRunError
		case verdict != nil && verdict.Failed():
			return exitFailed
		}
		return exitOK
	}
	return c
}

func parseViewport(s string) (int, int, error) {
	ws, hs, ok := strings.Cut(s, "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("%q is not WIDTHxHEIGHT, e.g. 1350x940", s)
	}
	return w, h, nil
}
