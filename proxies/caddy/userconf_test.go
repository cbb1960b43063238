package caddy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

// A user's Caddyfile renders into a bundle that runs the Caddyfile
// adapter on the rewritten file, keeps Caddy's home inside the bundle's
// directory, and lists what changed and where requests go.
func TestRenderUserCaddyfile(t *testing.T) {
	spec := proxies.Spec{Kind: proxies.KindCaddy, Listen: "127.0.0.1:18002", Upstream: "127.0.0.1:18001", Retry: proxies.RetryOff,
		Config: &proxies.UserConfig{Path: "../../examples/byoc/caddy/before/etc/caddy/Caddyfile", Root: "../../examples/byoc/caddy/before",
			Upstream: "/api/*", Timescale: 0.02}}
	b, err := Adapter{}.Render(spec, goldenDir)
	require.NoError(t, err)
	text := b.Files["Caddyfile"]
	require.Contains(t, text, "reverse_proxy 127.0.0.1:18001 127.0.0.1:18001 {")
	require.Contains(t, text, "keepalive 1800ms")
	require.Contains(t, text, "include http.log.access http.log.error http.handlers.reverse_proxy")
	require.NotContains(t, text, "internal.example")
	require.Equal(t, []string{"run", "--config", goldenDir + "/Caddyfile", "--adapter", "caddyfile"}, b.Args)
	require.Contains(t, b.Env, "HOME="+goldenDir)
	require.Equal(t, "/api/", b.Route.Path)
	require.Equal(t, "shop.example.com", b.Route.Host)
	require.Equal(t, "90s", b.Effective["idle_timeout"].Value)
	require.Contains(t, strings.Join(b.Notes, " "), "retry off")
}
