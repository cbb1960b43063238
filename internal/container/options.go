package container

import (
	"log/slog"
	"time"
)

// Defaults for Start.
const (
	// DefaultStartTimeout bounds Start: image lookup (and a pull, where a
	// registry is reachable and the image is not present), create, start
	// and readiness.
	DefaultStartTimeout = 60 * time.Second
	// DefaultStopTimeout is how long Stop waits after the adapter's stop
	// signal before the engine kills the proxy.
	DefaultStopTimeout = 5 * time.Second
	// ConfigRoot is the directory inside the container under which a
	// bundle is rendered, one subdirectory per proxy kind.
	ConfigRoot = "/etc/racelab"
)

// Labels every racelab container carries.
const (
	// LabelManaged marks a container racelab created ("true").
	LabelManaged = "racelab.managed"
	// LabelRun holds the run id given with WithRunID.
	LabelRun = "racelab.run"
	// LabelKind holds the proxy kind.
	LabelKind = "racelab.kind"
	// LabelInstance is unique per Start call, so a container whose create
	// call was interrupted can still be found and removed.
	LabelInstance = "racelab.instance"
)

// Every container also carries its owner's mark, owner.Mark.Labels
// (racelab.owner.pid, .start, .boot, .pidns, .host), for SweepGone.

// Option configures Start.
type Option func(*options)

type options struct {
	runID        string
	logger       *slog.Logger
	startTimeout time.Duration
	stopTimeout  time.Duration
}

func defaultOptions() options {
	return options{
		logger:       discard,
		startTimeout: DefaultStartTimeout,
		stopTimeout:  DefaultStopTimeout,
	}
}

// WithRunID labels the container racelab.run=id, so Cleanup(ctx, id)
// removes what one run left behind.
func WithRunID(id string) Option {
	return func(o *options) { o.runID = id }
}

// WithLogger logs container lifecycle events and every proxy log line at
// debug level. Logging is off by default.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithStartTimeout bounds Start (DefaultStartTimeout when d <= 0).
func WithStartTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.startTimeout = d
		}
	}
}

// WithStopTimeout sets how long Stop waits for the proxy to exit on its
// stop signal before it is killed (DefaultStopTimeout when d <= 0). The
// engine counts whole seconds; d is rounded up.
func WithStopTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.stopTimeout = d
		}
	}
}
