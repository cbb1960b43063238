package guard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shows lists Value.Show of every value, in order.
func shows(vals []Value) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.Show()
	}
	return out
}

type runtimeCase struct {
	name, text string
	want       []string
	err        string
}

func runRuntime(t *testing.T, kind string, tests []runtimeCase, opts ...ReadOption) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := ReadBackend(kind+":/in", append(opts, withFS(memFS{"/in": tt.text}))...)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, shows(vals))
		})
	}
}

func TestReadGunicorn(t *testing.T) {
	vals, err := ReadGunicorn("testdata/gunicorn/gunicorn.conf.py")
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, "75000ms", vals[0].Show())
	assert.Equal(t, "testdata/gunicorn/gunicorn.conf.py:9", vals[0].Source)
	assert.Empty(t, vals[0].Notes, "worker class gthread is explicit")

	vals, err = ReadGunicorn("testdata/gunicorn/Dockerfile")
	require.NoError(t, err)
	assert.Equal(t, []string{"5000ms"}, shows(vals), "the CMD's --keep-alive 5, with the gevent worker from GUNICORN_CMD_ARGS")

	vals, err = ReadGunicorn("testdata/gunicorn/sync.conf.py")
	require.NoError(t, err)
	assert.Equal(t, []string{"off"}, shows(vals))
	assert.Contains(t, vals[0].Explanation, "sync worker closes every connection")

	_, err = ReadGunicorn("testdata/gunicorn/computed.conf.py")
	require.ErrorContains(t, err, "a computed value cannot be read")

	runRuntime(t, "gunicorn", []runtimeCase{
		{name: "cli equals", text: "exec gunicorn app:app --keep-alive=10 -k gthread", want: []string{"10000ms"}},
		{name: "quoted", text: `keepalive = "75"`, want: []string{"75000ms"}},
		{name: "default", text: "bind = '0.0.0.0:8000'\nworkers = 2\n", want: []string{"2000ms"}},
		{name: "sync with threads is gthread", text: "worker_class = 'sync'\nthreads = 4\nkeepalive = 30\n", want: []string{"30000ms"}},
		{name: "sync cli", text: "gunicorn app:app -k sync --keep-alive 30", want: []string{"off"}},
		{name: "both places", text: "keepalive = 75\n# run: gunicorn -c gunicorn.conf.py --keep-alive 5\n", want: []string{"75000ms", "5000ms"}},
		{name: "unit trap", text: "gunicorn app:app --keep-alive 75s", err: "whole number of seconds, without a unit"},
		{name: "float", text: "keepalive = 7.5", err: "not a fraction"},
		{name: "exec form", text: `CMD ["gunicorn", "app:app", "-k", "sync", "--keep-alive", "30"]`, want: []string{"off"}},
		{name: "inspect json", text: `["gunicorn","app:app","--keep-alive","30","-k","gthread"]`, want: []string{"30000ms"}},
		{name: "exec form equals", text: `CMD ["gunicorn", "--keep-alive=30", "app:app"]`, want: []string{"30000ms"}},
		{name: "zero", text: "keepalive = 0", want: []string{"off"}},
		{name: "not gunicorn", text: "hello world", err: "no gunicorn setting or command line found"},
	})

	vals, err = ReadBackend("gunicorn:/in", withFS(memFS{"/in": "workers = 2\n"}))
	require.NoError(t, err)
	assert.True(t, vals[0].Default)
	assert.Contains(t, strings.Join(vals[0].Notes, " "), "no worker class found")
}

func TestReadUvicorn(t *testing.T) {
	vals, err := ReadUvicorn("testdata/uvicorn/Dockerfile")
	require.NoError(t, err)
	assert.Equal(t, []string{"65000ms"}, shows(vals))

	vals, err = ReadUvicorn("testdata/uvicorn/main.py")
	require.NoError(t, err)
	assert.Equal(t, []string{"75000ms"}, shows(vals))
	assert.Equal(t, "testdata/uvicorn/main.py:5", vals[0].Source)

	runRuntime(t, "uvicorn", []runtimeCase{
		{name: "env", text: "UVICORN_TIMEOUT_KEEP_ALIVE=30\n", want: []string{"30000ms"}},
		{name: "env quoted", text: "UVICORN_TIMEOUT_KEEP_ALIVE='30'\n", want: []string{"30000ms"}},
		{name: "default", text: "uvicorn app:app --port 8000", want: []string{"5000ms"}},
		{name: "unit trap", text: "uvicorn app:app --timeout-keep-alive 5s", err: "without a unit"},
		{name: "computed", text: "uvicorn.run(app, timeout_keep_alive=settings.ka)", err: "computed value"},
		{name: "not uvicorn", text: "node server.js", err: "no uvicorn command line"},
	})
}

