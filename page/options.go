package page

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Defaults of [Options].
const (
	DefaultRuns        = 5
	DefaultTimeout     = 30 * time.Second
	DefaultQuietWindow = 5 * time.Second
	DefaultWidth       = 1350 // Lighthouse's desktop viewport
	DefaultHeight      = 940
)

// Options configure a measurement. The zero value means the defaults.
type Options struct {
	// Runs is how many times each URL is loaded (default 5). Each run uses
	// a new browser context: its own HTTP cache, cookies, storage and
	// sockets, so no run benefits from another's cache.
	Runs int
	// ChromePath is the browser binary (the CLI's --chrome). Empty means
	// $CHROME_PATH, then the well-known paths (see [FindChrome]).
	ChromePath string
	// CPUSlowdown throttles the page's CPU by this factor through
	// Emulation.setCPUThrottlingRate (4 = four times slower). 0 or 1 means
	// no throttling; values below 1 are an error.
	CPUSlowdown float64
	// Network, when not nil, emulates a slower network for every request of
	// the page (see [ParseNetwork] for presets).
	Network *Network
	// Width and Height set the emulated viewport in CSS pixels (default
	// 1350x940, Lighthouse's desktop size).
	Width, Height int
	// Timeout bounds one run: navigation, the load event and the wait for
	// a quiet window (default 30s). A run that hits it is reported with an
	// error and whatever it measured.
	Timeout time.Duration
	// QuietWindow is the span with no long task and at most two requests
	// in flight that ends the TTI search (default 5s, Lighthouse's value).
	// Each run lasts at least this long after the page's FCP.
	QuietWindow time.Duration
	// FirstPartyHosts are host names ("cdn.example.com", "*.example.com")
	// counted as first party in addition to the page's own site (its
	// registrable domain, e.g. example.com for www.example.com).
	FirstPartyHosts []string
	// Flags are extra Chromium command-line flags (name without "--" to
	// value; true for a switch), added after the built-in launch flags.
	Flags map[string]any
	// Getenv reads CHROME_PATH; nil means os.Getenv.
	Getenv func(string) string
	// OnRun, when not nil, is called after each run with the URL and the
	// run's report, from the goroutine calling Measure (for progress output).
	OnRun func(url string, l Load)
}

// Network presets of [ParseNetwork], after Chrome DevTools' Slow 3G, Fast 3G
// and Fast 4G throttling profiles (latency is added to each request).
var networkPresets = map[string]Network{
	"slow-3g": {Name: "slow-3g", Latency: 2000 * time.Millisecond, Download: 500e3 / 8 * 0.8, Upload: 500e3 / 8 * 0.8},
	"fast-3g": {Name: "fast-3g", Latency: 562500 * time.Microsecond, Download: 1.6e6 / 8 * 0.9, Upload: 750e3 / 8 * 0.9},
	"4g":      {Name: "4g", Latency: 165 * time.Millisecond, Download: 9e6 / 8 * 0.9, Upload: 1.5e6 / 8 * 0.9},
}

// ParseNetwork reads a network emulation setting: a preset ("slow-3g": 2 s
// latency, 400 kbit/s each way; "fast-3g": 562.5 ms, 1.44 Mbit/s down,
// 675 kbit/s up; "4g": 165 ms, 8.1 Mbit/s down, 1.35 Mbit/s up), "none" (nil), or
// "LATENCY,DOWN,UP" with a duration and two rates in bit/s with an optional
// k, M or G prefix, e.g. "150ms,1.6Mbit,750kbit" (the "bit" suffix is
// optional; 0 means unlimited).
func ParseNetwork(s string) (*Network, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	if p, ok := networkPresets[s]; ok {
		return &p, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return nil, fmt.Errorf("network %q: want a preset (slow-3g, fast-3g, 4g, none) or LATENCY,DOWN,UP such as 150ms,1.6Mbit,750kbit", s)
	}
	lat, err := time.ParseDuration(strings.TrimSpace(parts[0]))
	if err != nil || lat < 0 {
		return nil, fmt.Errorf("network %q: latency %q is not a non-negative duration", s, parts[0])
	}
	n := &Network{Name: s, Latency: lat}
	for i, dst := range []*float64{&n.Download, &n.Upload} {
		bps, err := parseBitRate(strings.TrimSpace(parts[i+1]))
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", s, err)
		}
		*dst = bps / 8
	}
	return n, nil
}

func parseBitRate(s string) (float64, error) {
	num := strings.TrimSuffix(strings.TrimSuffix(s, "/s"), "bit")
	factor := 1.0
	switch {
	case strings.HasSuffix(num, "k"):
		factor, num = 1e3, strings.TrimSuffix(num, "k")
	case strings.HasSuffix(num, "M"):
		factor, num = 1e6, strings.TrimSuffix(num, "M")
	case strings.HasSuffix(num, "G"):
		factor, num = 1e9, strings.TrimSuffix(num, "G")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v*factor > 1e15 {
		return 0, fmt.Errorf("rate %q is not a bit rate such as 1.6Mbit or 750kbit", s)
	}
	return v * factor, nil
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Runs == 0 {
		o.Runs = DefaultRuns
	}
	if o.Runs < 0 || o.Runs > 1000 {
		errs = append(errs, fmt.Errorf("runs %d out of range 1..1000", o.Runs))
	}
	if o.CPUSlowdown == 0 {
		o.CPUSlowdown = 1
	}
	if o.CPUSlowdown < 1 || math.IsNaN(o.CPUSlowdown) || o.CPUSlowdown > 100 {
		errs = append(errs, fmt.Errorf("cpu slowdown %v out of range 1..100", o.CPUSlowdown))
	}
	if o.Width == 0 {
		o.Width = DefaultWidth
	}
	if o.Height == 0 {
		o.Height = DefaultHeight
	}
	if o.Width < 0 || o.Height < 0 || o.Width > 10000 || o.Height > 10000 {
		errs = append(errs, fmt.Errorf("viewport %dx%d out of range", o.Width, o.Height))
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.QuietWindow == 0 {
		o.QuietWindow = DefaultQuietWindow
	}
	if o.Timeout < 0 || o.QuietWindow < 0 {
		errs = append(errs, errors.New("timeout and quiet window must not be negative"))
	}
	if o.Network != nil && (o.Network.Latency < 0 || o.Network.Download < 0 || o.Network.Upload < 0) {
		errs = append(errs, errors.New("network emulation values must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("page: %w", err)
	}
	return o, nil
}
