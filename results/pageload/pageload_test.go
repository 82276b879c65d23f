package pageload

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDetailRoundTripAndSVG(t *testing.T) {
	r := &Report{Schema: ReportSchema, URL: "http://h/<x>", Runs: []Load{{Index: 1, LoadEvent: 500 * time.Millisecond,
		Resources: []Resource{{Type: "document", Bytes: 2000, Requests: 1}},
		Requests:  []Request{{URL: "http://h/", Type: "document", Status: 200, End: 20 * time.Millisecond, Bytes: 2000}}}}}
	r.Summarize()
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeDetail(raw)
	if err != nil || got.URL != r.URL || len(got.Runs) != 1 || got.SuccessfulRuns() != 1 {
		t.Fatalf("DecodeDetail: %+v, %v", got, err)
	}
	if s, ok := got.Spread("bytes-document"); !ok || s.Median != 2000 {
		t.Errorf("bytes-document spread %+v, %v", s, ok)
	}
	var b strings.Builder
	if err := RenderSVG(&b, got); err != nil {
		t.Fatal(err)
	}
	if svg := b.String(); !strings.HasPrefix(svg, "<svg ") || strings.Contains(svg, "<x>") || !strings.Contains(svg, "&lt;x&gt;") {
		t.Errorf("svg not escaped or malformed: %.200s", svg)
	}
	for _, bad := range []string{``, `{}`, `{"schema":"other"}`, `{"schema":"perfagent.page/v1","runs":[{"requests":[{"bytes":-1}]}]}`} {
		if _, err := DecodeDetail(json.RawMessage(bad)); err == nil {
			t.Errorf("DecodeDetail(%s) accepted", bad)
		}
	}
}
