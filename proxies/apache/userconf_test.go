package apache

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

// A user's Apache tree renders into one file with racelab's evidence
// formats, the ProxyPass under test at the backend and ttl= scaled in
// whole seconds.
func TestRenderUserApache(t *testing.T) {
	spec := proxies.Spec{Kind: proxies.KindApache, Listen: "127.0.0.1:18002", Upstream: "127.0.0.1:18001", Retry: proxies.RetryOff,
		Config: &proxies.UserConfig{Path: "../../examples/byoc/apache/after/etc/apache2/apache2.conf", Root: "../../examples/byoc/apache/after",
			Upstream: "/api/", Timescale: 0.4}}
	b, err := Adapter{}.Render(spec, goldenDir)
	require.NoError(t, err)
	text := b.Files[ConfigName]
	require.Contains(t, text, "ProxyPass /api/ http://127.0.0.1:18001/api/ retry=4 ttl=1")
	require.Contains(t, text, `LogFormat "`+LogPrefix+` id=\"%{X-Racelab-Request-Id}i\"`)
	require.Contains(t, text, `ErrorLogFormat "`+ErrorPrefix+` [%l] [id %-{X-Racelab-Request-Id}i] %M"`)
	require.Contains(t, text, "Listen 127.0.0.1:18002")
	require.NotContains(t, text, "internal.example")
	require.Equal(t, "/api/", b.Route.Path)
	require.Equal(t, "2s", b.Effective["idle_timeout"].Value)
	// The access line racelab's format writes is one ParseLog reads.
	ev, ok := Adapter{}.ParseLog(LogPrefix + ` id="r-1" st=502 method=GET uri="/api/r/r-1" keepalives=1 us=120`)
	require.True(t, ok)
	require.Equal(t, 502, ev.Status)
}
