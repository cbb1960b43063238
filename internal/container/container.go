package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"

	"github.com/racelab/racelab/internal/owner"
	"github.com/racelab/racelab/proxies"
)

// Readiness probe timing.
const (
	probeInterval    = 10 * time.Millisecond
	probeDialTimeout = 250 * time.Millisecond
)

// Proxy is a proxy running in a container with host networking. It
// implements proxies.Instance.
type Proxy struct {
	adapter  proxies.Adapter
	addr     string
	image    string
	dir      string
	bundle   *proxies.Bundle
	runID    string
	instance string
	opts     options

	evidence *proxies.EvidenceLog
	sink     *logSink

	// Set once Start has created the container.
	cli       *testcontainers.DockerClient
	ctr       testcontainers.Container
	id        string
	imageID   string
	version   string
	logCancel context.CancelFunc
	logsDone  chan struct{}
	// logger is the bundle's log reader (nil: none).
	logger  *logger
	logsErr error
	// release tells racelab's keeper that Stop removed the container.
	release func()

	stopOnce sync.Once
	stopErr  error
}

var _ proxies.Instance = (*Proxy)(nil)

// Start renders spec with adapter a for a directory under ConfigRoot in
// the container, creates a container from image (always explicit; a
// locally present image is never pulled) on the host network, injects the
// bundle, runs the adapter's binary with the bundle's arguments, streams
// its log lines into the evidence log, and returns once spec.Listen
// accepts TCP connections and the proxy's version is known.
//
// On error Start returns the partially created *Proxy beside it: call
// Stop on it, whatever Start returned.
func Start(ctx context.Context, a proxies.Adapter, spec proxies.Spec, image string, opts ...Option) (*Proxy, error) {
	began := time.Now()
	p, bundle, err := prepare(a, spec, image, opts)
	if err != nil {
		return p, fmt.Errorf("start %s container: %w", p.kind(), err)
	}
	if err := checkLoopback(spec.Listen); err != nil {
		return p, fmt.Errorf("start %s container: %w", p.kind(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.startTimeout)
	defer cancel()
	if err := p.launch(ctx, bundle, bundle.Args); err != nil {
		return p, fmt.Errorf("start %s container: %w", p.kind(), err)
	}
	log := p.opts.logger.With("kind", p.kind(), "id", shortID(p.id))
	log.Debug("proxy container started", "elapsed", time.Since(began))

	logCtx, logCancel := context.WithCancel(context.WithoutCancel(ctx))
	p.logCancel = logCancel
	p.logsDone = make(chan struct{})
	go follow(logCtx, p.cli, p.id, p.sink, p.logsDone, &p.logsErr)

	inspect, err := p.cli.ContainerInspect(ctx, p.id, client.ContainerInspectOptions{})
	if err != nil {
		return p, fmt.Errorf("start %s container: inspect: %w", p.kind(), err)
	}
	p.imageID = inspect.Container.Image

	versionc := make(chan error, 1)
	go func() { versionc <- p.readVersion(ctx) }()
	readyErr := p.waitReady(ctx)
	log.Debug("proxy listening", "err", readyErr, "elapsed", time.Since(began))
	if readyErr != nil {
		cancel()
	}
	versionErr := <-versionc
	if readyErr != nil {
		return p, fmt.Errorf("start %s container: %w", p.kind(), readyErr)
	}
	if err := versionErr; err != nil {
		return p, fmt.Errorf("start %s container: %w", p.kind(), err)
	}
	if bundle.Logger != nil {
		if err := p.startLogger(ctx, bundle.Logger); err != nil {
			return p, fmt.Errorf("start %s container: %w", p.kind(), err)
		}
	}
	log.Debug("proxy container ready", "addr", p.addr, "version", p.version, "elapsed", time.Since(began))
	return p, nil
}

// prepare checks the arguments and renders the bundle for the container.
// It always returns a *Proxy, which Stop accepts.
func prepare(a proxies.Adapter, spec proxies.Spec, image string, opts []Option) (*Proxy, *proxies.Bundle, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	p := &Proxy{
		adapter:  a,
		addr:     spec.Listen,
		image:    image,
		runID:    o.runID,
		instance: newInstanceID(),
		opts:     o,
		evidence: proxies.NewEvidenceLog(),
	}
	if a == nil {
		return p, nil, errors.New("adapter is required")
	}
	p.dir = path.Join(ConfigRoot, string(a.Kind()))
	p.sink = &logSink{adapter: a, evidence: p.evidence, logger: o.logger.With("kind", a.Kind())}
	if image == "" {
		return p, nil, errors.New("image is required")
	}
	if err := spec.Validate(); err != nil {
		return p, nil, err
	}
	bundle, err := a.Render(spec, p.dir)
	if err != nil {
		return p, nil, fmt.Errorf("render: %w", err)
	}
	if err := runnable(bundle); err != nil {
		return p, nil, err
	}
	if err := withUserFiles(bundle, spec.Config); err != nil {
		return p, nil, fmt.Errorf("render: %w", err)
	}
	p.bundle = bundle
	return p, bundle, nil
}

// runnable refuses a bundle this runtime cannot run faithfully: one that
// needs output pipes the proxy's own user may reopen (a proxy that drops
// root before it opens /dev/stdout) and names no ContainerUser to run as,
// whose pipes they would be. Run those with the process runtime.
// A bundle's log reader (Varnish's varnishncsa) runs in the container
// with exec once the proxy is ready.
func runnable(b *proxies.Bundle) error {
	if b.SharedOutput && b.ContainerUser == "" {
		return errors.New("the proxy reopens /dev/stdout after dropping root, which a container's output does not allow: use the process runtime")
	}
	return nil
}

// kind names the proxy kind for messages, also without an adapter.
func (p *Proxy) kind() proxies.Kind {
	if p.adapter == nil {
		return "proxy"
	}
	return p.adapter.Kind()
}

// launch creates and starts the container that runs the adapter's binary
// with args on the injected bundle, pulling the image first if it is not
// present. It sets p.cli, p.ctr and p.id as far as it gets.
func (p *Proxy) launch(ctx context.Context, bundle *proxies.Bundle, args []string) error {
	a, o := p.adapter, p.opts
	// The proxy runs with this process's user and group ids, as it would
	// on the process runtime: an adapter renders for the user it sees
	// (nginx renders "user root;" for root, and a non-root master keeps
	// its worker under its own id), so the bundle works unchanged.
	uid, gid := os.Geteuid(), os.Getegid()
	archive, err := bundleTar(bundle, uid, gid)
	if err != nil {
		return err
	}
	stopSignal, err := signalName(a.StopSignal())
	if err != nil {
		return err
	}
	if p.cli, err = newClient(ctx); err != nil {
		return err
	}

	labels := map[string]string{
		LabelManaged:  "true",
		LabelKind:     string(a.Kind()),
		LabelInstance: p.instance,
	}
	if p.runID != "" {
		labels[LabelRun] = p.runID
	}
	// The owner mark lets a later racelab remove the container should
	// this process die without removing it; the keeper removes it as
	// soon as this process dies. Tracked before it exists: a create cut
	// short by SIGKILL is found by its instance label.
	if me, err := owner.Self(); err == nil {
		maps.Copy(labels, me.Labels())
	} else {
		o.logger.Warn("container carries no owner mark", "err", err)
	}
	release, err := owner.Track(owner.Item{Container: &owner.Container{
		Host: p.cli.DaemonHost(), Label: LabelInstance, Value: p.instance}})
	if err != nil {
		o.logger.Warn("racelab's keeper is not running; a killed racelab leaves this container to the next sweep", "err", err)
	}
	p.release = release
	inject := func(ctx context.Context, c testcontainers.Container) error {
		_, err := p.cli.CopyToContainer(ctx, c.GetContainerID(), client.CopyToContainerOptions{
			DestinationPath: "/",
			Content:         bytes.NewReader(archive),
		})
		if err != nil {
			return fmt.Errorf("inject bundle: %w", err)
		}
		return nil
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:      p.image,
			Entrypoint: []string{a.Binary()},
			Cmd:        args,
			Labels:     labels,
			ConfigModifier: func(c *container.Config) {
				c.User = fmt.Sprintf("%d:%d", uid, gid)
				if bundle.ContainerUser != "" {
					c.User = bundle.ContainerUser
				}
				c.StopSignal = stopSignal
			},
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.NetworkMode = "host"
				// An init as PID 1 forwards the stop signal and reaps, so
				// a proxy behaves as it does as a plain process.
				hc.Init = new(true)
			},
			LifecycleHooks: []testcontainers.ContainerLifecycleHooks{{
				PostCreates: []testcontainers.ContainerHook{inject},
			}},
		},
		Started: true,
		Logger:  tcLogger{o.logger},
	}
	// A present image is used as it is; an absent one is pulled, which
	// needs a registry.
	if _, err := p.cli.ImageInspect(ctx, p.image); isNotFound(err) {
		if err := pull(ctx, p.image, o); err != nil {
			return fmt.Errorf("image %s is not present and pulling it failed "+
				"(with no registry, build local images with `racelab images build`): %w", p.image, err)
		}
	} else if err != nil {
		return fmt.Errorf("inspect image %s: %w", p.image, err)
	}

	// Creating and starting run to completion even when ctx is cancelled
	// (Ctrl-C), so the container id is always known to Stop; the start
	// timeout still bounds them.
	o.logger.Debug("creating proxy container", "kind", a.Kind(), "image", p.image, "args", args)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.startTimeout)
	defer cancel()
	ctr, err := testcontainers.GenericContainer(cctx, req)
	if ctr != nil && !isNilContainer(ctr) {
		p.ctr = ctr
		p.id = ctr.GetContainerID()
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// pull fetches image from its registry.
func pull(ctx context.Context, image string, o options) error {
	provider, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tcLogger{o.logger}))
	if err != nil {
		return err
	}
	defer provider.Close()
	o.logger.Debug("pulling image", "image", image)
	return provider.PullImage(ctx, image)
}

