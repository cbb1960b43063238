package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
)

// imagePath is the PATH of a racelab image, which has no other ENV.
const imagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var suiteName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// Build makes the image of a Debian suite with no registry: debootstrap
// bootstraps the suite with the proxies' packages (Packages) into a temporary root
// filesystem (mode 0700, removed afterwards), which is slimmed, read for
// the proxy versions inside and imported into the local engine as
// racelab/proxies:<suite>, also tagged racelab/nginx:<version> and
// racelab/haproxy:<version> and so on for each of Kinds. An image that
// exists already is returned as it is unless WithForce is given or it was
// built with another package set (LabelPackages), such as an older
// image without Caddy, Apache, Varnish and Squid. Building needs root, debootstrap and a
// Debian mirror: WithMirror's, else the one Mirror finds.
func Build(ctx context.Context, suite string, opts ...Option) (Image, error) {
	o := buildOptions{logger: slog.New(slog.DiscardHandler), progress: io.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	if !suiteName.MatchString(suite) || !debianSuites[suite] {
		return Image{}, fmt.Errorf("build image: suite %q: want a Debian suite such as %s", suite, strings.Join(DefaultSuites, ", "))
	}
	ref := SuiteRef(suite)
	// Builds of one suite are serialised across processes (parallel test
	// packages, two CLI runs): the second waits, then reuses the image.
	unlock, err := lockSuite(ctx, suite)
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", suite, err)
	}
	defer unlock()
	if !o.force {
		s, err := container.InspectImage(ctx, ref)
		switch {
		case err == nil && s.Labels[LabelPackages] == packagesLabel():
			o.logger.Info("reusing image", "ref", ref, "id", s.ID)
			return imageFrom(s), nil
		case err == nil:
			// Built with another package set (an older racelab's): it
			// lacks proxies this one runs.
			o.logger.Info("rebuilding image: its package set differs", "ref", ref, "id", s.ID,
				"has", s.Labels[LabelPackages], "want", packagesLabel())
		case !errors.Is(err, container.ErrImageNotFound):
			return Image{}, fmt.Errorf("build image %s: %w", suite, err)
		}
	}
	if os.Geteuid() != 0 {
		return Image{}, fmt.Errorf("build image %s: debootstrap needs root; run `racelab images build` as root", suite)
	}
	debootstrap, err := exec.LookPath("debootstrap")
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: debootstrap not found: install it (apt-get install debootstrap): %w", suite, err)
	}
	mirror := o.mirror
	if mirror == "" {
		if mirror, err = Mirror(); err != nil {
			return Image{}, fmt.Errorf("build image %s: %w", suite, err)
		}
	}

	tmp, err := os.MkdirTemp("", "racelab-rootfs-")
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", suite, err)
	}
	im, err := build(ctx, o, debootstrap, suite, mirror, filepath.Join(tmp, "rootfs"))
	if rerr := removeTree(tmp); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return Image{}, fmt.Errorf("build image %s: %w", suite, err)
	}
	return im, nil
}

