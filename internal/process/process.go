package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/racelab/racelab/internal/owner"
	"github.com/racelab/racelab/proxies"
)

// Bounds of the steps around a process's lifetime.
const (
	// killWait bounds the wait for a process to exit after SIGKILL.
	killWait = 10 * time.Second
	// drainWait bounds the wait for the output pipes to reach EOF once the
	// process group is gone; something that left the group may hold them.
	drainWait = 2 * time.Second
	// errorLines is how many output lines an error message quotes.
	errorLines = 20
	// probeTimeout bounds one readiness probe.
	probeTimeout = 250 * time.Millisecond
	// maxProbeDelay is the longest pause between readiness probes.
	maxProbeDelay = 10 * time.Millisecond
)

// Proxy is a proxy running as a local process in its own process group.
// It implements proxies.Instance. The zero value and nil are not running
// proxies, and Stop on them is safe.
type Proxy struct {
	kind        proxies.Kind
	adapter     proxies.Adapter
	addr        string
	keep        bool
	stopTimeout time.Duration
	log         *slog.Logger
	evidence    *proxies.EvidenceLog
	logs        *tail

	// Set during Start, read-only afterwards.
	binary  string
	dir     string
	bundle  *proxies.Bundle
	version string
	cmd     *exec.Cmd
	pid     int
	pipes   []*os.File // read ends of stdout and stderr
	// logger is the bundle's log reader (nil: none), in the proxy's
	// process group.
	logger *logger

	exited  chan struct{} // closed once the process has exited and been reaped
	waitErr error         // the reaped status; written before exited closes
	drained chan struct{} // closed once both output pipes have ended

	// sigMu orders signals against the reap: dead is set, under sigMu,
	// before the group leader is reaped, so a signal never reaches a
	// process group id the kernel has handed out again.
	sigMu sync.Mutex
	dead  bool

	// startFailed makes Stop quiet about an exit that Start already
	// reported.
	startFailed bool

	// releaseDir and releaseGroup tell the keeper that Stop removed the
	// directory and ended the process group (never nil once set).
	releaseDir, releaseGroup func()

	stopOnce sync.Once
	stopErr  error
}

// Start renders spec for adapter a into a fresh 0700 temporary directory,
// starts a's binary on it in a new process group and returns once
// spec.Listen accepts TCP connections. Output lines become evidence
// through a.ParseLog.
//
// Start fails when the listen address is already taken, when the process
// exits before it is ready (the error quotes its last output lines), or
// when the start timeout or ctx ends. On error, Start has already stopped
// the process and removed the directory (unless kept); it still returns
// the partial *Proxy, whose Stop is then a no-op. ctx bounds only the
// start: the process runs until Stop.
func Start(ctx context.Context, a proxies.Adapter, spec proxies.Spec, opts ...Option) (*Proxy, error) {
	o := newOptions(opts)
	// Outside the start timeout: the keeper's own start is not the
	// proxy's. An error shows when the proxy is tracked.
	_ = owner.Start()
	p := &Proxy{
		kind:        a.Kind(),
		adapter:     a,
		addr:        spec.Listen,
		keep:        o.keep,
		stopTimeout: o.stopTimeout,
		log:         o.logger,
		evidence:    proxies.NewEvidenceLog(),
		logs:        newTail(LogTailLines),
		exited:      make(chan struct{}),
		drained:     make(chan struct{}),
	}
	if err := p.start(ctx, a, spec, o); err != nil {
		p.startFailed = true
		if serr := p.Stop(context.Background()); serr != nil {
			err = errors.Join(err, serr)
		}
		return p, fmt.Errorf("start %s: %w", a.Kind(), err)
	}
	p.log.Info("proxy started", "kind", p.kind, "pid", p.pid, "addr", p.addr, "version", p.version, "dir", p.dir)
	return p, nil
}

