package proxyconf

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// plainHost is an address's host when it is a name a Host header can
// carry ("" for wildcards, IPs, localhost and placeholders).
func plainHost(a string) string {
	h := hostOf(a)
	if h == "" || strings.ContainsAny(h, "*{}") || h == "localhost" {
		return ""
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	return h
}

// hostOf is the host of an address or URL ("" for a bare port).
func hostOf(a string) string {
	if i := strings.Index(a, "://"); i >= 0 {
		a = a[i+3:]
	}
	if strings.HasPrefix(a, "unix/") {
		return ""
	}
	if i := strings.IndexAny(a, "/?"); i >= 0 {
		a = a[:i]
	}
	if strings.HasPrefix(a, "[") {
		if i := strings.Index(a, "]"); i >= 0 {
			return a[1:i]
		}
	}
	if i := strings.LastIndex(a, ":"); i >= 0 && strings.Count(a, ":") == 1 {
		a = a[:i]
	}
	return a
}

// appendHost adds the host of address a to hosts unless it is loopback,
// empty or a placeholder.
func appendHost(hosts []string, a string) []string {
	h := hostOf(a)
	if h == "" || h == "localhost" || strings.ContainsAny(h, "{}*") || len(h) < 3 || !strings.ContainsAny(h, ".:") {
		return hosts
	}
	if ip, err := netip.ParseAddr(h); err == nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return hosts
	}
	if slices.Contains(hosts, h) {
		return hosts
	}
	return append(hosts, h)
}

// addrIP is the IP of a loopback ip:port.
func addrIP(a string) string {
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return "127.0.0.1"
	}
	return ap.Addr().String()
}

// argPtrs points at d's arguments.
func argPtrs(d *Directive) []*string {
	out := make([]*string, len(d.Args))
	for i := range d.Args {
		out[i] = &d.Args[i]
	}
	return out
}

// ipv4RE finds IPv4 literals in a token.
var ipv4RE = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b(/\d+)?`)

// scrubAddr replaces in a every host of hosts (host:port by closed, a
// bare host by closed's IP) and every non-loopback IPv4 address that is
// not a network.
func scrubAddr(a string, hosts []string, closed string) string {
	closedIP := addrIP(closed)
	closedPort := closed[strings.LastIndex(closed, ":"):]
	for _, h := range hosts {
		a = replaceHost(a, h, closedIP, closedIP+closedPort)
	}
	return ipv4RE.ReplaceAllStringFunc(a, func(m string) string {
		if strings.Contains(m, "/") {
			return m
		}
		if ip, err := netip.ParseAddr(m); err == nil && (ip.IsLoopback() || ip.IsUnspecified()) {
			return m
		}
		return closedIP
	})
}

// hostAt finds host h in s from offset from as a whole name (not part of
// a longer name) and returns its index, or -1.
func hostAt(s, h string, from int) int {
	name := func(c byte) bool {
		return c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for from <= len(s) {
		i := strings.Index(s[from:], h)
		if i < 0 || h == "" {
			return -1
		}
		i += from
		end := i + len(h)
		if (i == 0 || !name(s[i-1]) && s[i-1] != '.') && (end == len(s) || !name(s[end])) {
			return i
		}
		from = i + 1
	}
	return -1
}

// replaceHost replaces every whole occurrence of host h in s: by withPort
// when a :port follows (the port goes too), else by bare.
func replaceHost(s, h, bare, withPort string) string {
	for from := 0; ; {
		i := hostAt(s, h, from)
		if i < 0 {
			return s
		}
		end, rep := i+len(h), bare
		if end < len(s) && s[end] == ':' {
			j := end + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j > end+1 {
				end, rep = j, withPort
			}
		}
		s = s[:i] + rep + s[end:]
		from = i + len(rep)
	}
}

// ParseCaddyDuration reads Caddy's duration syntax: Go's, plus d for
// days; a bare 0 is zero.
func ParseCaddyDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && !strings.ContainsAny(days, "hmsuµn") {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || f < 0 || f > 365*100 {
			return 0, fmt.Errorf("duration %q: want a duration like 2m, 90s or 1d", s)
		}
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want a duration with a unit, like 2m or 90s", s)
	}
	return d, nil
}
