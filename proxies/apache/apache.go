package apache

import (
	"fmt"
	"os"
	"regexp"
	"syscall"

	"github.com/racelab/racelab/proxies"
)

// ConfigName is the configuration file in a rendered bundle.
const ConfigName = "apache2.conf"

// ModulesDir is where Debian installs Apache httpd's modules; the
// rendered config loads the few it needs from there and nothing from
// /etc/apache2.
const ModulesDir = "/usr/lib/apache2/modules"

// Adapter is the proxies.Adapter for Apache httpd 2.4 with mod_proxy_http,
// as Debian packages it (apache2). The zero value is ready to use.
type Adapter struct{}

var _ proxies.Adapter = Adapter{}

// Kind is proxies.KindApache.
func (Adapter) Kind() proxies.Kind { return proxies.KindApache }

// Binary is "apache2", Debian's name for httpd (in /usr/sbin).
func (Adapter) Binary() string { return "apache2" }

// VersionArgs make apache2 print its version ("Server version:
// Apache/2.4.62 (Debian)").
func (Adapter) VersionArgs() []string { return []string{"-v"} }

var versionRE = regexp.MustCompile(`Server version: Apache/(\d+\.\d+\.\d+)`)

// ParseVersion reads the version from the output of apache2 -v.
func (Adapter) ParseVersion(output string) (string, error) {
	m := versionRE.FindStringSubmatch(output)
	if m == nil {
		return "", fmt.Errorf("parse apache version: none in %q", proxies.FirstLine(output))
	}
	return m[1], nil
}

// StopSignal is SIGTERM, httpd's immediate stop: the parent kills its
// children and exits. SIGWINCH (graceful-stop) would wait for requests
// in flight.
func (Adapter) StopSignal() os.Signal { return syscall.SIGTERM }

// Image is the official image for version ("httpd:2.4"). Its binary is
// httpd, not apache2, and its modules live elsewhere: racelab runs
// Apache in containers from its own Debian images (racelab images build).
func (Adapter) Image(version string) string {
	if version == "" {
		return "httpd:2.4"
	}
	return "httpd:" + version
}
