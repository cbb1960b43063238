package guard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --verify with a Caddyfile or an Apache file hands the lab the file and
// a name its rewriter knows: the reverse_proxy's upstream, the ProxyPass
// path.
func TestCommandVerifyConfigCaddyApache(t *testing.T) {
	dir := t.TempDir()
	caddyfile := filepath.Join(dir, "Caddyfile")
	require.NoError(t, os.WriteFile(caddyfile, []byte("shop.example.com {\n\treverse_proxy /api/* api-1.internal.example:8080 {\n\t\ttransport http {\n\t\t\tkeepalive 90s\n\t\t}\n\t}\n}\n"), 0o644))
	apache := filepath.Join(dir, "apache2.conf")
	require.NoError(t, os.WriteFile(apache, []byte("<VirtualHost *:80>\n\tServerName shop.example.com\n\tProxyPass /api/ http://api-1.internal.example:8080/api/ ttl=60\n</VirtualHost>\n"), 0o644))
	for _, c := range []struct{ kind, path, upstream string }{
		{"caddy", caddyfile, "api-1.internal.example:8080"},
		{"apache", apache, "/api/"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			lab := &modelLab{}
			code, _, stderr := runCommand(t, []string{"--backend-keepalive", "5s", "--proxy-from", c.kind + ":" + c.path, "--verify"}, WithVerifier(lab.verify))
			assert.Equal(t, 1, code, stderr)
			require.Len(t, lab.requests, 1)
			ref := lab.requests[0].ProxyConfig
			require.NotNil(t, ref, "the lab gets the file to run")
			assert.Equal(t, c.kind, ref.Kind)
			assert.Equal(t, c.path, ref.Path)
			assert.Equal(t, c.upstream, ref.Upstream)
		})
	}
}
