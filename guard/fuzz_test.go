package guard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fuzz targets check two properties on any input: no reader or
// parser panics, and none turns garbage into a value. A reader either
// fails, or returns valid values from an input that holds what it reads
// (a marker such as "upstream" or "keepalive"): a value never comes from
// text that does not mention the setting or the software.

// seedFiles adds every file under dir as a seed.
func seedFiles(f *testing.F, dir string) {
	f.Helper()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(data)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
}

// checkRead asserts the reader properties for one input.
func checkRead(t *testing.T, data []byte, vals []Value, err error, markers ...string) {
	t.Helper()
	if err != nil {
		if vals != nil {
			t.Fatalf("values returned with an error: %v", err)
		}
		return
	}
	if len(vals) == 0 {
		t.Fatal("no error and no value")
	}
	for _, v := range vals {
		if verr := v.validate(); verr != nil {
			t.Fatalf("invalid value %+v: %v", v, verr)
		}
		if v.Source == "" || v.Explanation == "" {
			t.Fatalf("value without source or explanation: %+v", v)
		}
		if v.State == StateFinite && v.Duration > maxDuration {
			t.Fatalf("value above the cap: %v", v)
		}
	}
	lower := strings.ToLower(string(data))
	for _, m := range markers {
		if strings.Contains(lower, strings.ToLower(m)) {
			return
		}
	}
	t.Fatalf("read %d values from input without any of %q: %q", len(vals), markers, data)
}

// checkDuration asserts the duration parser properties.
func checkDuration(t *testing.T, in string, d time.Duration, err error) {
	t.Helper()
	if err != nil {
		return
	}
	if d < 0 || d > maxDuration {
		t.Fatalf("%q parsed to %v, outside [0, a century]", in, d)
	}
	if !strings.ContainsAny(in, "0123456789") {
		t.Fatalf("%q parsed to %v without a digit", in, d)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"65s", "65000ms", "60", "1m5s", "0.5s", "-5s", "+5s", "", "1d", "876000h1s", "1.5", ".5s", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		checkDuration(t, s, d, err)
		if err == nil && isNumber(strings.TrimSpace(s)) {
			t.Fatalf("bare number %q accepted as %v", s, d)
		}
		v, err := ParseValue(s, "--x")
		if err == nil && v.State == StateFinite && v.Duration <= 0 {
			t.Fatalf("%q gave a non-positive finite value", s)
		}
	})
}

func FuzzParseTimes(f *testing.F) {
	for _, s := range []string{"60", "60s", "60000ms", "1m 30s", "1h30m500ms", "1y", "5sec", "5 1", "99999999999999999999", "2mi", "1.5s", "0.000000001s", "-1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, msec := range []bool{true, false} {
			d, err := parseNginxTime(s, msec)
			checkDuration(t, s, d, err)
			if err == nil {
				if n, nerr := parseUint(s); nerr == nil && d != time.Duration(n)*time.Second {
					t.Fatalf("nginx bare %q gave %v, want seconds", s, d)
				}
			}
		}
		d, err := parseHAProxyTime(s)
		checkDuration(t, s, d, err)
		if n, nerr := parseUint(s); nerr == nil && err == nil && d != time.Duration(n)*time.Millisecond {
			t.Fatalf("HAProxy bare %q gave %v, want milliseconds", s, d)
		}
		d, err = parseApacheTimeout(s)
		checkDuration(t, s, d, err)
		d, err = parseProtoDuration(s)
		checkDuration(t, s, d, err)
		if err == nil && !strings.HasSuffix(s, "s") {
			t.Fatalf("proto duration %q accepted without s", s)
		}
	})
}

func FuzzReadNginx(f *testing.F) {
	seedFiles(f, "testdata/nginx")
	f.Add([]byte("events {}\nhttp {\n  include inc.conf;\n}\n"))
	f.Add([]byte(upstream("keepalive 4; keepalive_timeout 60;")))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := memFS{
			"/etc/nginx/nginx.conf": string(data),
			"/etc/nginx/inc.conf":   "upstream inc { server 127.0.0.1:1; keepalive 1; keepalive_timeout 3s; }\n",
		}
		vals, err := ReadNginx("/etc/nginx/nginx.conf", withFS(fs))
		checkRead(t, data, vals, err, "upstream", "include")
		vals, err = ReadNginxBackend("/etc/nginx/nginx.conf", withFS(fs))
		checkRead(t, data, vals, err, "http")
	})
}

func FuzzReadHAProxy(f *testing.F) {
	seedFiles(f, "testdata/haproxy")
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := ReadHAProxy("/h.cfg", withFS(memFS{"/h.cfg": string(data)}))
		checkRead(t, data, vals, err, "server")
	})
}

func FuzzReadEnvoy(f *testing.F) {
	seedFiles(f, "testdata/envoy")
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := ReadEnvoy("/e.yaml", withFS(memFS{"/e.yaml": string(data)}))
		checkRead(t, data, vals, err, "clusters")
	})
}

