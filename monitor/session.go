package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/perfagent/perfagent/budget"
	"github.com/perfagent/perfagent/results"
	"github.com/perfagent/perfagent/snapshot"
)

// SessionOptions configure [RunSession]: a monitoring run, its files and
// the checks made at its end.
type SessionOptions struct {
	// Options configure the run itself. Options.Checkpoint is the
	// session's own (it writes the history file); one set here is called
	// after it.
	Options
	// Dir receives metrics-history-<ts>.json (during the run and at its
	// end), report-<ts>.md and its charts ([Files]), created when missing.
	Dir string
	// Quota bounds Dir's perfagent files (the agent's there included) in
	// bytes and count, oldest first out; the zero value means the
	// snapshot store's defaults (snapshot.DefaultMaxBytes,
	// snapshot.DefaultMaxFiles). The run's history file is never evicted
	// while the run goes on.
	Quota snapshot.StoreOptions
	// ResultsDir receives the run's system figures as a results file
	// (benchmark-<ts>.json and .txt) when SaveResults is set or Budgets is
	// given.
	ResultsDir  string
	SaveResults bool
	// Budgets, when set, are checked against the run's system figures
	// (only their system budgets apply to a monitoring run).
	Budgets *budget.Budgets
	// Push, when set, receives the run's system figures (for example an
	// OTLP push); its error is recorded like a file error.
	Push func(context.Context, *results.Run) error
	// Environment describes the machine in the results (default
	// results.CurrentEnvironment()).
	Environment *results.Environment
}

// SessionFiles names what a session wrote; empty names were not written.
type SessionFiles struct {
	History string   `json:"history,omitempty"`
	Report  string   `json:"report,omitempty"`
	Charts  []string `json:"charts,omitempty"`
	Results string   `json:"results,omitempty"`
}

// Session is the outcome of [RunSession].
type Session struct {
	History *History        `json:"history"`
	Files   SessionFiles    `json:"files"`
	Budgets *budget.Verdict `json:"budgets,omitempty"`
	// Errors are the files and pushes that failed; what was measured is
	// kept in History and in every file that was written.
	Errors []error `json:"-"`
}

// Outcome classifies a finished [Session], in the order a caller should
// report them: a run that could not finish comes before a verdict on it.
type Outcome int

// Outcomes of a session.
const (
	OutcomeOK          Outcome = iota // finished; no threshold breached, budgets (if any) met
	OutcomeBreached                   // finished; a threshold was breached or a budget failed
	OutcomeTargetGone                 // the target went away; the readings so far are written, marked partial
	OutcomeInterrupted                // the context ended first; the readings so far are written, marked partial
	OutcomeWriteFailed                // a file or a push failed (see Session.Errors)
	OutcomeNoReadings                 // every reading after the first failed
)

// Outcome returns the session's outcome and a one-line explanation for
// every outcome but OutcomeOK.
func (s *Session) Outcome() (Outcome, string) {
	h := s.History
	switch {
	case h.Status == StatusTargetGone:
		return OutcomeTargetGone, fmt.Sprintf("the target is gone (%s); the %d readings so far were written (marked partial)",
			strings.TrimSuffix(h.End, ": "+ErrTargetGone.Error()), h.Readings)
	case h.Partial:
		return OutcomeInterrupted, fmt.Sprintf("interrupted; the %d readings so far were written (marked partial)", h.Readings)
	case len(s.Errors) > 0:
		return OutcomeWriteFailed, errors.Join(s.Errors...).Error()
	case h.Readings <= 1 && h.Failures.Count > 0:
		return OutcomeNoReadings, "every reading after the first failed: " + h.Failures.LastError
	}
	var why []string
	if n := len(h.Breaches) + h.BreachesDropped; n > 0 {
		why = append(why, fmt.Sprintf("%d threshold breach(es)", n))
	}
	if s.Budgets != nil && s.Budgets.Failed() {
		why = append(why, fmt.Sprintf("%d system budget(s) failed", s.Budgets.Failures))
	}
	if len(why) > 0 {
		return OutcomeBreached, strings.Join(why, "; ")
	}
	return OutcomeOK, ""
}

// RunSession monitors src as [Run] does and writes what the run produced:
// the history (claimed at the first reading, rewritten at each checkpoint
// and at the end), the Markdown report with its charts, and, when asked,
// the system figures as a results file, checked against budgets and pushed.
// A file that cannot be written is recorded in Session.Errors and the rest
// are still written. It returns an error only when the run produced no
// history at all (the target was unavailable from the start).
func RunSession(ctx context.Context, src Source, o SessionOptions) (*Session, error) {
	store, err := snapshot.OpenStore(o.Dir, o.Quota)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	var files *Files
	var errs []error
	writeHistory := func(h *History) error {
		if files == nil {
			f, err := CreateFiles(store, h.StartedAt, h)
			if err != nil {
				return err
			}
			files = &f
			return nil
		}
		return files.WriteHistory(h)
	}
	opts := o.Options
	user := opts.Checkpoint
	opts.Checkpoint = func(h *History) error {
		err := writeHistory(h)
		if user != nil {
			err = errors.Join(err, user(h))
		}
		return err
	}
	h, err := Run(ctx, src, opts)
	if h == nil {
		if err == nil {
			err = errors.New("monitor: no reading")
		}
		return nil, err
	}
	s := &Session{History: h}
	if err := writeHistory(h); err != nil {
		errs = append(errs, err)
	}
	if files != nil {
		s.Files.History = files.History()
		paths, err := files.WriteReport(h, ReportOptions{Budgets: o.Budgets})
		if err != nil {
			errs = append(errs, err)
		}
		if len(paths) > 0 && strings.HasSuffix(paths[0], ".md") {
			s.Files.Report, s.Files.Charts = paths[0], paths[1:]
		}
		files.Release()
	}
	if o.Push != nil || o.SaveResults || o.Budgets != nil {
		env := results.CurrentEnvironment()
		if o.Environment != nil {
			env = *o.Environment
		}
		res := h.BenchResults(env)
		if o.Push != nil {
			if err := o.Push(ctx, res); err != nil {
				errs = append(errs, err)
			}
		}
		if o.SaveResults || o.Budgets != nil {
			p, err := results.SaveRun(o.ResultsDir, res)
			if err != nil {
				errs = append(errs, fmt.Errorf("saving results: %w", err))
			}
			s.Files.Results = p
		}
		if o.Budgets != nil {
			s.Budgets = budget.Evaluate(&budget.Budgets{File: o.Budgets.File, System: o.Budgets.System}, res)
		}
	}
	s.Errors = errs
	return s, nil
}
