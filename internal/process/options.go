package process

import (
	"io"
	"log/slog"
	"time"
)

// Defaults for the options.
const (
	// DefaultStartTimeout bounds Start when WithStartTimeout is not given.
	DefaultStartTimeout = 10 * time.Second
	// DefaultStopTimeout is how long Stop waits after the adapter's stop
	// signal before it kills the process group.
	DefaultStopTimeout = 3 * time.Second
	// LogTailLines is how many raw output lines a Proxy keeps.
	LogTailLines = 200
)

// Option configures Start and Validate.
type Option func(*options)

type options struct {
	keep         bool
	binary       string
	logger       *slog.Logger
	startTimeout time.Duration
	stopTimeout  time.Duration
}

func newOptions(opts []Option) options {
	o := options{
		logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		startTimeout: DefaultStartTimeout,
		stopTimeout:  DefaultStopTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.startTimeout <= 0 {
		o.startTimeout = DefaultStartTimeout
	}
	if o.stopTimeout <= 0 {
		o.stopTimeout = DefaultStopTimeout
	}
	return o
}

// WithKeep keeps the temporary directory after Stop (or after Validate),
// for debugging.
func WithKeep(keep bool) Option { return func(o *options) { o.keep = keep } }

// WithBinary runs the binary at path instead of looking it up with LookPath.
func WithBinary(path string) Option { return func(o *options) { o.binary = path } }

// WithLogger logs the runtime's steps and every output line (at debug
// level) to l. The default discards everything.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithStartTimeout bounds how long Start waits for the proxy to accept
// connections (default DefaultStartTimeout). The caller's context can end
// Start sooner.
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.startTimeout = d } }

// WithStopTimeout sets how long Stop waits after the adapter's stop signal
// before it sends SIGKILL (default DefaultStopTimeout).
func WithStopTimeout(d time.Duration) Option { return func(o *options) { o.stopTimeout = d } }