func FuzzReadALB(f *testing.F) {
	seedFiles(f, "testdata/alb")
	f.Add([]byte(`[{"Key":"idle_timeout.timeout_seconds","Value":60}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := ReadALB("/a.json", withFS(memFS{"/a.json": string(data)}))
		checkRead(t, data, vals, err, "idle_timeout.timeout_seconds")
		if err == nil && (vals[0].Duration < time.Second || vals[0].Duration > 4000*time.Second) {
			t.Fatalf("ALB value %v outside 1-4000 s", vals[0].Duration)
		}
	})
}

func FuzzReadTomcat(f *testing.F) {
	seedFiles(f, "testdata/tomcat")
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := ReadTomcat("/s.xml", withFS(memFS{"/s.xml": string(data)}))
		checkRead(t, data, vals, err, "connector")
	})
}

func FuzzReadApache(f *testing.F) {
	seedFiles(f, "testdata/apache")
	f.Add([]byte("Include inc.conf\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := memFS{"/etc/apache2/apache2.conf": string(data), "/etc/apache2/inc.conf": "KeepAliveTimeout 9\n"}
		vals, err := ReadApache("/etc/apache2/apache2.conf", withFS(fs))
		markers := []string{"virtualhost"}
		for d := range apacheCore {
			markers = append(markers, d)
		}
		checkRead(t, data, vals, err, markers...)
	})
}

func FuzzReadRuntimes(f *testing.F) {
	for _, dir := range []string{"testdata/gunicorn", "testdata/uvicorn", "testdata/puma", "testdata/node", "testdata/env"} {
		seedFiles(f, dir)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := func() ReadOption { return withFS(memFS{"/in": string(data)}) }
		vals, err := ReadNode("/in", in())
		checkRead(t, data, vals, err, "{")
		vals, err = ReadGunicorn("/in", in())
		checkRead(t, data, vals, err, "gunicorn", "keepalive", "keep-alive", "bind", "workers", "worker_class",
			"threads", "timeout", "max_requests", "accesslog", "errorlog", "loglevel", "preload_app", "wsgi_app")
		vals, err = ReadUvicorn("/in", in())
		checkRead(t, data, vals, err, "uvicorn", "timeout_keep_alive")
		vals, err = ReadPuma("/in", in())
		checkRead(t, data, vals, err, "threads", "workers", "port", "bind", "environment", "preload_app!",
			"worker_timeout", "plugin", "pidfile", "persistent_timeout", "first_data_timeout", "rackup",
			"state_path", "on_worker_boot", "before_fork", "stdout_redirect")
		vals, err = ReadEnv("/in", "KEEP_ALIVE_TIMEOUT_MS", in())
		checkRead(t, data, vals, err, "KEEP_ALIVE_TIMEOUT_MS=")
	})
}

func FuzzReadNodeSource(f *testing.F) {
	seedFiles(f, "testdata/node")
	f.Add([]byte("const A = 6_5 * 1e3; s.keepAliveTimeout = (A) / 2 ** 1;"))
	f.Add([]byte("x = `${`${a}`}`; /re[/]/g.test(s); server.headersTimeout = 0x10"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"/s.js", "/s.ts"} {
			vals, err := ReadBackend("node:"+name, withFS(memFS{name: string(data)}))
			checkRead(t, data, vals, err, "keepAliveTimeout", "headersTimeout", "createServer", "Server", "listen", "{") // a JSON object without the key: the default
		}
	})
}

func FuzzReadLaunches(f *testing.F) {
	for _, dir := range []string{"testdata/compose", "testdata/kubernetes", "testdata/procfile", "testdata/shell"} {
		seedFiles(f, dir)
	}
	f.Add([]byte("web: sh -c 'exec gunicorn a --keep-alive 5'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"/compose.yaml", "/k8s.yml", "/Procfile", "/run.sh"} {
			for _, kind := range []string{"gunicorn", "uvicorn", "puma"} {
				if name == "/k8s.yml" && !strings.Contains(string(data), "apiVersion:") {
					continue // no telling it from a compose file
				}
				vals, err := ReadBackend(kind+":"+name, withFS(memFS{name: string(data)}))
				// An args-only container names no program: its flags do.
				checkRead(t, data, vals, err, append([]string{kind}, entrypointFlags[kind]...)...)
			}
		}
	})
}

// FuzzReadCacheProxies: Varnish command lines and VCL, squid.conf.
func FuzzReadCacheProxies(f *testing.F) {
	seedFiles(f, "testdata/varnish")
	seedFiles(f, "testdata/squid")
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := parseVarnishText("fuzz", data)
		checkRead(t, data, vals, err, "varnish", "vcl", "backend", "DAEMON_OPTS")
		vals, err = parseSquid("fuzz.conf", data)
		if err == nil && len(vals) == 1 && vals[0].Default {
			return // any text without the setting is Squid's default
		}
		checkRead(t, data, vals, err, "server_idle_pconn_timeout", "server_persistent_connections")
	})
}

// FuzzReadPresetFiles: ALB attribute files, CloudFormation, Terraform and
// DestinationRule YAML.
func FuzzReadPresetFiles(f *testing.F) {
	seedFiles(f, "testdata/presets")
	seedFiles(f, "testdata/alb")
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := parseALBFile("fuzz.yaml", data)
		checkRead(t, data, vals, err, "idle_timeout")
		vals, err = parseALBFile("fuzz.tf", data)
		checkRead(t, data, vals, err, "idle_timeout")
		vals, err = parseDestinationRules(newReadConfig(nil), "fuzz.yaml", data)
		checkRead(t, data, vals, err, "DestinationRule")
	})
}
