package main

import (
	"fmt"
	"strings"
)

// rule is one recording or alerting rule.
type rule struct {
	Record, Alert string
	Expr          string
	For           string
	Labels        [][2]string
	Annotations   [][2]string
}

// group is one rule group.
type group struct {
	Name  string
	Rules []rule
}

// Names of the recorded series. Each keeps the job and instance labels (plus
// quantile, exporter or kind where named), whatever other labels the
// scraped series carry.
const (
	recSchedQuantile   = "perfagent:go_schedule_duration_seconds:quantile"
	recPauseQuantile   = "perfagent:go_memory_gc_pause_duration_seconds:quantile"
	recAllocBytes      = "perfagent:go_memory_allocated_bytes:rate"
	recAllocObjects    = "perfagent:go_memory_allocations:rate"
	recGCCycles        = "perfagent:go_memory_gc_cycles:rate"
	recGCCPU           = "perfagent:go_gc_cpu:ratio"
	recMemUsed         = "perfagent:go_memory_used_bytes:sum"
	recMemUsedFloor    = "perfagent:go_memory_used_bytes:floor"
	recLimitRatio      = "perfagent:go_memory_limit:usage_ratio"
	recHeapFloor       = "perfagent:go_memory_heap_live_bytes:floor"
	recHeapTrend       = "perfagent:go_memory_heap_live_bytes:trend"
	recLimitSecondsOut = "perfagent:go_memory_limit:seconds_left"
	recGoroutineFloor  = "perfagent:go_goroutine_count:floor"
	recGoroutineTrend  = "perfagent:go_goroutine_count:trend"
	recExportFailRatio = "perfagent:agent_export_failures:ratio"
	recDropped         = "perfagent:agent_dropped:rate"
)

// quantiles are the recorded quantiles of the runtime histograms.
var quantiles = []string{"0.5", "0.9", "0.99"}

// histogramQuantile returns the q-quantile of histogram h by job and
// instance, from classic buckets (h_bucket) or, when there are none, from
// a native histogram (h): one expression for every scrape and push path.
func histogramQuantile(q, h, window string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (job, instance, le) (rate(%s_bucket[%s])))\nor\n"+
		"histogram_quantile(%s, sum by (job, instance) (rate(%s[%s])))", q, h, window, q, h, window)
}

