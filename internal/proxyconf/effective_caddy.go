package proxyconf

import (
	"strings"
)

// effective reads the settings of the reverse_proxy under test.
func (r *caddyRewriter) effective() []Setting {
	rp := r.under.d
	find := func(ds []*Directive, name string) *Directive {
		for _, d := range ds {
			if d.Name == name {
				return d
			}
		}
		return nil
	}
	var tr *Directive
	for _, c := range rp.Block {
		if c.Name == "transport" && c.Arg(0) == "http" {
			tr = c
		}
	}
	var trBlock []*Directive
	if tr != nil {
		trBlock = tr.Block
	}
	set := func(name string, d *Directive, def, note string) Setting {
		if d == nil {
			return Setting{Name: name, Value: def, Default: true, Note: note}
		}
		return Setting{Name: name, Value: strings.Join(d.Args, " "), Source: d.Pos(), Note: note}
	}
	idle := set("idle_timeout", find(trBlock, "keepalive"), "2m", "transport http keepalive of the reverse_proxy under test")
	reuse := Setting{Name: "reuse", Value: "pooled", Default: true, Note: "Go's transport keeps idle upstream connections"}
	if idle.Value == "off" {
		reuse = Setting{Name: "reuse", Value: "off", Source: idle.Source, Note: "keepalive off: a new upstream connection per request, nothing to race"}
	}
	retry := Setting{Name: "retry", Value: "off", Default: true}
	var parts, srcs []string
	for _, n := range []string{"lb_retries", "lb_try_duration", "lb_retry_match"} {
		if d := find(rp.Block, n); d != nil {
			parts = append(parts, n+" "+strings.Join(d.Args, " "))
			srcs = append(srcs, d.Pos())
		}
	}
	if len(parts) > 0 {
		retry = Setting{Name: "retry", Value: strings.Join(parts, ", "), Source: srcs[0]}
	}
	retry.Note = "Go's HTTP transport under Caddy retries a GET, HEAD or OPTIONS without a body once on a reused connection that died before answering, whatever lb_retries says; lb_retries retries GET only unless lb_retry_match says otherwise"
	return []Setting{
		idle,
		set("pool_size", find(trBlock, "keepalive_idle_conns_per_host"), caddyPoolDefault, "keepalive_idle_conns_per_host"),
		set("max_conns_per_host", find(trBlock, "max_conns_per_host"), "0", "0: no limit"),
		reuse,
		retry,
		set("lb_policy", find(rp.Block, "lb_policy"), "random", "how an upstream is chosen"),
		set("health_checks", find(rp.Block, "health_uri"), "none", "active health checks (health_uri)"),
	}
}
