package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// fakeMachine stands in for the machine: binaries on PATH, files, the
// engine and local images.
type fakeMachine struct {
	path        map[string]bool // binaries on PATH
	files       map[string]bool // files that exist (the sbin dir included)
	engineDown  bool
	localImages map[string]bool // references the engine has
	engineCalls int
	inspected   []string
}

func (m *fakeMachine) checker() *checker {
	return &checker{
		lookPath: func(a proxies.Adapter) (string, error) {
			if m.path[a.Binary()] {
				return "/bin/" + a.Binary(), nil
			}
			return "", fmt.Errorf("look path %s: %w", a.Kind(), exec.ErrNotFound)
		},
		sbin: "/usr/sbin",
		stat: func(p string) (os.FileInfo, error) {
			if m.files[p] {
				return nil, nil
			}
			return nil, os.ErrNotExist
		},
		engine: func(context.Context) error {
			m.engineCalls++
			if m.engineDown {
				return errors.New("docker engine not reachable")
			}
			return nil
		},
		resolve: func(_ context.Context, kind proxies.Kind, version string) (string, bool, error) {
			if kind == proxies.KindEnvoy && version == "" {
				return "", false, errors.New("resolve envoy image: no local image exists")
			}
			if version == "" {
				version = "latest"
			}
			return string(kind) + ":" + version, false, nil
		},
		inspect: func(_ context.Context, ref string) error {
			m.inspected = append(m.inspected, ref)
			if m.localImages[ref] {
				return nil
			}
			return fmt.Errorf("inspect image %s: %w", ref, container.ErrImageNotFound)
		},
	}
}

func cellsOf(t *testing.T, src string) []scenarios.Cell {
	t.Helper()
	sc, err := scenarios.Load([]byte(src), "builtin:preflight")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	return cells
}

func missingOf(t *testing.T, err error) []Missing {
	t.Helper()
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("want *MissingError, got %v", err)
	}
	return me.Missing
}

// Eight envoy cells without envoy: one missing thing, named once, with
// every cell, and no claim that a Debian package installs it.
func TestPreflightReportsEachMissingThingOnce(t *testing.T) {
	cells := cellsOf(t, `name: six
base: {proxy: {kind: envoy}, proxy_idle: 10s, backend_keepalive: 1s}
matrix:
  retry: ["off", idempotent]
  method: [GET, POST]
  close: [fin, rst]
`)
	m := &fakeMachine{}
	err := m.checker().check(context.Background(), cells)
	list := missingOf(t, err)
	if len(list) != 1 {
		t.Fatalf("%d missing things, want 1: %v", len(list), err)
	}
	if list[0].What != "envoy binary" || len(list[0].Cells) != 8 {
		t.Errorf("missing = %+v", list[0])
	}
	msg := err.Error()
	if strings.Count(msg, "- envoy binary (") != 1 {
		t.Errorf("envoy reported more than once:\n%s", msg)
	}
	for _, want := range []string{"preflight: 1 thing the run needs is missing", "Debian does not package Envoy", "install an envoy binary on PATH or use --runtime container with an envoyproxy/envoy image", "and 5 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	for _, never := range []string{"/usr/sbin", "apt-get"} {
		if strings.Contains(msg, never) {
			t.Errorf("the envoy message mentions %q:\n%s", never, msg)
		}
	}
}