func (p *Proxy) start(ctx context.Context, a proxies.Adapter, spec proxies.Spec, o options) error {
	if spec.Listen == "" {
		return errors.New("spec has no listen address")
	}
	ctx, cancel := context.WithTimeout(ctx, o.startTimeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return err
	}

	bin, err := o.binaryFor(a)
	if err != nil {
		return err
	}
	p.binary = bin
	if err := checkFree(spec.Listen); err != nil {
		return err
	}
	dir, b, err := prepare(a, spec)
	p.dir, p.bundle = dir, b
	if dir != "" {
		p.releaseDir = p.track(owner.Item{Dir: dir})
	}
	if err != nil {
		return err
	}
	if err := p.exec(b); err != nil {
		return err
	}

	type versionResult struct {
		v   string
		err error
	}
	vc := make(chan versionResult, 1)
	go func() {
		v, err := readVersion(ctx, a, bin)
		vc <- versionResult{v, err}
	}()
	readyErr := p.waitReady(ctx)
	vr := <-vc // bounded by ctx
	if readyErr != nil {
		return readyErr
	}
	if vr.err != nil {
		return vr.err
	}
	p.version = vr.v
	if b.Logger != nil {
		if err := p.startLogger(ctx, b.Logger); err != nil {
			return err
		}
	}
	return nil
}

// exec starts the binary with b.Args in b's directory, in a new process
// group, and starts the goroutines that read its output and reap it.
func (p *Proxy) exec(b *proxies.Bundle) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("pipe: %w", err)
	}
	if b.SharedOutput {
		// The proxy reopens /dev/stdout and /dev/stderr after it drops
		// root: only its own /proc/self/fd reaches these pipes.
		for _, w := range []*os.File{outW, errW} {
			if err := w.Chmod(0o622); err != nil {
				outR.Close()
				outW.Close()
				errR.Close()
				errW.Close()
				return fmt.Errorf("share output: %w", err)
			}
		}
	}
	cmd := exec.Command(p.binary, b.Args...)
	cmd.Dir = p.dir
	if len(b.Env) > 0 {
		cmd.Env = append(os.Environ(), b.Env...)
	}
	cmd.Stdout = outW
	cmd.Stderr = errW
	cmd.SysProcAttr = sysProcAttr()
	err = spawn(cmd)
	// The child holds its own copies of the write ends now.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return fmt.Errorf("exec %s: %w", p.binary, err)
	}
	p.cmd = cmd
	p.pid = cmd.Process.Pid
	p.pipes = []*os.File{outR, errR}
	// Unreaped until p.reap runs, so the group id is still this one's.
	if g, err := owner.GroupOf(p.pid); err != nil {
		p.log.Warn("proxy group not recorded; a racelab killed now leaves it to the parent-death signal", "kind", p.kind, "pid", p.pid, "err", err)
	} else {
		p.releaseGroup = p.track(owner.Item{Group: &g})
		if err := owner.MarkDir(p.dir, g); err != nil {
			p.log.Warn("proxy group not marked", "kind", p.kind, "pid", p.pid, "err", err)
		}
	}
	p.log.Debug("proxy exec", "kind", p.kind, "pid", p.pid, "binary", p.binary, "args", b.Args)

	var readers sync.WaitGroup
	for _, s := range []struct {
		name string
		r    *os.File
	}{{"stdout", outR}, {"stderr", errR}} {
		readers.Add(1)
		go func() {
			defer readers.Done()
			readLines(s.r, maxLineBytes, func(line string) { p.handleLine(s.name, line) })
		}()
	}
	go func() {
		readers.Wait()
		close(p.drained)
	}()
	go p.reap()
	return nil
}

// track hands item to the keeper and returns its release. Without a
// keeper the proxy still runs: the parent-death signal and the next
// racelab's sweep remain.
func (p *Proxy) track(item owner.Item) func() {
	release, err := owner.Track(item)
	if err != nil {
		p.log.Warn("racelab's keeper is not running; a killed racelab leaves this proxy to the next sweep", "kind", p.kind, "err", err)
	}
	return release
}