// ruleGroups returns the recording and alerting rules for p.
func ruleGroups(p Params) []group {
	rw, fw, tw := promDuration(p.RateWindow), promDuration(p.FloorWindow), promDuration(p.TrendWindow)
	var rec []rule
	for _, h := range []struct{ rec, metric string }{
		{recSchedQuantile, "go_schedule_duration_seconds"},
		{recPauseQuantile, "go_memory_gc_pause_duration_seconds"},
	} {
		for _, q := range quantiles {
			rec = append(rec, rule{Record: h.rec, Expr: histogramQuantile(q, h.metric, rw), Labels: [][2]string{{"quantile", q}}})
		}
	}
	rec = append(rec,
		rule{Record: recAllocBytes, Expr: fmt.Sprintf("sum by (job, instance) (rate(go_memory_allocated_bytes_total[%s]))", rw)},
		rule{Record: recAllocObjects, Expr: fmt.Sprintf("sum by (job, instance) (rate(go_memory_allocations_total[%s]))", rw)},
		rule{Record: recGCCycles, Expr: fmt.Sprintf("sum by (job, instance) (rate(go_memory_gc_cycles_total[%s]))", rw)},
		rule{Record: recGCCPU, Expr: fmt.Sprintf(
			"sum by (job, instance) (rate(go_cpu_time_seconds_total{go_cpu_state=\"gc\"}[%s]))\n/\n"+
				"sum by (job, instance) (rate(go_cpu_time_seconds_total[%s]))", rw, rw)},
		rule{Record: recMemUsed, Expr: "sum by (job, instance) (go_memory_used_bytes)"},
		rule{Record: recMemUsedFloor, Expr: fmt.Sprintf("min_over_time(%s[%s])", recMemUsed, rw)},
		rule{Record: recLimitRatio, Expr: fmt.Sprintf("%s\n/ on (job, instance)\n(max by (job, instance) (go_memory_limit_bytes) > 0)", recMemUsedFloor)},
		rule{Record: recHeapFloor, Expr: fmt.Sprintf("min by (job, instance) (min_over_time(perfagent_go_memory_heap_live_bytes[%s]))", fw)},
		rule{Record: recHeapTrend, Expr: fmt.Sprintf("deriv(%s[%s])", recHeapFloor, tw)},
		rule{Record: recLimitSecondsOut, Expr: fmt.Sprintf(
			"(max by (job, instance) (go_memory_limit_bytes) - on (job, instance) %s)\n/ on (job, instance)\n(%s > 0)",
			recMemUsedFloor, recHeapTrend)},
		rule{Record: recGoroutineFloor, Expr: fmt.Sprintf("min by (job, instance) (min_over_time(go_goroutine_count[%s]))", fw)},
		rule{Record: recGoroutineTrend, Expr: fmt.Sprintf("deriv(%s[%s])", recGoroutineFloor, tw)},
		rule{Record: recExportFailRatio, Expr: fmt.Sprintf(
			"sum by (job, instance, exporter) (increase(perfagent_agent_export_failures_total[%s]))\n/\n"+
				"sum by (job, instance, exporter) (increase(perfagent_agent_export_count_total[%s]))", promDuration(p.ExportWindow), promDuration(p.ExportWindow))},
		rule{Record: recDropped, Expr: fmt.Sprintf("sum by (job, instance, kind) (rate(perfagent_agent_dropped_total[%s]))", rw)},
	)

	where := "{{ $labels.job }} {{ $labels.instance }}"
	secondsLeft := fmt.Sprintf(`{{ with printf "%s{job=%%q,instance=%%q}" $labels.job $labels.instance | query }}`+
		` At the live heap's trend it reaches the Go memory limit in {{ . | first | value | humanizeDuration }}.{{ end }}`, recLimitSecondsOut)
	alert := func(name, severity, expr, forDur, summary, desc string) rule {
		return rule{Alert: name, Expr: expr, For: forDur,
			Labels: [][2]string{{"severity", severity}},
			Annotations: [][2]string{
				{"summary", summary},
				{"description", desc},
				{"runbook_url", p.RunbookURL + "#" + strings.ToLower(name)},
			}}
	}
	alerts := []rule{
		alert("PerfagentHeapLeak", "warning",
			fmt.Sprintf("%s > %s\nand on (job, instance)\nmax by (job, instance) (perfagent_leak_suspected{kind=\"heap\"}) == 1", recHeapTrend, num(p.HeapLeakMinRate)),
			promDuration(p.LeakFor),
			"Heap leak in "+where,
			"The agent reports a heap leak in "+where+" and the floor of its live heap after GC has been rising "+
				"{{ $value | humanize1024 }}B/s over the last "+tw+"."+secondsLeft+
				" The agent's report (GET /debug/perfagent/leak, or memory/leak-<ts>.md under its output root) names the growing allocation sites."),
		alert("PerfagentGoroutineLeak", "warning",
			fmt.Sprintf("%s > %s\nand on (job, instance)\nmax by (job, instance) (perfagent_leak_suspected{kind=\"goroutine\"}) == 1", recGoroutineTrend, num(p.GoroutineLeakMinRate)),
			promDuration(p.LeakFor),
			"Goroutine leak in "+where,
			"The agent reports a goroutine leak in "+where+" and the floor of its goroutine count has been rising "+
				"{{ printf \"%.2f\" $value }} goroutines/s over the last "+tw+". The agent's report (GET /debug/perfagent/leak) names the creation sites of the growing goroutines."),
		alert("PerfagentMemoryNearLimit", "critical",
			fmt.Sprintf("%s > %s", recLimitRatio, num(p.MemoryLimitRatio)),
			promDuration(p.MemoryFor),
			"Go memory near its limit in "+where,
			"The Go runtime of "+where+" has used at least {{ $value | humanizePercentage }} of its memory limit (GOMEMLIMIT) over the last "+rw+
				"; near the limit the GC runs more often and the process risks being killed."+
				fmt.Sprintf(`{{ with printf "%s{job=%%q,instance=%%q}" $labels.job $labels.instance | query }}`+
					` At the live heap's trend it reaches the limit in {{ . | first | value | humanizeDuration }}.{{ else }} The live heap is not growing.{{ end }}`, recLimitSecondsOut)),
		alert("PerfagentSchedulerLatencyHigh", "warning",
			fmt.Sprintf("%s{quantile=\"0.99\"} > %s", recSchedQuantile, num(p.SchedLatencyP99)),
			promDuration(p.SchedFor),
			"Scheduling latency high in "+where,
			"99% of the goroutines of "+where+" that became runnable over the last "+rw+" waited up to {{ $value | humanizeDuration }} for a CPU "+
				"(threshold "+humanSeconds(p.SchedLatencyP99)+"): the process is CPU-starved (GOMAXPROCS, CPU limit) or runs long non-preemptible work."),
		alert("PerfagentGCCPUHigh", "warning",
			fmt.Sprintf("%s > %s", recGCCPU, num(p.GCCPURatio)),
			promDuration(p.GCFor),
			"GC uses much of the CPU in "+where,
			"The Go GC of "+where+" used {{ $value | humanizePercentage }} of the runtime's CPU capacity (GOMAXPROCS × time) over the last "+rw+
				": allocation rate too high for the heap size (GOGC, GOMEMLIMIT too low, or the heap near its limit)."),
		alert("PerfagentExportsFailing", "warning",
			fmt.Sprintf("%s > %s", recExportFailRatio, num(p.ExportFailureRatio)),
			promDuration(p.ExportFor),
			"Agent exports failing in "+where,
			"{{ $value | humanizePercentage }} of the {{ $labels.exporter }} exports of "+where+" failed over the last "+promDuration(p.ExportWindow)+
				": its metrics are not reaching the collector. The agent logs the error (rate-limited) and its status page (GET /debug/perfagent/) shows the last one."),
		alert("PerfagentDroppingData", "warning",
			fmt.Sprintf("%s > 0", recDropped),
			promDuration(p.DropFor),
			"Agent dropping {{ $labels.kind }} data in "+where,
			"The agent of "+where+" keeps dropping {{ $labels.kind }} items ({{ printf \"%.3g\" $value }} a second over the last "+rw+
				") because a bounded queue, buffer or quota is full: profiles when the profiling server is slow or down, files when the output directory is full or unwritable."),
		alert("PerfagentTargetDown", "critical",
			fmt.Sprintf("up == 0\nand on (job, instance)\nlast_over_time(target_info{perfagent_version!=\"\"}[%s])", promDuration(p.TargetMemory)),
			promDuration(p.TargetDownFor),
			"Agent target down: "+where,
			"Prometheus cannot scrape "+where+", which served the perfagent agent within the last "+promDuration(p.TargetMemory)+
				": the process is down, restarting in a loop, or its metrics listener is unreachable."),
	}
	return []group{{Name: "perfagent.recording", Rules: rec}, {Name: "perfagent.alerts", Rules: alerts}}
}

