package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/racelab/racelab/proxies"
)

// loggerStopWait bounds the wait for the log reader's stream to end once
// the container is gone.
const loggerStopWait = 2 * time.Second

// logger is a bundle's log reader (proxies.Bundle.Logger) run with exec in
// the proxy's container: removing the container ends it.
type logger struct {
	binary string
	execID string
	conn   client.HijackedResponse
	done   chan struct{}
}

// startLogger runs l in the container, streams its output into the
// evidence log, and returns once a request to l.ReadyPath has a line.
func (p *Proxy) startLogger(ctx context.Context, l *proxies.Logger) error {
	cmd := append([]string{l.Binary}, l.Args...)
	ex, err := p.cli.ExecCreate(ctx, p.id, client.ExecCreateOptions{
		User:         fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid()),
		AttachStdout: true,
		AttachStderr: true,
		Cmd:          cmd,
	})
	if err != nil {
		return fmt.Errorf("start log reader %s: %w", l.Binary, err)
	}
	// The stream outlives Start: attach without Start's deadline.
	att, err := p.cli.ExecAttach(context.WithoutCancel(ctx), ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("start log reader %s: %w", l.Binary, err)
	}
	lg := &logger{binary: l.Binary, execID: ex.ID, conn: att.HijackedResponse, done: make(chan struct{})}
	p.logger = lg
	go func() {
		defer close(lg.done)
		out := &lineWriter{sink: p.sink, stream: "logger"}
		errw := &lineWriter{sink: p.sink, stream: "logger"}
		_, _ = stdcopy.StdCopy(out, errw, att.Reader)
		out.flush()
		errw.flush()
	}()
	if l.ReadyPath == "" {
		return nil
	}
	gone := make(chan struct{})
	go func() {
		select {
		case <-lg.done:
		case <-p.logsDone:
		case <-ctx.Done():
		}
		close(gone)
	}()
	err = proxies.AwaitLogger(ctx, p.addr, l.ReadyPath, p.evidence, gone)
	if errors.Is(err, proxies.ErrLoggerGone) {
		return fmt.Errorf("log reader %s exited; last log lines:\n%s", l.Binary, p.sink.Tail())
	}
	if err != nil {
		return fmt.Errorf("%w; last log lines:\n%s", err, p.sink.Tail())
	}
	return nil
}

// stop closes the log reader's stream once the container is gone. A nil
// logger is a no-op.
func (l *logger) stop() {
	if l == nil {
		return
	}
	select {
	case <-l.done:
	case <-time.After(loggerStopWait):
	}
	l.conn.Close()
	<-l.done
}
