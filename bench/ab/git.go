package ab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// repo is the git repository holding the working tree (the head side).
type repo struct {
	top    string // the working tree's top directory
	prefix string // the directory the user runs in, relative to top ("" or "a/b/")
}

// git runs git with args in dir and returns its trimmed standard output;
// the error carries git's standard error.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), firstLine(msg))
	}
	return strings.TrimSpace(out.String()), nil
}

// openRepo finds the repository whose working tree holds dir.
func openRepo(ctx context.Context, dir string) (*repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, inputErrorf("directory %s: %v", dir, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, inputErrorf("directory %s: %v", dir, err)
	}
	top, err := git(ctx, abs, "rev-parse", "--show-toplevel")
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, inputErrorf("%s is not in a git working tree (%v)", abs, err)
	}
	prefix, err := git(ctx, abs, "rev-parse", "--show-prefix")
	if err != nil {
		return nil, err
	}
	return &repo{top: top, prefix: prefix}, nil
}

// resolve returns the commit ref names.
func (r *repo) resolve(ctx context.Context, ref string) (string, error) {
	if ref == "" || strings.HasPrefix(ref, "-") {
		return "", inputErrorf("--against %q: want a git revision (a branch, tag or commit)", ref)
	}
	c, err := git(ctx, r.top, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", inputErrorf("--against %q: no such commit in %s", ref, r.top)
	}
	return c, nil
}

// head describes the working tree: HEAD's commit (empty in a repository
// without commits) and whether tracked files differ from it.
func (r *repo) head(ctx context.Context) (commit string, modified bool) {
	commit, _ = git(ctx, r.top, "rev-parse", "--verify", "--quiet", "HEAD")
	st, err := git(ctx, r.top, "status", "--porcelain", "--untracked-files=no")
	return commit, err == nil && st != ""
}

// worktree checks commit out, detached, in a new temporary directory and
// returns it with the function that removes it again (from disk and from
// git's list of worktrees); remove is safe to call after a cancelled
// context and more than once.
func (r *repo) worktree(ctx context.Context, commit string) (dir string, remove func() error, err error) {
	parent, err := os.MkdirTemp("", "perfagent-ab-")
	if err != nil {
		return "", nil, fmt.Errorf("temporary worktree: %w", err)
	}
	dir = filepath.Join(parent, "base")
	done := false
	remove = func() error {
		if done {
			return nil
		}
		done = true
		// Note: the caller's context may be cancelled (Ctrl-C) by now;
		// cleaning up must not depend on it.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, werr := git(cctx, r.top, "worktree", "remove", "--force", dir)
		rerr := os.RemoveAll(parent)
		if werr != nil {
			// The directory is gone; drop git's record of it.
			_, perr := git(cctx, r.top, "worktree", "prune")
			return errors.Join(rerr, perr)
		}
		return rerr
	}
	if _, err := git(ctx, r.top, "worktree", "add", "--detach", "--quiet", dir, commit); err != nil {
		return "", nil, errors.Join(fmt.Errorf("temporary worktree of %s: %w", commit, err), remove())
	}
	return dir, remove, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
