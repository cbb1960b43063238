package varnish

import (
	"fmt"
	"os"
	"regexp"
	"syscall"

	"github.com/racelab/racelab/proxies"
)

// VCLFile is the name of the rendered VCL inside the bundle directory.
const VCLFile = "racelab.vcl"

// WorkDir is varnishd's working directory (-n) inside the bundle
// directory: its shared-memory log lives there, where varnishncsa reads it.
const WorkDir = "varnish"

// LoggerBinary reads the shared-memory log.
const LoggerBinary = "varnishncsa"

// Adapter renders Varnish configurations and reads varnishncsa's lines.
// The zero value is ready to use.
type Adapter struct{}

var _ proxies.Adapter = Adapter{}

// Kind is proxies.KindVarnish.
func (Adapter) Kind() proxies.Kind { return proxies.KindVarnish }

// Binary is "varnishd" (Debian installs it in /usr/sbin).
func (Adapter) Binary() string { return "varnishd" }

// Image is the official image for version ("varnish:7.1"), or
// "varnish:stable" when version is empty.
func (Adapter) Image(version string) string {
	if version == "" {
		return "varnish:stable"
	}
	return "varnish:" + version
}

// VersionArgs make varnishd print its version.
func (Adapter) VersionArgs() []string { return []string{"-V"} }

var versionRE = regexp.MustCompile(`varnish-(\d+\.\d+(?:\.\d+)?)`)

// ParseVersion reads the version from `varnishd -V` output: "varnishd
// (varnish-7.1.1 revision 7cee1c5...)" gives "7.1.1".
func (Adapter) ParseVersion(output string) (string, error) {
	m := versionRE.FindStringSubmatch(output)
	if m == nil {
		return "", fmt.Errorf("parse varnish version: no version in %q", proxies.FirstLine(output))
	}
	return m[1], nil
}

// StopSignal is SIGTERM: the manager process stops its child and exits;
// varnishncsa, in the same process group, exits on it too.
func (Adapter) StopSignal() os.Signal { return syscall.SIGTERM }

// Render renders spec for directory dir: one VCL file, varnishd run in
// the foreground without a jail (so it runs as the user racelab runs as,
// root included), and varnishncsa as the bundle's log reader.
//
// With spec.Config set, Render runs the user's own VCL instead: see
// renderUser.
func (Adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Config != nil {
		b, err := renderUser(spec, dir)
		if err != nil {
			return nil, fmt.Errorf("render varnish: %w", err)
		}
		return b, nil
	}
	r, err := render(spec, dir)
	if err != nil {
		return nil, fmt.Errorf("render varnish: %w", err)
	}
	return r, nil
}
