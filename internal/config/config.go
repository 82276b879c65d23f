// Package config reads configuration from environment variables (or any
// lookup function) into typed, bounded values, collecting every problem by
// variable name so that one error lists them all.
//
// A [Reader] method reads one variable into a destination: it leaves the
// destination alone when the variable is unset or empty, sets it when the
// value parses and lies within the bounds given, and records an error naming
// the variable and its value otherwise. Bounds are inclusive; nothing
// overflows and nothing falls back silently. Options given in code override
// variables: read a variable only when no option set the value, and check
// option values with the same bounds through [CheckDuration] and
// [CheckInt].
//
//	r := config.New(os.LookupEnv)
//	interval := 5 * time.Second
//	r.Duration("APP_INTERVAL", &interval, 10*time.Millisecond, time.Hour)
//	size := int64(256 << 20)
//	r.Bytes("APP_MAX_BYTES", &size, 1, 1<<40)
//	if err := r.Err(); err != nil {
//		return err // APP_INTERVAL="1ns": want a Go duration of at least 10ms ...
//	}
//
// A Reader is not safe for concurrent use; one goroutine reads a
// configuration at a time.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables through a lookup function and collects the
// problems it finds. The zero value is not usable; call [New].
type Reader struct {
	lookup func(string) (string, bool)
	errs   []error
}

// New returns a Reader looking variables up with lookup (os.LookupEnv when
// nil).
func New(lookup func(string) (string, bool)) *Reader {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Reader{lookup: lookup}
}

// Err returns every problem recorded so far, joined, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// Add records err (nil is ignored), e.g. a problem with an option value.
func (r *Reader) Add(err error) {
	if err != nil {
		r.errs = append(r.errs, err)
	}
}

// Invalid records that variable name's value is wrong, saying why.
func (r *Reader) Invalid(name, value, problem string) {
	r.errs = append(r.errs, &VarError{Name: name, Value: value, Problem: problem})
}

// VarError is a variable whose value was refused.
type VarError struct {
	Name, Value, Problem string
}

func (e *VarError) Error() string { return fmt.Sprintf("%s=%q: %s", e.Name, e.Value, e.Problem) }

// Lookup returns the variable's value with surrounding spaces trimmed; ok
// is false when it is unset or empty. A value of spaces only is recorded as
// a problem (it is almost always a templating mistake, and for a secret
// such as a token it would otherwise turn the secret off).
func (r *Reader) Lookup(name string) (value string, ok bool) {
	raw, ok := r.lookup(name)
	if !ok || raw == "" {
		return "", false
	}
	v := strings.TrimSpace(raw)
	if v == "" {
		r.Invalid(name, raw, "blank (unset it, or give a value)")
		return "", false
	}
	return v, true
}

// Has reports whether the variable has a value (see [Reader.Lookup]).
func (r *Reader) Has(name string) bool {
	raw, ok := r.lookup(name)
	return ok && strings.TrimSpace(raw) != ""
}

// String sets *dst to the variable's trimmed value. It reports whether the
// variable was set.
func (r *Reader) String(name string, dst *string) bool {
	v, ok := r.Lookup(name)
	if ok {
		*dst = v
	}
	return ok
}

// Func reads the variable with parse, which sets the destination it closes
// over or returns the problem. It reports whether the value was accepted.
func (r *Reader) Func(name string, parse func(string) error) bool {
	v, ok := r.Lookup(name)
	if !ok {
		return false
	}
	if err := parse(v); err != nil {
		r.Invalid(name, v, err.Error())
		return false
	}
	return true
}

// Bool reads true or false (and the other spellings of strconv.ParseBool).
func (r *Reader) Bool(name string, dst *bool) bool {
	return r.Func(name, func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("not a boolean (want true or false)")
		}
		*dst = b
		return nil
	})
}

// Enum reads one of values.
func (r *Reader) Enum(name string, dst *string, values ...string) bool {
	return r.Func(name, func(v string) error {
		if !slices.Contains(values, v) {
			return fmt.Errorf("want %s", orList(values))
		}
		*dst = v
		return nil
	})
}

// Int reads a decimal integer from min to max.
func (r *Reader) Int(name string, dst *int, min, max int) bool {
	return r.Func(name, func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("want an integer from %d to %d", min, max)
		}
		*dst = n
		return nil
	})
}

// Duration reads a Go duration (such as 30s or 5m) from min to max.
func (r *Reader) Duration(name string, dst *time.Duration, min, max time.Duration) bool {
	return r.Func(name, func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < min || d > max {
			return fmt.Errorf("want a Go duration of at least %v and at most %v, e.g. 30s or 5m", min, max)
		}
		*dst = d
		return nil
	})
}

