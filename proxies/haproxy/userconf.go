package haproxy

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
)

// userLogFormat is the rendered log-format with the request id taken
// from a variable the rewritten frontend sets: a user's frontend may
// already use capture slot 0.
var userLogFormat = strings.Replace(logFormat, "capture.req.hdr(0)", proxyconf.RequestIDFetch, 1)

// renderUser rewrites the user's configuration in spec.Config for dir:
// every server of the backend under test points at spec.Upstream, the
// frontend that routes to it binds spec.Listen, and racelab's log-format
// replaces that frontend's own (HAProxy has one per proxy), and that
// frontend answers SyncPath itself, the evidence barrier, as the rendered
// one does. The bundle lists every change.
func renderUser(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("dir %q: want an absolute path", dir)
	}
	in := proxyconf.FromSpec(spec, dir)
	in.Kind = string(proxies.KindHAProxy)
	in.LogFormat = userLogFormat
	in.RequestIDHeader = backends.RequestIDHeader
	in.SyncPath = SyncPath
	res, err := proxyconf.Rewrite(in)
	if err != nil {
		return nil, err
	}
	return res.Bundle(dir), nil
}
