package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNotLoopback is returned for a URL whose host is not a loopback
// address: racelab sends traffic to loopback only.
var ErrNotLoopback = errors.New("racelab contacts loopback only (127.0.0.0/8, ::1, localhost)")

// Target is a parsed probe URL.
type Target struct {
	// URL is the URL as given, normalised (scheme added when missing).
	URL string
	// Addr is the loopback host:port to dial; Host the Host header.
	Addr, Host string
	// Path is the request target, "/" when the URL has none.
	Path string
}

// ParseTarget checks a probe URL: plain http (a missing scheme means
// http), a loopback host — an IP literal in 127.0.0.0/8 or ::1, or the
// name localhost, which is taken as 127.0.0.1 and never resolved — and
// an optional port (80 by default). Any other host is refused with
// ErrNotLoopback.
func ParseTarget(raw string) (Target, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Target{}, errors.New("probe: empty URL: want http://127.0.0.1:PORT/")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Target{}, fmt.Errorf("probe: URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http":
	case "https":
		return Target{}, fmt.Errorf("probe: URL %q: https is not supported: the probe speaks plain HTTP/1.1 (probe the server's plain listener, or the TLS terminator's backend)", raw)
	default:
		return Target{}, fmt.Errorf("probe: URL %q: scheme %q: want http", raw, u.Scheme)
	}
	if u.User != nil {
		return Target{}, fmt.Errorf("probe: URL %q: user information is not supported", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	var ip netip.Addr
	if strings.EqualFold(host, "localhost") {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	} else {
		ip, err = netip.ParseAddr(host)
		if err != nil || !ip.Unmap().IsLoopback() || ip.Zone() != "" {
			return Target{}, fmt.Errorf("probe: URL %q: host %q: %w", raw, host, ErrNotLoopback)
		}
		ip = ip.Unmap()
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	u.Fragment, u.RawFragment = "", ""
	return Target{URL: u.String(), Addr: net.JoinHostPort(ip.String(), port), Host: u.Host, Path: path}, nil
}
