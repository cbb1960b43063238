package backends

import (
	"context"
	"errors"
	"log/slog"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	addr     string
	observer Observer
	logger   *slog.Logger
}

// DefaultAddr is where a backend listens unless WithAddr says otherwise.
const DefaultAddr = "127.0.0.1:0"

// WithAddr sets the listen address (default DefaultAddr).
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithObserver sends every event to obs.
func WithObserver(obs Observer) Option { return func(o *options) { o.observer = obs } }

// WithLogger logs connection-level problems to l (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Server is a running backend.
type Server struct{}

// Start listens and serves until Close. It returns once the listener exists.
func Start(ctx context.Context, cfg Config, opts ...Option) (*Server, error) {
	return nil, errors.New("backend: not implemented yet")
}

// Addr is the listen address, host:port.
func (s *Server) Addr() string { return "" }

// Close stops accepting and closes every connection (reason shutdown). Idempotent.
func (s *Server) Close() error { return nil }

// Shutdown stops accepting, closes idle connections with the configured
// close style, lets in-flight requests finish with "Connection: close",
// and returns when all connections are gone or ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
