package guard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadCaddyfile(t *testing.T) {
	vals, err := ReadProxy("caddy:testdata/caddy/Caddyfile")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"site api.example.com reverse_proxy app:3000":    "120000ms", // Caddy's default 2m
		"site web.example.com reverse_proxy static:8080": "4000ms",
		"site web.example.com reverse_proxy legacy:80":   "off",
	}, durations(vals))
	byName := map[string]Value{}
	for _, v := range vals {
		byName[v.Name] = v
	}
	api := byName["site api.example.com reverse_proxy app:3000"]
	assert.True(t, api.Default)
	assert.Equal(t, "testdata/caddy/Caddyfile:12", api.Source)
	assert.Contains(t, api.Explanation, "Caddy's default 2m")
	assert.Contains(t, strings.Join(api.Notes, " "), "Go's HTTP transport")
	static := byName["site web.example.com reverse_proxy static:8080"]
	assert.Equal(t, "testdata/caddy/Caddyfile:19", static.Source)
	assert.Equal(t, "keepalive 4s", static.Explanation)

	picked, err := ReadProxy("caddy:testdata/caddy/Caddyfile", WithName("site api.example.com"))
	require.NoError(t, err)
	require.Len(t, picked, 1)
}

func TestReadCaddyJSON(t *testing.T) {
	vals, err := ReadProxy("caddy:testdata/caddy/caddy.json")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"reverse_proxy app:3000": "90000ms",
		"reverse_proxy web:8080": "120000ms",
		"reverse_proxy old:80":   "off",
		"reverse_proxy ns:80":    "5000ms", // nanoseconds in JSON
	}, durations(vals))
	for _, v := range vals {
		assert.True(t, strings.HasPrefix(v.Source, "testdata/caddy/caddy.json apps.http.servers.srv0.routes["), v.Source)
	}
}

func TestReadCaddyTable(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want, err string
	}{
		{"one site without braces", "example.com\nreverse_proxy app:8080 {\n\ttransport http {\n\t\tkeepalive 1d\n\t}\n}\n", "86400000ms", ""},
		{"global options then one site", "{\n\tdebug\n}\n:8080\nreverse_proxy app:8080\n", "120000ms", ""},
		{"keepalive zero", ":80 {\n\treverse_proxy a:1 {\n\t\ttransport http {\n\t\t\tkeepalive 0s\n\t\t}\n\t}\n}\n", "unbounded", ""},
		{"quoted", ":80 {\n\treverse_proxy \"a:1\" {\n\t\ttransport http {\n\t\t\tkeepalive \"30s\" # comment\n\t\t}\n\t}\n}\n", "30000ms", ""},
		{"bare number", ":80 {\n\treverse_proxy a:1 {\n\t\ttransport http {\n\t\t\tkeepalive 30\n\t\t}\n\t}\n}\n", "", "/c:4: keepalive \"30\": want a duration with a unit"},
		{"unclosed", ":80 {\n\treverse_proxy a:1\n", "", "/c:1: block not closed"},
		{"stray brace", "}\n", "", "/c:1: unexpected }"},
		{"no proxy", ":80 {\n\tfile_server\n}\n", "", "no reverse_proxy"},
		{"json enabled false wins", `{"handler":"reverse_proxy","transport":{"keep_alive":{"enabled":false,"idle_timeout":"5s"}}}`, "off", ""},
		{"json bad duration", `{"handler":"reverse_proxy","transport":{"keep_alive":{"idle_timeout":"soon"}}}`, "", "want a duration with a unit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := ReadProxy("caddy:/c", withFS(memFS{"/c": tc.doc}))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, vals, 1)
			assert.Equal(t, tc.want, vals[0].Show())
		})
	}
}

