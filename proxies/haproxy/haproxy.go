package haproxy

import (
	"fmt"
	"os"
	"regexp"
	"syscall"

	"github.com/racelab/racelab/proxies"
)

// ConfigFile is the name of the rendered configuration inside the bundle
// directory.
const ConfigFile = "haproxy.cfg"

// Adapter renders HAProxy configurations and reads HAProxy's output. The
// zero value is ready to use.
type Adapter struct{}

var _ proxies.Adapter = Adapter{}

// Kind is proxies.KindHAProxy.
func (Adapter) Kind() proxies.Kind { return proxies.KindHAProxy }

// Binary is "haproxy".
func (Adapter) Binary() string { return "haproxy" }

// Image is the official image for version ("haproxy:2.6"), or
// "haproxy:lts" when version is empty.
func (Adapter) Image(version string) string {
	if version == "" {
		return "haproxy:lts"
	}
	return "haproxy:" + version
}

// VersionArgs make haproxy print its version.
func (Adapter) VersionArgs() []string { return []string{"-v"} }

var versionRE = regexp.MustCompile(`(?m)^HA-?Proxy version (\d+\.\d+(?:\.\d+)?(?:-dev\d*)?)`)

// ParseVersion reads the version from `haproxy -v` output: "HAProxy
// version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/" gives
// "2.6.12".
func (Adapter) ParseVersion(output string) (string, error) {
	m := versionRE.FindStringSubmatch(output)
	if m == nil {
		return "", fmt.Errorf("parse haproxy version: no version line in %q", proxies.FirstLine(output))
	}
	return m[1], nil
}

// StopSignal is SIGTERM. Sent to the master of a master-worker HAProxy
// (-W), it is a hard stop: the master terminates its workers and exits at
// once, without waiting for open client connections to finish, which a
// soft stop (SIGUSR1) would do for up to the client timeout.
func (Adapter) StopSignal() os.Signal { return syscall.SIGTERM }

// Render renders spec for directory dir: one file, haproxy.cfg, run in
// master-worker mode in the foreground.
//
// With spec.Config set, Render runs the user's own configuration instead:
// see renderUser.
func (Adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Config != nil {
		b, err := renderUser(spec, dir)
		if err != nil {
			return nil, fmt.Errorf("render haproxy: %w", err)
		}
		return b, nil
	}
	cfg, err := renderConfig(spec, dir)
	if err != nil {
		return nil, fmt.Errorf("render haproxy: %w", err)
	}
	path := dir + "/" + ConfigFile
	return &proxies.Bundle{
		Dir:          dir,
		Files:        map[string]string{ConfigFile: cfg},
		Args:         []string{"-W", "-db", "-f", path},
		ValidateArgs: []string{"-c", "-f", path},
		SyncPath:     SyncPath,
	}, nil
}
