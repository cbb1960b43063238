package caddy

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

// Lines as Caddy 2.6.2 wrote them in a racelab run (shortened headers).
const (
	accessOK    = `{"level":"info","ts":1796523267.0033183,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"34354","proto":"HTTP/1.1","method":"GET","host":"racelab","uri":"/r/0-0-v","headers":{"User-Agent":["racelab"],"X-Racelab-Request-Id":["0-0-v"]}},"user_id":"","duration":0.009906856,"size":9,"status":200}`
	access502   = `{"level":"error","ts":1796523270.3452,"logger":"http.log.access","msg":"handled request","request":{"method":"POST","host":"racelab","uri":"/r/1-0-v","headers":{"X-Racelab-Request-Id":["1-0-v"]}},"status":502}`
	errorEOF    = `{"level":"error","ts":1796523270.3451712,"logger":"http.log.error","msg":"EOF","request":{"remote_ip":"127.0.0.1","method":"POST","host":"racelab","uri":"/r/1-0-v","headers":{"X-Racelab-Request-Id":["1-0-v"]}},"duration":0.011402012,"status":502,"err_id":"1n5wa09vr","err_trace":"reverseproxy.statusError (reverseproxy.go:1272)"}`
	roundtrip   = `{"level":"debug","ts":1796523270.3449826,"logger":"http.handlers.reverse_proxy","msg":"upstream roundtrip","upstream":"127.0.0.1:45259","duration":0.001180818,"request":{"method":"POST","uri":"/r/1-0-v","headers":{"X-Racelab-Request-Id":["1-0-v"]}},"error":"EOF"}`
	roundtripOK = `{"level":"debug","ts":1796523270.3,"logger":"http.handlers.reverse_proxy","msg":"upstream roundtrip","upstream":"127.0.0.1:45259","request":{"method":"GET","uri":"/r/x"},"headers":{},"status":200}`
	startup     = `{"level":"info","ts":1796523218.19,"msg":"using provided configuration","config_file":"/tmp/racelab-caddy-1/caddy.json","config_adapter":""}`
	fatal       = `{"level":"error","ts":1796523218.19,"msg":"listen","error":"address in use"}`
)

func TestParseLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		ok   bool
		want proxies.Evidence
	}{
		{"access 200", accessOK, true, proxies.Evidence{Source: "access", RequestID: "0-0-v", Status: 200}},
		{"access 502", access502, true, proxies.Evidence{Source: "access", RequestID: "1-0-v", Status: 502}},
		{"error EOF", errorEOF, true, proxies.Evidence{Source: "error", RequestID: "1-0-v", Status: 502, Message: "EOF"}},
		{"failed round trip", roundtrip, true, proxies.Evidence{Source: "error", RequestID: "1-0-v", Message: "upstream roundtrip: EOF"}},
		{"round trip ok", roundtripOK, false, proxies.Evidence{}},
		{"startup", startup, false, proxies.Evidence{}},
		{"error without request", fatal, true, proxies.Evidence{Source: "error", Message: "listen: address in use"}},
		{"not json", "Error: loading config", false, proxies.Evidence{}},
		{"broken json", `{"level":`, false, proxies.Evidence{}},
		{"id from path", `{"level":"info","logger":"http.log.access","request":{"uri":"/api/r/p-1"},"status":200}`, true, proxies.Evidence{Source: "access", RequestID: "p-1", Status: 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := Adapter{}.ParseLog(tc.line)
			require.Equal(t, tc.ok, ok)
			if !ok {
				return
			}
			ev.Raw = ""
			require.Equal(t, tc.want, ev)
		})
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{"2.6.2\n", "2.6.2"},
		{"v2.11.9 h1:bhZtcRKQOq0fuLvEgCdPYvUxXyGn9kzjG4lh2332DTE=\n", "2.11.9"},
		{"go\tgo1.26.8\npath\tgithub.com/caddyserver/caddy/v2/cmd/caddy\nmod\tgithub.com/caddyserver/caddy/v2\tv2.11.9\th1:bhZt=\n", "2.11.9"},
	} {
		got, err := Adapter{}.ParseVersion(tc.out)
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	_, err := Adapter{}.ParseVersion("unknown\n")
	require.ErrorContains(t, err, "parse caddy version")
}

func TestParseLogDropsAddresses(t *testing.T) {
	line := `{"level":"error","logger":"http.log.error","msg":"readfrom tcp 127.0.0.1:38878->127.0.0.1:41283: http: ContentLength=22 with Body length 0","request":{"uri":"/r/a"},"status":502}`
	ev, ok := Adapter{}.ParseLog(line)
	require.True(t, ok)
	require.Equal(t, "http: ContentLength=22 with Body length 0", ev.Message)
	require.Equal(t, "read: connection reset by peer", plainError("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"))
}
