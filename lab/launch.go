package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"

	"github.com/racelab/racelab/internal/goproxy"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// launchFunc starts a proxy for a cell. spec has Upstream, IdleTimeout,
// Retry, Variant and Reuse set; a launcher fills in Listen (and
// AdminListen) itself. On error it may return a partially started
// instance, which the caller stops.
type launchFunc func(ctx context.Context, cell *scenarios.Cell, spec proxies.Spec, env *runEnv) (proxies.Instance, error)

// runEnv carries run-wide settings to launchers.
type runEnv struct {
	RunID string
	// Logger receives the lab's log records (never nil).
	Logger *slog.Logger
	// Keep keeps proxies' temp dirs for debugging.
	Keep bool
}

var (
	launchMu  sync.RWMutex
	launchers = map[proxies.Runtime]launchFunc{
		proxies.RuntimeEmbedded: launchEmbedded,
	}
	adapters = map[proxies.Kind]proxies.Adapter{}
)

// registerLauncher makes a runtime available to cells.
func registerLauncher(rt proxies.Runtime, l launchFunc) {
	launchMu.Lock()
	defer launchMu.Unlock()
	launchers[rt] = l
}

// registerAdapter makes a proxy kind available to the process and
// container runtimes.
func registerAdapter(a proxies.Adapter) {
	launchMu.Lock()
	defer launchMu.Unlock()
	adapters[a.Kind()] = a
}

// adapterFor returns the registered adapter for kind.
func adapterFor(kind proxies.Kind) (proxies.Adapter, bool) {
	launchMu.RLock()
	defer launchMu.RUnlock()
	a, ok := adapters[kind]
	return a, ok
}

func launcher(rt proxies.Runtime) (launchFunc, bool) {
	launchMu.RLock()
	defer launchMu.RUnlock()
	l, ok := launchers[rt]
	return l, ok
}

func launchEmbedded(ctx context.Context, _ *scenarios.Cell, spec proxies.Spec, _ *runEnv) (proxies.Instance, error) {
	spec.Listen = "127.0.0.1:0"
	p, err := goproxy.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for proxies that must be told their port. Callers retry on a bind
// failure: another process may take the port in between.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startProxy starts the cell's proxy, retrying with fresh ports when a
// port was taken between probing and binding.
func startProxy(ctx context.Context, cell *scenarios.Cell, spec proxies.Spec, env *runEnv) (proxies.Instance, error) {
	rt := proxies.Runtime(cell.Proxy.Runtime)
	l, ok := launcher(rt)
	if !ok {
		return nil, fmt.Errorf("runtime %s is not available in this build", rt)
	}
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		inst, err := l(ctx, cell, spec, env)
		if err == nil {
			return inst, nil
		}
		if inst != nil {
			_ = inst.Stop(context.WithoutCancel(ctx))
		}
		errs = append(errs, err)
		if ctx.Err() != nil || !isAddrInUse(err) {
			break
		}
		env.Logger.Warn("proxy port taken between probe and bind; retrying on a fresh port", "cell", cell.ID, "attempt", attempt+1, "err", err)
	}
	// Each runtime's error already names what it started ("start nginx:
	// ...", "start nginx container: ..."): no second prefix.
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, fmt.Errorf("%d attempts: %w", len(errs), errors.Join(errs...))
}

// isAddrInUse reports a start that failed because a port was taken: the
// process runtime's own bind check wraps EADDRINUSE; a proxy in a
// container says so only in its log text.
func isAddrInUse(err error) bool {
	if errors.Is(err, syscall.EADDRINUSE) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "address already in use") || strings.Contains(msg, "cannot bind socket")
}
