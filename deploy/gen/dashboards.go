package main

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// sel selects the series of the chosen targets. The service variable
// narrows the job and instance choices through target_info.
const sel = `job=~"$job", instance=~"$instance"`

// query is one panel target.
type query struct {
	Expr, Legend string
	// Heatmap formats a classic histogram's buckets for the heatmap panel.
	Heatmap bool
	// Instant asks for the latest value only (tables).
	Instant bool
}

// panelKind names the visualisations the dashboards use.
type panelKind int

const (
	kindTimeseries panelKind = iota
	kindHeatmap
	kindStat
	kindTable
	kindState
)

// panel is one dashboard panel, declared once and built with the SDK.
type panel struct {
	Kind        panelKind
	Title, Desc string
	Unit        string
	Width       uint32 // of 24 columns; 0 means 12
	Queries     []query
	Stacked     bool
	// NoValue is shown when no query returns data: for counters the agent
	// exports only once the first event happened.
	NoValue string
	// Links are data links (title, URL): the agent's own pages for the
	// series' instance.
	Links [][2]string
	Max   *float64
}

// row is a titled group of panels.
type row struct {
	Title  string
	Panels []panel
}

// board is one dashboard.
type board struct {
	File, UID, Title, Desc string
	Rows                   []row
}

func rate(metric string) string {
	return fmt.Sprintf("rate(%s{%s}[$__rate_interval])", metric, sel)
}

// heatmapQueries draws histogram h from classic buckets or from a native
// histogram, whichever the data source has.
func heatmapQueries(h string) []query {
	return []query{
		{Expr: fmt.Sprintf("sum by (le) (increase(%s_bucket{%s}[$__rate_interval]))", h, sel), Legend: "{{le}}", Heatmap: true},
		{Expr: fmt.Sprintf("sum(increase(%s{%s}[$__rate_interval]))", h, sel), Legend: "native"},
	}
}

func quantileQuery(rec string) query {
	return query{Expr: fmt.Sprintf("%s{%s}", rec, sel), Legend: "{{instance}} p{{quantile}}"}
}

// agentLinks point at the agent's own pages for a series' instance (the
// scrape address of the agent's listener).
var agentLinks = [][2]string{
	{"Leak detector state and reports (JSON)", "http://${__field.labels.instance}/debug/perfagent/leak"},
	{"Agent status and captures", "http://${__field.labels.instance}/debug/perfagent/"},
}

func ptr[T any](v T) *T { return &v }

// boards returns the three dashboards.
func boards() []board {
	return []board{runtimeBoard(), leaksBoard(), agentBoard()}
}

