package exporters

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/google/pprof/profile"
)

func FuzzSanitizeProfileStrings(f *testing.F) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}},
		Sample:     []*profile.Sample{{Value: []int64{1}, Label: map[string][]string{"k": {"v"}}}},
	}
	var gz, raw bytes.Buffer
	_ = p.Write(&gz)
	_ = p.WriteUncompressed(&raw)
	f.Add(gz.Bytes())
	f.Add(raw.Bytes())
	f.Add([]byte{0x32, 0x02, 0xff, 0xfe}) // string_table entry "\xff\xfe"
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, changed, err := SanitizeProfileStrings(data)
		if err != nil {
			return
		}
		if !changed {
			if !bytes.Equal(out, data) {
				t.Fatal("unchanged result differs from the input")
			}
			return
		}
		// A changed profile is gzipped, well-formed, and all its strings
		// are valid UTF-8.
		again, changed2, err := SanitizeProfileStrings(out)
		if err != nil || changed2 || !bytes.Equal(again, out) {
			t.Fatalf("sanitised profile not clean: changed %v, %v", changed2, err)
		}
	})
}

func FuzzParseProfileTypes(f *testing.F) {
	for _, s := range []string{"cpu", "heap,goroutine", " mutex , block ", "default,cpu", "", "wall", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		types, err := ParseProfileTypes(s)
		if err != nil {
			if types != nil {
				t.Fatal("types with an error")
			}
			return
		}
		if len(types) == 0 {
			t.Fatal("no types without an error")
		}
		seen := map[ProfileType]bool{}
		for _, ty := range types {
			if kindOf(ty) == "" || seen[ty] {
				t.Fatalf("%q: bad or duplicate type %q", s, ty)
			}
			seen[ty] = true
		}
	})
}

func FuzzAppNameWithTags(f *testing.F) {
	f.Add("app", "k", "v")
	f.Add("a.b/c", "region", "eu,{1}=x\xff")
	f.Fuzz(func(t *testing.T, app, k, v string) {
		if ValidateApplicationName(app) != nil || ValidateLabelName(k) != nil {
			return
		}
		name := AppNameWithTags(app, map[string]string{k: v})
		if !utf8.ValidString(name[len(app):]) {
			t.Fatalf("%q: invalid UTF-8", name)
		}
		body := name[len(app)+1 : len(name)-1]
		if bytes.Count([]byte(body), []byte("=")) > 1 || bytes.ContainsAny([]byte(body), "{},") {
			t.Fatalf("%q: tag value breaks the name's form", name)
		}
	})
}