// DurationOrOff reads a Go duration from min to max, or "off" (or "0"),
// which sets *dst to 0.
func (r *Reader) DurationOrOff(name string, dst *time.Duration, min, max time.Duration) bool {
	return r.Func(name, func(v string) error {
		if v == "off" || v == "0" {
			*dst = 0
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < min || d > max {
			return fmt.Errorf(`want a Go duration of at least %v and at most %v, or "off"`, min, max)
		}
		*dst = d
		return nil
	})
}

// Millis reads an integer number of milliseconds from min to max, as the
// OpenTelemetry variables (OTEL_METRIC_EXPORT_INTERVAL) are given. The range
// is checked before converting, so no value overflows.
func (r *Reader) Millis(name string, dst *time.Duration, min, max time.Duration) bool {
	return r.Func(name, func(v string) error {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < min.Milliseconds() || ms > max.Milliseconds() {
			return fmt.Errorf("want an integer number of milliseconds from %d (%v) to %d (%v)",
				min.Milliseconds(), min, max.Milliseconds(), max)
		}
		*dst = time.Duration(ms) * time.Millisecond
		return nil
	})
}

// Bytes reads a byte size (see [ParseBytes]) from min to max.
func (r *Reader) Bytes(name string, dst *int64, min, max int64) bool {
	return r.Func(name, func(v string) error {
		n, err := ParseBytes(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("want a size from %d to %d bytes, e.g. 256MiB or 1048576", min, max)
		}
		*dst = n
		return nil
	})
}

// Ratio reads a ratio (see [ParseRatio]) from min to max.
func (r *Reader) Ratio(name string, dst *float64, min, max float64) bool {
	return r.Func(name, func(v string) error {
		x, err := ParseRatio(v)
		if err != nil || x < min || x > max {
			return fmt.Errorf("want a fraction from %g to %g, such as 0.01, or a percentage such as 1%%", min, max)
		}
		*dst = x
		return nil
	})
}

// HostPort reads host:port (see [CheckHostPort]), or "off", which sets
// *dst to "".
func (r *Reader) HostPort(name string, dst *string) bool {
	return r.Func(name, func(v string) error {
		if v == "off" {
			*dst = ""
			return nil
		}
		if err := CheckHostPort(v); err != nil {
			return err
		}
		*dst = v
		return nil
	})
}

// URL reads an http:// or https:// URL with a host (see [CheckURL]).
func (r *Reader) URL(name string, dst *string) bool {
	return r.Func(name, func(v string) error {
		if err := CheckURL(v); err != nil {
			return err
		}
		*dst = v
		return nil
	})
}

// KeyValues reads "k=v,k=v" (see [ParseKeyValues]); nil when unset or
// invalid.
func (r *Reader) KeyValues(name string, decode bool) map[string]string {
	var m map[string]string
	r.Func(name, func(v string) (err error) {
		m, err = ParseKeyValues(v, decode)
		return err
	})
	return m
}

// CheckDuration returns an error naming what (an option, such as
// "WithExportInterval") when d is outside [min, max].
func CheckDuration(what string, d, min, max time.Duration) error {
	if d < min || d > max {
		return fmt.Errorf("%s: %v is outside %v to %v", what, d, min, max)
	}
	return nil
}

// CheckInt returns an error naming what when n is outside [min, max].
func CheckInt(what string, n, min, max int) error {
	if n < min || n > max {
		return fmt.Errorf("%s: %d is outside %d to %d", what, n, min, max)
	}
	return nil
}

// maxBytes bounds sizes well inside int64, so sums of a few never
// overflow.
const maxBytes = math.MaxInt64 / 4

// ParseBytes reads a byte size: a number (an integer, or a decimal with a
// unit) with an optional unit B, KB, MB, GB, TB (powers of 1000) or KiB,
// MiB, GiB, TiB (powers of 1024), case-insensitive, with or without a space
// before the unit. Negative sizes are allowed (callers bound them); sizes
// over about 2 EiB are refused. A fraction of a byte is truncated.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i:])
	mult, ok := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}[strings.ToUpper(unit)]
	if !ok {
		return 0, fmt.Errorf("not a size: unknown unit %q in %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", unit, s)
	}
	if unit == "" || mult == 1 {
		if n, err := strconv.ParseInt(num, 10, 64); err == nil {
			if n > maxBytes || n < -maxBytes {
				return 0, fmt.Errorf("size %q is too large", s)
			}
			return n, nil
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	if math.Abs(v*mult) > maxBytes {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v * mult), nil
}

// ParseRatio reads a non-negative ratio: a fraction such as "0.01" or a
// percentage such as "1%".
func ParseRatio(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a ratio: %q", s)
	}
	if pct {
		v /= 100
	}
	return v, nil
}

// CheckHostPort checks a listen address: host:port with a port from 0 to
// 65535 (the host may be empty, meaning every interface).
func CheckHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %v", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// CheckURL checks an http:// or https:// URL with a host.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL with a host, e.g. http://localhost:4318")
	}
	return nil
}

// ParseKeyValues reads "k=v,k=v" (spaces around items, keys and values
// trimmed; empty items skipped); with decode, values are URL-decoded as in
// OTEL_EXPORTER_OTLP_HEADERS.
func ParseKeyValues(s string, decode bool) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("item %q is not key=value", item)
		}
		if decode {
			d, err := url.PathUnescape(v)
			if err != nil {
				return nil, fmt.Errorf("value of %q is not URL-encoded: %v", k, err)
			}
			v = d
		}
		out[k] = v
	}
	return out, nil
}

func orList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = strconv.Quote(v)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
