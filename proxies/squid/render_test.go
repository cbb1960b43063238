package squid

import (
	"context"
	"flag"
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
const goldenDir = "/run/racelab/racelab-squid-42"

func goldenSpec(retry proxies.Retry, variant proxies.Variant, idle time.Duration) proxies.Spec {
	return proxies.Spec{Kind: proxies.KindSquid, Listen: "127.0.0.1:8080", Upstream: "127.0.0.1:9090",
		IdleTimeout: idle, ResponseTimeout: 5 * time.Second, Retry: retry, Variant: variant}
}

var goldenCases = []struct {
	name  string
	spec  proxies.Spec
	notes []string
}{
	{"explicit-off", goldenSpec(proxies.RetryOff, proxies.VariantExplicit, 10*time.Second), nil},
	{"explicit-idempotent", goldenSpec(proxies.RetryIdempotent, proxies.VariantExplicit, 5*time.Second), nil},
	{"explicit-all", goldenSpec(proxies.RetryAll, proxies.VariantExplicit, 1500*time.Millisecond),
		[]string{"idle timeout 1.5s: Squid's server_idle_pconn_timeout takes whole seconds, it ran as 2s", "retry all: Squid never"}},
	{"defaults", goldenSpec(proxies.RetryOff, proxies.VariantDefaults, 0), nil},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Adapter{}.Render(tc.spec, goldenDir)
			require.NoError(t, err)
			require.Equal(t, goldenDir, b.Dir)
			conf := goldenDir + "/squid.conf"
			require.Equal(t, []string{"-N", "-f", conf, "-n", "racelabsquid42"}, b.Args)
			require.Equal(t, []string{"-k", "parse", "-f", conf, "-n", "racelabsquid42"}, b.ValidateArgs)
			require.True(t, b.SharedOutput)
			require.Nil(t, b.Logger)
			said := append(append([]string{}, b.Unexpressed...), b.Notes...)
			require.Len(t, said, len(tc.notes))
			for i, n := range tc.notes {
				require.True(t, strings.HasPrefix(said[i], n), "note %d: %q, want prefix %q", i, said[i], n)
			}
			got := b.Files[ConfigFile]
			golden := filepath.Join("testdata", tc.name+".conf.golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create the golden file")
			require.Equal(t, string(want), got, "rendered config differs from %s (go test -update rewrites it)", golden)
		})
	}
}

// TestRenderSettings checks the lines the experiment rests on, so a
// golden file rewritten by mistake cannot silently drop one.
func TestRenderSettings(t *testing.T) {
	for _, tc := range []struct {
		retry   proxies.Retry
		variant proxies.Variant
		idle    time.Duration
		want    []string
		not     []string
	}{
		{proxies.RetryOff, proxies.VariantExplicit, 10 * time.Second,
			[]string{"forward_max_tries 1\n", "retry_on_error off\n", "server_idle_pconn_timeout 10 seconds\n", "cache deny all\n",
				"cache_peer 127.0.0.1 parent 9090 0 no-query no-digest originserver name=upstream", "http_port 127.0.0.1:8080 accel",
				"access_log stdio:/dev/stdout racelab\n", "client_idle_pconn_timeout 60 seconds\n"}, []string{" max-conn="}},
		{proxies.RetryIdempotent, proxies.VariantExplicit, 45 * time.Second,
			[]string{"forward_max_tries 2\n", "server_idle_pconn_timeout 45 seconds\n", "client_idle_pconn_timeout 90 seconds\n"}, nil},
		{proxies.RetryOff, proxies.VariantDefaults, 0, nil, []string{"forward_max_tries", "server_idle_pconn_timeout"}},
	} {
		b, err := Adapter{}.Render(goldenSpec(tc.retry, tc.variant, tc.idle), goldenDir)
		require.NoError(t, err)
		conf := b.Files[ConfigFile]
		for _, w := range tc.want {
			require.Contains(t, conf, w)
		}
		for _, n := range tc.not {
			require.NotContains(t, conf, n)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*proxies.Spec)
		dir  string
		want string
	}{
		{"no upstream", func(s *proxies.Spec) { s.Upstream = "" }, goldenDir, "listen and upstream addresses are required"},
		{"listen host name", func(s *proxies.Spec) { s.Listen = "localhost:80" }, goldenDir, "want an IP address"},
		{"upstream with a space", func(s *proxies.Spec) { s.Upstream = "a b:80" }, goldenDir, "want an IP address or a host name"},
		{"other kind", func(s *proxies.Spec) { s.Kind = proxies.KindVarnish }, goldenDir, `spec kind "varnish"`},
		{"relative dir", func(*proxies.Spec) {}, "run/x", "want an absolute path"},
		{"dir with a space", func(*proxies.Spec) {}, "/run/a b", "without spaces"},
		{"user config missing", func(s *proxies.Spec) { s.Config = &proxies.UserConfig{Path: "/nonexistent/racelab/squid.conf"} }, goldenDir, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := goldenSpec(proxies.RetryOff, proxies.VariantExplicit, time.Second)
			tc.edit(&s)
			_, err := Adapter{}.Render(s, tc.dir)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestServiceName(t *testing.T) {
	require.Equal(t, "racelabsquid123", ServiceName("/tmp/racelab-squid-123"))
	require.Equal(t, "racelab", ServiceName("/tmp/---"))
	require.Len(t, ServiceName("/tmp/"+strings.Repeat("x", 40)+"-1"), 32)
}

// TestValidateGolden runs squid -k parse on every golden spec, and on a
// broken file, which it must refuse.
func TestValidateGolden(t *testing.T) {
	requireSquid(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := process.Validate(context.Background(), Adapter{}, tc.spec, process.WithStartTimeout(30*time.Second))
			require.NoError(t, err, out)
		})
	}
	out, err := process.Validate(context.Background(), brokenConf{}, goldenCases[0].spec, process.WithStartTimeout(30*time.Second))
	require.Error(t, err)
	require.Contains(t, out, "racelab_no_such_directive")
}

type brokenConf struct{ Adapter }

func (brokenConf) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	b, err := Adapter{}.Render(spec, dir)
	if err != nil {
		return nil, err
	}
	b.Files[ConfigFile] += "server_idle_pconn_timeout racelab_no_such_directive\n"
	return b, nil
}

func TestParseVersion(t *testing.T) {
	v, err := Adapter{}.ParseVersion("Squid Cache: Version 5.7\nService Name: squid\n")
	require.NoError(t, err)
	require.Equal(t, "5.7", v)
	_, err = Adapter{}.ParseVersion("varnishd (varnish-7.1.1)")
	require.ErrorContains(t, err, "no version")
}
