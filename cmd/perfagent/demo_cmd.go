package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/perfagent/perfagent/agent"
)

func demoCommand() command {
	c := command{
		name: "demo",
		summary: "Run the built-in demo target (health, auth flow, API, cache, search, inference routes and a small web page) " +
			"with the perfagent agent, printing its URLs, until interrupted.",
		examples: []string{
			"perfagent demo",
			"perfagent demo --addr 127.0.0.1:8080 --pprof",
			"perfagent demo --addr 127.0.0.1:0 --duration 30s",
		},
	}
	c.run = func(e *env, args []string) int {
		fs := newFlags(e, c)
		addr := fs.String("addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
		pprof := fs.Bool("pprof", false, "serve /debug/pprof/ through the agent")
		duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
		args, code, ok := parse(e, fs, args)
		if !ok {
			return code
		}
		if len(args) > 0 {
			return usageErr(e, c.name, "unexpected argument %q", args[0])
		}
		if *duration < 0 {
			return usageErr(e, c.name, "--duration %v: must not be negative (0 runs until interrupted)", *duration)
		}
		logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		srv, _, stop, err := startDemo(e.ctx, *addr, logger, agent.WithPprof(*pprof))
		if err != nil {
			return inputErr(e, c.name, fmt.Errorf("%w (--addr %s)", err, *addr))
		}
		defer stop()
		u := srv.URL()
		fmt.Fprintf(e.stdout, "demo target: %s\n", u)
		fmt.Fprintf(e.stdout, "  health:    %s/health\n", u)
		fmt.Fprintf(e.stdout, "  login:     curl -s -XPOST -d '{\"username\":\"demo\",\"password\":\"demo\"}' %s/auth/login\n", u)
		fmt.Fprintf(e.stdout, "  api:       %s/api/items (Authorization: Bearer <token>)\n", u)
		fmt.Fprintf(e.stdout, "  page:      %s/\n", u)
		fmt.Fprintf(e.stdout, "  metrics:   %s/metrics\n", u)
		fmt.Fprintf(e.stdout, "  status:    %s/debug/perfagent/\n", u)
		if *pprof {
			fmt.Fprintf(e.stdout, "  profiles:  %s/debug/pprof/\n", u)
		}
		fmt.Fprintln(e.stdout, "try: perfagent bench api --url "+u)
		var timeout <-chan time.Time
		if *duration > 0 {
			t := time.NewTimer(*duration)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-e.ctx.Done():
		case <-timeout:
		}
		return exitOK
	}
	return c
}
