package exporters

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// stringTableField is the field number of Profile.string_table in
// profile.proto.
const stringTableField = 6

// maxProfileSize bounds the decompressed size SanitizeProfileStrings
// reads, so a corrupt or hostile input cannot exhaust memory.
const maxProfileSize = 256 << 20

// SanitizeProfileStrings checks the string table of a pprof profile
// (gzipped or not) for invalid UTF-8, which protobuf decoders such as
// Pyroscope's reject, failing the whole upload. It returns data itself and
// false when every string is valid; otherwise a gzipped copy whose invalid
// bytes are replaced by U+FFFD, and true. Only the string table changes;
// every other field is copied byte for byte. It returns an error when data
// is not a profile (bad gzip, malformed protobuf).
//
// Go's runtime writes pprof label keys and values as given, so a request
// label carrying arbitrary bytes ends up in the string table.
func SanitizeProfileStrings(data []byte) ([]byte, bool, error) {
	var s sanitizer
	return s.sanitize(data)
}

// sanitizer keeps its gzip reader and buffer between calls: most of a
// check's cost is setting up decompression. It is safe for concurrent use.
type sanitizer struct {
	mu  sync.Mutex
	zr  *gzip.Reader
	buf bytes.Buffer
}

func (s *sanitizer) sanitize(data []byte) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw := data
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		var err error
		if s.zr == nil {
			s.zr, err = gzip.NewReader(bytes.NewReader(data))
		} else {
			err = s.zr.Reset(bytes.NewReader(data))
		}
		if err != nil {
			s.zr = nil
			return nil, false, fmt.Errorf("profile: %w", err)
		}
		s.buf.Reset()
		_, err = s.buf.ReadFrom(io.LimitReader(s.zr, maxProfileSize+1))
		if err != nil {
			return nil, false, fmt.Errorf("profile: %w", err)
		}
		if s.buf.Len() > maxProfileSize {
			return nil, false, errors.New("profile: larger than 256 MiB")
		}
		raw = s.buf.Bytes()
		if s.buf.Cap() > 4<<20 {
			defer func() { s.buf = bytes.Buffer{} }() // do not keep a rare huge buffer
		}
	}
	valid, err := scanStrings(raw)
	if err != nil || valid {
		return data, false, err
	}
	out := make([]byte, 0, len(raw))
	for b := raw; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if num == stringTableField && typ == protowire.BytesType {
			s, _ := protowire.ConsumeBytes(b[n:])
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendString(out, strings.ToValidUTF8(string(s), "\uFFFD"))
		} else {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(out)
	if err := zw.Close(); err != nil {
		return nil, false, fmt.Errorf("profile: %w", err)
	}
	return buf.Bytes(), true, nil
}

// scanStrings walks the top-level fields of a profile message and reports
// whether every string-table entry is valid UTF-8.
func scanStrings(b []byte) (bool, error) {
	valid := true
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false, fmt.Errorf("profile: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return false, fmt.Errorf("profile: field %d: %w", num, protowire.ParseError(m))
		}
		if num == stringTableField && typ == protowire.BytesType {
			s, _ := protowire.ConsumeBytes(b[n:])
			if !utf8.Valid(s) {
				valid = false
			}
		}
		b = b[n+m:]
	}
	return valid, nil
}
