package guard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadHAProxy(t *testing.T) {
	vals, err := ReadHAProxy("testdata/haproxy/haproxy.cfg")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"backend be_api":    "30000ms", // 3 x the longest delay, 10s (api2's bare 2000 is ms)
		"backend be_web":    "15000ms", // 3 x the default 5s
		"backend be_legacy": "off",
		"backend be_never":  "off",
		"backend be_nopool": "off",
	}, durations(vals))

	byName := map[string]Value{}
	for _, v := range vals {
		byName[v.Name] = v
	}
	api := byName["backend be_api"]
	assert.Equal(t, "testdata/haproxy/haproxy.cfg:24", api.Source)
	assert.Contains(t, api.Explanation, "pool-purge-delay 10s")
	assert.Contains(t, api.Explanation, "3 x 10000ms")
	assert.False(t, api.Default)
	assert.Contains(t, strings.Join(api.Notes, " "), "an estimate, not a timer")

	web := byName["backend be_web"]
	assert.True(t, web.Default)
	assert.Contains(t, web.Explanation, "HAProxy's default 5s")

	assert.Contains(t, byName["backend be_legacy"].Explanation, "option http-server-close")
	assert.Contains(t, byName["backend be_never"].Explanation, "http-reuse never")
	assert.Contains(t, byName["backend be_nopool"].Explanation, "pool-max-conn 0")
}

func TestReadHAProxyTCPAndDirectory(t *testing.T) {
	vals, err := ReadHAProxy("testdata/haproxy/tcp.cfg")
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, "listen postgres", vals[0].Name)
	assert.Equal(t, StateOff, vals[0].State)
	assert.Contains(t, vals[0].Explanation, "mode tcp (HAProxy's default mode)")

	vals, err = ReadHAProxy("testdata/haproxy/conf.d")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"backend app": "3000ms"}, durations(vals), "only *.cfg files load; named defaults apply")
}

func haproxyMem(t *testing.T, cfg string, opts ...ReadOption) ([]Value, error) {
	t.Helper()
	return ReadHAProxy("/h.cfg", append(opts, withFS(memFS{"/h.cfg": cfg}))...)
}

func TestReadHAProxyTable(t *testing.T) {
	head := "defaults\n  mode http\n"
	tests := []struct {
		name string
		cfg  string
		want map[string]string
		err  string
	}{
		// Unit traps: HAProxy reads a bare number as milliseconds.
		{name: "bare milliseconds", cfg: head + "backend b\n  server s 127.0.0.1:1 pool-purge-delay 5\n", want: map[string]string{"backend b": "15ms"}},
		{name: "seconds", cfg: head + "backend b\n  server s 127.0.0.1:1 pool-purge-delay 5s\n", want: map[string]string{"backend b": "15000ms"}},
		{name: "bad unit", cfg: head + "backend b\n  server s 127.0.0.1:1 pool-purge-delay 5sec\n", err: "unknown unit"},
		{name: "missing value", cfg: head + "backend b\n  server s 127.0.0.1:1 pool-purge-delay\n", err: "wants a value"},
		{name: "purge 0", cfg: head + "backend b\n  server s 127.0.0.1:1 pool-purge-delay 0\n", want: map[string]string{"backend b": "off"}},
		{name: "max conn junk", cfg: head + "backend b\n  server s 127.0.0.1:1 pool-max-conn many\n", err: "want a whole number"},
		{name: "one pooled server", cfg: head + "backend b\n  server s1 127.0.0.1:1 pool-max-conn 0\n  server s2 127.0.0.1:2 pool-max-conn -1\n", want: map[string]string{"backend b": "15000ms"}},
		// Inheritance and order.
		{name: "defaults reset", cfg: head + "defaults\n  timeout client 1s\nbackend b\n  server s 127.0.0.1:1\n", want: map[string]string{"backend b": "off"}},
		{name: "no option", cfg: "defaults\n  mode http\n  option http-server-close\nbackend b\n  no option http-server-close\n  server s 127.0.0.1:1\n", want: map[string]string{"backend b": "15000ms"}},
		{name: "httpclose", cfg: head + "  option httpclose\nbackend b\n  server s 127.0.0.1:1\n", want: map[string]string{"backend b": "off"}},
		{name: "default-server order", cfg: head + "backend b\n  server s1 127.0.0.1:1\n  default-server pool-purge-delay 1s\n  server s2 127.0.0.1:2\n", want: map[string]string{"backend b": "15000ms"}},
		{name: "defaults default-server", cfg: "defaults\n  mode http\n  default-server pool-purge-delay 20s\nbackend b\n  server s 127.0.0.1:1\n", want: map[string]string{"backend b": "60000ms"}},
		{name: "from unknown", cfg: "backend b from nope\n  server s 127.0.0.1:1\n", err: `from "nope": no defaults section`},
		{name: "bad reuse", cfg: head + "backend b\n  http-reuse sometimes\n  server s 127.0.0.1:1\n", err: `http-reuse "sometimes"`},
		{name: "bad mode", cfg: "defaults\n  mode health\nbackend b\n  server s 127.0.0.1:1\n", err: `mode "health"`},
		// Grammar.
		{name: "comments and quotes", cfg: "# backend fake\n" + head + "backend b # trailing\n  server s 127.0.0.1:1 pool-purge-delay \"2s\" # 9s\n", want: map[string]string{"backend b": "6000ms"}},
		{name: "outside section", cfg: "server s 127.0.0.1:1\n", err: "outside any section"},
		{name: "unterminated quote", cfg: head + "backend b\n  server s \"127.0.0.1:1\n", err: "unterminated quote"},
		{name: "no servers", cfg: head + "backend b\n  http-request return status 200\n", err: "no backend or listen section with a server"},
		{name: "empty", cfg: "", err: "no backend or listen section with a server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := haproxyMem(t, tt.cfg)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, durations(vals))
		})
	}
}

func TestReadHAProxyPick(t *testing.T) {
	vals, err := ReadHAProxy("testdata/haproxy/haproxy.cfg", WithName("be_web"))
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, "backend be_web", vals[0].Name)

	_, err = ReadHAProxy("testdata/haproxy/haproxy.cfg", WithName("www"))
	require.ErrorContains(t, err, `no backend named "www"`, "a frontend is not a backend")
}