func runtimeBoard() board {
	return board{File: "perfagent-go-runtime.json", UID: "perfagent-go-runtime", Title: "perfagent / Go runtime",
		Desc: "Go runtime and process metrics exported by the perfagent agent (OpenTelemetry semantic conventions). Quantiles read the recording rules of deploy/prometheus.",
		Rows: []row{
			{Title: "Memory", Panels: []panel{
				{Title: "Memory by type", Unit: "bytes", Stacked: true,
					Desc:    "go.memory.used by go.memory.type: stacks and everything else the runtime holds (heap, metadata, buffers), without released memory.",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, go_memory_type) (go_memory_used_bytes{%s})", sel), Legend: "{{instance}} {{go_memory_type}}"}}},
				{Title: "Heap: live vs goal vs limit", Unit: "bytes",
					Desc: "Live heap marked by the last GC, the heap size the GC aims for next, and the Go memory limit (GOMEMLIMIT; absent when none is set).",
					Queries: []query{
						{Expr: fmt.Sprintf("perfagent_go_memory_heap_live_bytes{%s}", sel), Legend: "{{instance}} live"},
						{Expr: fmt.Sprintf("go_memory_gc_goal_bytes{%s}", sel), Legend: "{{instance}} goal"},
						{Expr: fmt.Sprintf("go_memory_limit_bytes{%s}", sel), Legend: "{{instance}} limit"},
					}},
				{Title: "Allocation rate", Unit: "Bps",
					Desc:    "Bytes allocated on the heap per second (recorded rate).",
					Queries: []query{{Expr: fmt.Sprintf("%s{%s}", recAllocBytes, sel), Legend: "{{instance}}"}}},
				{Title: "Allocations", Unit: "ops",
					Desc:    "Heap objects allocated per second (recorded rate).",
					Queries: []query{{Expr: fmt.Sprintf("%s{%s}", recAllocObjects, sel), Legend: "{{instance}}"}}},
				{Title: "Process memory", Unit: "bytes",
					Desc: "Resident and virtual memory of the process, as the kernel counts it.",
					Queries: []query{
						{Expr: fmt.Sprintf("process_memory_usage_bytes{%s}", sel), Legend: "{{instance}} resident"},
						{Expr: fmt.Sprintf("process_memory_virtual_bytes{%s}", sel), Legend: "{{instance}} virtual"},
					}},
				{Title: "GOGC and GOMAXPROCS", Kind: kindStat, Unit: "none",
					Desc: "The GC's heap growth target (absent when GOGC=off) and the runtime's processor limit.",
					Queries: []query{
						{Expr: fmt.Sprintf("go_config_gogc_percent{%s}", sel), Legend: "{{instance}} GOGC %"},
						{Expr: fmt.Sprintf("go_processor_limit{%s}", sel), Legend: "{{instance}} GOMAXPROCS"},
					}},
			}},
			{Title: "Garbage collector", Panels: []panel{
				{Title: "GC cycles", Unit: "ops", Width: 8,
					Desc:    "Completed GC cycles per second (recorded rate).",
					Queries: []query{{Expr: fmt.Sprintf("%s{%s}", recGCCycles, sel), Legend: "{{instance}}"}}},
				{Title: "GC pause quantiles", Unit: "s", Width: 8,
					Desc:    "Stop-the-world pause latency quantiles over the rules' rate window (recorded from classic or native histograms).",
					Queries: []query{quantileQuery(recPauseQuantile)}},
				{Title: "GC pause distribution", Kind: kindHeatmap, Unit: "s", Width: 8,
					Desc:    "Pauses per bucket: query A reads classic buckets, B a native histogram; one of them has data.",
					Queries: heatmapQueries("go_memory_gc_pause_duration_seconds")},
				{Title: "GC CPU", Unit: "percentunit", Max: ptr(1.0),
					Desc: "Share of the runtime's CPU capacity (GOMAXPROCS × time) spent in GC: recorded over the rules' window, and the agent's own estimate between the last two GC cycles.",
					Queries: []query{
						{Expr: fmt.Sprintf("%s{%s}", recGCCPU, sel), Legend: "{{instance}} recorded"},
						{Expr: fmt.Sprintf("perfagent_go_gc_cpu_fraction_ratio{%s}", sel), Legend: "{{instance}} agent"},
					}},
				{Title: "Go runtime CPU by class", Unit: "cores", Stacked: true,
					Desc:    "The runtime's CPU estimate by go.cpu.state: user Go code, GC, scavenger, idle (the four add up to GOMAXPROCS).",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, go_cpu_state) (%s)", rate("go_cpu_time_seconds_total")), Legend: "{{instance}} {{go_cpu_state}}"}}},
				{Title: "Finalizer and cleanup backlog", Unit: "short",
					Desc: "Finalizers and cleanups queued but not yet run: a backlog that only grows holds memory.",
					Queries: []query{
						{Expr: fmt.Sprintf("perfagent_go_gc_finalizer_backlog{%s}", sel), Legend: "{{instance}} finalizers"},
						{Expr: fmt.Sprintf("perfagent_go_gc_cleanup_backlog{%s}", sel), Legend: "{{instance}} cleanups"},
					}},
				{Title: "GC CPU limiter activations", Unit: "short",
					Desc:    "Times the GC CPU limiter turned on (the heap is near GOMEMLIMIT and the GC would use more than half the CPU).",
					Queries: []query{{Expr: fmt.Sprintf("increase(perfagent_go_gc_limiter_activations_total{%s}[$__rate_interval])", sel), Legend: "{{instance}}"}}},
			}},
			{Title: "Scheduler and goroutines", Panels: []panel{
				{Title: "Scheduling latency quantiles", Unit: "s",
					Desc:    "Time runnable goroutines waited for a CPU, quantiles over the rules' rate window (recorded from classic or native histograms).",
					Queries: []query{quantileQuery(recSchedQuantile)}},
				{Title: "Scheduling latency distribution", Kind: kindHeatmap, Unit: "s",
					Desc:    "Goroutine scheduling latencies per bucket: query A reads classic buckets, B a native histogram; one of them has data.",
					Queries: heatmapQueries("go_schedule_duration_seconds")},
				{Title: "Goroutines by state", Unit: "short", Stacked: true,
					Desc: "Live goroutines by scheduling state (an approximate snapshot) and the total count.",
					Queries: []query{
						{Expr: fmt.Sprintf("sum by (job, instance, state) (perfagent_go_goroutine_count{%s})", sel), Legend: "{{instance}} {{state}}"},
						{Expr: fmt.Sprintf("go_goroutine_count{%s}", sel), Legend: "{{instance}} total"},
					}},
				{Title: "Goroutines created", Unit: "ops",
					Desc:    "Goroutines started per second.",
					Queries: []query{{Expr: rate("perfagent_go_goroutine_created_total"), Legend: "{{instance}}"}}},
				{Title: "Mutex wait", Unit: "percentunit",
					Desc:    "Time goroutines spent blocked on mutexes, per second of wall time (1 = one goroutine always waiting).",
					Queries: []query{{Expr: rate("perfagent_go_sync_mutex_wait_time_seconds_total"), Legend: "{{instance}}"}}},
			}},
			{Title: "Process", Panels: []panel{
				{Title: "CPU by mode", Unit: "cores", Stacked: true, Width: 8,
					Desc:    "Process CPU time per second by cpu.mode (user, system).",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, cpu_mode) (%s)", rate("process_cpu_time_seconds_total")), Legend: "{{instance}} {{cpu_mode}}"}}},
				{Title: "Threads", Unit: "short", Width: 8,
					Desc: "OS threads of the process and those the Go runtime owns.",
					Queries: []query{
						{Expr: fmt.Sprintf("process_thread_count{%s}", sel), Legend: "{{instance}} process"},
						{Expr: fmt.Sprintf("perfagent_go_thread_count{%s}", sel), Legend: "{{instance}} Go runtime"},
					}},
				{Title: "Open file descriptors", Unit: "short", Width: 8,
					Desc:    "File descriptors the process holds open.",
					Queries: []query{{Expr: fmt.Sprintf("process_unix_file_descriptor_count{%s}", sel), Legend: "{{instance}}"}}},
				{Title: "Uptime", Kind: kindStat, Unit: "s", Width: 24,
					Desc:    "Time since the process started: a restart shows as a drop.",
					Queries: []query{{Expr: fmt.Sprintf("process_uptime_seconds{%s}", sel), Legend: "{{instance}}"}}},
			}},
		}}
}