// humanSeconds formats a threshold in seconds for an annotation.
func humanSeconds(s float64) string {
	switch {
	case s >= 1:
		return num(s) + "s"
	case s >= 1e-3:
		return num(s*1e3) + "ms"
	default:
		return num(s*1e6) + "µs"
	}
}

// rulesYAML renders groups as a Prometheus rules file, indented by indent
// spaces (the PrometheusRule manifest nests them under spec).
func rulesYAML(groups []group, indent int) string {
	var b strings.Builder
	pad := strings.Repeat(" ", indent)
	b.WriteString(pad + "groups:\n")
	for _, g := range groups {
		fmt.Fprintf(&b, "%s  - name: %s\n%s    rules:\n", pad, g.Name, pad)
		for _, r := range g.Rules {
			in := pad + "        "
			if r.Record != "" {
				fmt.Fprintf(&b, "%s      - record: %s\n", pad, r.Record)
			} else {
				fmt.Fprintf(&b, "%s      - alert: %s\n", pad, r.Alert)
			}
			fmt.Fprintf(&b, "%sexpr: |-\n", in)
			for _, line := range strings.Split(r.Expr, "\n") {
				fmt.Fprintf(&b, "%s  %s\n", in, line)
			}
			if r.For != "" {
				fmt.Fprintf(&b, "%sfor: %s\n", in, r.For)
			}
			writeMap(&b, in, "labels", r.Labels)
			writeMap(&b, in, "annotations", r.Annotations)
		}
	}
	return b.String()
}

func writeMap(b *strings.Builder, in, key string, kv [][2]string) {
	if len(kv) == 0 {
		return
	}
	fmt.Fprintf(b, "%s%s:\n", in, key)
	for _, e := range kv {
		fmt.Fprintf(b, "%s  %s: %s\n", in, e[0], yamlQuote(e[1]))
	}
}

// yamlQuote returns s as a single-quoted YAML scalar.
func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// header heads every generated file.
const header = "# Code generated by deploy/gen (cd deploy && go generate ./...); DO NOT EDIT.\n" +
	"# Thresholds and windows are flags of the generator: see README.md, \"Alerts and runbook\".\n"

// rulesFile is the Prometheus rules file.
func rulesFile(p Params) string { return header + rulesYAML(ruleGroups(p), 0) }

// prometheusRule is the same rules as a Prometheus Operator PrometheusRule.
func prometheusRule(p Params) string {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: perfagent\n")
	if p.Namespace != "" {
		fmt.Fprintf(&b, "  namespace: %s\n", p.Namespace)
	}
	labels, _ := p.operatorLabels()
	if len(labels) > 0 {
		b.WriteString("  labels:\n")
		for _, kv := range labels {
			fmt.Fprintf(&b, "    %s: %s\n", kv[0], yamlQuote(kv[1]))
		}
	}
	b.WriteString("spec:\n")
	b.WriteString(rulesYAML(ruleGroups(p), 2))
	return b.String()
}
