package page

import (
	"encoding/json"
	"io"

	"github.com/perfagent/perfagent/results/pageload"
)

// The measurement's record lives in package pageload, so that renderers
// (package report) read page results without linking the browser driver.
// These names are the same types.
type (
	// Report is [pageload.Report]: one URL, every run and the medians.
	Report = pageload.Report
	// Settings is [pageload.Settings].
	Settings = pageload.Settings
	// Load is [pageload.Load], one run.
	Load = pageload.Load
	// Resource is [pageload.Resource].
	Resource = pageload.Resource
	// Request is [pageload.Request].
	Request = pageload.Request
	// Task is [pageload.Task].
	Task = pageload.Task
	// Spread is [pageload.Spread].
	Spread = pageload.Spread
	// Network is [pageload.Network], an emulated network.
	Network = pageload.Network
)

// Names of the record, as in package pageload.
const (
	ReportSchema = pageload.ReportSchema // the value of Report.Schema
	UnitLoad     = pageload.UnitLoad     // the end of the load event, in ns
	MaxRequests  = pageload.MaxRequests  // requests kept per run
	MaxLongTasks = pageload.MaxLongTasks // long tasks kept per run
)

// DecodeDetail reads the [Report] stored in a page result's Detail; see
// [pageload.DecodeDetail].
func DecodeDetail(raw json.RawMessage) (*Report, error) { return pageload.DecodeDetail(raw) }

// RenderSVG writes the bytes-by-type chart and the waterfall of the median
// run; see [pageload.RenderSVG].
func RenderSVG(w io.Writer, r *Report) error { return pageload.RenderSVG(w, r) }
