package apache

import (
	"os"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
)

// Evidence formats of a user's configuration: the rendered LogFormat and
// ErrorLogFormat, which ParseLog reads.
var (
	userLogFormat      = LogPrefix + ` id="%{` + backends.RequestIDHeader + `}i" st=%>s method=%m uri="%U" keepalives=%k us=%D`
	userErrorLogFormat = ErrorPrefix + ` [%l] [id %-{` + backends.RequestIDHeader + `}i] %M`
)

// renderUser rewrites the user's Apache configuration in spec.Config for
// dir: every member or URL of the ProxyPass under test points at
// spec.Upstream, its virtual host listens on spec.Listen in plain HTTP,
// httpd runs one child process, and racelab's evidence logs go beside
// the user's. The bundle lists every change.
func renderUser(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	in := proxyconf.FromSpec(spec, dir)
	in.Kind = string(proxies.KindApache)
	in.LogFormat = userLogFormat
	in.ErrorLogFormat = userErrorLogFormat
	in.RequestIDHeader = backends.RequestIDHeader
	in.RunAsRoot = os.Geteuid() == 0
	res, err := proxyconf.Rewrite(in)
	if err != nil {
		return nil, err
	}
	return res.Bundle(dir), nil
}
