package load

import (
	"fmt"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// encodeHist returns h in the HdrHistogram V2 compressed encoding (base64),
// the library's own lossless format, readable by every HdrHistogram
// implementation.
func encodeHist(h *hdrhistogram.Histogram) string {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		// Only an unknown encoding version fails.
		panic(fmt.Sprintf("load: encoding a histogram: %v", err))
	}
	return string(b)
}

// decodeHist reads a histogram written by encodeHist and checks that its
// geometry is lowest..highest with digits significant digits.
func decodeHist(s string, lowest, highest int64, digits int) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, err
	}
	if h.LowestTrackableValue() != lowest || h.HighestTrackableValue() != highest || int(h.SignificantFigures()) != digits {
		return nil, fmt.Errorf("histogram geometry %d..%d with %d digits, want %d..%d with %d",
			h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), lowest, highest, digits)
	}
	return h, nil
}
