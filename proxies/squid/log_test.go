package squid

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

func TestParseLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		ok   bool
		want proxies.Evidence
	}{
		{"served", `racelab-squid id=0-1-v st=200 code=TCP_MISS hier=FIRSTUP_PARENT sport=39300 err=-/- req="GET http://racelab/r/0-1-v"`, true,
			proxies.Evidence{Source: "access", RequestID: "0-1-v", Status: 200, Details: "TCP_MISS/FIRSTUP_PARENT"}},
		{"the race, no retry", `racelab-squid id=0-0-v st=502 code=TCP_MISS hier=HIER_NONE sport=- err=ERR_ZERO_SIZE_OBJECT/WITH_SERVER req="GET http://racelab/r/0-0-v"`, true,
			proxies.Evidence{Source: "access", RequestID: "0-0-v", Status: 502, Details: "TCP_MISS/HIER_NONE", Message: "ERR_ZERO_SIZE_OBJECT/WITH_SERVER", Flags: "ERR_ZERO_SIZE_OBJECT/WITH_SERVER"}},
		{"no status", `racelab-squid id=- st=0 code=NONE_NONE hier=HIER_NONE sport=- err=ERR_CLIENT_GONE/WITH_CLIENT req="- error:transaction-end-before-headers"`, true,
			proxies.Evidence{Source: "access", Details: "NONE_NONE/HIER_NONE", Message: "ERR_CLIENT_GONE/WITH_CLIENT", Flags: "ERR_CLIENT_GONE/WITH_CLIENT"}},
		{"id from the URL", `racelab-squid id=- st=200 code=TCP_MISS hier=FIRSTUP_PARENT sport=1 err=-/- req="GET http://racelab/r/abc"`, true,
			proxies.Evidence{Source: "access", RequestID: "abc", Status: 200, Details: "TCP_MISS/FIRSTUP_PARENT"}},
		{"cache.log", `2026/12/06 02:18:03| Accepting reverse-proxy HTTP Socket connections at conn3`, false, proxies.Evidence{}},
		{"native access log", `1796522881.645     17 127.0.0.1 TCP_MISS_ABORTED/404 264 GET http://racelab/r/abc - FIRSTUP_PARENT/127.0.0.1 text/html`, false, proxies.Evidence{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := Adapter{}.ParseLog(tc.line)
			require.Equal(t, tc.ok, ok)
			if ok {
				tc.want.Raw = tc.line
			}
			require.Equal(t, tc.want, ev)
		})
	}
}

func TestParseAccessLineFields(t *testing.T) {
	line := `racelab-squid id=x st=502 code=TCP_MISS hier=HIER_NONE sport=40000 err=ERR_READ_ERROR/WITH_SERVER req="POST http://racelab/r/x"`
	a, ok := ParseAccessLine(line)
	require.True(t, ok)
	require.Equal(t, AccessLine{RequestID: "x", Status: 502, Code: "TCP_MISS", Hierarchy: "HIER_NONE", SourcePort: 40000,
		Error: "ERR_READ_ERROR", Detail: "WITH_SERVER", Method: "POST", URL: "http://racelab/r/x", Raw: line}, a)
}
