package load

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

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

// histReader reads histograms of the V2 compressed encoding bucket by
// bucket, reusing its buffers and inflater, so a merge of thousands of
// histograms allocates none per histogram. It is not safe for concurrent
// use; the zero value is ready.
//
// Note: the format (base64 of a cookie, a length and a zlib stream of a
// 40-byte header and zig-zag LEB128 counts, negative ones runs of empty
// buckets) is HdrHistogram's; a test checks this reader against the
// library's decoder.
type histReader struct {
	raw     []byte
	zr      io.ReadCloser
	br      bytes.Reader
	payload bytes.Buffer
}

// Cookies of the V2 encoding (the low nibble, as the library, ignored).
const (
	v2CompressedCookie = 0x1c849304
	v2Cookie           = 0x1c849303
)

// each calls fn for every non-empty bucket of the encoded histogram s
// (value: the bucket's lowest value) after checking that its geometry is
// 1..histMax with digits significant digits.
func (hr *histReader) each(s string, digits int, fn func(value, count int64)) error {
	n := base64.StdEncoding.DecodedLen(len(s))
	if cap(hr.raw) < n {
		hr.raw = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(hr.raw[:n], []byte(s))
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	raw := hr.raw[:n]
	if len(raw) < 8 || binary.BigEndian.Uint32(raw)&^0xf0 != v2CompressedCookie {
		return errors.New("histogram: not in the V2 compressed encoding")
	}
	if l := int64(binary.BigEndian.Uint32(raw[4:])); l > int64(len(raw)-8) {
		return fmt.Errorf("histogram: truncated (%d of %d compressed bytes)", len(raw)-8, l)
	} else {
		raw = raw[8 : 8+l]
	}
	hr.br.Reset(raw)
	if hr.zr == nil {
		if hr.zr, err = zlib.NewReader(&hr.br); err != nil {
			return fmt.Errorf("histogram: %w", err)
		}
	} else if err := hr.zr.(zlib.Resetter).Reset(&hr.br, nil); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	hr.payload.Reset()
	// The counts of a geometry fit in countsLen varints of at most 9 bytes.
	const maxPayload = 64 << 20
	if _, err := hr.payload.ReadFrom(io.LimitReader(hr.zr, maxPayload+1)); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	p := hr.payload.Bytes()
	if len(p) < 40 || len(p) > maxPayload {
		return errors.New("histogram: corrupt header")
	}
	if binary.BigEndian.Uint32(p)&^0xf0 != v2Cookie {
		return errors.New("histogram: not in the V2 encoding")
	}
	length := int64(binary.BigEndian.Uint32(p[4:]))
	sig := int(binary.BigEndian.Uint32(p[12:]))
	lowest, highest := int64(binary.BigEndian.Uint64(p[16:])), int64(binary.BigEndian.Uint64(p[24:]))
	if lowest != 1 || highest != histMax || sig != digits {
		return fmt.Errorf("histogram geometry %d..%d with %d digits, want 1..%d with %d", lowest, highest, sig, histMax, digits)
	}
	p = p[40:]
	if int64(len(p)) != length {
		return fmt.Errorf("histogram: payload of %d bytes, header says %d", len(p), length)
	}
	m := halfMagnitude(digits)
	half := int64(1) << m
	countsLen := countsLen(digits)
	var idx int64
	for len(p) > 0 {
		v, k := zigzag(p)
		if k == 0 {
			return errors.New("histogram: truncated count")
		}
		p = p[k:]
		if v < 0 {
			if -v > countsLen-idx || v == math.MinInt64 {
				return errors.New("histogram: corrupt run of empty buckets")
			}
			idx -= v
			continue
		}
		if idx >= countsLen {
			return errors.New("histogram: more buckets than its geometry has")
		}
		if v > 0 {
			// Index to value: bucket 0 holds indices 0..2·half-1 at unit
			// resolution, bucket b ≥ 1 indices (b+1)·half.. as
			// sub-buckets half..2·half-1 shifted by b.
			var value int64
			if idx < 2*half {
				value = idx
			} else {
				b := idx>>m - 1
				value = (idx&(half-1) + half) << b
			}
			fn(value, v)
		}
		idx++
	}
	return nil
}

// halfMagnitude is log2 of the sub-bucket half count for digits
// significant digits (the library's subBucketHalfCountMagnitude).
func halfMagnitude(digits int) int64 {
	return max(int64(math.Ceil(math.Log2(2*math.Pow10(digits)))), 1) - 1
}

// countsLen is the number of buckets of the geometry 1..histMax.
func countsLen(digits int) int64 {
	m := halfMagnitude(digits)
	sub := int64(1) << (m + 1)
	buckets := int64(1)
	for v := sub; v < histMax; v <<= 1 {
		if v > math.MaxInt64/2 {
			buckets++
			break
		}
		buckets++
	}
	return (buckets + 1) * (sub / 2)
}

// zigzag decodes one zig-zag LEB128 varint of at most 9 bytes (the 9th
// carries 8 bits); k is 0 when p is too short.
func zigzag(p []byte) (v int64, k int) {
	var u uint64
	for i := 0; i < 9; i++ {
		if i >= len(p) {
			return 0, 0
		}
		b := p[i]
		if i == 8 {
			u |= uint64(b) << 56
			k = 9
			break
		}
		u |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			k = i + 1
			break
		}
	}
	return int64(u>>1) ^ -int64(u&1), k
}