// readVersion runs the adapter's version command inside the container.
func (p *Proxy) readVersion(ctx context.Context) error {
	cmd := append([]string{p.adapter.Binary()}, p.adapter.VersionArgs()...)
	code, r, err := p.ctr.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read version: %w", err)
	}
	v, perr := p.adapter.ParseVersion(string(out))
	if perr != nil {
		return fmt.Errorf("read version: %q exited %d: %w", cmd, code, perr)
	}
	p.version = v
	return nil
}

// waitReady probes spec.Listen until it accepts a connection, the proxy
// exits, or ctx is done.
func (p *Proxy) waitReady(ctx context.Context) error {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	d := net.Dialer{Timeout: probeDialTimeout}
	for {
		conn, err := d.DialContext(ctx, "tcp", p.addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready on %s: %w; last log lines:\n%s", p.addr, context.Cause(ctx), p.sink.Tail())
		case <-p.logsDone:
			return p.exited(ctx)
		case <-tick.C:
		}
	}
}

// exited explains why the container stopped before it was ready.
func (p *Proxy) exited(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	inspect, err := p.cli.ContainerInspect(ctx, p.id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("log stream ended (%v) and inspect failed: %w", p.logsErr, err)
	}
	st := inspect.Container.State
	if st != nil && st.Running {
		return fmt.Errorf("log stream ended while the proxy runs: %v", p.logsErr)
	}
	code := -1
	if st != nil {
		code = st.ExitCode
	}
	return fmt.Errorf("proxy exited with code %d before listening on %s; last log lines:\n%s", code, p.addr, p.sink.Tail())
}

