package nginx

import (
	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
)

// EvidenceFormat is racelab's access log line, the same JSON object
// nginx.conf.tmpl renders, as one log_format string.
var EvidenceFormat = `{"time":"$msec","request_id":"$` + requestIDVar + `",` +
	`"method":"$request_method","uri":"$request_uri","status":"$status",` +
	`"upstream_status":"$upstream_status","upstream_addr":"$upstream_addr",` +
	`"upstream_connect_time":"$upstream_connect_time",` +
	`"upstream_response_time":"$upstream_response_time",` +
	`"request_time":"$request_time","connection":"$connection",` +
	`"connection_requests":"$connection_requests"}`

// renderUser rewrites the user's configuration in spec.Config for dir:
// every server of the upstream under test points at spec.Upstream, the
// server that routes to it listens on spec.Listen, and racelab's evidence
// log goes beside the user's. The bundle lists every change.
func renderUser(spec proxies.Spec, dir string, root bool) (*proxies.Bundle, error) {
	if err := checkDir(dir); err != nil {
		return nil, err
	}
	in := proxyconf.FromSpec(spec, dir)
	in.Kind = string(proxies.KindNginx)
	in.LogFormat = EvidenceFormat
	in.RequestIDHeader = backends.RequestIDHeader
	in.RunAsRoot = root
	res, err := proxyconf.Rewrite(in)
	if err != nil {
		return nil, err
	}
	return res.Bundle(dir), nil
}
