package page

import (
	"strconv"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
)

// BenchmarkRecorderEvent measures the listener's cost per network event on
// the tab's event loop: a request's four events (sent, response, data,
// finished).
func BenchmarkRecorderEvent(b *testing.B) {
	rec := newRecorder(newParty("https://www.example.com/", nil))
	ids := make([]network.RequestID, 1024)
	sent := make([]*network.EventRequestWillBeSent, len(ids))
	for i := range ids {
		ids[i] = network.RequestID(strconv.Itoa(i))
		sent[i] = &network.EventRequestWillBeSent{RequestID: ids[i], LoaderID: "doc", Type: network.ResourceTypeScript,
			Request: &network.Request{URL: "https://cdn.example.com/app-" + strconv.Itoa(i) + ".js"}, Timestamp: cdp.MonotonicTime(i)}
	}
	resp := &network.EventResponseReceived{Type: network.ResourceTypeScript, Response: &network.Response{Status: 200}}
	data := &network.EventDataReceived{EncodedDataLength: 1000}
	fin := &network.EventLoadingFinished{EncodedDataLength: 1200}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(ids) == 0 {
			rec = newRecorder(rec.party)
		}
		id := ids[i%len(ids)]
		rec.on(sent[i%len(ids)])
		resp.RequestID, data.RequestID, fin.RequestID = id, id, id
		rec.on(resp)
		rec.on(data)
		rec.on(fin)
	}
}

// BenchmarkInteractive measures one TTI evaluation (done every poll) on a
// page with 200 requests and 50 long tasks.
func BenchmarkInteractive(b *testing.B) {
	var reqs, tasks []span
	for i := range 200 {
		reqs = append(reqs, span{float64(i * 10), float64(i*10 + 300)})
	}
	for i := range 50 {
		tasks = append(tasks, span{float64(i * 100), float64(i*100 + 60)})
	}
	b.ReportAllocs()
	for b.Loop() {
		interactive(100, 200, tasks, reqs, 20000, 5000)
	}
}
