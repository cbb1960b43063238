package squid

import (
	"fmt"
	"os"
	"regexp"
	"syscall"

	"github.com/racelab/racelab/proxies"
)

// ConfigFile is the name of the rendered configuration inside the bundle
// directory.
const ConfigFile = "squid.conf"

// Adapter renders Squid reverse-proxy configurations and reads Squid's
// access log. The zero value is ready to use.
type Adapter struct{}

var _ proxies.Adapter = Adapter{}

// Kind is proxies.KindSquid.
func (Adapter) Kind() proxies.Kind { return proxies.KindSquid }

// Binary is "squid" (Debian installs it in /usr/sbin).
func (Adapter) Binary() string { return "squid" }

// Image is a Squid image for version ("ubuntu/squid:5.2-22.04_beta" style
// tags are the image's own; version is used as the tag as given), or
// "ubuntu/squid:latest" when version is empty. Squid has no official
// library image.
func (Adapter) Image(version string) string {
	if version == "" {
		return "ubuntu/squid:latest"
	}
	return "ubuntu/squid:" + version
}

// VersionArgs make squid print its version.
func (Adapter) VersionArgs() []string { return []string{"-v"} }

var versionRE = regexp.MustCompile(`Squid Cache: Version (\d+\.\d+(?:\.\d+)?)`)

// ParseVersion reads the version from `squid -v` output: "Squid Cache:
// Version 5.7" gives "5.7".
func (Adapter) ParseVersion(output string) (string, error) {
	m := versionRE.FindStringSubmatch(output)
	if m == nil {
		return "", fmt.Errorf("parse squid version: no version line in %q", proxies.FirstLine(output))
	}
	return m[1], nil
}

// StopSignal is SIGTERM; the rendered shutdown_lifetime of 0 makes Squid
// exit at once instead of waiting for clients.
func (Adapter) StopSignal() os.Signal { return syscall.SIGTERM }

// Render renders spec for directory dir: one squid.conf, Squid run in
// the foreground as one process (-N) under a service name of its own
// (-n), so its shared-memory segments never meet another Squid's.
//
// With spec.Config set, Render runs the user's own squid.conf instead:
// see renderUser.
func (Adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Config != nil {
		b, err := renderUser(spec, dir)
		if err != nil {
			return nil, fmt.Errorf("render squid: %w", err)
		}
		return b, nil
	}
	b, err := render(spec, dir)
	if err != nil {
		return nil, fmt.Errorf("render squid: %w", err)
	}
	return b, nil
}