func TestReadPuma(t *testing.T) {
	vals, err := ReadPuma("testdata/puma/puma.rb")
	require.NoError(t, err)
	assert.Equal(t, []string{"75000ms"}, shows(vals))

	vals, err = ReadPuma("testdata/puma/defaults.rb")
	require.NoError(t, err)
	assert.Equal(t, []string{"20000ms"}, shows(vals))
	assert.True(t, vals[0].Default)
	assert.Contains(t, vals[0].Notes[0], "Puma 7.0 and later default to 65s")

	vals, err = ReadPuma("testdata/puma/defaults.rb", WithVersion("7.0.1"))
	require.NoError(t, err)
	assert.Equal(t, []string{"65000ms"}, shows(vals))

	vals, err = ReadPuma("testdata/puma/defaults.rb", WithVersion("6.4.3"))
	require.NoError(t, err)
	assert.Equal(t, []string{"20000ms"}, shows(vals))

	runRuntime(t, "puma", []runtimeCase{
		{name: "parens", text: "persistent_timeout(30)\n", want: []string{"30000ms"}},
		{name: "computed", text: "persistent_timeout ENV.fetch('PUMA_PERSISTENT_TIMEOUT') { 75 }\n", err: "computed value"},
		{name: "not puma", text: "keepalive = 5\n", err: "no Puma configuration found"},
	})
}

func TestReadNode(t *testing.T) {
	vals, err := ReadNode("testdata/node/server.json")
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, "66000ms", vals[0].Show()) // the close Node.js 20 applies: 1s later
	assert.Equal(t, "http.keepAliveTimeout", vals[0].Name)

	_, err = ReadNode("testdata/node/seconds.json")
	require.ErrorContains(t, err, `http.keepAliveTimeout is the string "65s", want a number of milliseconds`)

	runRuntime(t, "node", []runtimeCase{
		{name: "top level", text: `{"keepAliveTimeout": 61000}`, want: []string{"62000ms"}},
		{name: "zero", text: `{"keepAliveTimeout": 0}`, want: []string{"unbounded"}},
		{name: "fraction", text: `{"keepAliveTimeout": 0.5}`, want: []string{"1000.5ms"}},
		{name: "several", text: `{"a": {"keepAliveTimeout": 65000}, "b": [{"keepAliveTimeout": 5000}]}`, want: []string{"66000ms", "6000ms"}},
		{name: "default", text: `{"port": 3000}`, want: []string{"6000ms"}},
		{name: "negative", text: `{"keepAliveTimeout": -1}`, err: "negative"},
		{name: "array", text: `[1, 2]`, err: "want a JSON object"},
		{name: "two values", text: `{} {}`, err: "more than one JSON value"},
		{name: "js source", text: "server.keepAliveTimeout = 65000;", want: []string{"60000ms"}}, // headersTimeout 60s is below it
	})
}

