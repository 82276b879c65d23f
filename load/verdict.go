package load

import (
	"fmt"
	"time"
)

// Verdict is the judgement of a run against its scenario's latency targets
// and error budgets. Pass is true when every check passed.
type Verdict struct {
	Pass   bool    `json:"pass"`
	Checks []Check `json:"checks"`
}

// Check is one evaluated target or budget.
type Check struct {
	// Endpoint is the endpoint's name; empty for run-level checks.
	Endpoint string `json:"endpoint,omitempty"`
	// Metric is "p50", "p90", "p95", "p99", "p99.9" (latency targets, in
	// nanoseconds), "availability", "error-rate", "timeout-rate"
	// (fractions), "requests" (a run that completed none fails) or
	// "generator" (an open-model run whose generator saturated fails: its
	// latencies are not the target's).
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	// Limit is the target; Op tells how Value compares with it: "<=" or
	// ">=" (inclusive).
	Limit float64 `json:"limit"`
	Op    string  `json:"op"`
	Pass  bool    `json:"pass"`
	// Message says it in words ("health p99 212ms > 200ms").
	Message string `json:"message"`
}

// Failed returns the checks that did not pass.
func (v Verdict) Failed() []Check {
	var out []Check
	for _, c := range v.Checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

// Verdict evaluates the endpoints' latency targets and the run's error
// budgets (over the measured traffic; setup traffic is excluded).
func (r *Report) Verdict() Verdict {
	v := Verdict{Pass: true}
	add := func(c Check) {
		if !c.Pass {
			v.Pass = false
		}
		v.Checks = append(v.Checks, c)
	}
	for _, ep := range r.Endpoints {
		t, l := ep.Targets, ep.Latency
		for _, x := range []struct {
			name          string
			target, value time.Duration
		}{{"p50", t.P50, l.P50}, {"p90", t.P90, l.P90}, {"p95", t.P95, l.P95}, {"p99", t.P99, l.P99}, {"p99.9", t.P999, l.P999}} {
			if x.target <= 0 {
				continue
			}
			c := Check{Endpoint: ep.Name, Metric: x.name, Value: float64(x.value), Limit: float64(x.target), Op: "<="}
			c.Pass = l.N > 0 && x.value <= x.target
			switch {
			case l.N == 0:
				c.Message = fmt.Sprintf("%s %s: no latency measured (target %v)", ep.Name, x.name, x.target)
			case c.Pass:
				c.Message = fmt.Sprintf("%s %s %v <= %v", ep.Name, x.name, roundDur(x.value), x.target)
			default:
				c.Message = fmt.Sprintf("%s %s %v > %v", ep.Name, x.name, roundDur(x.value), x.target)
			}
			add(c)
		}
	}
	tot, b := r.Total, r.Budgets
	add(Check{Metric: "requests", Value: float64(tot.Requests), Limit: 1, Op: ">=", Pass: tot.Requests > 0,
		Message: fmt.Sprintf("%d requests completed", tot.Requests)})
	for _, c := range []Check{
		rateCheck("availability", tot.Availability, b.Availability, ">="),
		rateCheck("error-rate", tot.ErrorRate, b.ErrorRate, "<="),
		rateCheck("timeout-rate", tot.TimeoutRate, b.TimeoutRate, "<="),
	} {
		if tot.Requests == 0 {
			// Nothing measured passes no budget.
			c.Pass = false
			c.Message = fmt.Sprintf("%s not measured (budget %s %s): no request completed", c.Metric, c.Op, pct(c.Limit))
		}
		add(c)
	}
	if r.Open != nil {
		c := Check{Metric: "generator", Value: 0, Limit: 0, Op: "<=", Pass: !r.Open.Saturated, Message: "generator " + r.Open.Saturation}
		if r.Open.Saturated {
			c.Value = 1
		}
		add(c)
	}
	return v
}

func rateCheck(metric string, value, limit float64, op string) Check {
	c := Check{Metric: metric, Value: value, Limit: limit, Op: op}
	if op == ">=" {
		c.Pass = value >= limit
	} else {
		c.Pass = value <= limit
	}
	word := map[bool]string{true: "ok", false: "FAILED"}[c.Pass]
	c.Message = fmt.Sprintf("%s %s (budget %s %s): %s", metric, pct(value), op, pct(limit), word)
	return c
}

// pct formats a fraction as a percentage with enough digits for budgets
// like 0.01%.
func pct(f float64) string {
	switch p := 100 * f; {
	case p == 0 || p == 100:
		return fmt.Sprintf("%.0f%%", p)
	case p >= 99.99 || p < 0.1:
		return fmt.Sprintf("%.3f%%", p)
	default:
		return fmt.Sprintf("%.2f%%", p)
	}
}

// roundDur rounds d to about 3 significant digits for display.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 10*time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	case d >= 10*time.Microsecond:
		return d.Round(10 * time.Nanosecond)
	}
	return d
}
