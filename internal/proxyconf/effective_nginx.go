package proxyconf

import (
	"strconv"
	"strings"
	"time"
)

// nginx defaults the effective settings report.
const (
	nginxUpstreamIdleDefault = 60 * time.Second // upstream keepalive_timeout
)

// nearest returns the directive named name at the innermost level of
// chain that has one (nginx's inheritance: a level that sets a directive
// replaces what it inherits).
func nearest(chain []*Directive, name string) []*Directive {
	for i := len(chain) - 1; i >= 0; i-- {
		if ds := chain[i].Find(name); len(ds) > 0 {
			return ds
		}
	}
	return nil
}

func setting(name string, ds []*Directive, def, note string) Setting {
	if len(ds) == 0 {
		return Setting{Name: name, Value: def, Default: true, Note: note}
	}
	d := ds[len(ds)-1]
	return Setting{Name: name, Value: strings.Join(d.Args, " "), Source: d.Pos(), Note: note}
}

// effective reads the settings of the upstream under test and the route
// location, before any rewriting.
func (r *ngxRewriter) effective(main, http *Directive) ([]Setting, error) {
	var u *Directive
	for _, d := range http.Find("upstream") {
		if d.Arg(0) == r.under {
			u = d
		}
	}
	chain := r.route.chain
	var out []Setting
	ka := u.Find("keepalive")
	pool := setting("pool_size", ka, "none before nginx 1.29.7; 32 (local) from 1.29.7",
		"idle connections kept per worker (keepalive in upstream "+r.under+")")
	out = append(out, pool)
	idle := setting("idle_timeout", u.Find("keepalive_timeout"), "60s", "keepalive_timeout in upstream "+r.under)
	out = append(out, idle)
	out = append(out,
		setting("keepalive_requests", u.Find("keepalive_requests"), "1000", "requests per upstream connection (100 before 1.19.10)"),
		setting("keepalive_time", u.Find("keepalive_time"), "1h", "longest life of an upstream connection (since 1.19.10)"))
	next := setting("retry", nearest(chain, "proxy_next_upstream"), "error timeout", "proxy_next_upstream at the route location")
	switch v := next.Value; {
	case v == "off":
		next.Note += ": no retry"
	case strings.Contains(v, "error") && strings.Contains(v, "non_idempotent"):
		next.Note += ": a request that fails on a cached connection is retried once more, POST included"
	case strings.Contains(v, "error"):
		next.Note += ": a GET, HEAD, PUT or DELETE that fails on a cached connection is retried once more, hiding the race; POST is not retried"
	}
	out = append(out, next,
		setting("retry_tries", nearest(chain, "proxy_next_upstream_tries"), "0", "proxy_next_upstream_tries (0: unlimited)"))
	hv := setting("proxy_http_version", nearest(chain, "proxy_http_version"), "1.0 (1.1 from nginx 1.29.7)", "")
	out = append(out, hv)
	conn := Setting{Name: "connection_header", Value: "close", Default: true, Note: "Connection header nginx sends upstream"}
	if hs := nearest(chain, "proxy_set_header"); len(hs) > 0 {
		conn.Note += "; the level at " + hs[0].Pos() + " sets headers and does not set Connection"
		for _, h := range hs {
			if strings.EqualFold(h.Arg(0), "Connection") {
				conn = Setting{Name: "connection_header", Value: `"` + h.Arg(1) + `"`, Source: h.Pos(), Note: "Connection header nginx sends upstream"}
			}
		}
	}
	out = append(out, conn)
	reuse := Setting{Name: "reuse", Note: "whether nginx reuses upstream connections"}
	switch {
	case len(ka) > 0 && ka[0].Arg(0) == "0":
		reuse.Value, reuse.Source = "not pooled (keepalive 0)", ka[0].Pos()
	case len(ka) == 0:
		reuse.Value, reuse.Default = "pooled only from nginx 1.29.7 (no keepalive directive)", true
	case hv.Value != "1.1":
		reuse.Value, reuse.Source = "pooled only from nginx 1.29.7: before it, HTTP/1.0 upstream closes every connection", hv.Source
	case conn.Default:
		reuse.Value, reuse.Source = "pooled only from nginx 1.29.7: before it, Connection: close is sent upstream", ka[0].Pos()
	default:
		reuse.Value, reuse.Source = "pooled", ka[0].Pos()
	}
	out = append(out, reuse)
	out = append(out, setting("workers", main.Find("worker_processes"), "1", "each worker has its own pool; racelab runs one"))
	n := len(u.Find("server"))
	out = append(out, Setting{Name: "servers", Value: strconv.Itoa(n), Source: u.Pos(), Note: "servers in upstream " + r.under + ", all pointed at racelab's backend"})
	return out, nil
}