func build(ctx context.Context, o buildOptions, debootstrap, suite, mirror, rootfs string) (Image, error) {
	pkgs := slices.DeleteFunc(slices.Clone(Packages), func(p string) bool { return slices.Contains(lateInstall, p) })
	start := time.Now()
	for {
		args := []string{"--variant=minbase", "--include=" + strings.Join(pkgs, ","), suite, rootfs, mirror}
		o.logger.Info("bootstrapping", "suite", suite, "mirror", mirror, "packages", pkgs)
		err := runLogged(ctx, o.progress, debootstrap, args...)
		if err == nil {
			break
		}
		// A suite that lacks an optional proxy (sid without varnish,
		// at times) gets an image without it.
		missing := missingDebs(err.Error())
		left := slices.DeleteFunc(slices.Clone(pkgs), func(p string) bool { return slices.Contains(missing, p) })
		if len(missing) == 0 || len(left) == len(pkgs) || slices.ContainsFunc(missing, isRequired) {
			return Image{}, err
		}
		o.logger.Warn("suite lacks packages; building without them", "suite", suite, "missing", missing)
		if err := removeTree(rootfs); err != nil {
			return Image{}, err
		}
		pkgs = left
	}
	late, err := installLate(ctx, o, rootfs)
	if err != nil {
		return Image{}, err
	}
	pkgs = append(pkgs, late...)
	o.logger.Info("bootstrapped", "suite", suite, "packages", pkgs, "took", time.Since(start).Round(time.Second))
	if err := slim(rootfs); err != nil {
		return Image{}, err
	}

	changes := []string{
		"ENV PATH=" + imagePath,
		"LABEL " + LabelSuite + "=" + suite,
		"LABEL " + LabelPackages + "=" + packagesLabel(),
	}
	versions := map[string]string{}
	fsys := os.DirFS(rootfs)
	for _, kind := range Kinds {
		if !slices.Contains(pkgs, kindPackages[kind]) {
			continue
		}
		pkg, deb, err := installedPackage(fsys, proxyBinaries[kind])
		if err != nil {
			// The binary moved between packages or paths (trixie's
			// squid): the package racelab installed by name still has
			// the version.
			pkg = kindPackages[kind]
			status, serr := fs.ReadFile(fsys, "var/lib/dpkg/status")
			if serr != nil {
				return Image{}, errors.Join(err, serr)
			}
			if deb, serr = statusVersion(status, pkg); serr != nil {
				return Image{}, errors.Join(err, serr)
			}
			o.logger.Warn("proxy binary not found where expected; version from its package", "suite", suite, "binary", proxyBinaries[kind], "package", pkg, "err", err)
		}
		v := UpstreamVersion(deb)
		if v == "" {
			return Image{}, fmt.Errorf("package %s: version %q has no upstream part", pkg, deb)
		}
		versions[string(kind)] = v
		changes = append(changes, "LABEL "+labelVersionPrefix+string(kind)+"="+v)
		o.logger.Info("proxy version", "suite", suite, "package", pkg, "debian_version", deb, "version", v)
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, "etc/debian_version")); err == nil {
		changes = append(changes, "LABEL "+LabelDebian+"="+strings.TrimSpace(string(b)))
	}

	ref := SuiteRef(suite)
	var previous string // the image a forced rebuild replaces
	if old, err := container.InspectImage(ctx, ref); err == nil {
		previous = old.ID
	}
	pr, pw := io.Pipe()
	packed := make(chan error, 1)
	go func() {
		err := writeRootfs(pw, rootfs)
		pw.CloseWithError(err)
		packed <- err
	}()
	s, err := container.ImportImage(ctx, pr, ref, changes)
	pr.CloseWithError(errors.New("import finished"))
	if perr := <-packed; perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return Image{}, err
	}
	for kind, v := range versions {
		if err := container.TagImage(ctx, s.ID, KindRef(proxies.Kind(kind), v)); err != nil {
			return Image{}, err
		}
	}
	if previous != "" && previous != s.ID {
		// Its tags moved to the new image; remove it unless a container
		// still uses it.
		if _, err := container.RemoveImage(ctx, previous); err != nil {
			o.logger.Warn("previous image kept", "id", previous, "err", err)
		}
	}
	if s, err = container.InspectImage(ctx, s.ID); err != nil {
		return Image{}, err
	}
	im := imageFrom(s)
	o.logger.Info("image built", "ref", im.Ref, "id", im.ID, "size", im.Size, "took", time.Since(start).Round(time.Second))
	return im, nil
}

// lateInstall are packages installed with apt-get inside the bootstrapped
// root filesystem rather than by debootstrap: from trixie on they pull in
// systemd, whose pre-dependency debootstrap's single dpkg call cannot
// order ("systemd pre-depends on libsystemd-shared ... unpacked, but has
// never been configured").
var lateInstall = []string{"varnish", "squid"}

// policyRC keeps a package's maintainer scripts from starting its service
// in the chroot, which shares the host's network.
const policyRC = "#!/bin/sh\n# racelab image build: start no service\nexit 101\n"