// Addr is the client-facing address.
func (p *Proxy) Addr() string { return p.addr }

// Bundle is the rendered configuration the container runs (nil before it
// was rendered).
func (p *Proxy) Bundle() *proxies.Bundle { return p.bundle }

// Version is the proxy's own version, read inside the container.
func (p *Proxy) Version() string { return p.version }

// Evidence holds what the proxy logged, by request id.
func (p *Proxy) Evidence() *proxies.EvidenceLog { return p.evidence }

// ID is the container id ("" when the container was never created).
func (p *Proxy) ID() string { return p.id }

// Info returns manifest facts: runtime, image, image_id, container_id,
// version, binary and config_dir, plus run_id when set.
func (p *Proxy) Info() map[string]string {
	info := map[string]string{
		"runtime":      string(proxies.RuntimeContainer),
		"image":        p.image,
		"image_id":     p.imageID,
		"container_id": p.id,
		"version":      p.version,
		"config_dir":   p.dir,
	}
	if p.adapter != nil {
		info["binary"] = p.adapter.Binary()
	}
	if p.runID != "" {
		info["run_id"] = p.runID
	}
	return info
}

// Stop sends the adapter's stop signal, gives the proxy the stop timeout
// to exit, kills it if it has not, and removes the container. It works on
// the partial *Proxy a failed Start returns, runs once, and still removes
// the container when ctx is already cancelled (Ctrl-C).
func (p *Proxy) Stop(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() { p.stopErr = p.stop(ctx) })
	return p.stopErr
}

