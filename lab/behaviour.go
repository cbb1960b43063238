package lab

import (
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/scenarios"
)

// BehaviourScenario is the matrix behind the behaviour table: what a stale
// reused connection does on each proxy, under each retry policy and
// method, for a request that never ran (close-on-reuse) and one that ran
// (processed-then-dropped), over a persistent and a fresh client
// connection.
func BehaviourScenario(kinds []proxies.Kind, trials int) *scenarios.Scenario {
	sc := &scenarios.Scenario{
		Name: "behaviour",
		// 1/20 scale: the victim leaves 225ms before the proxy's idle
		// timer is due, which a busy machine keeps.
		Timescale: 0.05,
		Base:      scenarios.Settings{Trials: trials},
	}
	idle, ka := scenarios.Duration(10e9), scenarios.Duration(1e9)
	sc.Base.ProxyIdle, sc.Base.BackendKeepAlive = &idle, &ka
	for _, k := range kinds {
		sc.Matrix.Proxy = append(sc.Matrix.Proxy, scenarios.Proxy{Kind: string(k)})
	}
	sc.Matrix.Fault = []string{"close-on-reuse", "processed-then-dropped"}
	sc.Matrix.Retry = []string{"off", "idempotent", "all"}
	sc.Matrix.Method = []string{"GET", "POST"}
	sc.Matrix.Client = []string{scenarios.ClientPersistent, scenarios.ClientFresh}
	return sc
}

// AvailableKinds lists the proxies this machine can run as processes, the
// embedded one first.
func AvailableKinds() []proxies.Kind {
	out := []proxies.Kind{proxies.KindGo}
	for _, k := range []proxies.Kind{proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy, proxies.KindCaddy, proxies.KindApache, proxies.KindVarnish, proxies.KindSquid} {
		if Available(k) == nil {
			out = append(out, k)
		}
	}
	return out
}