// installLate installs lateInstall with apt-get in the chroot and returns
// the packages installed; a package the suite lacks is left out.
func installLate(ctx context.Context, o buildOptions, rootfs string) ([]string, error) {
	pkgs := slices.Clone(lateInstall)
	policy := filepath.Join(rootfs, "usr/sbin/policy-rc.d")
	if err := os.WriteFile(policy, []byte(policyRC), 0o755); err != nil {
		return nil, fmt.Errorf("install %s: %w", strings.Join(pkgs, " "), err)
	}
	defer os.Remove(policy)
	// Maintainer scripts that run systemd-tmpfiles (sid's squid) need
	// /proc; removeTree unmounts it should this process die first.
	proc := filepath.Join(rootfs, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return nil, fmt.Errorf("install %s: %w", strings.Join(pkgs, " "), err)
	}
	if err := syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("install %s: mount proc: %w", strings.Join(pkgs, " "), err)
	}
	defer func() {
		if err := syscall.Unmount(proc, syscall.MNT_DETACH); err != nil {
			o.logger.Warn("unmount proc", "dir", proc, "err", err)
		}
	}()
	if resolv, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		_ = os.WriteFile(filepath.Join(rootfs, "etc/resolv.conf"), resolv, 0o644)
	}
	// debootstrap does not check a Release file's Valid-Until; apt does,
	// and a mirror's sid can be past it.
	if err := runLogged(ctx, o.progress, "chroot", rootfs, "apt-get", "-o", "Acquire::Check-Valid-Until=false", "update"); err != nil {
		return nil, err
	}
	for len(pkgs) > 0 {
		args := append([]string{rootfs, "apt-get", "install", "-y", "--no-install-recommends"}, pkgs...)
		err := runLogged(ctx, o.progress, "chroot", args...)
		if err == nil {
			return pkgs, nil
		}
		missing := missingAPT(err.Error())
		left := slices.DeleteFunc(slices.Clone(pkgs), func(p string) bool { return slices.Contains(missing, p) })
		if len(left) == len(pkgs) {
			return nil, err
		}
		o.logger.Warn("suite lacks packages; building without them", "missing", missing)
		pkgs = left
	}
	return nil, nil
}

// missingAPTRE matches apt-get's messages about packages it cannot find.
var missingAPTRE = regexp.MustCompile(`(?:Unable to locate package (\S+)|Package '?([^'\s]+)'? has no installation candidate)`)

// missingAPT lists the packages apt-get's error says the suite lacks.
func missingAPT(msg string) []string {
	var out []string
	for _, m := range missingAPTRE.FindAllStringSubmatch(msg, -1) {
		out = append(out, m[1]+m[2])
	}
	return out
}

// missingDebsRE matches debootstrap's message about packages the suite
// does not have.
var missingDebsRE = regexp.MustCompile(`Couldn't find these debs: ([^\n]+)`)

// missingDebs lists the packages debootstrap's error says the suite lacks.
func missingDebs(msg string) []string {
	m := missingDebsRE.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	return strings.Fields(m[1])
}

// isRequired reports whether a package must be in every image: nginx and
// HAProxy, the version ladder's first two proxies.
func isRequired(pkg string) bool { return pkg == "nginx" || pkg == "haproxy" }

// runLogged runs a command in its own process group, copying its output
// to w; it kills the whole group when ctx is done. The error carries the
// last lines of output.
func runLogged(ctx context.Context, w io.Writer, name string, args ...string) error {
	tail := &tailBuffer{max: 4 << 10}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout = io.MultiWriter(w, tail)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w; last output:\n%s", filepath.Base(name), err, tail.String())
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.TrimSpace(t.buf)) }

// slim removes what a proxy image does not need: package caches and
// lists, manuals, translations, logs, and documentation except the
// copyright files.
func slim(rootfs string) error {
	for _, dir := range []string{
		"var/cache/apt", "var/lib/apt/lists", "usr/share/man", "usr/share/info",
		"usr/share/locale", "usr/share/lintian", "var/log",
	} {
		if err := removeContents(filepath.Join(rootfs, dir)); err != nil {
			return fmt.Errorf("slim rootfs: %w", err)
		}
	}
	doc := filepath.Join(rootfs, "usr/share/doc")
	err := filepath.WalkDir(doc, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || d.Name() == "copyright" {
			return nil
		}
		return os.Remove(p)
	})
	if err != nil {
		return fmt.Errorf("slim rootfs: %w", err)
	}
	return nil
}

// removeContents empties dir if it is a real directory; a symlink is
// left alone, so nothing outside the root filesystem is touched.
func removeContents(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
