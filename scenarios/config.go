package scenarios

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/racelab/racelab/proxies"
)

// directives name, per proxy kind, the configuration that decides what a
// scenario setting would otherwise set, for a proxy run from the user's
// own file.
var directives = map[proxies.Kind]struct{ idle, retry, reuse string }{
	proxies.KindNginx: {
		idle:  "keepalive_timeout in the upstream block",
		retry: "proxy_next_upstream",
		reuse: "keepalive in the upstream block",
	},
	proxies.KindHAProxy: {
		idle:  "pool-purge-delay",
		retry: "retry-on and retries",
		reuse: "http-reuse",
	},
	proxies.KindEnvoy: {
		idle:  "the cluster's common_http_protocol_options.idle_timeout",
		retry: "the route's retry_policy",
		reuse: "the cluster's connection pool",
	},
	proxies.KindVarnish: {
		idle:  "varnishd's -p backend_idle_timeout",
		retry: "Varnish's built-in retry of a recycled connection",
		reuse: "the backend's .max_connections",
	},
	proxies.KindSquid: {
		idle:  "server_idle_pconn_timeout",
		retry: "forward_max_tries and retry_on_error",
		reuse: "server_persistent_connections",
	},
	proxies.KindCaddy: {
		idle:  "the reverse_proxy's transport http keepalive",
		retry: "lb_retries and lb_try_duration",
		reuse: "keepalive and keepalive_idle_conns_per_host",
	},
	proxies.KindApache: {
		idle:  "ttl= of the ProxyPass or BalancerMember",
		retry: "ping=",
		reuse: "disablereuse= and max=",
	},
}

// configProblems checks the proxy.config fields of settings st (pp is the
// proxy's path, at maps a field to the path its value came from). Only
// what the user set counts: st is read before defaults are filled in.
func configProblems(st Settings, pp string, at func(field, base string) string) Problems {
	var probs Problems
	bad := func(path, format string, args ...any) {
		probs = append(probs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	p := st.Proxy
	if p.Config == "" {
		if p.Upstream != "" {
			bad(pp+".upstream", "upstream names the nginx upstream, HAProxy backend or Envoy cluster of proxy.config: set config too")
		}
		if p.Root != "" {
			bad(pp+".root", "root resolves the include paths of proxy.config: set config too")
		}
		return probs
	}
	kind := proxies.Kind(p.Kind)
	if kind == "" {
		kind = proxies.KindGo
	}
	d, ok := directives[kind]
	if !ok {
		bad(pp+".config", "config is for kinds nginx, haproxy, envoy, caddy, apache, varnish and squid; kind %s has no config file", kind)
		return probs
	}
	file := filepath.Base(p.Config)
	decided := func(field, path, directive string) {
		bad(path, "%s conflicts with proxy.config: %s decides it (%s); drop %s", field, file, directive, field)
	}
	if st.ProxyIdle != nil {
		decided("proxy_idle", at("proxy_idle", "base.proxy_idle"), d.idle)
	}
	if st.Margin != nil {
		bad(at("margin", "base.margin"), "margin is relative to proxy_idle, which %s decides (%s): give backend_keepalive instead", file, d.idle)
	}
	if st.Retry != "" {
		decided("retry", at("retry", "base.retry"), d.retry)
	}
	if p.Reuse != "" {
		decided("reuse", pp+".reuse", d.reuse)
	}
	if p.Variant != "" {
		bad(pp+".variant", "variant conflicts with proxy.config: %s decides which directives are set; drop variant", file)
	}
	return probs
}

// axisProxyLabels labels the proxies of a matrix axis: ProxyLabel, with
// configs that share a file name told apart by as many of their parent
// directories as it takes ("nginx+before/nginx.conf").
func axisProxyLabels(ps []Proxy) []string {
	labels := make([]string, len(ps))
	for i, p := range ps {
		labels[i] = ProxyLabel(withProxyDefaults(p))
	}
	for depth := 2; depth <= 8; depth++ {
		count := map[string]int{}
		for _, l := range labels {
			count[l]++
		}
		clash := false
		for i, p := range ps {
			if count[labels[i]] > 1 && p.Config != "" {
				labels[i] = proxyLabel(withProxyDefaults(p), pathTail(p.Config, depth))
				clash = true
			}
		}
		if !clash {
			break
		}
	}
	return labels
}

// pathTail is the last n elements of path, slash-separated.
func pathTail(path string, n int) string {
	parts := strings.Split(filepath.ToSlash(filepath.Clean(path)), "/")
	if len(parts) > n {
		parts = parts[len(parts)-n:]
	}
	return strings.Join(parts, "/")
}
