package proxyconf

import (
	"strings"
)

// effective reads the settings of the worker under test.
func (r *apacheRewriter) effective(top []*Directive) []Setting {
	u := r.under
	var params []struct{ k, v, src string }
	addParams := func(args []string, src string) {
		for _, a := range args {
			if k, v, ok := strings.Cut(a, "="); ok {
				params = append(params, struct{ k, v, src string }{strings.ToLower(k), v, src})
			}
		}
	}
	_, _, pp := proxyPassArgs(u.d, u.path)
	if strings.HasPrefix(u.d.Arg(0), "/") {
		_, _, pp = proxyPassArgs(u.d, "")
	}
	addParams(pp, u.d.Pos())
	var walk func(ds []*Directive, section string)
	walk = func(ds []*Directive, section string) {
		for _, d := range ds {
			n := lname(d)
			if (n == "proxy" || n == "proxymatch") && d.HasBlock {
				r.proxySections = append(r.proxySections, d)
				walk(d.Block, d.Arg(0))
				continue
			}
			switch n {
			case "balancermember":
				if u.balancer == "" {
					continue
				}
				args := d.Args
				if strings.HasPrefix(strings.ToLower(d.Arg(0)), "balancer://") {
					if balancerName(d.Arg(0)) != u.balancer {
						continue
					}
					args = args[1:]
				} else if balancerName(section) != u.balancer {
					continue
				}
				if len(args) > 0 {
					addParams(args[1:], d.Pos())
				}
			case "proxyset":
				if len(d.Args) > 0 && strings.Contains(d.Args[0], "://") {
					if r.isUnder(d.Args[0]) {
						addParams(d.Args[1:], d.Pos())
					}
				} else if section != "" && r.isUnder(section) {
					addParams(d.Args, d.Pos())
				}
			case "setenv":
				if strings.EqualFold(d.Arg(0), "proxy-initial-not-pooled") {
					params = append(params, struct{ k, v, src string }{"proxy-initial-not-pooled", "on", d.Pos()})
				}
			}
			walk(d.Block, section)
		}
	}
	walk(top, "")
	get := func(name, key, def, note string) Setting {
		for i := len(params) - 1; i >= 0; i-- {
			if params[i].k == key {
				return Setting{Name: name, Value: params[i].v, Source: params[i].src, Note: note}
			}
		}
		return Setting{Name: name, Value: def, Default: true, Note: note}
	}
	idle := get("idle_timeout", "ttl", apacheNoTTL, "ttl= of the worker under test, whole seconds ("+apacheNoTTL+": an idle connection is kept until the backend closes it)")
	if idle.Value != apacheNoTTL && !strings.HasSuffix(idle.Value, "s") {
		idle.Value += "s"
	}
	reuse := get("reuse", "disablereuse", "pooled", "disablereuse=On turns pooling off")
	if strings.EqualFold(reuse.Value, "on") {
		reuse.Value = "off"
	} else if !reuse.Default {
		reuse.Value = "pooled"
	}
	retry := get("retry", "ping", "none", "mod_proxy_http retries a request that failed on a reused connection only with ping= (one more try, requests with a body)")
	if !retry.Default {
		retry.Value = "ping=" + retry.Value
	}
	return []Setting{
		idle,
		get("pool_size", "max", "ThreadsPerChild ("+r.threads+")", "max= connections per child process"),
		reuse,
		retry,
		get("worker_retry", "retry", "60", "retry=: seconds a worker in error state is skipped"),
		get("initial_not_pooled", "proxy-initial-not-pooled", "off", "SetEnv proxy-initial-not-pooled keeps a client connection's first request off pooled connections"),
		{Name: "workers", Value: "mpm_" + r.mpm + ", ThreadsPerChild " + r.threads, Note: "racelab runs one child process"},
	}
}
