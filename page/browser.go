package page

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// ErrNoBrowser is returned (wrapped) when no Chrome or Chromium binary is
// found; the CLI exits 2 on it.
var ErrNoBrowser = errors.New("no Chrome or Chromium browser found")

// ErrClosed is returned by [Browser.Measure] and [Browser.Close] after
// Close.
var ErrClosed = errors.New("page: browser closed")

// wellKnownPaths are tried in order after --chrome and $CHROME_PATH. The
// Debian binary comes before its /usr/bin/chromium wrapper script, which
// costs about 0.4 s per start and adds flags of its own.
var wellKnownPaths = []string{
	"/usr/lib/chromium/chromium",
	"/usr/bin/chromium",
	"/usr/bin/chromium-browser",
	"/usr/bin/google-chrome-stable",
	"/usr/bin/google-chrome",
	"/opt/google/chrome/chrome",
	"/snap/bin/chromium",
	"/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
	"/Applications/Chromium.app/Contents/MacOS/Chromium",
}

var lookPathNames = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "chrome"}

// FindChrome returns the browser binary to use: explicit (the --chrome
// flag) when not empty, else $CHROME_PATH (read with getenv; nil means
// os.Getenv), else the first well-known path that exists
// (/usr/lib/chromium/chromium, /usr/bin/chromium, Google Chrome's paths),
// else chromium or google-chrome on $PATH. An explicit path or CHROME_PATH
// that is not an executable file is an error naming it; it does not fall
// through to the next choice. The error wraps [ErrNoBrowser] and says how
// to install a browser.
func FindChrome(explicit string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	return findChrome(explicit, getenv, wellKnownPaths, exec.LookPath)
}

func findChrome(explicit string, getenv func(string) string, known []string, lookPath func(string) (string, error)) (string, error) {
	if explicit != "" {
		if err := executable(explicit); err != nil {
			return "", fmt.Errorf("page: --chrome %s: %w: %w", explicit, err, ErrNoBrowser)
		}
		return explicit, nil
	}
	if p := getenv("CHROME_PATH"); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("page: CHROME_PATH=%s: %w: %w", p, err, ErrNoBrowser)
		}
		return p, nil
	}
	for _, p := range known {
		if executable(p) == nil {
			return p, nil
		}
	}
	for _, name := range lookPathNames {
		if p, err := lookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("page: %w (looked at --chrome, $CHROME_PATH, %s and $PATH): install one with `apt-get install -y chromium` (Debian/Ubuntu) or pass --chrome PATH", ErrNoBrowser, strings.Join(known, ", "))
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// Browser is a headless Chromium started for measurements, with a fresh
// profile directory that Close deletes. Measure calls are serialized: page
// loads measured in parallel would slow each other down.
type Browser struct {
	opts    Options
	path    string
	version string
	dir     string

	mu          sync.Mutex // serializes Measure and Close
	closed      bool
	allocCancel context.CancelFunc
	bctx        context.Context
	bcancel     context.CancelFunc
}

// launchFlags are the Chromium flags of every launch, on top of chromedp's
// defaults (headless, no-first-run, disable-background-networking,
// disable-sync, disable-extensions, disable-dev-shm-usage, ...): they work
// as root in containers and keep the browser from talking to Google's
// services during a measurement.
func launchFlags(path, dir string, o Options) []chromedp.ExecAllocatorOption {
	flags := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		// Chromium's singleton socket and shared-memory files go here, so
		// Close removes them with the profile.
		chromedp.Env("TMPDIR="+dir),
		chromedp.WindowSize(o.Width, o.Height),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox.
		flags = append(flags, chromedp.NoSandbox)
	}
	for name, v := range o.Flags {
		flags = append(flags, chromedp.Flag(name, v))
	}
	return flags
}

// Launch finds and starts the browser. ctx bounds the start only: the
// browser lives until Close. Options are validated here; their errors and
// a missing browser ([ErrNoBrowser]) are usage errors.
func Launch(ctx context.Context, opts Options) (*Browser, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	path, err := FindChrome(o.ChromePath, o.Getenv)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "perfagent-chrome-")
	if err != nil {
		return nil, fmt.Errorf("page: profile directory: %w", err)
	}
	b := &Browser{opts: o, path: path, dir: dir}
	// Note: the browser's life is bound to the context of its first run,
	// so it must not inherit ctx's deadline or cancellation; ctx only
	// aborts the start.
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), launchFlags(path, dir, o)...)
	b.allocCancel = allocCancel
	b.bctx, b.bcancel = chromedp.NewContext(allocCtx)
	stop := context.AfterFunc(ctx, b.bcancel)
	err = chromedp.Do(b.bctx)
	aborted := !stop()
	if err == nil && aborted {
		err = ctx.Err()
	}
	if err != nil {
		b.shutdown()
		return nil, fmt.Errorf("page: start %s: %w", path, err)
	}
	if v, err := chromedp.CallBrowser(b.bctx, browser.GetVersion, cdp.Empty{}); err == nil {
		b.version = v.Product
	}
	return b, nil
}

// Path returns the browser binary in use.
func (b *Browser) Path() string { return b.path }

// Version returns the browser's product and version, e.g.
// "Chrome/156.0.8078.108"; empty if the browser did not say.
func (b *Browser) Version() string { return b.version }

// Close stops the browser (gracefully, within a few seconds, then by
// killing it) and deletes its profile directory. A second call returns
// [ErrClosed].
func (b *Browser) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.closed = true
	return b.shutdown()
}

func (b *Browser) shutdown() error {
	cctx, cancel := context.WithTimeout(b.bctx, 5*time.Second)
	_ = chromedp.Cancel(cctx) // graceful; falls back to the kills below
	cancel()
	b.bcancel()
	b.allocCancel()
	if err := os.RemoveAll(b.dir); err != nil {
		return fmt.Errorf("page: remove profile: %w", err)
	}
	return nil
}

// Run launches a browser, measures url with it and closes it. See
// [Browser.Measure] for the report and its errors.
func Run(ctx context.Context, url string, opts Options) (*Report, error) {
	b, err := Launch(ctx, opts)
	if err != nil {
		return nil, err
	}
	r, err := b.Measure(ctx, url)
	if cerr := b.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return r, err
}