func leaksBoard() board {
	return board{File: "perfagent-leaks.json", UID: "perfagent-leaks", Title: "perfagent / Leaks and captures",
		Desc: "The agent's heap and goroutine leak detector, the projected time to the Go memory limit, and triggered profile captures. Links open the agent's own pages for the instance.",
		Rows: []row{
			{Title: "Leak detection", Panels: []panel{
				{Title: "Leak state", Kind: kindState, Width: 24, Links: agentLinks,
					Desc:    "1 while the agent suspects or reports a leak of the kind (heap, goroutine). Its reports are memory/leak-<ts>.json and .md under the agent's output root, beside memory-chart-<ts>.csv/.svg and heap profiles.",
					Queries: []query{{Expr: fmt.Sprintf("perfagent_leak_suspected{%s}", sel), Legend: "{{instance}} {{kind}}"}}},
				{Title: "Live heap and its floor", Unit: "bytes",
					Desc: "Live heap after GC and its recorded floor (min_over_time): a floor that keeps rising is a leak; a sawtooth has a flat floor.",
					Queries: []query{
						{Expr: fmt.Sprintf("perfagent_go_memory_heap_live_bytes{%s}", sel), Legend: "{{instance}} live"},
						{Expr: fmt.Sprintf("%s{%s}", recHeapFloor, sel), Legend: "{{instance}} floor"},
					}},
				{Title: "Heap growth rate", Unit: "Bps",
					Desc: "The agent's robust slope of the live heap (Theil–Sen over its look-back) and the recorded slope of the floor (the one PerfagentHeapLeak confirms).",
					Queries: []query{
						{Expr: fmt.Sprintf("perfagent_leak_heap_growth_rate_bytes_per_second{%s}", sel), Legend: "{{instance}} agent"},
						{Expr: fmt.Sprintf("%s{%s}", recHeapTrend, sel), Legend: "{{instance}} floor trend"},
					}},
				{Title: "Goroutine growth rate", Unit: "short",
					Desc: "Goroutines per second: the agent's slope and the recorded slope of the goroutine floor.",
					Queries: []query{
						{Expr: fmt.Sprintf("perfagent_leak_goroutine_growth_rate_per_second{%s}", sel), Legend: "{{instance}} agent"},
						{Expr: fmt.Sprintf("%s{%s}", recGoroutineTrend, sel), Legend: "{{instance}} floor trend"},
					}},
				{Title: "Leak reports", Unit: "short", NoValue: "0",
					Desc:    "Reports the detector made, by kind and status (leaking, resolved).",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, kind, status) (increase(perfagent_leak_reports_total{%s}[$__rate_interval]))", sel), Legend: "{{instance}} {{kind}} {{status}}"}}},
			}},
			{Title: "Memory limit", Panels: []panel{
				{Title: "Projected time to the memory limit", Kind: kindStat, Unit: "s",
					NoValue: "not growing or no limit",
					Desc:    "Headroom below GOMEMLIMIT divided by the live heap's recorded trend; shown only while the heap grows and a limit is set.",
					Queries: []query{{Expr: fmt.Sprintf("%s{%s}", recLimitSecondsOut, sel), Legend: "{{instance}}"}}},
				{Title: "Memory limit usage", Unit: "percentunit", Max: ptr(1.0),
					Desc:    "Floor of the Go runtime's memory over the rules' window as a share of GOMEMLIMIT (the value PerfagentMemoryNearLimit compares).",
					Queries: []query{{Expr: fmt.Sprintf("%s{%s}", recLimitRatio, sel), Legend: "{{instance}}"}}},
			}},
			{Title: "Captures", Panels: []panel{
				{Title: "Captures by type", Unit: "short", Width: 8, NoValue: "0", Links: agentLinks,
					Desc:    "Profiles captured (triggered or on demand), by profile type. The agent lists the files on its status page and writes them under its output root.",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, type) (increase(perfagent_capture_count_total{%s}[$__rate_interval]))", sel), Legend: "{{instance}} {{type}}"}}},
				{Title: "Captures skipped by reason", Unit: "short", Width: 8, NoValue: "0",
					Desc:    "Triggered captures not taken: cooldown, rate_limit, busy, too_many_goroutines, no_cpu_profiler.",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, reason) (increase(perfagent_capture_skipped_total{%s}[$__rate_interval]))", sel), Legend: "{{instance}} {{reason}}"}}},
				{Title: "Captures failed", Unit: "short", Width: 8, NoValue: "0",
					Desc:    "Profile captures that failed, by type.",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, type) (increase(perfagent_capture_failures_total{%s}[$__rate_interval]))", sel), Legend: "{{instance}} {{type}}"}}},
			}},
		}}
}

