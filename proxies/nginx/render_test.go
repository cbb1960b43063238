package nginx

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenDir is the bundle directory the golden configs are rendered for.
const goldenDir = "/run/racelab/nginx"

type renderCase struct {
	name string
	spec proxies.Spec
	root bool
}

// renderCases are every retry policy in both variants, plus a config for
// root and one with the proxy's default idle and response timeouts.
func renderCases() []renderCase {
	var cases []renderCase
	for _, v := range []proxies.Variant{proxies.VariantExplicit, proxies.VariantDefaults} {
		for _, r := range []proxies.Retry{proxies.RetryOff, proxies.RetryIdempotent, proxies.RetryAll} {
			cases = append(cases, renderCase{
				name: fmt.Sprintf("%s-%s", v, r),
				spec: proxies.Spec{
					Kind:            proxies.KindNginx,
					Listen:          "127.0.0.1:18080",
					Upstream:        "127.0.0.1:19090",
					IdleTimeout:     150 * time.Millisecond,
					ResponseTimeout: 2 * time.Second,
					Retry:           r,
					Variant:         v,
				},
			})
		}
	}
	cases = append(cases,
		renderCase{
			name: "explicit-idempotent-root",
			root: true,
			spec: proxies.Spec{
				Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090",
				IdleTimeout: 1500 * time.Millisecond, Retry: proxies.RetryIdempotent,
			},
		},
		renderCase{
			name: "explicit-off-nginx-timeouts",
			spec: proxies.Spec{
				Listen: "[::1]:18080", Upstream: "localhost:19090",
				ResponseTimeout: 90 * time.Second, Retry: proxies.RetryOff,
			},
		},
	)
	return cases
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := render(tc.spec, goldenDir, tc.root)
			require.NoError(t, err)
			require.Equal(t, goldenDir, b.Dir)
			require.Equal(t, []string{ConfigName}, keys(b.Files))
			require.Equal(t, []string{"temp/client_body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"}, b.Dirs)
			require.Equal(t, []string{"-p", goldenDir + "/", "-c", goldenDir + "/nginx.conf", "-e", "stderr", "-g", "daemon off;"}, b.Args)
			require.Equal(t, []string{"-t", "-p", goldenDir + "/", "-c", goldenDir + "/nginx.conf", "-e", "stderr"}, b.ValidateArgs)

			golden := filepath.Join("testdata", tc.name+".conf.golden")
			got := b.Files[ConfigName]
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create the golden file")
			require.Equal(t, string(want), got, "rendered config differs from %s (go test -update rewrites it)", golden)
		})
	}
}

// TestRenderDirectives pins the directives each policy depends on, so a
// golden file updated by mistake cannot silently drop one.
func TestRenderDirectives(t *testing.T) {
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := render(tc.spec, goldenDir, tc.root)
			require.NoError(t, err)
			conf := b.Files[ConfigName]
			has := func(d string) bool { return strings.Contains(conf, "\n"+indentOf(conf, d)+d+"\n") }
			require.True(t, has("worker_processes 1;"))
			require.NotContains(t, conf, "daemon", "daemon off comes from -g; nginx rejects it twice")
			require.True(t, has("error_log stderr info;"))
			require.True(t, has("access_log /dev/stdout racelab;"))
			require.Contains(t, conf, "max_fails=0 max_conns=1;")
			require.Contains(t, conf, "$http_x_racelab_request_id")
			require.Equal(t, tc.root, has("user root;"), "user root only for root")

			explicit := tc.spec.Variant != proxies.VariantDefaults
			for _, d := range []string{"keepalive 1;", "proxy_http_version 1.1;", `proxy_set_header Connection "";`} {
				require.Equal(t, explicit, has(d), d)
			}
			require.Equal(t, explicit, strings.Contains(conf, "proxy_next_upstream "))
			require.Equal(t, explicit && tc.spec.IdleTimeout > 0,
				strings.Contains(conf, "        keepalive_timeout "), "upstream keepalive_timeout")
			if explicit {
				want := map[proxies.Retry]string{
					proxies.RetryOff:        "proxy_next_upstream off;",
					proxies.RetryIdempotent: "proxy_next_upstream error timeout;",
					proxies.RetryAll:        "proxy_next_upstream error timeout non_idempotent;",
				}[tc.spec.Retry]
				require.True(t, has(want), want)
			}
		})
	}
}

// indentOf returns the indentation directive d has in conf.
func indentOf(conf, d string) string {
	i := strings.Index(conf, d)
	if i < 0 {
		return ""
	}
	j := strings.LastIndexByte(conf[:i], '\n')
	return conf[j+1 : i]
}

