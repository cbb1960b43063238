package apache

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
		{"access 200", `racelab-apache id="0-1-p" st=200 method=GET uri="/r/0-1-p" keepalives=1 us=812`, true,
			proxies.Evidence{Source: "access", RequestID: "0-1-p", Status: 200}},
		{"access 502", `racelab-apache id="0-0-v" st=502 method=POST uri="/r/0-0-v" keepalives=0 us=711`, true,
			proxies.Evidence{Source: "access", RequestID: "0-0-v", Status: 502}},
		{"access id from path", `racelab-apache id="-" st=200 method=GET uri="/api/r/p-9" keepalives=0 us=1`, true,
			proxies.Evidence{Source: "access", RequestID: "p-9", Status: 200}},
		{"AH01102", `racelab-apache-error [proxy_http:error] [id 0-0-v] AH01102: error reading status line from remote server 127.0.0.1:38519`, true,
			proxies.Evidence{Source: "error", RequestID: "0-0-v", Message: "AH01102: error reading status line from remote server 127.0.0.1:38519"}},
		{"AH01102 plain level", `racelab-apache-error [error] [id 0-0-v] AH01102: error reading status line from remote server 127.0.0.1:38519`, true,
			proxies.Evidence{Source: "error", RequestID: "0-0-v", Message: "AH01102: error reading status line from remote server 127.0.0.1:38519"}},
		{"notice without request", `racelab-apache-error [notice] [id -] AH00489: Apache/2.4.71 (Debian) configured -- resuming normal operations`, false, proxies.Evidence{}},
		{"error without request", `racelab-apache-error [mpm_event:error] [id -] AH00485: scoreboard is full, not at MaxRequestWorkers`, true,
			proxies.Evidence{Source: "error", Message: "AH00485: scoreboard is full, not at MaxRequestWorkers"}},
		{"before the log opens", `AH00526: Syntax error on line 3 of /tmp/racelab-apache-1/apache2.conf:`, true,
			proxies.Evidence{Source: "error", Message: "AH00526: Syntax error on line 3 of /tmp/racelab-apache-1/apache2.conf:"}},
		{"other", `Invalid command 'Foo', perhaps misspelled`, false, proxies.Evidence{}},
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
	v, err := Adapter{}.ParseVersion("Server version: Apache/2.4.62 (Debian)\nServer built:   2024-10-04T15:21:08\n")
	require.NoError(t, err)
	require.Equal(t, "2.4.62", v)
	_, err = Adapter{}.ParseVersion("apache2: command not found")
	require.ErrorContains(t, err, "parse apache version")
}
