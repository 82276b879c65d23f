package posdecode

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// walk visits every key of every mapping, recording the errors a schema
// decoder that knows only the key "a" would report.
func walk(d *Decoder, n *yaml.Node, field string) {
	switch n.Kind {
	case yaml.MappingNode:
		d.Mapping(n, field, func(key, sub string, k, v *yaml.Node) {
			if key != "a" {
				d.Fail(k, sub, "unknown key")
			}
			walk(d, v, sub)
		})
	case yaml.SequenceNode:
		d.Sequence(n, field, 0, func(_ int, sub string, v *yaml.Node) { walk(d, v, sub) })
	}
}

func decodeErrors(t *testing.T, name, data string) []string {
	t.Helper()
	root, err := Parse(name, []byte(data), Limits{})
	if err != nil {
		return []string{err.Error()}
	}
	if root == nil {
		return nil
	}
	d := NewDecoder(name, Limits{})
	walk(d, root, "")
	var out []string
	for _, err := range d.Errors() {
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%v is not an *Error", err)
		}
		out = append(out, err.Error())
	}
	return out
}

func TestPositions(t *testing.T) {
	for _, tc := range []struct {
		name, file, data string
		want             []string
	}{
		{"yaml unknown key", "f.yaml", "a:\n  a: 1\n  b: 2\n", []string{"f.yaml:3:3: a.b: unknown key"}},
		{"json unknown key", "f.json", "{\n  \"a\": [{\"a\": 1, \"x.y\": 2}]\n}", []string{`f.json:2:18: a[0]["x.y"]: unknown key`}},
		{"json by content", "f", " [{\"b\": 1}]", []string{"f:1:4: [0].b: unknown key"}},
		{"bom", "f.yaml", "\ufeffb: 1\n", []string{"f.yaml:1:1: b: unknown key"}},
		{"yaml duplicate", "f.yaml", "a: 1\na: 2\n", []string{"f.yaml:2:1: a: duplicate key"}},
		{"yaml merge key", "f.yaml", "x: &x {a: 1}\ny:\n  <<: *x\n", []string{"f.yaml:1:1: x: unknown key", "f.yaml:2:1: y: unknown key", "f.yaml:3:3: y: merge keys (<<) are not supported"}},
		{"json duplicate", "f.json", `{"a": 1, "a": 2}`, []string{"f.json:1:10: a: duplicate key"}},
		{"yaml syntax", "f.yaml", "a: [\n", []string{"f.yaml:1: invalid YAML: did not find expected node content"}},
		{"json syntax", "f.json", "{\n\"a\": }", []string{"f.json:2:6: invalid JSON: invalid character '}'"}},
		{"json truncated", "f.json", `{"a": `, []string{"f.json:1:7: invalid JSON: unexpected end of JSON input"}},
		{"json trailing", "f.json", `{} {}`, []string{"f.json:1:4: invalid JSON: unexpected data after the JSON value"}},
		{"json too deep", "f.json", strings.Repeat("[", 70) + strings.Repeat("]", 70), []string{"f.json:1:66: invalid JSON: nested more than 64 levels deep"}},
		{"recursive alias", "f.yaml", "&x\n- *x\n", []string{"f.yaml:1:1: " + strings.Repeat("[0]", 64) + ": nested more than 64 levels deep (a recursive alias?)"}},
		{"empty yaml", "f.yaml", "  \n", nil},
		{"empty json", "f.json", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeErrors(t, tc.file, tc.data)
			if len(got) != len(tc.want) {
				t.Fatalf("errors %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestAliasBomb checks that nested aliases, which the YAML parser keeps
// small but a walk expands exponentially, stop at MaxNodes.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		name := "a" + string(rune('0'+i))
		b.WriteString(name + ": &" + name + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	b.WriteString("a: *a8\n")
	got := decodeErrors(t, "bomb.yaml", b.String())
	found := false
	for _, e := range got {
		if strings.Contains(e, "file too complex: more than 100000 values") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no complexity error in %q", got)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	for i := range 30 {
		b.WriteString("k" + strings.Repeat("x", i) + ": 1\n")
	}
	got := decodeErrors(t, "f.yaml", b.String())
	if len(got) != DefaultMaxErrors+1 || got[len(got)-1] != "f.yaml: too many errors" {
		t.Fatalf("got %d errors ending %q", len(got), got[len(got)-1])
	}
}

func TestSequenceLimit(t *testing.T) {
	root, err := Parse("f.yaml", []byte("[1, 2, 3]"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder("f.yaml", Limits{})
	d.Sequence(root, "list", 2, func(int, string, *yaml.Node) { t.Error("element visited") })
	if err := d.Err(); err == nil || err.Error() != "f.yaml:1:1: list: at most 2 entries, found 3" {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a: 1\n", `{"a": [1, {"b": null}]}`, "- &x a\n- *x\n", "[", "a: [\n"} {
		f.Add("f.yaml", s)
		f.Add("f.json", s)
	}
	f.Fuzz(func(t *testing.T, name, data string) {
		root, err := Parse(name, []byte(data), Limits{})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v is not an *Error", err)
			}
			return
		}
		if root != nil {
			walk(NewDecoder(name, Limits{}), root, "")
		}
	})
}
