package lab

import (
	"context"
	"fmt"
	"strings"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/images"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/apache"
	"github.com/racelab/racelab/proxies/caddy"
	"github.com/racelab/racelab/proxies/envoy"
	"github.com/racelab/racelab/proxies/haproxy"
	"github.com/racelab/racelab/proxies/nginx"
	"github.com/racelab/racelab/proxies/squid"
	"github.com/racelab/racelab/proxies/varnish"
	"github.com/racelab/racelab/scenarios"
)

func init() {
	registerAdapter(nginx.Adapter{})
	registerAdapter(haproxy.Adapter{})
	registerAdapter(envoy.Adapter{})
	registerAdapter(varnish.Adapter{})
	registerAdapter(squid.Adapter{})
	registerAdapter(caddy.Adapter{})
	registerAdapter(apache.Adapter{})
	registerLauncher(proxies.RuntimeProcess, launchProcess)
	registerLauncher(proxies.RuntimeContainer, launchContainer)
}

// Available reports whether a proxy kind can run as a process here: nil
// for the embedded proxy, and for a kind whose binary is on PATH.
func Available(kind proxies.Kind) error {
	if kind == proxies.KindGo {
		return nil
	}
	a, ok := adapterFor(kind)
	if !ok {
		return fmt.Errorf("no adapter for proxy kind %q", kind)
	}
	_, err := process.LookPath(a)
	return err
}

// fillAddrs picks the ports an external proxy must be told.
func fillAddrs(spec *proxies.Spec) error {
	var err error
	if spec.Listen, err = freeAddr(); err != nil {
		return err
	}
	if spec.Kind == proxies.KindEnvoy {
		if spec.AdminListen, err = freeAddr(); err != nil {
			return err
		}
	}
	return nil
}

func launchProcess(ctx context.Context, cell *scenarios.Cell, spec proxies.Spec, env *runEnv) (proxies.Instance, error) {
	a, ok := adapterFor(spec.Kind)
	if !ok {
		return nil, fmt.Errorf("no adapter for proxy kind %q", spec.Kind)
	}
	if err := fillAddrs(&spec); err != nil {
		return nil, err
	}
	opts := []process.Option{process.WithKeep(env.Keep)}
	want := cell.Proxy.Version
	if want != "" {
		// A binary built at that version (process.VersionedDir) wins
		// over the one on PATH.
		if bin, err := process.LookVersioned(a, want); err == nil {
			opts = append(opts, process.WithBinary(bin))
		}
	}
	p, err := process.Start(ctx, a, spec, opts...)
	if err != nil {
		if p != nil {
			return p, err
		}
		return nil, err
	}
	if want != "" && !versionMatches(p.Version(), want) {
		return p, fmt.Errorf("%s on PATH is %s, the scenario asks for %s: install that version, put a binary built at it in %s/%s/, or use runtime container",
			spec.Kind, p.Version(), want, process.VersionedDir(a), want)
	}
	return p, nil
}

func launchContainer(ctx context.Context, cell *scenarios.Cell, spec proxies.Spec, env *runEnv) (proxies.Instance, error) {
	a, ok := adapterFor(spec.Kind)
	if !ok {
		return nil, fmt.Errorf("no adapter for proxy kind %q", spec.Kind)
	}
	if err := container.Available(ctx); err != nil {
		return nil, err
	}
	image := cell.Proxy.Image
	if image == "" {
		ref, _, err := images.Resolve(ctx, spec.Kind, cell.Proxy.Version)
		if err != nil {
			return nil, err
		}
		image = ref
	}
	if err := fillAddrs(&spec); err != nil {
		return nil, err
	}
	p, err := container.Start(ctx, a, spec, image, container.WithRunID(env.RunID))
	if err != nil {
		if p != nil {
			return p, err
		}
		return nil, err
	}
	return p, nil
}

// versionMatches reports whether have (1.22.1) is the version want names
// (1.22 or 1.22.1).
func versionMatches(have, want string) bool {
	return have == want || strings.HasPrefix(have, want+".")
}
