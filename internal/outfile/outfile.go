// Package outfile is perfagent's one way to name and write output files:
// the timestamp layout of file names, its parser (which also reads the
// second-resolution names of earlier versions), and the atomic writer
// (temporary file in the same directory, fsync, rename or exclusive link).
// The snapshot store, the results files and the monitor all use it, so
// names sort the same way and no file is ever seen half written.
//
// Functions are safe for concurrent use; exclusivity between writers comes
// from the file system (a hard link fails when the name is taken).
package outfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Layout is the layout of the timestamp in file names: UTC, millisecond
// resolution, fixed width, so names of one kind sort lexically in time
// order. A writer whose name is taken moves the time on by a millisecond
// ([Step]) until the name is free.
const Layout = "20060102T150405.000Z"

// legacyLayout is the second-resolution layout of earlier versions, whose
// names took a _0002, _0003, ... suffix when the second was taken.
const legacyLayout = "20060102T150405Z"

// Step is the time between two candidate names of one kind.
const Step = time.Millisecond

// MaxTries bounds the search for a free name (a second's worth of steps).
const MaxTries = 1000

// Stamp formats t (in UTC, truncated to the millisecond) with [Layout].
func Stamp(t time.Time) string { return Truncate(t).Format(Layout) }

// Truncate returns t in UTC truncated to [Step]: the time a name records.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(Step) }

// ParseStamp parses the timestamp of a file name: [Layout], or the
// second-resolution layout of earlier versions with its optional _NNNN
// collision suffix (20261202T160000Z_0002). It accepts only stamps a writer
// would have produced, so a name parses to one time in one way.
func ParseStamp(s string) (time.Time, bool) {
	if len(s) == len(Layout) {
		t, err := time.Parse(Layout, s)
		// time.Parse also accepts a comma before the fraction.
		if err != nil || t.Format(Layout) != s {
			return time.Time{}, false
		}
		return t, true
	}
	base, suffix, hasSuffix := strings.Cut(s, "_")
	if len(base) != len(legacyLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(legacyLayout, base)
	if err != nil || t.Format(legacyLayout) != base {
		return time.Time{}, false
	}
	if hasSuffix {
		n, err := strconv.Atoi(suffix)
		if err != nil || len(suffix) != 4 || n < 2 {
			return time.Time{}, false
		}
	}
	return t, true
}

// SplitStamp finds the timestamp at the end of stem (a file name without
// its extension) after a dash, in either layout [ParseStamp] reads, and
// returns what precedes the dash and the time.
func SplitStamp(stem string) (prefix string, t time.Time, ok bool) {
	i := strings.LastIndexByte(stem, '-')
	if i <= 0 {
		return "", time.Time{}, false
	}
	t, ok = ParseStamp(stem[i+1:])
	if !ok {
		return "", time.Time{}, false
	}
	return stem[:i], t, true
}

// TempPrefix starts the names of temporary files, so directory listings
// can skip them (and clean up those a crashed writer left).
const TempPrefix = ".perfagent-tmp-"

// WriteTemp writes a complete temporary file in dir through write: buffered,
// mode 0644, synced and closed. It returns the file's path; the caller
// gives it its name ([Link], [Replace]) and removes it on failure. On error
// nothing is left behind.
func WriteTemp(dir string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, TempPrefix+"*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		_ = f.Close()
		_ = os.Remove(tmp)
		return "", err
	}
	// CreateTemp makes the file private; the output is for people and tools.
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := write(bw); err != nil {
		return fail(err)
	}
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// Link gives the complete file tmp the name path unless path exists, in
// which case the error wraps [fs.ErrExist]. tmp stays (remove it after).
//
// Note: file systems without hard links fall back to check-then-rename,
// which is atomic for readers but may replace a file created by another
// process between the check and the rename.
func Link(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(path); !errors.Is(serr, fs.ErrNotExist) {
		if serr == nil {
			return fmt.Errorf("link %s: %w", path, fs.ErrExist)
		}
		return err
	}
	return os.Rename(tmp, path)
}

// Replace writes the file at path through write atomically: path is either
// its old self or complete. An existing file is replaced. write's error (or
// any I/O error) leaves path untouched and no temporary file behind.
func Replace(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := WriteTemp(dir, write)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// Bytes returns a write function writing data, for [WriteTemp] and
// [Replace].
func Bytes(data []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(data); return err }
}
