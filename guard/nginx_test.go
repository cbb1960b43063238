package guard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadNginxBasic(t *testing.T) {
	vals, err := ReadNginx("testdata/nginx/basic/nginx.conf")
	require.NoError(t, err)
	require.Len(t, vals, 2)

	api := vals[0]
	assert.Equal(t, "upstream api", api.Name)
	assert.Equal(t, StateFinite, api.State)
	assert.Equal(t, sec(58), api.Duration, "the commented-out 5s and the client-side 65 must not count")
	assert.Equal(t, "testdata/nginx/basic/nginx.conf:28", api.Source)
	assert.False(t, api.Default)
	assert.Equal(t, "keepalive_timeout 58000ms", api.Explanation)

	static := vals[1]
	assert.Equal(t, "upstream static", static.Name)
	assert.Equal(t, sec(60), static.Duration)
	assert.True(t, static.Default)
	assert.Contains(t, static.Explanation, "default 60s")
	assert.Empty(t, static.Notes, "keepalive is set and proxy_http_version 1.1 appears")
}

func TestReadNginxIncludes(t *testing.T) {
	vals, err := ReadNginx("testdata/nginx/includes/nginx.conf")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"upstream checkout": "90000ms", "upstream search": "30000ms"}, durations(vals))

	// The snippet resolves against the main file's directory, and its
	// directive's own position is reported.
	assert.Equal(t, "testdata/nginx/includes/snippets/keepalive.conf:2", vals[0].Source)
	assert.Equal(t, "keepalive_timeout 1m 30s", vals[0].Explanation)
	assert.Contains(t, vals[1].Explanation, "bare number as seconds")

	notes := strings.Join(vals[0].Notes, "\n")
	assert.Contains(t, notes, "skipped missing include mime.types")
	assert.Contains(t, notes, "skipped missing include snippets/does-not-exist-in-this-checkout.conf")
}

func TestReadNginxPick(t *testing.T) {
	vals, err := ReadNginx("testdata/nginx/basic/nginx.conf", WithName("static"))
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, "upstream static", vals[0].Name)

	_, err = ReadNginx("testdata/nginx/basic/nginx.conf", WithName("nope"))
	require.ErrorContains(t, err, `no upstream named "nope" (found: upstream api, upstream static)`)
}

func TestReadNginxVersion(t *testing.T) {
	vals, err := ReadNginx("testdata/nginx/basic/nginx.conf", WithVersion("1.22.1"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"upstream api": "58000ms", "upstream static": "60000ms"}, durations(vals),
		"static has keepalive 8, so it pools on 1.22 too")

	vals, err = ReadNginx("testdata/nginx/includes/nginx.conf", WithVersion("1.30.0"))
	require.NoError(t, err)
	assert.Len(t, vals, 2)

	_, err = ReadNginx("testdata/nginx/basic/nginx.conf", WithVersion("one"))
	require.ErrorContains(t, err, "want numbers separated by dots")
}

func TestReadNginxErrors(t *testing.T) {
	_, err := ReadNginx("testdata/nginx/cycle/nginx.conf")
	require.ErrorContains(t, err, "include cycle")

	_, err = ReadNginx("testdata/nginx/stream/nginx.conf")
	require.ErrorContains(t, err, "no upstream block in the http context (stream upstreams db proxy TCP, not HTTP)")

	_, err = ReadNginx("testdata/nginx/missing.conf")
	require.ErrorContains(t, err, "no such file")
}

// nginxCase runs one nginx.conf from memory, with files beside it.
func readNginxMem(main string, files map[string]string, opts ...ReadOption) ([]Value, error) {
	m := memFS{"/etc/nginx/nginx.conf": main}
	for k, v := range files {
		m[k] = v
	}
	return ReadNginx("/etc/nginx/nginx.conf", append(opts, withFS(m))...)
}

func upstream(body string) string {
	return "events {}\nhttp {\n  upstream app {\n    server 127.0.0.1:8080;\n" + body + "\n  }\n}\n"
}

