package lab

import (
	"fmt"
	"time"

	"github.com/racelab/racelab/internal/proxyconf"
	"github.com/racelab/racelab/proxies"
)

// ConfigIdle is the upstream idle timeout a user's configuration sets for
// the upstream under test, read from the rendered bundle's effective
// settings ("idle_timeout", in the proxy's own time syntax, unscaled).
// For HAProxy it is pool-purge-delay: an idle connection lives 2 to 3
// times that long.
func ConfigIdle(kind proxies.Kind, eff map[string]proxies.Setting) (time.Duration, error) {
	s, ok := eff["idle_timeout"]
	if !ok || s.Value == "" {
		return 0, fmt.Errorf("%s configuration: no idle timeout for the upstream under test", kind)
	}
	var d time.Duration
	var err error
	switch kind {
	case proxies.KindNginx:
		d, err = proxyconf.ParseNginxTime(s.Value, true)
	case proxies.KindHAProxy:
		d, err = proxyconf.ParseHAProxyTime(s.Value)
	case proxies.KindEnvoy:
		d, err = proxyconf.ParseProtoDuration(s.Value)
	default:
		return 0, fmt.Errorf("proxy kind %s takes no configuration file", kind)
	}
	if err != nil {
		where := s.Source
		if where == "" {
			where = "default"
		}
		return 0, fmt.Errorf("%s configuration: idle timeout %q (%s): %w", kind, s.Value, where, err)
	}
	return d, nil
}