func TestReadApacheProxy(t *testing.T) {
	fs := memFS{
		"/etc/apache2/apache2.conf": `ServerRoot /etc/apache2
KeepAliveTimeout 5
IncludeOptional sites-enabled/*.conf
`,
		"/etc/apache2/sites-enabled/api.conf": `<VirtualHost *:80>
    ServerName api.example.com
    ProxyPass /static !
    ProxyPass /api http://app:3000/ ttl=4 max=20
    ProxyPass /old http://old:80/ disablereuse=On
    ProxyPass /ws http://ws:80/
    <Location /loc>
        ProxyPass http://loc:80/ ttl=30
    </Location>
    ProxyPass /lb balancer://pool/
    <Proxy balancer://pool>
        BalancerMember http://10.0.0.1:8080 ttl=60
        BalancerMember http://10.0.0.2:8080 enablereuse=Off
    </Proxy>
</VirtualHost>
`,
	}
	vals, err := ReadProxy("apache:/etc/apache2/apache2.conf", withFS(fs))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"ProxyPass /api http://app:3000/ (vhost api.example.com)":                     "4000ms",
		"ProxyPass /old http://old:80/ (vhost api.example.com)":                       "off",
		"ProxyPass /ws http://ws:80/ (vhost api.example.com)":                         "unbounded",
		"ProxyPass /loc http://loc:80/ (vhost api.example.com)":                       "30000ms",
		"BalancerMember balancer://pool http://10.0.0.1:8080 (vhost api.example.com)": "60000ms",
		"BalancerMember balancer://pool http://10.0.0.2:8080 (vhost api.example.com)": "off",
	}, durations(vals))
	for _, v := range vals {
		if v.Name == "ProxyPass /api http://app:3000/ (vhost api.example.com)" {
			assert.Equal(t, "/etc/apache2/sites-enabled/api.conf:4", v.Source)
			assert.Equal(t, "ttl=4 (seconds)", v.Explanation)
			assert.Contains(t, strings.Join(v.Notes, " "), "two or more threads per child")
		}
	}
	picked, err := ReadProxy("apache:/etc/apache2/apache2.conf", withFS(fs), WithName("ProxyPass /api"))
	require.NoError(t, err)
	require.Len(t, picked, 1)

	_, err = ReadProxy("apache:/a.conf", withFS(memFS{"/a.conf": "ProxyPass /x http://x/ ttl=1.5\n"}))
	require.ErrorContains(t, err, "/a.conf:1: ttl=1.5: want a whole number of seconds")
	_, err = ReadProxy("apache:/a.conf", withFS(memFS{"/a.conf": "KeepAlive On\n"}))
	require.ErrorContains(t, err, "no ProxyPass or BalancerMember")
}

// The guard reads a Caddyfile as racelab's runner does: snippets and
// imported files (globs, absolute paths under the root) are read where
// they are imported, and a value's source is the file and line that set
// it.
func TestReadCaddyfileImports(t *testing.T) {
	fs := memFS{
		"/tree/etc/caddy/Caddyfile":       "(pool) {\n\ttransport http {\n\t\tkeepalive {args[0]}\n\t}\n}\nimport /etc/caddy/sites/*.caddy\n",
		"/tree/etc/caddy/sites/api.caddy": "api.example.com {\n\treverse_proxy app:3000 {\n\t\timport pool 4s\n\t}\n}\n",
		"/tree/etc/caddy/sites/web.caddy": "web.example.com {\n\treverse_proxy static:8080 {\n\t\ttransport http {\n\t\t\tkeepalive 90s\n\t\t}\n\t}\n}\n",
	}
	vals, err := ReadProxy("caddy:/tree/etc/caddy/Caddyfile", withFS(fs), WithRoot("/tree"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"site api.example.com reverse_proxy app:3000":    "4000ms",
		"site web.example.com reverse_proxy static:8080": "90000ms",
	}, durations(vals))
	for _, v := range vals {
		switch v.Name {
		case "site api.example.com reverse_proxy app:3000":
			// The snippet's keepalive line, imported into api.caddy.
			assert.Equal(t, "/tree/etc/caddy/Caddyfile:3", v.Source)
		default:
			assert.Equal(t, "/tree/etc/caddy/sites/web.caddy:4", v.Source)
		}
	}

	_, err = ReadProxy("caddy:-", WithInput(strings.NewReader("import sites/*.caddy\n:80 {\n\treverse_proxy a:1\n}\n")))
	require.NoError(t, err, "a glob that matches nothing imports nothing")
	_, err = ReadProxy("caddy:-", WithInput(strings.NewReader(":80 {\n\treverse_proxy a:1\n\timport more.caddy\n}\n")))
	require.ErrorContains(t, err, "a Caddyfile read from standard input imports no files")
}