func TestReadNginxTable(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		version string
		want    string // Value.Show of upstream app
		err     string
	}{
		// Unit traps: nginx reads a bare number as seconds.
		{name: "bare seconds", conf: upstream("keepalive 4; keepalive_timeout 60;"), want: "60000ms"},
		{name: "seconds", conf: upstream("keepalive 4; keepalive_timeout 60s;"), want: "60000ms"},
		{name: "milliseconds", conf: upstream("keepalive 4; keepalive_timeout 60000ms;"), want: "60000ms"},
		{name: "bare milliseconds trap", conf: upstream("keepalive 4; keepalive_timeout 60000;"), want: "60000000ms"},
		{name: "quoted compound", conf: upstream("keepalive 4; keepalive_timeout '1m 30s';"), want: "90000ms"},
		{name: "unknown unit", conf: upstream("keepalive 4; keepalive_timeout 60sec;"), err: "unknown unit"},
		{name: "negative", conf: upstream("keepalive 4; keepalive_timeout -1s;"), err: "expected a number"},
		{name: "years in ms directive", conf: upstream("keepalive 4; keepalive_timeout 1y;"), err: "millisecond directive"},
		{name: "two args", conf: upstream("keepalive 4; keepalive_timeout 60s 10s;"), err: "takes one time"},
		{name: "duplicate", conf: upstream("keepalive 4; keepalive_timeout 60s; keepalive_timeout 30s;"), err: "is duplicate"},
		// Defaults and reuse.
		{name: "default timeout", conf: upstream("keepalive 4;"), want: "60000ms"},
		{name: "keepalive 0", conf: upstream("keepalive 0; keepalive_timeout 60s;"), want: "off"},
		{name: "keepalive local", conf: upstream("keepalive 32 local;"), want: "60000ms"},
		{name: "keepalive junk", conf: upstream("keepalive lots;"), err: "want a whole number of connections"},
		{name: "timeout 0", conf: upstream("keepalive 4; keepalive_timeout 0;"), want: "off"},
		{name: "no keepalive old nginx", conf: upstream(""), version: "1.26.3", want: "off"},
		{name: "no keepalive new nginx", conf: upstream(""), version: "1.29.7", want: "60000ms"},
		{name: "no keepalive unknown version", conf: upstream(""), want: "60000ms"},
		{name: "before upstream keepalive_timeout", conf: upstream("keepalive 4;"), version: "1.14.2", want: "unbounded"},
		{name: "timeout before 1.15.3", conf: upstream("keepalive 4; keepalive_timeout 5s;"), version: "1.14.2", err: "needs nginx 1.15.3"},
		// Grammar.
		{name: "comments and quotes", conf: "# upstream fake { keepalive_timeout 1s; }\nevents {}\nhttp {\n  add_header X \"a } b ; c {\";\n  upstream \"app\" { # }\n    server 127.0.0.1:1; keepalive 1; keepalive_timeout 7s; # ;\n  }\n}\n", want: "7000ms"},
		{name: "variable braces", conf: "events {}\nhttp {\n  log_format x '${remote_addr}';\n  set_real_ip_from ${trusted};\n" + "  upstream app { server 127.0.0.1:1; keepalive 1; }\n}\n", want: "60000ms"},
		{name: "escaped quote", conf: "events {}\nhttp {\n  add_header X \"say \\\"hi\\\"\";\n  upstream app { server 127.0.0.1:1; keepalive 1; keepalive_timeout 3s; }\n}\n", want: "3000ms"},
		{name: "unclosed block", conf: "events {}\nhttp {\n  upstream app { server 127.0.0.1:1;\n}\n", err: "unexpected end of file, expecting \"}\""},
		{name: "stray close", conf: "events {}\n}\n", err: "unexpected \"}\""},
		{name: "missing semicolon", conf: "events {}\nhttp { upstream app { keepalive 1 } }\n", err: "unexpected \"}\""},
		{name: "unterminated quote", conf: "http { add_header X \"oops; }\n", err: "end of file in quoted string"},
		{name: "text after quote", conf: "http { add_header X \"a\"b; }\n", err: "after quoted string"},
		{name: "empty", conf: "", err: "no upstream block"},
		{name: "not nginx", conf: "{\"hello\": \"world\"}", err: "unexpected \"{\""},
		{name: "upstream without block", conf: "http { upstream app; }", err: "upstream wants one name and a block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []ReadOption
			if tt.version != "" {
				opts = append(opts, WithVersion(tt.version))
			}
			vals, err := readNginxMem(tt.conf, nil, opts...)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, vals, 1)
			assert.Equal(t, "upstream app", vals[0].Name)
			assert.Equal(t, tt.want, vals[0].Show())
		})
	}
}