func TestReadEnv(t *testing.T) {
	tests := []struct {
		name, want, err string
	}{
		{name: "KEEP_ALIVE_TIMEOUT_MS", want: "65000ms"},
		{name: "KEEPALIVE_SECONDS", want: "75000ms"},
		{name: "IDLE", want: "65000ms"},
		{name: "KEEPALIVE", err: "bare number has no unit and the name does not say one"},
		{name: "NODE_ENV", err: "want a number with a unit"},
		{name: "MISSING", err: "MISSING is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := ReadEnv("testdata/env/app.env", tt.name)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, vals[0].Show())
		})
	}

	vals, err := ReadBackend("env:/e#X_MS", withFS(memFS{"/e": "X_MS=1\nX_MS=2\n"}))
	require.NoError(t, err)
	assert.Equal(t, "2ms", vals[0].Show(), "the last assignment wins")

	_, err = ReadBackend("env:/e#X_MS", withFS(memFS{"/e": "X_MS=1.5\n"}))
	require.ErrorContains(t, err, "not a fraction")
	_, err = ReadBackend("env:/e#X_MS", withFS(memFS{"/e": "X_MS=0\n"}))
	require.ErrorContains(t, err, "zero is ambiguous")
	_, err = ReadBackend("env:/e", withFS(memFS{"/e": "X_MS=1\n"}))
	require.ErrorContains(t, err, "want env:FILE#VARIABLE")
	vals, err = ReadBackend("env:-#IDLE", WithInput(strings.NewReader("IDLE=90s\n")))
	require.NoError(t, err)
	assert.Equal(t, "90000ms", vals[0].Show())
}

func TestReadTomcat(t *testing.T) {
	vals, err := ReadTomcat("testdata/tomcat/server.xml")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"connector 8080": "75000ms", "connector 9090": "20000ms"}, durations(vals),
		"AJP and commented-out connectors are skipped; 9090 takes connectionTimeout")
	assert.Equal(t, "testdata/tomcat/server.xml:6", vals[0].Source)
	assert.Contains(t, vals[1].Explanation, `keepAliveTimeout not set, so connectionTimeout="20000" applies`)

	vals, err = ReadTomcat("testdata/tomcat/server.xml", WithName("9090"))
	require.NoError(t, err)
	assert.Len(t, vals, 1)

	conn := func(attrs string) string {
		return `<Server><Service><Connector port="80" ` + attrs + ` /></Service></Server>`
	}
	runRuntime(t, "tomcat", []runtimeCase{
		{name: "unit trap", text: conn(`keepAliveTimeout="75s"`), err: "whole number of milliseconds, without a unit"},
		{name: "seconds trap", text: conn(`keepAliveTimeout="75"`), want: []string{"75ms"}},
		{name: "infinite", text: conn(`keepAliveTimeout="-1"`), want: []string{"unbounded"}},
		{name: "connection infinite", text: conn(`connectionTimeout="-1"`), want: []string{"unbounded"}},
		{name: "one request", text: conn(`keepAliveTimeout="75000" maxKeepAliveRequests="1"`), want: []string{"off"}},
		{name: "default", text: conn(``), want: []string{"60000ms"}},
		{name: "placeholder", text: conn(`keepAliveTimeout="${ka}"`), err: "computed value"},
		{name: "ajp only", text: `<Server><Connector port="8009" protocol="AJP/1.3"/></Server>`, err: "no HTTP Connector element (1 AJP skipped)"},
		{name: "not xml", text: "keepAliveTimeout=75000", err: "no XML elements"},
		{name: "broken xml", text: "<Server><Connector port=\"80\"></Server>", err: "read tomcat"},
	})
}