func agentBoard() board {
	return board{File: "perfagent-agent.json", UID: "perfagent-agent", Title: "perfagent / Agent",
		Desc: "What the perfagent agent itself costs and whether its data gets out: collections, exports, drops, recovered panics, profiling uploads and queue.",
		Rows: []row{
			{Title: "Targets", Panels: []panel{
				{Title: "Targets running the agent", Kind: kindTable, Width: 24,
					Desc:    "One row per target: service, agent version, Go version (target_info).",
					Queries: []query{{Expr: fmt.Sprintf("target_info{%s}", sel), Instant: true}}},
			}},
			{Title: "Collection", Panels: []panel{
				{Title: "Collection cost", Unit: "s", Width: 8,
					Desc: "Mean time of one collection of runtime and process metrics (one per scrape or push), and the latest one.",
					Queries: []query{
						{Expr: fmt.Sprintf("rate(perfagent_agent_collection_time_seconds_total{%s}[$__rate_interval])\n/\nrate(perfagent_agent_collection_count_total{%s}[$__rate_interval])", sel, sel), Legend: "{{instance}} mean"},
						{Expr: fmt.Sprintf("perfagent_agent_collection_duration_seconds{%s}", sel), Legend: "{{instance}} latest"},
					}},
				{Title: "Collection CPU share", Unit: "percentunit", Width: 8,
					Desc:    "Seconds spent collecting per second: the agent's main cost on the host.",
					Queries: []query{{Expr: rate("perfagent_agent_collection_time_seconds_total"), Legend: "{{instance}}"}}},
				{Title: "Collections and failures", Unit: "ops", Width: 8,
					Desc: "Collections per second, and those that failed (a recovered panic).",
					Queries: []query{
						{Expr: rate("perfagent_agent_collection_count_total"), Legend: "{{instance}} collections"},
						{Expr: rate("perfagent_agent_collection_errors_total"), Legend: "{{instance}} failed"},
					}},
			}},
			{Title: "Delivery", Panels: []panel{
				{Title: "Exports by exporter", Unit: "ops", Width: 8, NoValue: "no push exporter",
					Desc:    "Push exports attempted per second, by exporter (otlp-grpc, otlp-http, console); Prometheus is pulled and not counted here.",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, exporter) (%s)", rate("perfagent_agent_export_count_total")), Legend: "{{instance}} {{exporter}}"}}},
				{Title: "Export failures by exporter", Unit: "percentunit", Width: 8, NoValue: "no push exporter", Max: ptr(1.0),
					Desc: "Share of push exports that failed (recorded over the rules' export window), and failures per second.",
					Queries: []query{
						{Expr: fmt.Sprintf("%s{%s}", recExportFailRatio, sel), Legend: "{{instance}} {{exporter}} share"},
						{Expr: fmt.Sprintf("sum by (job, instance, exporter) (%s)", rate("perfagent_agent_export_failures_total")), Legend: "{{instance}} {{exporter}} /s"},
					}},
				{Title: "Dropped data by kind", Unit: "short", Width: 8, NoValue: "0",
					Desc:    "Items dropped because a bounded buffer, queue or quota was full: profiles (upload queue), files (output directory).",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, kind) (increase(perfagent_agent_dropped_total{%s}[$__rate_interval]))", sel), Legend: "{{instance}} {{kind}}"}}},
				{Title: "Recovered panics by component", Unit: "short", Width: 24, NoValue: "0",
					Desc:    "Panics the agent recovered in its own goroutines, by component: each one is a bug to report; the host kept running.",
					Queries: []query{{Expr: fmt.Sprintf("sum by (job, instance, component) (increase(perfagent_agent_panics_total{%s}[$__rate_interval]))", sel), Legend: "{{instance}} {{component}}"}}},
			}},
			{Title: "Profiling", Panels: []panel{
				{Title: "Profiles collected", Unit: "ops", Width: 8, NoValue: "profiling off",
					Desc: "Profiles taken per second by kind, and collection errors.",
					Queries: []query{
						{Expr: fmt.Sprintf("sum by (job, instance, kind) (%s)", rate("perfagent_profiling_collected_total")), Legend: "{{instance}} {{kind}}"},
						{Expr: fmt.Sprintf("sum by (job, instance) (%s)", rate("perfagent_profiling_collection_errors_total")), Legend: "{{instance}} errors"},
					}},
				{Title: "Profile uploads", Unit: "ops", Width: 8, NoValue: "profiling off",
					Desc: "Profiles delivered (to Pyroscope or to files) and failed per second, by kind and sink, and retried attempts.",
					Queries: []query{
						{Expr: fmt.Sprintf("sum by (job, instance, kind, sink) (%s)", rate("perfagent_profiling_uploaded_total")), Legend: "{{instance}} {{sink}} {{kind}} delivered"},
						{Expr: fmt.Sprintf("sum by (job, instance, kind, sink) (%s)", rate("perfagent_profiling_failed_total")), Legend: "{{instance}} {{sink}} {{kind}} failed"},
						{Expr: fmt.Sprintf("sum by (job, instance, sink) (%s)", rate("perfagent_profiling_retries_total")), Legend: "{{instance}} {{sink}} retries"},
					}},
				{Title: "Profile queue", Unit: "short", Width: 8, NoValue: "profiling off",
					Desc: "Profiles waiting for delivery (bounded: 64 profiles, 16 MiB) and those dropped per second.",
					Queries: []query{
						{Expr: fmt.Sprintf("sum by (job, instance, sink) (perfagent_profiling_queue_size{%s})", sel), Legend: "{{instance}} {{sink}} queued"},
						{Expr: fmt.Sprintf("sum by (job, instance, sink) (%s)", rate("perfagent_profiling_dropped_total")), Legend: "{{instance}} {{sink}} dropped/s"},
					}},
				{Title: "Profiling cost and volume", Unit: "percentunit", Width: 24, NoValue: "profiling off",
					Desc: "Seconds spent collecting profiles per second, and bytes delivered per second (right axis).",
					Queries: []query{
						{Expr: rate("perfagent_profiling_collection_time_seconds_total"), Legend: "{{instance}} collection CPU"},
						{Expr: fmt.Sprintf("sum by (job, instance, sink) (%s)", rate("perfagent_profiling_uploaded_size_bytes_total")), Legend: "{{instance}} {{sink}} bytes/s"},
					}},
			}},
		}}
}