func TestReadNginxIncludeRules(t *testing.T) {
	main := "events {}\nhttp {\n  include %s;\n}\n"
	ups := "upstream app { server 127.0.0.1:1; keepalive 1; keepalive_timeout 9s; }\n"

	t.Run("absolute under root", func(t *testing.T) {
		m := memFS{"/repo/etc/nginx/nginx.conf": fmt.Sprintf(main, "/etc/nginx/ups.conf"), "/repo/etc/nginx/ups.conf": ups}
		vals, err := ReadNginx("/repo/etc/nginx/nginx.conf", withFS(m), WithRoot("/repo"))
		require.NoError(t, err)
		assert.Equal(t, "9000ms", vals[0].Show())
	})
	t.Run("glob without match", func(t *testing.T) {
		_, err := readNginxMem(fmt.Sprintf(main, "conf.d/*.conf"), nil)
		require.ErrorContains(t, err, "no upstream block", "an empty glob is fine for nginx; the error is the missing upstream")
	})
	t.Run("missing file in http", func(t *testing.T) {
		_, err := readNginxMem(fmt.Sprintf(main, "upstreams.conf"), nil)
		require.ErrorContains(t, err, `include "upstreams.conf"`)
	})
	t.Run("depth bound", func(t *testing.T) {
		files := map[string]string{}
		for i := 0; i < 40; i++ {
			files[fmt.Sprintf("/etc/nginx/%d.conf", i)] = fmt.Sprintf("include %d.conf;\n", i+1)
		}
		files["/etc/nginx/40.conf"] = ups
		_, err := readNginxMem(fmt.Sprintf(main, "0.conf"), files)
		require.ErrorContains(t, err, "nested deeper than 16")
	})
	t.Run("same file twice is no cycle", func(t *testing.T) {
		files := map[string]string{
			"/etc/nginx/ka.conf": "keepalive 2;",
		}
		conf := "events {}\nhttp {\n  upstream a { server 127.0.0.1:1; include ka.conf; }\n  upstream b { server 127.0.0.1:2; include ka.conf; keepalive_timeout 2s; }\n}\n"
		vals, err := readNginxMem(conf, files)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"upstream a": "60000ms", "upstream b": "2000ms"}, durations(vals))
	})
}

func TestReadNginxBackend(t *testing.T) {
	vals, err := ReadNginxBackend("testdata/nginx/backend/nginx.conf")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"server app.internal":                "75000ms",
		"server app.internal location /api/": "30000ms",
		"server legacy.internal":             "off",
	}, durations(vals))
	assert.Equal(t, "testdata/nginx/backend/nginx.conf:4", vals[0].Source, "inherited from http")

	vals, err = ReadNginxBackend("testdata/nginx/backend/nginx.conf", WithName("app.internal"))
	require.NoError(t, err)
	assert.Len(t, vals, 2, "the server and its location override")

	m := memFS{"/n.conf": "events {}\nhttp { server { listen 80; } }\n"}
	vals, err = ReadNginxBackend("/n.conf", withFS(m))
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, "75000ms", vals[0].Show())
	assert.True(t, vals[0].Default)

	m = memFS{"/n.conf": "events {}\n"}
	_, err = ReadNginxBackend("/n.conf", withFS(m))
	require.ErrorContains(t, err, "want one http block")
}
