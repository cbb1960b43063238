package caddy

import (
	"fmt"
	"path/filepath"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
)

// renderUser rewrites the user's Caddyfile in spec.Config for dir: every
// upstream of the reverse_proxy under test points at spec.Upstream, its
// site listens on spec.Listen in plain HTTP, Caddy asks no CA and writes
// nothing outside dir, and racelab's evidence log (access, error and
// reverse proxy lines as JSON on stderr, what ParseLog reads) goes beside
// the user's. The bundle lists every change.
func renderUser(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("dir %q: want an absolute path", dir)
	}
	in := proxyconf.FromSpec(spec, dir)
	in.Kind = string(proxies.KindCaddy)
	in.LogFormat = "json" // Caddy's evidence log is JSON; the loggers are fixed
	in.RequestIDHeader = backends.RequestIDHeader
	res, err := proxyconf.Rewrite(in)
	if err != nil {
		return nil, err
	}
	b := res.Bundle(dir)
	b.Notes = append(b.Notes, NoRetryOff)
	return b, nil
}
