package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// read runs one reading of variable X with value v (unset when v is
// "<unset>") and returns the reader's error.
func read(v string, fn func(r *Reader)) error {
	lookup := env("X", v)
	if v == "<unset>" {
		lookup = env()
	}
	r := New(lookup)
	fn(r)
	return r.Err()
}

func TestKinds(t *testing.T) {
	type tc struct {
		value string
		want  any    // the destination after reading; ignored when err != ""
		err   string // substring of the error; "" for none
	}
	check := func(t *testing.T, kind string, cases []tc, run func(r *Reader, v string) any) {
		t.Helper()
		for _, c := range cases {
			var got any
			err := read(c.value, func(r *Reader) { got = run(r, c.value) })
			switch {
			case c.err == "" && err != nil:
				t.Errorf("%s %q: %v", kind, c.value, err)
			case c.err == "" && got != c.want:
				t.Errorf("%s %q = %v, want %v", kind, c.value, got, c.want)
			case c.err != "" && err == nil:
				t.Errorf("%s %q accepted (%v)", kind, c.value, got)
			case c.err != "" && (!strings.Contains(err.Error(), c.err) || !strings.HasPrefix(err.Error(), "X=")):
				t.Errorf("%s %q: error %q does not name X or say %q", kind, c.value, err, c.err)
			}
		}
	}
	check(t, "duration", []tc{
		{"<unset>", 5 * time.Second, ""}, {"", 5 * time.Second, ""}, {"30s", 30 * time.Second, ""}, {" 1m ", time.Minute, ""},
		{"10ms", 10 * time.Millisecond, ""}, {"1h", time.Hour, ""},
		{"1ns", nil, "at least 10ms"}, {"2h", nil, "at most 1h0m0s"}, {"5", nil, "Go duration"}, {"-1s", nil, "at least"},
		{"9223372036854775807ns", nil, "at most"}, {"   ", nil, "blank"},
	}, func(r *Reader, _ string) any {
		d := 5 * time.Second
		r.Duration("X", &d, 10*time.Millisecond, time.Hour)
		return d
	})
	check(t, "duration-or-off", []tc{
		{"off", time.Duration(0), ""}, {"0", time.Duration(0), ""}, {"10m", 10 * time.Minute, ""}, {"soon", nil, `or "off"`},
		{"10ms", nil, "at least 1s"},
	}, func(r *Reader, _ string) any {
		d := time.Minute
		r.DurationOrOff("X", &d, time.Second, time.Hour)
		return d
	})
	check(t, "millis", []tc{
		{"60000", time.Minute, ""}, {"100", 100 * time.Millisecond, ""},
		{"1", nil, "from 100"}, {"18446744073710", nil, "milliseconds"}, {"9223372036854775807", nil, "milliseconds"},
		{"-1", nil, "milliseconds"}, {"10s", nil, "integer number of milliseconds"},
	}, func(r *Reader, _ string) any {
		d := time.Second
		r.Millis("X", &d, 100*time.Millisecond, 24*time.Hour)
		return d
	})
	check(t, "int", []tc{
		{"1", 1, ""}, {"10000", 10000, ""}, {"0", nil, "from 1 to 10000"}, {"-1", nil, "from 1"}, {"1e3", nil, "integer"},
		{"99999999999999999999", nil, "integer"},
	}, func(r *Reader, _ string) any {
		n := 7
		r.Int("X", &n, 1, 10000)
		return n
	})
	check(t, "bool", []tc{
		{"true", true, ""}, {"false", false, ""}, {"1", true, ""}, {"yes please", nil, "not a boolean"},
	}, func(r *Reader, _ string) any {
		b := false
		r.Bool("X", &b)
		return b
	})
	check(t, "bytes", []tc{
		{"256MiB", int64(256 << 20), ""}, {"1048576", int64(1 << 20), ""}, {"1.5 KiB", int64(1536), ""}, {"2MB", int64(2e6), ""},
		{"0", nil, "from 1"}, {"lots", nil, "size"}, {"1 XB", nil, "size"}, {"2TiB", nil, "to 1099511627776"},
	}, func(r *Reader, _ string) any {
		n := int64(1)
		r.Bytes("X", &n, 1, 1<<40)
		return n
	})
	check(t, "ratio", []tc{
		{"0.01", 0.01, ""}, {"2.5%", 0.025, ""}, {"0", 0.0, ""}, {"-5%", nil, "fraction"}, {"NaN", nil, "fraction"}, {"2", nil, "from 0 to 1"},
	}, func(r *Reader, _ string) any {
		x := 0.5
		r.Ratio("X", &x, 0, 1)
		return x
	})
	check(t, "host:port", []tc{
		{"127.0.0.1:9464", "127.0.0.1:9464", ""}, {":0", ":0", ""}, {"off", "", ""}, {"localhost", nil, "host:port"},
		{"127.0.0.1:99999", nil, "port"},
	}, func(r *Reader, _ string) any {
		s := "default"
		r.HostPort("X", &s)
		return s
	})
	check(t, "url", []tc{
		{"http://h:4318", "http://h:4318", ""}, {"https://h", "https://h", ""}, {"localhost:4317", nil, "http://"},
		{"udp://h", nil, "http://"}, {"http://", nil, "with a host"},
	}, func(r *Reader, _ string) any {
		s := ""
		r.URL("X", &s)
		return s
	})
	check(t, "enum", []tc{
		{"explicit", "explicit", ""}, {"exponential", "exponential", ""}, {"linear", nil, `want "explicit" or "exponential"`},
	}, func(r *Reader, _ string) any {
		s := ""
		r.Enum("X", &s, "explicit", "exponential")
		return s
	})
	check(t, "key=value", []tc{
		{"a=b, c = d", "a=b c=d", ""}, {"Authorization=Bearer%20x", "Authorization=Bearer x", ""}, {"novalue", nil, "not key=value"},
		{"=v", nil, "not key=value"}, {"a=%zz", nil, "URL-encoded"},
	}, func(r *Reader, _ string) any {
		m := r.KeyValues("X", true)
		var parts []string
		for _, k := range []string{"a", "c", "Authorization"} {
			if v, ok := m[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		return strings.Join(parts, " ")
	})
	check(t, "string", []tc{{" tok ", "tok", ""}, {"\t", nil, "blank"}}, func(r *Reader, _ string) any {
		s := ""
		r.String("X", &s)
		return s
	})
}

// Every problem is reported, each by its variable, in one error.
func TestAllProblemsNamed(t *testing.T) {
	r := New(env("A", "1ns", "B", "maybe", "C", "fine", "D", "0"))
	d := time.Second
	r.Duration("A", &d, time.Millisecond, time.Hour)
	var b bool
	r.Bool("B", &b)
	var s string
	r.String("C", &s)
	n := 1
	r.Int("D", &n, 1, 10)
	r.Add(errors.New("WithThing: bad"))
	r.Add(nil)
	err := r.Err()
	for _, want := range []string{`A="1ns"`, `B="maybe"`, `D="0"`, "WithThing: bad"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "C=") {
		t.Errorf("a good value reported: %v", err)
	}
	if d != time.Second || n != 1 || s != "fine" {
		t.Errorf("refused values changed the destinations: %v %d %q", d, n, s)
	}
	var ve *VarError
	if !errors.As(err, &ve) || ve.Name != "A" {
		t.Errorf("errors.As VarError: %v", ve)
	}
	if New(env()).Err() != nil {
		t.Error("empty reader has an error")
	}
}

func TestCheckBounds(t *testing.T) {
	if err := CheckDuration("WithX", time.Nanosecond, time.Millisecond, time.Hour); err == nil || !strings.Contains(err.Error(), "WithX") {
		t.Errorf("CheckDuration: %v", err)
	}
	if err := CheckDuration("WithX", time.Minute, time.Millisecond, time.Hour); err != nil {
		t.Error(err)
	}
	if err := CheckInt("WithY", 0, 1, 5); err == nil || !strings.Contains(err.Error(), "WithY") {
		t.Errorf("CheckInt: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "1MiB": 1 << 20, "1.5 KiB": 1536, "2MB": 2e6, "-1": -1,
		"512kib": 512 << 10, "1TiB": 1 << 40, "3 B": 3, "9007199254740993": 9007199254740993} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1 XB", "1e400", "NaN", "9223372036854775807", "8EiB", "1e19"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
	if r, err := ParseRatio("2.5%"); err != nil || r != 0.025 {
		t.Errorf("ParseRatio = %v, %v", r, err)
	}
	for _, bad := range []string{"", "-1", "x%", "Inf"} {
		if _, err := ParseRatio(bad); err == nil {
			t.Errorf("ParseRatio(%q) accepted", bad)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"1MiB", "12 KB", "-3", "0.5GiB", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			return
		}
		// A size that parses is bounded and re-parses to itself in bytes.
		if n > maxBytes || n < -maxBytes {
			t.Fatalf("%q → %d out of bounds", s, n)
		}
		if back, err := ParseBytes(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("%q → %d → %d, %v", s, n, back, err)
		}
	})
}

func FuzzParseKeyValues(f *testing.F) {
	for _, s := range []string{"a=b", "a=b, c = d", "Authorization=Bearer%20x", "novalue", "=v", "a=%zz", ",,"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, decode bool) {
		m, err := ParseKeyValues(s, decode)
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || strings.Contains(k, ",") || k != strings.TrimSpace(k) {
				t.Fatalf("%q: key %q", s, k)
			}
		}
	})
}
