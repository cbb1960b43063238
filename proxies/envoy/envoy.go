package envoy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/racelab/racelab/proxies"
)

// ConfigFile is the bootstrap's file name inside a bundle.
const ConfigFile = "envoy.yaml"

// Defaults of the rendered bootstrap.
const (
	// DefaultConnectTimeout bounds a connection attempt to the backend.
	DefaultConnectTimeout = time.Second
	// DefaultFileFlushInterval is how often Envoy flushes its access log
	// buffer to stdout. Envoy's own default (10 s) would hold evidence
	// back for seconds after the request it describes.
	DefaultFileFlushInterval = 50 * time.Millisecond
	// MaxPendingRequests and MaxRequests are the circuit-breaker limits
	// beside max_connections 1: high enough never to trip in a trial.
	MaxPendingRequests = 1024
	MaxRequests        = 1024
)

// Names inside the rendered bootstrap, for stats and log readers.
const (
	ListenerName = "racelab_listener"
	ClusterName  = "racelab_backend"
	StatPrefix   = "racelab"
	// RouteRetry names the route that carries the retry policy when the
	// policy is idempotent; RouteDefault names the catch-all route.
	RouteRetry   = "racelab_retry_idempotent"
	RouteDefault = "racelab_default"
)

// Adapter is the Envoy adapter. The zero value is ready to use.
type Adapter struct{}

var _ proxies.Adapter = Adapter{}

// Kind is proxies.KindEnvoy.
func (Adapter) Kind() proxies.Kind { return proxies.KindEnvoy }

// Binary is "envoy".
func (Adapter) Binary() string { return "envoy" }

// StopSignal is SIGTERM: Envoy drains nothing and exits on it.
func (Adapter) StopSignal() os.Signal { return syscall.SIGTERM }

// VersionArgs print Envoy's version line.
func (Adapter) VersionArgs() []string { return []string{"--version"} }

// Image is the official image for version: "1.34.1" gives
// "envoyproxy/envoy:v1.34.1", a minor version "1.34" gives the moving
// "envoyproxy/envoy:v1.34-latest". Envoy publishes no "latest" tag, so an
// empty version gives an empty reference: callers must name a version.
func (Adapter) Image(version string) string {
	v := strings.TrimPrefix(strings.TrimSpace(version), "v")
	switch {
	case v == "":
		return ""
	case strings.Count(v, ".") == 1:
		return "envoyproxy/envoy:v" + v + "-latest"
	default:
		return "envoyproxy/envoy:v" + v
	}
}

// versionRE matches the version inside Envoy's build string,
// "<revision>/<version>/<status>/<build type>/<TLS library>".
var versionRE = regexp.MustCompile(`version:\s*[^/\s]*/(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)/`)

// ParseVersion reads the version from `envoy --version` output, such as
// "envoy  version: b579d07d.../1.39.1/Clean/RELEASE/BoringSSL" → "1.39.1".
// A development build keeps its suffix ("1.35.0-dev").
func (Adapter) ParseVersion(output string) (string, error) {
	m := versionRE.FindStringSubmatch(output)
	if m == nil {
		return "", fmt.Errorf("parse envoy version: no version in %q", proxies.FirstLine(output))
	}
	return m[1], nil
}

// Render renders spec into a bootstrap for dir. The bundle runs Envoy with
// one worker thread (one upstream connection pool), no hot restart and
// access logs flushed every DefaultFileFlushInterval. The rendered
// bootstrap passes ValidateBootstrap; Render checks that before it returns.
//
// With spec.Config set, Render runs the user's own bootstrap instead: see
// RenderUserConfig. The route's listener binds spec.Listen, the cluster
// under test (spec.Config.Upstream) points at spec.Upstream and admin
// binds spec.AdminListen.
func (Adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Config != nil {
		b, err := renderUser(spec, dir)
		if err != nil {
			return nil, fmt.Errorf("render envoy: %w", err)
		}
		return b, nil
	}
	data, err := RenderBootstrap(spec)
	if err != nil {
		return nil, err
	}
	if err := ValidateBootstrap(data); err != nil {
		return nil, fmt.Errorf("render envoy: rendered bootstrap is invalid: %w", err)
	}
	return newBundle(dir, data), nil
}

// newBundle is a bootstrap in dir with the arguments that run it: one
// worker (pools are per worker), no hot restart, access logs flushed
// often enough for evidence.
func newBundle(dir string, bootstrap []byte) *proxies.Bundle {
	cfg := filepath.Join(dir, ConfigFile)
	return &proxies.Bundle{
		Dir:   dir,
		Files: map[string]string{ConfigFile: string(bootstrap)},
		Args: []string{
			"-c", cfg,
			"--concurrency", "1",
			"--disable-hot-restart",
			"--log-level", "info",
			"--file-flush-interval-msec", strconv.FormatInt(DefaultFileFlushInterval.Milliseconds(), 10),
		},
		ValidateArgs: []string{"--mode", "validate", "-c", cfg},
	}
}

// renderUser reads the user's bootstrap in spec.Config and rewrites it
// for dir.
func renderUser(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	c := spec.Config
	data, err := os.ReadFile(c.Path)
	if err != nil {
		return nil, fmt.Errorf("envoy config: %w", err)
	}
	return RenderUserConfig(UserOptions{
		File:      c.Path,
		Data:      data,
		Cluster:   c.Upstream,
		Backend:   spec.Upstream,
		Closed:    c.Closed,
		Listen:    spec.Listen,
		Admin:     spec.AdminListen,
		Dir:       dir,
		Timescale: c.Timescale,
	})
}