// datasource is the data source variable every panel and variable uses.
var datasource = common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}

// variables are the dashboards' template variables: data source, then
// service, job and instance, each narrowing the next through target_info.
func variables() []cog.Builder[dashboard.VariableModel] {
	qv := func(name, label, q string) cog.Builder[dashboard.VariableModel] {
		return dashboard.NewQueryVariableBuilder(name).Label(label).
			Datasource(datasource).
			Query(dashboard.StringOrMap{String: ptr(q)}).
			Definition(q).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).IncludeAll(true).AllValue(".*").
			Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: ptr("All")}, Value: dashboard.StringOrArrayOfString{String: ptr("$__all")}})
	}
	return []cog.Builder[dashboard.VariableModel]{
		dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus"),
		qv("service", "Service", "label_values(target_info, service_name)"),
		qv("job", "Job", `label_values(target_info{service_name=~"$service"}, job)`),
		qv("instance", "Instance", `label_values(target_info{service_name=~"$service", job=~"$job"}, instance)`),
	}
}

func target(q query, refID string) cog.Builder[variants.Dataquery] {
	b := prometheus.NewDataqueryBuilder().Expr(q.Expr).RefId(refID).Datasource(datasource)
	if q.Legend != "" {
		b.LegendFormat(q.Legend)
	}
	switch {
	case q.Heatmap:
		b.Format(prometheus.PromQueryFormatHeatmap)
	case q.Instant:
		b.Instant().Format(prometheus.PromQueryFormatTable)
	}
	return b
}

