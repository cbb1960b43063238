package varnish

import (
	"fmt"
	"path/filepath"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
)

// renderUser rewrites the user's VCL in spec.Config for dir: every
// backend under test (a backend, or every backend of a director) points
// at spec.Upstream with .max_connections = 1, every other one at a closed
// port, varnishd listens on spec.Listen, and the VCL answers ReadyPath
// itself for varnishncsa's readiness probe. Config.Path is the VCL, or a
// file that starts varnishd (a systemd unit, /etc/default/varnish) whose
// -f names the VCL and whose -p timeouts apply. The bundle lists every
// change.
func renderUser(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("dir %q: want an absolute path", dir)
	}
	in := proxyconf.FromSpec(spec, dir)
	in.Kind = string(proxies.KindVarnish)
	in.LogFormat = logFormat
	in.RequestIDHeader = backends.RequestIDHeader
	in.ReadyPath = ReadyPath
	res, err := proxyconf.Rewrite(in)
	if err != nil {
		return nil, err
	}
	b := res.Bundle(dir)
	b.Logger = &proxies.Logger{
		Binary:    LoggerBinary,
		Args:      []string{"-n", filepath.Join(dir, proxyconf.VarnishWorkDir), "-c", "-b", "-t", "10", "-F", logFormat},
		ReadyPath: ReadyPath,
	}
	b.Notes = append(b.Notes, res.Notes...)
	return b, nil
}
