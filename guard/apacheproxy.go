package guard

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// apacheProxyLine is one ProxyPass, ProxyPassMatch or BalancerMember.
type apacheProxyLine struct {
	directive string // as Apache spells it: ProxyPass, BalancerMember
	path, url string
	params    map[string]string // key=value parameters, keys lower case
	pos       string
	vhost     string
}

// proxyLine records a proxy directive; args follow the directive name.
func (r *apacheReader) proxyLine(name string, args []string, pos string) {
	l := apacheProxyLine{directive: map[string]string{
		"proxypass": "ProxyPass", "proxypassmatch": "ProxyPassMatch", "balancermember": "BalancerMember",
	}[name], params: map[string]string{}, pos: pos}
	if r.cur != nil {
		l.vhost = r.cur.name
		if l.vhost == "" {
			l.vhost = r.cur.addr
		}
	}
	section := func(kind string) []string {
		for i := len(r.sections) - 1; i >= 0; i-- {
			if strings.EqualFold(r.sections[i], kind) || strings.EqualFold(r.sections[i], kind+"Match") {
				return r.sectionArgs[i]
			}
		}
		return nil
	}
	rest := args
	switch {
	case name == "balancermember":
		if s := section("Proxy"); len(s) > 0 {
			l.path = s[0] // the balancer://name the member belongs to
		}
	case len(args) > 0 && !strings.Contains(args[0], "://") && args[0] != "!":
		l.path, rest = args[0], args[1:]
	default: // inside <Location>: the path is the section's
		if s := section("Location"); len(s) > 0 {
			l.path = s[0]
		}
	}
	if len(rest) == 0 || rest[0] == "!" {
		return // an exclusion, or malformed: nothing is pooled
	}
	l.url = rest[0]
	for _, kv := range rest[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			l.params[strings.ToLower(k)] = v
		}
	}
	r.proxies = append(r.proxies, l)
}

// readApacheProxy reads Apache httpd's upstream idle settings from its
// main configuration (includes followed as ReadApache does): every
// ProxyPass, ProxyPassMatch and BalancerMember to a backend, with its
// ttl= (whole seconds; a pooled connection idle longer is not reused).
// Without ttl= Apache keeps an idle pooled connection until the backend
// closes it: unbounded. disablereuse=On (or enablereuse=Off) turns
// pooling off. A ProxyPass to balancer://NAME takes its members' settings
// from BalancerMember lines. WithName picks by path or URL.
func readApacheProxy(c *readConfig, path string) ([]Value, error) {
	r := &apacheReader{c: c, serverRoot: filepath.Dir(path)}
	if err := r.file(path); err != nil {
		return nil, fmt.Errorf("read apache: %w", err)
	}
	if len(r.sections) > 0 {
		return nil, fmt.Errorf("read apache: %s: <%s> not closed", path, r.sections[len(r.sections)-1])
	}
	var vals []Value
	for _, l := range r.proxies {
		if l.directive != "BalancerMember" && strings.HasPrefix(strings.ToLower(l.url), "balancer://") {
			continue // its members carry the pooling settings
		}
		v, err := apacheProxyValue(l)
		if err != nil {
			return nil, fmt.Errorf("read apache: %w", err)
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("read apache: %s: no ProxyPass or BalancerMember to a backend", path)
	}
	return pickErr("read apache", vals, c.name, "ProxyPass")
}

// apacheProxyValue is one proxy line's idle limit.
func apacheProxyValue(l apacheProxyLine) (Value, error) {
	v := Value{Source: l.pos, Name: strings.TrimSpace(l.directive + " " + l.path + " " + l.url)}
	if l.vhost != "" {
		v.Name += " (vhost " + l.vhost + ")"
	}
	v.Notes = append(v.Notes, "mod_proxy keeps a connection pool (and honours ttl=) only with a threaded MPM running two or more threads per child; under prefork, or one thread, it keeps one cached connection with no ttl")
	if dr, ok := l.params["disablereuse"]; ok && strings.EqualFold(dr, "on") {
		v.State, v.Explanation = StateOff, "disablereuse=On: a new backend connection for every request"
		return v, nil
	}
	if er, ok := l.params["enablereuse"]; ok && strings.EqualFold(er, "off") {
		v.State, v.Explanation = StateOff, "enablereuse=Off: a new backend connection for every request"
		return v, nil
	}
	ttl, ok := l.params["ttl"]
	if !ok {
		v.State, v.Default = StateUnbounded, true
		v.Explanation = "no ttl=: Apache keeps an idle pooled connection until the backend closes it"
		return v, nil
	}
	n, err := strconv.Atoi(ttl)
	if err != nil || n < 1 {
		return Value{}, fmt.Errorf("%s: ttl=%s: want a whole number of seconds, at least 1", l.pos, ttl)
	}
	v.State, v.Duration = StateFinite, time.Duration(n)*time.Second
	v.Explanation = "ttl=" + ttl + " (seconds)"
	return v, nil
}