// buildPanel turns p into an SDK panel builder of the right kind.
func buildPanel(p panel, id uint32) cog.Builder[dashboard.Panel] {
	w := p.Width
	if w == 0 {
		w = 12
	}
	var links []cog.Builder[dashboard.DashboardLink]
	for _, l := range p.Links {
		links = append(links, dashboard.NewDashboardLinkBuilder(l[0]).Type(dashboard.DashboardLinkTypeLink).Url(l[1]).TargetBlank(true))
	}
	var targets []cog.Builder[variants.Dataquery]
	for i, q := range p.Queries {
		targets = append(targets, target(q, string(rune('A'+i))))
	}
	switch p.Kind {
	case kindHeatmap:
		return heatmap.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Desc).Span(w).Height(8).Datasource(datasource).
			Targets(targets).Calculate(false).
			YAxis(heatmap.NewYAxisConfigBuilder().Unit(p.Unit)).
			Color(heatmap.NewHeatmapColorOptionsBuilder().Mode(heatmap.HeatmapColorModeScheme).Scheme("Oranges").Exponent(0.5).Steps(64)).
			CellValues(heatmap.NewCellValuesBuilder().Unit("short")).
			ShowLegend()
	case kindStat:
		b := stat.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Desc).Span(w).Height(6).Datasource(datasource).
			Targets(targets).Unit(p.Unit).GraphMode(common.BigValueGraphModeArea).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
		if p.NoValue != "" {
			b.NoValue(p.NoValue)
		}
		return b
	case kindTable:
		return table.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Desc).Span(w).Height(6).Datasource(datasource).
			Targets(targets).
			Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
			WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
				"excludeByName": map[string]any{"Time": true, "Value": true, "__name__": true},
			}})
	case kindState:
		return statetimeline.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Desc).Span(w).Height(6).Datasource(datasource).
			Targets(targets).DataLinks(links).
			Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: map[string]dashboard.ValueMappingResult{
				"0": {Text: ptr("no leak"), Color: ptr("green")},
				"1": {Text: ptr("leak suspected"), Color: ptr("red")},
			}}}})
	}
	b := timeseries.NewPanelBuilder().Id(id).Title(p.Title).Description(p.Desc).Span(w).Height(8).Datasource(datasource).
		Targets(targets).Unit(p.Unit).Min(0).FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().ShowLegend(true).DisplayMode(common.LegendDisplayModeTable).Placement(common.LegendPlacementBottom).Calcs([]string{"lastNotNull", "max"}))
	if p.Stacked {
		b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(40)
	}
	if p.NoValue != "" {
		b.NoValue(p.NoValue)
	}
	if p.Max != nil {
		b.Max(*p.Max)
	}
	if len(links) > 0 {
		b.DataLinks(links)
	}
	return b
}

// dashboardJSON renders b as Grafana dashboard JSON.
func dashboardJSON(b board) ([]byte, error) {
	d := dashboard.NewDashboardBuilder(b.Title).Uid(b.UID).Description(b.Desc).
		Tags([]string{"perfagent", "go"}).Editable().Refresh("30s").Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).Tooltip(dashboard.DashboardCursorSyncCrosshair)
	for _, v := range variables() {
		d.WithVariable(v)
	}
	for _, o := range boards() {
		if o.UID != b.UID {
			d.Link(dashboard.NewDashboardLinkBuilder(o.Title).Type(dashboard.DashboardLinkTypeLink).
				Url("/d/" + o.UID).IncludeVars(true).KeepTime(true))
		}
	}
	id := uint32(0)
	for _, r := range b.Rows {
		id++
		d.WithRow(dashboard.NewRowBuilder(r.Title).Id(id))
		for _, p := range r.Panels {
			id++
			d.WithPanel(buildPanel(p, id))
		}
	}
	out, err := d.Build()
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", b.UID, err)
	}
	js, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", b.UID, err)
	}
	return append(js, '\n'), nil
}
