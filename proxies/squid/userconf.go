package squid

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
)

// renderUser rewrites the user's squid.conf in spec.Config for dir: the
// cache_peer under test points at spec.Upstream, every other one at a
// closed port, the accelerator http_port listens on spec.Listen, Squid
// asks only a closed loopback name server, and racelab's access log goes
// to standard output beside the file's own. The bundle lists every change.
func renderUser(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if !filepath.IsAbs(dir) || strings.ContainsAny(dir, " \t\r\n\"'#") {
		return nil, fmt.Errorf("dir %q: want an absolute path without spaces or quotes", dir)
	}
	in := proxyconf.FromSpec(spec, dir)
	in.Kind = string(proxies.KindSquid)
	in.LogFormat = logFormat
	in.RequestIDHeader = backends.RequestIDHeader
	res, err := proxyconf.Rewrite(in)
	if err != nil {
		return nil, err
	}
	b := res.Bundle(dir)
	service := ServiceName(dir)
	b.Args = append(b.Args, "-n", service)
	b.ValidateArgs = append(b.ValidateArgs, "-n", service)
	b.SharedOutput = true
	b.ContainerUser = "proxy"
	b.Notes = append(b.Notes, res.Notes...)
	return b, nil
}
