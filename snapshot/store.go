package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perfagent/perfagent/internal/outfile"
)

// Store defaults.
const (
	DefaultMaxBytes = 256 << 20 // byte quota of a store's directory
	DefaultMaxFiles = 500       // file-count quota of a store's directory
)

// TimeLayout is the layout of the timestamp in file names: perfagent's one
// file-name layout (UTC, millisecond resolution, fixed width), so names of
// one kind sort lexically in time order; results.TimestampLayout is the same.
const TimeLayout = outfile.Layout

// Errors of [Store.WriteFile].
var (
	// ErrDisabled is returned by a nil *Store: files are off.
	ErrDisabled = errors.New("snapshot: no output directory (files are off)")
	// ErrTooLarge is returned for a file larger than the store's byte
	// quota: it is not written.
	ErrTooLarge = errors.New("snapshot: file larger than the store's byte quota")
)

// StoreOptions configure a [Store]. The zero value means the defaults.
type StoreOptions struct {
	// MaxBytes is the most the store's own files may occupy, in bytes
	// (default DefaultMaxBytes). Negative means no byte quota.
	MaxBytes int64
	// MaxFiles is the most files of its own the store keeps (default
	// DefaultMaxFiles). Negative means no count quota.
	MaxFiles int
}

// Store writes files into one directory atomically and keeps the directory
// within a byte and a file-count quota by deleting its own oldest files.
//
// A store's own files are named <kind>-<timestamp><ext>, with kind made of
// lowercase letters, digits and inner dashes, timestamp in [TimeLayout] (or
// the second-resolution layout of earlier versions, see [ParseName]) and
// ext one of .pb.gz, .json, .jsonl, .md, .csv, .svg, .out (execution
// traces). Quotas count and delete only such files (written by this store,
// an earlier one on the same directory, or another perfagent process such
// as `perfagent monitor`); anything else in the directory is left alone and
// not counted.
//
// Methods are safe for concurrent use. A nil *Store is valid: writes return
// [ErrDisabled].
type Store struct {
	dir  string
	opts StoreOptions

	mu     sync.Mutex
	pinned map[string]bool
	stats  StoreStats
}

// StoreStats is a store's account of its work.
type StoreStats struct {
	Written     int64  `json:"written"`
	WriteErrors int64  `json:"write_errors"`
	Evicted     int64  `json:"evicted"`
	EvictErrors int64  `json:"evict_errors"`
	LastError   string `json:"last_error,omitempty"`
}