func (p *Proxy) stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.stopTimeout+30*time.Second)
	defer cancel()
	var errs []error
	if p.ctr != nil {
		// The engine counts the stop timeout in whole seconds: round up.
		grace := p.opts.stopTimeout.Round(time.Second)
		if grace < p.opts.stopTimeout {
			grace += time.Second
		}
		err := p.ctr.Terminate(ctx, testcontainers.StopTimeout(grace))
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("stop container %s: %w", shortID(p.id), err))
		}
	}
	p.logger.stop()
	if p.logCancel != nil {
		// The log stream ends with the container; cancel in case the
		// engine keeps it open.
		select {
		case <-p.logsDone:
		case <-time.After(2 * time.Second):
		}
		p.logCancel()
		<-p.logsDone
	}
	if p.cli != nil {
		// A create call cut short by ctx can leave a container Start
		// never learned the id of: find it by its instance label.
		if p.id == "" || len(errs) > 0 {
			if _, err := removeLabelled(ctx, p.cli, map[string]string{LabelInstance: p.instance}); err != nil {
				errs = append(errs, err)
			}
		}
		_ = p.cli.Close()
	}
	if len(errs) == 0 && p.release != nil {
		p.release()
	}
	return errors.Join(errs...)
}

// checkLoopback refuses a listen address the readiness probe would not
// find on this host's loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen %q: want a loopback address (host networking)", addr)
	}
	return nil
}

// signalName names sig for the engine's StopSignal field.
func signalName(sig os.Signal) (string, error) {
	if sig == nil {
		return "SIGTERM", nil
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return "", fmt.Errorf("stop signal %v: not a system signal", sig)
	}
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM", nil
	case syscall.SIGQUIT:
		return "SIGQUIT", nil
	case syscall.SIGINT:
		return "SIGINT", nil
	case syscall.SIGHUP:
		return "SIGHUP", nil
	case syscall.SIGUSR1:
		return "SIGUSR1", nil
	case syscall.SIGUSR2:
		return "SIGUSR2", nil
	case syscall.SIGKILL:
		return "SIGKILL", nil
	}
	return strconv.Itoa(int(s)), nil
}

// isNilContainer reports an interface holding a nil pointer.
func isNilContainer(c testcontainers.Container) bool {
	dc, ok := c.(*testcontainers.DockerContainer)
	return ok && dc == nil
}

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
