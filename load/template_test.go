package load

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"token": "abc", "user": "demo", "a.b-c": "x", "empty": ""}
	tests := []struct {
		in, want, err string
	}{
		{"Bearer ${token}", "Bearer abc", ""},
		{"${user}:${user}", "demo:demo", ""},
		{"no vars", "no vars", ""},
		{"cost $$5 and $x", "cost $5 and $x", ""},
		{"${a.b-c}${empty}!", "x!", ""},
		{"trailing $", "trailing $", ""},
		{"${missing}", "", "undefined variable ${missing}"},
		{"${unclosed", "", "unclosed ${"},
		{"${}", "", "invalid variable name"},
		{"${1abc}", "", "invalid variable name"},
		{"${a b}", "", "invalid variable name"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, vars)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"Bearer ${token}", "$$", "${", "${a}${b}", "$${a}", "x$", "${a.b}", "\x00${a}"} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, s, val string) {
		tm, err := parseTemplate(s)
		if err != nil {
			return
		}
		vars := map[string]string{}
		for _, v := range tm.vars() {
			if !validVarName(v) {
				t.Fatalf("parsed invalid name %q", v)
			}
			vars[v] = val
		}
		got, err := tm.expand(vars)
		if err != nil {
			t.Fatalf("expand with every variable defined: %v", err)
		}
		// Without variables, expansion only unescapes "$$".
		if tm.constant() && !strings.Contains(s, "${") {
			if want := strings.ReplaceAll(s, "$$", "$"); got != want {
				t.Fatalf("expand(%q) = %q, want %q", s, got, want)
			}
		}
		// Values are inserted verbatim, never re-expanded.
		if len(tm.vars()) > 0 && !strings.Contains(got, val) {
			t.Fatalf("expand(%q) = %q lacks the value %q", s, got, val)
		}
	})
}
