package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/images"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// Missing is one thing a run needs that is not on this machine.
type Missing struct {
	// What names it: "nginx binary", "image racelab/nginx:1.26",
	// "config file /srv/nginx.conf".
	What string
	// Fix says how to get it.
	Fix string
	// Cells are the ids of the cells that need it, in cell order.
	Cells []string
}

// MissingError lists everything a run needs and lacks, each thing once.
type MissingError struct {
	Missing []Missing
}

func (e *MissingError) Error() string {
	var b strings.Builder
	if len(e.Missing) == 1 {
		b.WriteString("preflight: 1 thing the run needs is missing:")
	} else {
		fmt.Fprintf(&b, "preflight: %d things the run needs are missing:", len(e.Missing))
	}
	for _, m := range e.Missing {
		fmt.Fprintf(&b, "\n  - %s (%s): %s", m.What, cellList(m.Cells), m.Fix)
	}
	return b.String()
}

func cellList(ids []string) string {
	const show = 3
	word := "cell"
	if len(ids) > 1 {
		word = "cells"
	}
	if len(ids) <= show {
		return word + " " + strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s %s and %d more", word, strings.Join(ids[:show], ", "), len(ids)-show)
}

// Preflight checks, before any cell runs, that everything the cells need
// is here: the binary of every proxy that runs as a process (found on
// PATH, as the process runtime finds it), the container engine and every
// image for proxies that run in containers (present locally: preflight
// never pulls), and every proxy.config file and root. It returns nil or a
// *MissingError that names each missing thing once, with how to get it
// (a Debian package, `racelab images build`, ...). Cells on the embedded
// Go proxy need nothing.
//
// The CLI calls it on the expanded (and sharded) cells before it opens a
// results file, so a run that cannot start fails at once, with one
// message, and leaves no file behind.
func Preflight(ctx context.Context, cells []scenarios.Cell) error {
	return defaultChecker().check(ctx, cells)
}

// checker holds what Preflight looks at, so tests can stand in for the
// machine.
type checker struct {
	lookPath func(proxies.Adapter) (string, error)
	sbin     string // where Debian installs proxies
	stat     func(string) (os.FileInfo, error)
	engine   func(context.Context) error
	resolve  func(context.Context, proxies.Kind, string) (string, bool, error)
	inspect  func(context.Context, string) error
}

func defaultChecker() *checker {
	return &checker{
		lookPath: process.LookPath,
		sbin:     "/usr/sbin",
		stat:     os.Stat,
		engine:   engineAvailable,
		resolve:  images.Resolve,
		inspect: func(ctx context.Context, ref string) error {
			_, err := container.InspectImage(ctx, ref)
			return err
		},
	}
}

func (c *checker) check(ctx context.Context, cells []scenarios.Cell) error {
	var list []Missing
	index := map[string]int{}
	add := func(what, fix, cell string) {
		i, ok := index[what]
		if !ok {
			i = len(list)
			index[what] = i
			list = append(list, Missing{What: what, Fix: fix})
		}
		if n := len(list[i].Cells); n == 0 || list[i].Cells[n-1] != cell {
			list[i].Cells = append(list[i].Cells, cell)
		}
	}
	var engineChecked bool
	var engineErr error               // checked once, on the first container cell
	imageState := map[string]string{} // image ref -> what is wrong ("" present)
	for i := range cells {
		cell := &cells[i]
		p := cell.Proxy
		for _, f := range []struct{ what, path string }{{"config file", p.Config}, {"config root", p.Root}} {
			if f.path == "" {
				continue
			}
			if _, err := c.stat(f.path); err != nil {
				add(f.what+" "+f.path, "no such file or directory: check proxy."+strings.TrimPrefix(f.what, "config ")+
					" (a relative path is relative to the scenario file's directory)", cell.ID)
			}
		}
		kind := proxies.Kind(p.Kind)
		switch proxies.Runtime(p.Runtime) {
		case proxies.RuntimeProcess:
			a, ok := adapterFor(kind)
			if !ok {
				add("proxy kind "+p.Kind, "this build has no adapter for it", cell.ID)
				continue
			}
			if p.Version != "" {
				if _, err := process.LookVersioned(a, p.Version); err == nil {
					continue
				}
			}
			if _, err := c.lookPath(a); err != nil {
				add(a.Binary()+" binary", c.installHint(kind, a.Binary()), cell.ID)
			}
		case proxies.RuntimeContainer:
			if !engineChecked {
				engineChecked, engineErr = true, c.engine(ctx)
			}
			if engineErr != nil {
				add("container engine", fmt.Sprintf("%v: start Docker (or another engine on the Docker socket), or run with --runtime process", engineErr), cell.ID)
				continue
			}
			what, fix := c.image(ctx, kind, p, imageState)
			if what != "" {
				add(what, fix, cell.ID)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	if len(list) > 0 {
		return &MissingError{Missing: list}
	}
	return nil
}

// installHint says how to get a proxy binary onto PATH.
func (c *checker) installHint(kind proxies.Kind, binary string) string {
	if sbin := filepath.Join(c.sbin, binary); c.sbin != "" {
		if _, err := c.stat(sbin); err == nil {
			return fmt.Sprintf("%s is installed but %s is not on PATH: add %s to PATH", sbin, c.sbin, c.sbin)
		}
	}
	switch kind {
	case proxies.KindNginx:
		return "not on PATH: apt-get install nginx-light (Debian/Ubuntu), or use --runtime container"
	case proxies.KindHAProxy:
		return "not on PATH: apt-get install haproxy (Debian/Ubuntu), or use --runtime container"
	case proxies.KindCaddy:
		return "not on PATH: apt-get install caddy (Debian/Ubuntu; 2.6.2 on bookworm), or go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9, or use --runtime container"
	case proxies.KindApache:
		return "not on PATH: apt-get install apache2 (Debian/Ubuntu), or use --runtime container"
	case proxies.KindEnvoy:
		return "not on PATH, and Debian does not package Envoy: install an envoy binary on PATH or use --runtime container with an envoyproxy/envoy image"
	}
	return "not on PATH: install " + binary
}

// image checks the image a container cell runs; seen caches answers by
// reference. It returns what is missing and how to get it, or "".
func (c *checker) image(ctx context.Context, kind proxies.Kind, p scenarios.Proxy, seen map[string]string) (string, string) {
	ref := p.Image
	if ref == "" {
		r, local, err := c.resolve(ctx, kind, p.Version)
		if err != nil {
			if kind == proxies.KindEnvoy {
				return "envoy image", "no local envoy image and no version to pick envoyproxy/envoy:v<version>: give the proxy a version (or an image)"
			}
			return string(kind) + " image", err.Error()
		}
		if local {
			return "", "" // a local racelab image, listed just now
		}
		ref = r
	}
	if _, ok := seen[ref]; !ok {
		err := c.inspect(ctx, ref)
		switch {
		case err == nil:
			seen[ref] = ""
		case errors.Is(err, container.ErrImageNotFound):
			seen[ref] = "not present locally"
		default:
			seen[ref] = err.Error()
		}
	}
	if seen[ref] == "" {
		return "", ""
	}
	fix := seen[ref] + ": "
	switch {
	case p.Image != "":
		fix += "docker pull " + ref + " (or build it)"
	case kind == proxies.KindNginx || kind == proxies.KindHAProxy:
		fix += "racelab images build (no registry needed), or docker pull " + ref
	default:
		fix += "docker pull " + ref
	}
	return "image " + ref, fix
}
