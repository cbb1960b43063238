package proxies

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
)

// hostnameRE matches a DNS name made of letters, digits, dots and hyphens.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// Addr is a checked host:port: Host is an IP literal (no zone), or a
// host name when names were allowed; Port is 1..65535.
type Addr struct {
	Host string
	Port uint16
	// IP is set when Host is an IP literal.
	IP netip.Addr
}

// String is host:port, IPv6 in brackets.
func (a Addr) String() string {
	if a.IP.IsValid() {
		return netip.AddrPortFrom(a.IP, a.Port).String()
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port)))
}

// ParseAddr checks an address an adapter writes into a configuration:
// host:port with a port from 1 to 65535 and an IP literal, or, when names
// is true, a plain host name. Nothing else reaches a rendered file. what
// names the address in errors ("listen", "upstream").
func ParseAddr(what, s string, names bool) (Addr, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("%s address %q: %w", what, s, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 || strconv.FormatUint(port, 10) != portStr {
		return Addr{}, fmt.Errorf("%s address %q: want a port from 1 to 65535", what, s)
	}
	a := Addr{Host: host, Port: uint16(port)}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return Addr{}, fmt.Errorf("%s address %q: zoned addresses are not supported", what, s)
		}
		a.IP = ip
		return a, nil
	}
	if !names {
		return Addr{}, fmt.Errorf("%s address %q: want an IP address", what, s)
	}
	if !hostnameRE.MatchString(host) {
		return Addr{}, fmt.Errorf("%s address %q: want an IP address or a host name", what, s)
	}
	return a, nil
}
