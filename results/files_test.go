package results

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteNewSetReservedName checks that a spec without Write keeps a stem
// whose reserved name exists from being taken, and writes nothing for it.
func TestWriteNewSetReservedName(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	specs := []FileSpec{
		{Prefix: "metrics-history-", Ext: ".json", Write: func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err }},
		{Prefix: "report-", Ext: ".md"},
	}
	stem, paths, err := WriteNewSet(dir, t0, specs)
	if err != nil || stem != "20261202T160000.000Z" || len(paths) != 2 {
		t.Fatalf("first set: %q %v %v", stem, paths, err)
	}
	if _, err := os.Stat(paths[1]); err == nil {
		t.Errorf("the reserved name %s was written", paths[1])
	}
	// Another run's report under the next stem: that stem is skipped even
	// though its history name is free.
	if err := os.WriteFile(filepath.Join(dir, "report-20261202T160000.001Z.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stem, paths, err = WriteNewSet(dir, t0, specs)
	if err != nil || stem != "20261202T160000.002Z" {
		t.Fatalf("second set: %q %v %v", stem, paths, err)
	}
	if b, err := os.ReadFile(paths[0]); err != nil || string(b) != "{}" {
		t.Errorf("history %q, %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("%d files in dir, want 3 (no temporary files left)", len(entries))
	}
}

func TestFreePath(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC)
	p, err := FreePath(dir, "heap-", ".pb.gz", t0)
	if err != nil || filepath.Base(p) != "heap-20261202T160000.000Z.pb.gz" {
		t.Fatalf("%s, %v", p, err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err = FreePath(dir, "heap-", ".pb.gz", t0); err != nil || filepath.Base(p) != "heap-20261202T160000.001Z.pb.gz" {
		t.Fatalf("%s, %v", p, err)
	}
}

// TestLatestFileMixedLayouts checks that names of this version and the
// second-resolution names of earlier versions sort by their time.
func TestLatestFileMixedLayouts(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"benchmark-20261202T160000Z.json", "benchmark-20261202T160000Z_0002.json",
		"benchmark-20261202T160000.500Z.json", "benchmark-20261202T155959.999Z.json"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := LatestFile(dir)
	if err != nil || filepath.Base(p) != "benchmark-20261202T160000.500Z.json" {
		t.Errorf("latest %s, %v", p, err)
	}
	for _, c := range []struct {
		in string
		ok bool
	}{{"20261202T160000Z", true}, {"20261202T160000Z_0002", true}, {"20261202T160000.123Z", true},
		{"20261202T160000Z_2", false}, {"20261202T160000Z_0001", false}, {"20261202T160000,123Z", false}, {"2026", false}} {
		if _, ok := ParseTimestamp(c.in); ok != c.ok {
			t.Errorf("ParseTimestamp(%q) ok = %v, want %v", c.in, ok, c.ok)
		}
	}
}