// reap waits for the group leader to exit, kills whatever is left in its
// process group while the leader's id is still reserved (an nginx worker
// outlives a killed master), then reaps the leader.
func (p *Proxy) reap() {
	if awaitExit(p.pid) {
		p.sigMu.Lock()
		if err := syscall.Kill(-p.pid, syscall.SIGKILL); err == nil {
			p.log.Debug("proxy group swept", "kind", p.kind, "pgid", p.pid)
		}
		p.dead = true
		p.sigMu.Unlock()
	}
	err := p.cmd.Wait()
	p.sigMu.Lock()
	p.dead = true
	p.sigMu.Unlock()
	p.waitErr = err
	close(p.exited)
	p.log.Debug("proxy exited", "kind", p.kind, "pid", p.pid, "status", exitStatus(err))
}

func (p *Proxy) handleLine(stream, line string) {
	p.logs.add(line)
	p.log.Debug("proxy output", "kind", p.kind, "pid", p.pid, "stream", stream, "line", line)
	ev, ok := p.adapter.ParseLog(line)
	if !ok {
		return
	}
	if ev.Raw == "" {
		ev.Raw = line
	}
	p.evidence.Add(ev)
}

// checkFree fails when addr cannot be bound: a readiness probe would
// otherwise find whoever holds it and call the proxy ready.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen address %s is not free: %w", addr, err)
	}
	return ln.Close()
}

// waitReady probes p.addr until it accepts a connection, the process
// exits, or ctx ends. Probes back off from 1ms to maxProbeDelay.
func (p *Proxy) waitReady(ctx context.Context) error {
	delay := time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-p.exited:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections on %s: %w; last output: %s",
				p.addr, ctx.Err(), p.logs.summary(errorLines))
		case <-timer.C:
		}
		d := net.Dialer{Timeout: probeTimeout}
		if c, err := d.DialContext(ctx, "tcp", p.addr); err == nil {
			c.Close()
			select {
			case <-p.exited:
				return p.exitError()
			default:
				return nil
			}
		}
		timer.Reset(delay)
		delay = min(2*delay, maxProbeDelay)
	}
}

// exitError describes an exit: status and the last output lines.
func (p *Proxy) exitError() error {
	p.awaitDrain(drainWait / 4)
	logs := p.logs.summary(errorLines)
	if p.bundle != nil {
		logs = p.bundle.MapMessage(logs)
	}
	return fmt.Errorf("exited: %s: %s", exitStatus(p.waitErr), logs)
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// awaitDrain waits up to d for the output readers to finish.
func (p *Proxy) awaitDrain(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.drained:
		return true
	case <-t.C:
		return false
	}
}

// signal sends sig to the process group, unless the leader is already
// gone (then the group id may belong to someone else).
func (p *Proxy) signal(sig syscall.Signal) error {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	if p.dead {
		return nil
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, p.pid, err)
	}
	return nil
}

// Stop asks the proxy to stop with the adapter's stop signal, sends
// SIGKILL to the process group if it has not exited after the stop
// timeout (or once ctx ends), waits for it, and removes the directory
// unless kept. It is idempotent and safe for concurrent use: every call
// returns the first call's result. An exit caused by Stop's signals is
// not an error; a proxy that had exited on its own before Stop is.
func (p *Proxy) Stop(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() { p.stopErr = p.stop(ctx) })
	return p.stopErr
}

