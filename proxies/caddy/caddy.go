package caddy

import (
	"fmt"
	"os"
	"regexp"
	"syscall"

	"github.com/racelab/racelab/proxies"
)

// ConfigName is the configuration file in a rendered bundle: Caddy's
// native JSON, so no config adapter runs.
const ConfigName = "caddy.json"

// Adapter is the proxies.Adapter for Caddy 2. The zero value is ready to
// use.
type Adapter struct{}

var _ proxies.Adapter = Adapter{}

// Kind is proxies.KindCaddy.
func (Adapter) Kind() proxies.Kind { return proxies.KindCaddy }

// Binary is "caddy".
func (Adapter) Binary() string { return "caddy" }

// VersionArgs make caddy print its version: "2.6.2" from Debian's build,
// "v2.11.9 h1:..." from one built with go install.
func (Adapter) VersionArgs() []string { return []string{"version"} }

// FallbackVersionArgs make caddy print its build information, whose
// "mod github.com/caddyserver/caddy/v2 v2.11.9" line carries the version
// when caddy version prints "unknown" (a binary built with go install
// github.com/caddyserver/caddy/v2/cmd/caddy@VERSION).
func (Adapter) FallbackVersionArgs() []string { return []string{"build-info"} }

var (
	versionRE   = regexp.MustCompile(`(?m)^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\b`)
	buildInfoRE = regexp.MustCompile(`(?m)^mod\s+github\.com/caddyserver/caddy/v2\s+v(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\s`)
)

// ParseVersion reads the version from the output of caddy version, or
// from the mod line of caddy build-info.
func (Adapter) ParseVersion(output string) (string, error) {
	m := versionRE.FindStringSubmatch(output)
	if m == nil {
		m = buildInfoRE.FindStringSubmatch(output)
	}
	if m == nil {
		return "", fmt.Errorf("parse caddy version: none in %q", proxies.FirstLine(output))
	}
	return m[1], nil
}

// StopSignal is SIGTERM: Caddy stops its servers and exits; a request in
// flight gets the shutdown grace period the config sets (none here).
func (Adapter) StopSignal() os.Signal { return syscall.SIGTERM }

// Image is the official image for version ("caddy:2.6.2"); with no
// version, "caddy:2".
func (Adapter) Image(version string) string {
	if version == "" {
		return "caddy:2"
	}
	return "caddy:" + version
}