func TestRenderTimeouts(t *testing.T) {
	spec := proxies.Spec{Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", Retry: proxies.RetryOff,
		IdleTimeout: 60 * time.Second, ResponseTimeout: 0}
	b, err := render(spec, goldenDir, false)
	require.NoError(t, err)
	conf := b.Files[ConfigName]
	require.Contains(t, conf, "keepalive_timeout 60000ms;")
	require.Contains(t, conf, "proxy_read_timeout 5000ms;", "ResponseTimeout 0 means 5s")
	require.Contains(t, conf, "proxy_connect_timeout 5000ms;")

	spec.ResponseTimeout = 2 * time.Minute
	b, err = render(spec, goldenDir, false)
	require.NoError(t, err)
	conf = b.Files[ConfigName]
	require.Contains(t, conf, "proxy_read_timeout 120000ms;")
	require.Contains(t, conf, "proxy_connect_timeout 75000ms;", "connect timeout capped at nginx's 75s")
}

func TestRenderRejects(t *testing.T) {
	ok := proxies.Spec{Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090", Retry: proxies.RetryOff}
	for _, tc := range []struct {
		name string
		edit func(*proxies.Spec)
		dir  string
		want []string
	}{
		{"no listen", func(s *proxies.Spec) { s.Listen = "" }, goldenDir, []string{"listen and upstream addresses are required"}},
		{"listen host name", func(s *proxies.Spec) { s.Listen = "localhost:80" }, goldenDir, []string{`listen address "localhost:80": want an IP address`}},
		{"listen port 0", func(s *proxies.Spec) { s.Listen = "127.0.0.1:0" }, goldenDir, []string{"want a port from 1 to 65535"}},
		{"listen injection", func(s *proxies.Spec) { s.Listen = "127.0.0.1:80; include /etc/passwd" }, goldenDir, []string{"want a port from 1 to 65535"}},
		{"upstream injection", func(s *proxies.Spec) { s.Upstream = "a;b:80" }, goldenDir, []string{"want an IP address or a host name"}},
		{"upstream without port", func(s *proxies.Spec) { s.Upstream = "127.0.0.1" }, goldenDir, []string{"missing port"}},
		{"sub-millisecond idle", func(s *proxies.Spec) { s.IdleTimeout = 1500 * time.Microsecond }, goldenDir, []string{"idle timeout 1.5ms: nginx takes whole milliseconds"}},
		{"huge response timeout", func(s *proxies.Spec) { s.ResponseTimeout = 48 * time.Hour }, goldenDir, []string{"response timeout 48h0m0s: longer than 24h0m0s"}},
		{"bad retry", func(s *proxies.Spec) { s.Retry = "sometimes" }, goldenDir, []string{`retry "sometimes"`}},
		{"other kind", func(s *proxies.Spec) { s.Kind = proxies.KindHAProxy }, goldenDir, []string{`spec kind "haproxy" is not nginx`}},
		{"relative dir", nil, "run/nginx", []string{`dir "run/nginx": want an absolute path`}},
		{"root dir", nil, "/", []string{`dir "/": want an absolute path below /`}},
		{"quote in dir", nil, `/tmp/a"b`, []string{`character '"' cannot appear`}},
		{"newline in dir", nil, "/tmp/a\nb", []string{`character '\n' cannot appear`}},
		{"every problem at once", func(s *proxies.Spec) {
			s.Listen = "x:1"
			s.Upstream = "y"
			s.IdleTimeout = time.Nanosecond
		}, "rel", []string{"listen", "upstream", "idle timeout", "dir"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			if tc.edit != nil {
				tc.edit(&spec)
			}
			b, err := Adapter{}.Render(spec, tc.dir)
			require.Error(t, err)
			require.Nil(t, b)
			require.True(t, strings.HasPrefix(err.Error(), "render nginx: "), err.Error())
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// rootAs renders as if this process did (or did not) run as root, so the
// checks below cover both flavours whoever runs the tests.
type rootAs struct {
	Adapter
	root bool
}

func (a rootAs) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	return render(spec, dir, a.root)
}

// TestValidateRendered runs nginx -t on every rendered variant.
func TestValidateRendered(t *testing.T) {
	requireNginx(t)
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := process.Validate(ctx, rootAs{root: tc.root}, tc.spec)
			require.NoError(t, err, out)
			require.Contains(t, out, "syntax is ok")
			require.Contains(t, out, "test is successful")
		})
	}
}

func TestValidateRejectsBrokenConfig(t *testing.T) {
	requireNginx(t)
	spec := proxies.Spec{Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090", Retry: proxies.RetryOff}
	out, err := process.Validate(context.Background(), broken{}, spec)
	require.Error(t, err)
	require.Contains(t, out, `unknown directive "racelab_no_such_directive"`)
	require.Contains(t, err.Error(), "validate nginx: exit status 1")
}

// broken renders a config nginx refuses.
type broken struct{ Adapter }

func (broken) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	b, err := Adapter{}.Render(spec, dir)
	if err != nil {
		return nil, err
	}
	b.Files[ConfigName] += "racelab_no_such_directive on;\n"
	return b, nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
