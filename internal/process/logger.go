package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/racelab/racelab/proxies"
)

// Bounds of a bundle's log reader.
const (
	// loggerStopWait bounds the wait for the logger to exit once its
	// process group was signalled, before it is killed by its PID.
	loggerStopWait = 2 * time.Second
)

// logger is a bundle's log reader (proxies.Bundle.Logger) running in the
// proxy's process group: the group's stop signal reaches it, and the
// sweep of the group after the proxy exits kills it.
type logger struct {
	binary string
	cmd    *exec.Cmd
	pid    int
	pipes  []*os.File
	exited chan struct{}
	read   sync.WaitGroup
}

// startLogger starts l's binary in p's process group, feeds its output
// lines to p's evidence, and returns once a request to l.ReadyPath has a
// line: from then on no request goes unread.
func (p *Proxy) startLogger(ctx context.Context, l *proxies.Logger) error {
	bin, err := exec.LookPath(l.Binary)
	if err != nil {
		return fmt.Errorf("start log reader: %s not on PATH: %w", l.Binary, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start log reader: %w", err)
	}
	cmd := exec.Command(bin, l.Args...)
	cmd.Dir = p.dir
	cmd.Stdout = outW
	cmd.Stderr = outW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: p.pid, Pdeathsig: syscall.SIGTERM}
	err = spawn(cmd)
	outW.Close()
	if err != nil {
		outR.Close()
		return fmt.Errorf("start log reader %s: %w", bin, err)
	}
	lg := &logger{binary: bin, cmd: cmd, pid: cmd.Process.Pid, pipes: []*os.File{outR}, exited: make(chan struct{})}
	p.logger = lg
	lg.read.Add(1)
	go func() {
		defer lg.read.Done()
		readLines(outR, maxLineBytes, func(line string) { p.handleLine("logger", line) })
	}()
	go func() {
		_ = cmd.Wait()
		close(lg.exited)
	}()
	p.log.Debug("log reader started", "kind", p.kind, "pid", lg.pid, "binary", bin, "args", l.Args)
	if l.ReadyPath == "" {
		return nil
	}
	return p.awaitLogger(ctx, l.ReadyPath)
}

// awaitLogger waits until the logger has written a line about a request
// to path (proxies.AwaitLogger), the logger or the proxy exits, or ctx
// ends.
func (p *Proxy) awaitLogger(ctx context.Context, path string) error {
	gone := make(chan struct{})
	go func() {
		select {
		case <-p.logger.exited:
		case <-p.exited:
		case <-ctx.Done():
		}
		close(gone)
	}()
	err := proxies.AwaitLogger(ctx, p.addr, path, p.evidence, gone)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, proxies.ErrLoggerGone):
		select {
		case <-p.exited:
			return p.exitError()
		default:
		}
		return fmt.Errorf("log reader %s exited: %s", p.logger.binary, p.logs.summary(errorLines))
	}
	return fmt.Errorf("%w; last output: %s", err, p.logs.summary(errorLines))
}

// stop waits for the logger to exit (the proxy's group was signalled
// already), kills it by its PID if it has not, and waits for its output
// to end. A nil logger is a no-op.
func (l *logger) stop() error {
	if l == nil {
		return nil
	}
	var errs []error
	t := time.NewTimer(loggerStopWait)
	defer t.Stop()
	select {
	case <-l.exited:
	case <-t.C:
		if err := l.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("kill log reader %d: %w", l.pid, err))
		}
		<-l.exited
	}
	for _, f := range l.pipes {
		f.Close()
	}
	l.read.Wait()
	return errors.Join(errs...)
}