// OpenStore returns a store writing into dir. The directory is created on
// the first write, not here, so an unwritable location fails writes (which
// callers count and log) rather than startup.
func OpenStore(dir string, opts StoreOptions) (*Store, error) {
	if dir == "" {
		return nil, errors.New("snapshot: empty store directory")
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	return &Store{dir: filepath.Clean(dir), opts: opts, pinned: map[string]bool{}}, nil
}

// Sub returns a store for the subdirectory name of s's directory, with s's
// quotas. Its files are counted and evicted apart from s's (a store ignores
// subdirectories), so writers given separate stores can never push out
// each other's files. A nil s returns nil.
func (s *Store) Sub(name string) (*Store, error) {
	if s == nil {
		return nil, nil
	}
	if name == "" || name == "." || name == ".." || name != filepath.Base(name) {
		return nil, fmt.Errorf("snapshot: store subdirectory %q is not a plain name", name)
	}
	return OpenStore(filepath.Join(s.dir, name), s.opts)
}

// Dir returns the store's directory ("" for a nil store).
func (s *Store) Dir() string {
	if s == nil {
		return ""
	}
	return s.dir
}

// Write stores data (a gzipped pprof profile) as <dir>/<kind>-<timestamp>.pb.gz
// atomically (temp file + rename), then enforces the store's byte and
// file-count quotas by deleting its own oldest files (never files it did
// not write). It returns the path.
func (s *Store) Write(kind string, at time.Time, data []byte) (path string, err error) {
	return s.WriteFile(kind, ".pb.gz", at, data)
}

// maxPinned bounds the files a store keeps out of quota eviction.
const maxPinned = 16

// Pin keeps the file at path (one of the store's) from being deleted by
// quota enforcement until Unpin; it still counts against the quotas. At most
// 16 files are pinned; Pin reports whether path is pinned.
func (s *Store) Pin(path string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pinned[path] && len(s.pinned) >= maxPinned {
		return false
	}
	s.pinned[path] = true
	return true
}

// Unpin lets quota enforcement delete path again.
func (s *Store) Unpin(path string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	delete(s.pinned, path)
	s.mu.Unlock()
}

// Stats returns the store's counters.
func (s *Store) Stats() StoreStats {
	if s == nil {
		return StoreStats{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// WriteFile stores data as <dir>/<kind>-<timestamp><ext> atomically: the
// bytes go to a temporary file that is synced and then linked into place,
// so readers see either nothing or the whole file. The timestamp is at in
// UTC; when a file of that kind and time exists, the time is moved on by a
// millisecond until the name is free, so names never collide. Then the
// quotas are enforced (oldest of the store's own files first, never a
// pinned one or the new one). It returns the new file's path.
//
// A missing directory is created. On error nothing is left behind: no
// partial file, no temporary file.
func (s *Store) WriteFile(kind, ext string, at time.Time, data []byte) (path string, err error) {
	if s == nil {
		return "", ErrDisabled
	}
	if !validKind(kind) {
		return "", fmt.Errorf("snapshot: invalid file kind %q (want lowercase letters, digits and inner dashes)", kind)
	}
	if !slices.Contains(storeExts, ext) {
		return "", fmt.Errorf("snapshot: invalid file extension %q (want one of %s)", ext, strings.Join(storeExts, ", "))
	}
	return s.write(kind, data, func() (string, error) { return s.place(kind, ext, at, data) })
}

// write runs place, which writes data and returns the file's path, with the
// store locked and the quotas checked before and enforced after (keeping
// the new file); what names the file in errors.
func (s *Store) write(what string, data []byte, place func() (string, error)) (path string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if err != nil {
			s.stats.WriteErrors++
			s.stats.LastError = err.Error()
		}
	}()
	if s.opts.MaxBytes > 0 && int64(len(data)) > s.opts.MaxBytes {
		return "", fmt.Errorf("%w: %s of %d bytes, quota %d bytes", ErrTooLarge, what, len(data), s.opts.MaxBytes)
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return "", fmt.Errorf("snapshot: create directory: %w", err)
	}
	path, err = place()
	if err != nil {
		return "", err
	}
	s.stats.Written++
	s.enforce(path)
	return path, nil
}

var storeExts = []string{".pb.gz", ".json", ".jsonl", ".md", ".csv", ".svg", ".out"}

// tempPrefix starts the names of the store's temporary files.
const tempPrefix = outfile.TempPrefix

// place writes data to a temporary file and links it to a free name.
func (s *Store) place(kind, ext string, at time.Time, data []byte) (string, error) {
	tmpName, err := outfile.WriteTemp(s.dir, outfile.Bytes(data))
	if err != nil {
		return "", fmt.Errorf("snapshot: write %s: %w", kind, err)
	}
	defer os.Remove(tmpName) // after a link, the name; after a failure, the data
	at = outfile.Truncate(at)
	for range outfile.MaxTries {
		path := filepath.Join(s.dir, kind+"-"+at.Format(TimeLayout)+ext)
		err := outfile.Link(tmpName, path)
		if err == nil {
			return path, nil
		}
		if errors.Is(err, fs.ErrExist) {
			at = at.Add(outfile.Step)
			continue
		}
		return "", fmt.Errorf("snapshot: link %s: %w", path, err)
	}
	return "", fmt.Errorf("snapshot: no free name for %s at %s", kind, at.Format(TimeLayout))
}

// Replace rewrites path, one of the store's own files in its directory,
// with data atomically (readers see the old file or the new one), then
// enforces the quotas as [Store.WriteFile] does, keeping path. It is for a
// file that grows during a run (a monitor's history rewritten at each
// checkpoint); a missing file is created.
func (s *Store) Replace(path string, data []byte) error {
	if s == nil {
		return ErrDisabled
	}
	if filepath.Dir(path) != s.dir {
		return fmt.Errorf("snapshot: replace %s: not in the store's directory %s", path, s.dir)
	}
	if _, _, ok := ParseName(filepath.Base(path)); !ok {
		return fmt.Errorf("snapshot: replace %s: not a store file name", path)
	}
	_, err := s.write(filepath.Base(path), data, func() (string, error) {
		if err := outfile.Replace(path, outfile.Bytes(data)); err != nil {
			return "", fmt.Errorf("snapshot: replace %s: %w", path, err)
		}
		return path, nil
	})
	return err
}

// FreeTime returns the first time at or after at (in millisecond steps)
// at which <kind>-<timestamp><ext> is free for every ext given, so that
// files written together (a report and its Markdown twin) share one
// timestamp and can name each other before they are written.
func (s *Store) FreeTime(kind string, at time.Time, exts ...string) time.Time {
	names := make([]Name, len(exts))
	for i, ext := range exts {
		names[i] = Name{Kind: kind, Ext: ext}
	}
	return s.FreeTimeOf(at, names...)
}

// Name is the kind and extension of a store file, without its time.
type Name struct{ Kind, Ext string }

// FreeTimeOf is [Store.FreeTime] for files of several kinds (a monitor's
// metrics-history-<ts>.json and report-<ts>.md).
func (s *Store) FreeTimeOf(at time.Time, names ...Name) time.Time {
	at = outfile.Truncate(at)
	if s == nil {
		return at
	}
	for range outfile.MaxTries {
		free := true
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(s.dir, n.Kind+"-"+at.Format(TimeLayout)+n.Ext)); !errors.Is(err, fs.ErrNotExist) {
				free = false
				break
			}
		}
		if free {
			return at
		}
		at = at.Add(outfile.Step)
	}
	return at
}

// Path returns the path WriteFile would use for kind, ext and at when the
// name is free.
func (s *Store) Path(kind, ext string, at time.Time) string {
	if s == nil {
		return ""
	}
	return filepath.Join(s.dir, kind+"-"+outfile.Stamp(at)+ext)
}

// StoredFile describes one of a store's own files.
type StoredFile struct {
	Path string    `json:"path"`
	Kind string    `json:"kind"`
	Time time.Time `json:"time"` // from the name
	Size int64     `json:"size"`
}

// Files lists the store's own files in its directory, oldest first. A
// missing directory lists as empty.
func (s *Store) Files() ([]StoredFile, error) {
	if s == nil {
		return nil, ErrDisabled
	}
	files, _, err := s.list()
	return files, err
}

// staleTemp is the age after which a temporary file is taken to be left
// over by a crashed writer.
const staleTemp = time.Hour

// list returns the store's own files, oldest first, and the paths of stale
// temporary files.
func (s *Store) list() (out []StoredFile, stale []string, err error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot: list %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTemp {
				stale = append(stale, filepath.Join(s.dir, e.Name()))
			}
			continue
		}
		kind, t, ok := ParseName(e.Name())
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, StoredFile{Path: filepath.Join(s.dir, e.Name()), Kind: kind, Time: t, Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b StoredFile) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	return out, stale, nil
}