func TestPreflightProcessBinaries(t *testing.T) {
	cells := cellsOf(t, `name: all
base: {proxy_idle: 10s, backend_keepalive: 1s}
matrix:
  proxy: [{kind: go}, {kind: nginx}, {kind: haproxy}, {kind: envoy}]
  method: [GET, POST]
`)
	t.Run("all present", func(t *testing.T) {
		m := &fakeMachine{path: map[string]bool{"nginx": true, "haproxy": true, "envoy": true}}
		if err := m.checker().check(context.Background(), cells); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("none present", func(t *testing.T) {
		m := &fakeMachine{files: map[string]bool{"/usr/sbin/haproxy": true}}
		err := m.checker().check(context.Background(), cells)
		list := missingOf(t, err)
		if len(list) != 3 {
			t.Fatalf("%d missing, want nginx, haproxy, envoy:\n%v", len(list), err)
		}
		want := []struct{ what, fix string }{
			{"nginx binary", "apt-get install nginx-light"},
			{"haproxy binary", "/usr/sbin/haproxy is installed but /usr/sbin is not on PATH: add /usr/sbin to PATH"},
			{"envoy binary", "Debian does not package Envoy"},
		}
		for i, w := range want {
			if list[i].What != w.what || !strings.Contains(list[i].Fix, w.fix) {
				t.Errorf("missing[%d] = %+v, want %s: %s", i, list[i], w.what, w.fix)
			}
			if len(list[i].Cells) != 2 {
				t.Errorf("%s: cells %v, want its 2", w.what, list[i].Cells)
			}
		}
	})
	t.Run("embedded needs nothing", func(t *testing.T) {
		m := &fakeMachine{}
		goCells := cellsOf(t, "name: go\nbase: {proxy: {kind: go}}\n")
		if err := m.checker().check(context.Background(), goCells); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPreflightContainers(t *testing.T) {
	cells := cellsOf(t, `name: ladder
base: {proxy_idle: 10s, backend_keepalive: 1s}
matrix:
  proxy:
    - {kind: nginx, version: "1.26", runtime: container}
    - {kind: nginx, version: "1.26", runtime: container, variant: defaults}
    - {kind: haproxy, runtime: container}
    - {kind: envoy, runtime: container}
    - {kind: envoy, version: "1.30", runtime: container, image: my/envoy:dev}
`)
	t.Run("engine down", func(t *testing.T) {
		m := &fakeMachine{engineDown: true}
		list := missingOf(t, m.checker().check(context.Background(), cells))
		if len(list) != 1 || list[0].What != "container engine" || len(list[0].Cells) != 5 {
			t.Errorf("missing = %+v", list)
		}
		if m.engineCalls != 1 {
			t.Errorf("engine asked %d times, want once", m.engineCalls)
		}
	})
	t.Run("images", func(t *testing.T) {
		m := &fakeMachine{localImages: map[string]bool{"haproxy:latest": true}}
		err := m.checker().check(context.Background(), cells)
		list := missingOf(t, err)
		if len(list) != 3 {
			t.Fatalf("missing %d, want 3:\n%v", len(list), err)
		}
		if list[0].What != "image nginx:1.26" || len(list[0].Cells) != 2 || !strings.Contains(list[0].Fix, "racelab images build") {
			t.Errorf("nginx image: %+v", list[0])
		}
		if list[1].What != "envoy image" || !strings.Contains(list[1].Fix, "give the proxy a version") {
			t.Errorf("envoy image: %+v", list[1])
		}
		if list[2].What != "image my/envoy:dev" || !strings.Contains(list[2].Fix, "docker pull my/envoy:dev") {
			t.Errorf("explicit image: %+v", list[2])
		}
		if n := strings.Count(strings.Join(m.inspected, " "), "nginx:1.26"); n != 1 {
			t.Errorf("nginx:1.26 inspected %d times, want once", n)
		}
	})
}

// A config file that does not exist is reported before the run, with
// the path made absolute at load time.
func TestPreflightConfigFiles(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "before.conf")
	if err := os.WriteFile(present, []byte("events {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenarios.Load([]byte(`name: mine
base: {backend_keepalive: 5s}
matrix:
  proxy:
    - {kind: nginx, config: before.conf}
    - {kind: nginx, config: after.conf, root: etc}
`), filepath.Join(dir, "mine.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	err = defaultChecker().check(context.Background(), cells)
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("want *MissingError, got %v", err)
	}
	var whats []string
	for _, m := range me.Missing {
		whats = append(whats, m.What)
	}
	joined := strings.Join(whats, "|")
	for _, want := range []string{"config file " + filepath.Join(dir, "after.conf"), "config root " + filepath.Join(dir, "etc")} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in %q", want, joined)
		}
	}
	if strings.Contains(joined, "before.conf") {
		t.Errorf("a present config reported missing: %q", joined)
	}
}

// Preflight uses the machine: with PATH emptied, nginx is missing (and
// /usr/sbin is named only when it holds nginx).
func TestPreflightReal(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	cells := cellsOf(t, "name: n\nbase: {proxy: {kind: nginx}}\n")
	err := Preflight(context.Background(), cells)
	list := missingOf(t, err)
	if len(list) != 1 || list[0].What != "nginx binary" {
		t.Fatalf("missing = %+v", list)
	}
	if _, statErr := os.Stat("/usr/sbin/nginx"); statErr == nil {
		if !strings.Contains(list[0].Fix, "add /usr/sbin to PATH") {
			t.Errorf("fix %q does not point at /usr/sbin", list[0].Fix)
		}
	} else if !strings.Contains(list[0].Fix, "apt-get install nginx-light") {
		t.Errorf("fix %q names no package", list[0].Fix)
	}
	if err := Preflight(context.Background(), cellsOf(t, "name: g\n")); err != nil {
		t.Errorf("embedded proxy: %v", err)
	}
}
