package nginx

import (
	"fmt"
	"os"
	"regexp"
	"syscall"

	"github.com/racelab/racelab/proxies"
)

// Adapter is the proxies.Adapter for nginx. The zero value is ready to use.
type Adapter struct{}

var _ proxies.Adapter = Adapter{}

// Kind is proxies.KindNginx.
func (Adapter) Kind() proxies.Kind { return proxies.KindNginx }

// Binary is "nginx".
func (Adapter) Binary() string { return "nginx" }

// VersionArgs make nginx print its version ("nginx version: nginx/1.22.1")
// on stderr.
func (Adapter) VersionArgs() []string { return []string{"-v"} }

var versionRE = regexp.MustCompile(`nginx version: [^/\s]+/(\d+(?:\.\d+)+)`)

// ParseVersion reads the version from the output of nginx -v.
func (Adapter) ParseVersion(output string) (string, error) {
	m := versionRE.FindStringSubmatch(output)
	if m == nil {
		return "", fmt.Errorf("parse nginx version: none in %q", output)
	}
	return m[1], nil
}

// StopSignal is SIGTERM, nginx's fast shutdown: it closes connections at
// once. SIGQUIT (graceful) would wait for requests in flight.
func (Adapter) StopSignal() os.Signal { return syscall.SIGTERM }

// Image is the official image for version ("nginx:1.26.3"); with no
// version, the untagged "nginx".
func (Adapter) Image(version string) string {
	if version == "" {
		return "nginx"
	}
	return "nginx:" + version
}