// enforce deletes the oldest own files until the quotas hold. It runs with
// s.mu held.
func (s *Store) enforce(keep string) {
	files, stale, err := s.list()
	if err != nil {
		s.stats.EvictErrors++
		s.stats.LastError = err.Error()
		return
	}
	for _, p := range stale {
		_ = os.Remove(p) // a crashed writer's temporary file
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	count := len(files)
	over := func() bool {
		return (s.opts.MaxBytes > 0 && total > s.opts.MaxBytes) || (s.opts.MaxFiles > 0 && count > s.opts.MaxFiles)
	}
	for _, f := range files {
		if !over() {
			return
		}
		if f.Path == keep || s.pinned[f.Path] {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.stats.EvictErrors++
			s.stats.LastError = fmt.Sprintf("snapshot: quota: remove %s: %v", f.Path, err)
			continue
		}
		s.stats.Evicted++
		total -= f.Size
		count--
	}
}

// ParseName splits a store file name (base name) into its kind and time. ok
// is false for names the store does not own. Besides [TimeLayout] it reads
// the second-resolution stamps (with their _0002, ... suffixes) that
// `perfagent monitor` wrote in earlier versions, so those files count
// against the quotas and are evicted oldest first too.
func ParseName(name string) (kind string, t time.Time, ok bool) {
	var ext string
	for _, e := range storeExts {
		if strings.HasSuffix(name, e) {
			ext = e
			break
		}
	}
	if ext == "" {
		return "", time.Time{}, false
	}
	kind, t, ok = outfile.SplitStamp(name[:len(name)-len(ext)])
	if !ok || !validKind(kind) {
		return "", time.Time{}, false
	}
	return kind, t, true
}

func validKind(k string) bool {
	if k == "" || k[0] == '-' || k[len(k)-1] == '-' || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
		if c == '-' && k[i-1] == '-' {
			return false
		}
	}
	return true
}
