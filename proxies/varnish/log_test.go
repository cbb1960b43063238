package varnish

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
		{"client 200", `racelab-varnish side=c id=0-1-v st=200 open=- sport=- err="-" req="GET /r/0-1-v"`, true,
			proxies.Evidence{Source: "access", RequestID: "0-1-v", Status: 200}},
		{"client 503", `racelab-varnish side=c id=1-0-v st=503 open=- sport=- err="-" req="POST /r/1-0-v"`, true,
			proxies.Evidence{Source: "access", RequestID: "1-0-v", Status: 503}},
		{"backend clean", `racelab-varnish side=b id=0-1-p st=200 open=reuse sport=47706 err="-" req="GET /r/0-1-p"`, true,
			proxies.Evidence{Source: "backend", RequestID: "0-1-p", UpstreamStatus: "200", Attempts: 1, Details: "open=reuse"}},
		{"backend retried by itself", `racelab-varnish side=b id=0-1-v st=200 open=reuse sport=47706 err="HTC eof (-1)" req="GET /r/0-1-v"`, true,
			proxies.Evidence{Source: "error", RequestID: "0-1-v", UpstreamStatus: "503, 200", Attempts: 2, Details: "open=reuse", Message: "HTC eof (-1)"}},
		{"backend failed", `racelab-varnish side=b id=1-0-v st=503 open=reuse sport=47708 err="HTC eof (-1)" req="POST /r/1-0-v"`, true,
			proxies.Evidence{Source: "error", RequestID: "1-0-v", UpstreamStatus: "503", Details: "open=reuse", Message: "HTC eof (-1)"}},
		{"id from the path", `racelab-varnish side=c id=- st=200 open=- sport=- err="-" req="GET /r/abc"`, true,
			proxies.Evidence{Source: "access", RequestID: "abc", Status: 200}},
		{"varnishd notice", `Info: Child (20352) said Child starts`, false, proxies.Evidence{}},
		{"other format", `- 503 b`, false, proxies.Evidence{}},
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

func TestParseLineFields(t *testing.T) {
	l, ok := ParseLine(`racelab-varnish side=b id=x st=200 open=connect sport=40000 err="-" req="POST /r/x"`)
	require.True(t, ok)
	require.Equal(t, Line{Side: "b", RequestID: "x", Status: 200, Open: "connect", SourcePort: 40000, Method: "POST", URL: "/r/x",
		Raw: `racelab-varnish side=b id=x st=200 open=connect sport=40000 err="-" req="POST /r/x"`}, l)
	require.False(t, l.Retried())
}
