package proxies

import (
	"strings"
	"testing"
	"time"
)

// Addrs reports both bad addresses at once, and a name is allowed only
// upstream; Response falls back to the default.
func TestSpecAddrsAndResponse(t *testing.T) {
	l, u, err := Spec{Listen: "127.0.0.1:8080", Upstream: "backend.internal:9000"}.Addrs()
	if err != nil || l.String() != "127.0.0.1:8080" || u.String() != "backend.internal:9000" {
		t.Fatalf("good spec: %v %v %v", l, u, err)
	}
	_, _, err = Spec{Listen: "localhost:8080", Upstream: "127.0.0.1:0"}.Addrs()
	if err == nil || !strings.Contains(err.Error(), "listen address") || !strings.Contains(err.Error(), "upstream address") {
		t.Fatalf("want both addresses named, got %v", err)
	}
	if got := (Spec{}).Response(); got != DefaultResponseTimeout {
		t.Errorf("zero response timeout: %v", got)
	}
	if got := (Spec{ResponseTimeout: time.Second}).Response(); got != time.Second {
		t.Errorf("set response timeout: %v", got)
	}
}

// Varnish's and Squid's positions map like any FILE:N.
func TestMapMessageVarnishSquidPositions(t *testing.T) {
	b := &Bundle{Dir: "/run/x", Origins: map[string][]string{
		"racelab.vcl": {"", "/etc/varnish/backends.vcl:16", "/etc/varnish/backends.vcl:17"},
		"squid.conf":  {"", "/etc/squid/squid.conf:42"},
	}}
	for msg, want := range map[string]string{
		"Unknown field: 'bogus' at\n('/run/x/racelab.vcl' Line 3 Pos 4)":         "(/etc/varnish/backends.vcl:17 (rendered racelab.vcl:3) Pos 4)",
		"FATAL: Bungled /run/x/squid.conf line 2: server_idle_pconn_timeout abc": "Bungled /etc/squid/squid.conf:42 (rendered squid.conf:2): server",
		"/run/x/squid.conf(2): unrecognized: 'x'":                                "/etc/squid/squid.conf:42 (rendered squid.conf:2): unrecognized",
	} {
		if got := b.MapMessage(msg); !strings.Contains(got, want) {
			t.Errorf("MapMessage(%q) = %q, want it to hold %q", msg, got, want)
		}
	}
}