func (p *Proxy) stop(ctx context.Context) error {
	var errs []error
	if p.cmd != nil {
		if err := p.terminate(ctx); err != nil {
			errs = append(errs, err)
		}
	} else if p.exited != nil {
		close(p.exited) // never started
	}
	select {
	case <-p.exited:
		if p.releaseGroup != nil {
			p.releaseGroup()
		}
	default:
		// Still running: the keeper kills it when racelab exits.
	}
	if p.dir != "" {
		var err error
		if p.keep {
			// Unmarked, no sweep removes it.
			err = owner.UnmarkDir(p.dir)
			p.log.Info("proxy directory kept", "kind", p.kind, "dir", p.dir)
		} else if err = os.RemoveAll(p.dir); err != nil {
			err = fmt.Errorf("remove dir: %w", err)
		}
		if err != nil {
			errs = append(errs, err)
		} else if p.releaseDir != nil {
			p.releaseDir()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop %s: %w", p.kind, errors.Join(errs...))
	}
	return nil
}

// terminate stops the process group and waits for the process and its
// output to end.
func (p *Proxy) terminate(ctx context.Context) error {
	var errs []error
	select {
	case <-p.exited:
		if !p.startFailed {
			errs = append(errs, fmt.Errorf("exited before stop: %w", p.exitError()))
		}
	default:
		sig, ok := p.adapter.StopSignal().(syscall.Signal)
		if !ok {
			sig = syscall.SIGTERM
		}
		if err := p.signal(sig); err != nil {
			errs = append(errs, err)
		}
		grace := time.NewTimer(p.stopTimeout)
		select {
		case <-p.exited:
		case <-grace.C:
			p.log.Warn("proxy ignored stop signal; killing", "kind", p.kind, "pid", p.pid, "signal", sig, "after", p.stopTimeout)
		case <-ctx.Done():
			p.log.Warn("stop cancelled; killing", "kind", p.kind, "pid", p.pid)
		}
		grace.Stop()
		if err := p.kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if !p.awaitDrain(drainWait) {
		p.log.Warn("proxy output still open after exit; closing it", "kind", p.kind, "pid", p.pid)
	}
	for _, f := range p.pipes {
		f.Close() // unblocks a reader still waiting on a leaked writer
	}
	<-p.drained
	if err := p.logger.stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// kill sends SIGKILL to the group unless the process has exited, and
// waits for the exit.
func (p *Proxy) kill() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-t.C:
		return fmt.Errorf("pid %d did not exit %s after SIGKILL", p.pid, killWait)
	}
}

// Addr is the client-facing address.
func (p *Proxy) Addr() string {
	if p == nil {
		return ""
	}
	return p.addr
}

// Version is the proxy's version as the adapter parsed it.
func (p *Proxy) Version() string {
	if p == nil {
		return ""
	}
	return p.version
}

// Evidence holds what the proxy logged, by request id.
func (p *Proxy) Evidence() *proxies.EvidenceLog {
	if p == nil || p.evidence == nil {
		return proxies.NewEvidenceLog()
	}
	return p.evidence
}

// Info returns manifest facts: "binary", "pid", "dir" and "version", and
// "logger" and "logger_pid" for a bundle's log reader.
func (p *Proxy) Info() map[string]string {
	if p == nil {
		return map[string]string{}
	}
	info := map[string]string{
		"binary":  p.binary,
		"pid":     strconv.Itoa(p.pid),
		"dir":     p.dir,
		"version": p.version,
	}
	if p.logger != nil {
		info["logger"] = p.logger.binary
		info["logger_pid"] = strconv.Itoa(p.logger.pid)
	}
	return info
}

// Bundle is the rendered configuration the proxy runs (nil before it was
// rendered).
func (p *Proxy) Bundle() *proxies.Bundle { return p.bundle }

// Dir is the directory the bundle was written to ("" before it existed).
func (p *Proxy) Dir() string {
	if p == nil {
		return ""
	}
	return p.dir
}

// PID is the process id of the proxy, which is also its process group id
// (0 if it never started).
func (p *Proxy) PID() int {
	if p == nil {
		return 0
	}
	return p.pid
}

// Exited is closed once the process has exited and been reaped. For a
// proxy whose process never started it is closed once Stop has run (Start
// runs it on its own errors).
func (p *Proxy) Exited() <-chan struct{} {
	if p == nil || p.exited == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.exited
}

// Logs returns the last output lines (up to LogTailLines), oldest first.
func (p *Proxy) Logs() []string {
	if p == nil || p.logs == nil {
		return nil
	}
	return p.logs.last(0)
}

var _ proxies.Instance = (*Proxy)(nil)