func TestReadApache(t *testing.T) {
	root := WithRoot("testdata/apache")
	vals, err := ReadApache("testdata/apache/etc/apache2/apache2.conf", root)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"vhost www.example.com (*:80)":      "65000ms", // conf-enabled overrides the 5 of apache2.conf
		"vhost api.example.com (*:80)":      "90000ms",
		"vhost legacy.example.com (*:8080)": "off",
	}, durations(vals))
	assert.Equal(t, "testdata/apache/etc/apache2/conf-enabled/keepalive.conf:2", vals[0].Source)
	assert.Contains(t, vals[2].Explanation, "KeepAliveTimeout 120 is unused")

	vals, err = ReadApache("testdata/apache/etc/apache2/apache2.conf", root, WithName("api.example.com"))
	require.NoError(t, err)
	assert.Len(t, vals, 1)

	apache := func(files memFS) ([]Value, error) { return ReadApache("/etc/apache2/apache2.conf", withFS(files)) }
	tests := []struct {
		name  string
		files memFS
		want  []string
		err   string
	}{
		{name: "default", files: memFS{"/etc/apache2/apache2.conf": "ServerRoot /etc/apache2\nListen 80\n"}, want: []string{"5000ms"}},
		{name: "off", files: memFS{"/etc/apache2/apache2.conf": "KeepAlive Off\nKeepAliveTimeout 60\n"}, want: []string{"off"}},
		{name: "case", files: memFS{"/etc/apache2/apache2.conf": "keepalive on\nkeepalivetimeout 500ms\n"}, want: []string{"500ms"}},
		{name: "minutes trap", files: memFS{"/etc/apache2/apache2.conf": "KeepAliveTimeout 2m\n"}, err: `unknown unit "m"`},
		{name: "continuation", files: memFS{"/etc/apache2/apache2.conf": "KeepAliveTimeout \\\n  30\n"}, want: []string{"30000ms"}},
		{name: "bad keepalive", files: memFS{"/etc/apache2/apache2.conf": "KeepAlive Maybe\n"}, err: `KeepAlive "Maybe"`},
		{name: "optional missing", files: memFS{"/etc/apache2/apache2.conf": "IncludeOptional sites/*.conf\nIncludeOptional x.conf\nListen 80\n"}, want: []string{"5000ms"}},
		{name: "include missing", files: memFS{"/etc/apache2/apache2.conf": "Include ports.conf\n"}, err: `include "ports.conf"`},
		{name: "include glob none", files: memFS{"/etc/apache2/apache2.conf": "Include sites/*.conf\n"}, err: "matches no file"},
		{name: "include dir", files: memFS{"/etc/apache2/apache2.conf": "Include conf\n", "/etc/apache2/conf/a": "KeepAliveTimeout 7\n"}, want: []string{"7000ms"}},
		{name: "cycle", files: memFS{"/etc/apache2/apache2.conf": "Include a.conf\n", "/etc/apache2/a.conf": "Include apache2.conf\n"}, err: "include cycle"},
		{name: "unclosed", files: memFS{"/etc/apache2/apache2.conf": "<VirtualHost *:80>\nKeepAliveTimeout 9\n"}, err: "<VirtualHost> not closed"},
		{name: "stray close", files: memFS{"/etc/apache2/apache2.conf": "</VirtualHost>\n"}, err: "unexpected"},
		{name: "not apache", files: memFS{"/etc/apache2/apache2.conf": "hello world\n"}, err: "no Apache directives found"},
		{name: "variable", files: memFS{"/etc/apache2/apache2.conf": "KeepAliveTimeout ${KA}\n"}, err: "want a whole number of seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := apache(tt.files)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, shows(vals))
		})
	}
}

func TestReadSourceSpecs(t *testing.T) {
	_, err := ReadProxy("nginx")
	require.ErrorContains(t, err, "want KIND:PATH with KIND one of nginx, haproxy, envoy, alb-json")
	_, err = ReadProxy("traefik:x.toml")
	require.ErrorContains(t, err, "KIND one of")
	_, err = ReadBackend("flask:app.py")
	require.ErrorContains(t, err, "KIND one of node, gunicorn")
	_, err = ReadProxy("alb-json:x.json", WithName("app"))
	require.ErrorContains(t, err, "nothing to pick by name")
	_, err = ReadBackend("gunicorn:x.py", WithVersion("22.0"))
	require.ErrorContains(t, err, "no default depends on a version")
	_, err = ReadProxy("alb:-")
	require.ErrorContains(t, err, "no input to read from")

	vals, err := ReadProxy("alb:-", WithInput(strings.NewReader(`{"Attributes":[{"Key":"idle_timeout.timeout_seconds","Value":"120"}]}`)))
	require.NoError(t, err)
	assert.Equal(t, "120000ms", vals[0].Show())
	assert.Equal(t, "stdin", vals[0].Source)

	vals, err = ReadProxy("nginx:-", WithInput(strings.NewReader(upstream("keepalive 2; keepalive_timeout 4s;"))))
	require.NoError(t, err)
	assert.Equal(t, "4000ms", vals[0].Show())
	assert.Equal(t, "stdin:5", vals[0].Source)

	vals, err = ReadProxy("haproxy:-", WithInput(strings.NewReader("defaults\n mode http\nbackend b\n server s 127.0.0.1:1\n")))
	require.NoError(t, err)
	assert.Equal(t, "stdin:3", vals[0].Source)
}
