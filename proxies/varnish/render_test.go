package varnish

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
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
const goldenDir = "/run/racelab/varnish"

func goldenSpec(retry proxies.Retry, variant proxies.Variant, idle time.Duration) proxies.Spec {
	return proxies.Spec{Kind: proxies.KindVarnish, Listen: "127.0.0.1:8080", Upstream: "127.0.0.1:9090",
		IdleTimeout: idle, ResponseTimeout: 5 * time.Second, Retry: retry, Variant: variant}
}

var goldenCases = []struct {
	name string
	spec proxies.Spec
	// idleArg is the rendered backend_idle_timeout ("" for none), notes
	// the bundle's Notes (by prefix).
	idleArg string
	notes   []string
}{
	{"explicit-off", goldenSpec(proxies.RetryOff, proxies.VariantExplicit, 10*time.Second), "backend_idle_timeout=10", []string{"retry off: Varnish 7.1 retries"}},
	{"explicit-idempotent", goldenSpec(proxies.RetryIdempotent, proxies.VariantExplicit, 1500*time.Millisecond), "backend_idle_timeout=1.5", []string{"retry idempotent runs Varnish 7.1's built-in retry"}},
	{"explicit-all", goldenSpec(proxies.RetryAll, proxies.VariantExplicit, 250*time.Millisecond), "backend_idle_timeout=1", []string{"retry all runs", "proxy idle 250ms is below Varnish's backend_idle_timeout minimum: it ran as 1s"}},
	{"defaults", goldenSpec(proxies.RetryOff, proxies.VariantDefaults, 0), "", nil},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Adapter{}.Render(tc.spec, goldenDir)
			require.NoError(t, err)
			require.Equal(t, goldenDir, b.Dir)
			require.Equal(t, []string{"-C", "-j", "none", "-n", goldenDir + "/varnish", "-f", goldenDir + "/racelab.vcl"}, b.ValidateArgs)
			require.Equal(t, "-F", b.Args[0])
			require.Contains(t, strings.Join(b.Args, " "), "-j none -n "+goldenDir+"/varnish -a 127.0.0.1:8080 -f "+goldenDir+"/racelab.vcl")
			var idle string
			for _, a := range b.Args {
				if strings.HasPrefix(a, "backend_idle_timeout=") {
					idle = a
				}
			}
			require.Equal(t, tc.idleArg, idle)
			said := append(append([]string{}, b.Unexpressed...), b.Notes...)
			require.Len(t, said, len(tc.notes))
			for i, n := range tc.notes {
				require.True(t, strings.HasPrefix(said[i], n), "note %d: %q, want prefix %q", i, said[i], n)
			}
			require.NotNil(t, b.Logger)
			require.Equal(t, "varnishncsa", b.Logger.Binary)
			require.Equal(t, ReadyPath, b.Logger.ReadyPath)
			require.Equal(t, []string{"-n", goldenDir + "/varnish", "-c", "-b", "-t", "10", "-F", logFormat}, b.Logger.Args)

			got := b.Files[VCLFile]
			golden := filepath.Join("testdata", tc.name+".vcl.golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create the golden file")
			require.Equal(t, string(want), got, "rendered VCL differs from %s (go test -update rewrites it)", golden)
		})
	}
}

// TestRenderPooling checks the lines that make the race possible, so a
// golden file rewritten by mistake cannot silently drop one.
func TestRenderPooling(t *testing.T) {
	b, err := Adapter{}.Render(goldenSpec(proxies.RetryOff, proxies.VariantExplicit, time.Second), goldenDir)
	require.NoError(t, err)
	vcl := b.Files[VCLFile]
	for _, want := range []string{".max_connections = 1;", "return (pass);", `.host = "127.0.0.1";`, `.port = "9090";`, `if (req.url == "/racelab-ready")`} {
		require.Contains(t, vcl, want)
	}
	require.NotContains(t, vcl, "cache_req_body")
	require.Contains(t, b.Args, "thread_pools=1")

	b, err = Adapter{}.Render(goldenSpec(proxies.RetryAll, proxies.VariantExplicit, time.Second), goldenDir)
	require.NoError(t, err)
	require.Contains(t, b.Files[VCLFile], "std.cache_req_body(1MB);")
	require.Contains(t, b.Files[VCLFile], "import std;")
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*proxies.Spec)
		dir  string
		want string
	}{
		{"no listen", func(s *proxies.Spec) { s.Listen = "" }, goldenDir, "listen and upstream addresses are required"},
		{"listen host name", func(s *proxies.Spec) { s.Listen = "localhost:80" }, goldenDir, "want an IP address"},
		{"upstream with a quote", func(s *proxies.Spec) { s.Upstream = `a"b:80` }, goldenDir, "want an IP address or a host name"},
		{"other kind", func(s *proxies.Spec) { s.Kind = proxies.KindNginx }, goldenDir, `spec kind "nginx"`},
		{"relative dir", func(*proxies.Spec) {}, "run/x", "want an absolute path"},
		{"user config missing", func(s *proxies.Spec) { s.Config = &proxies.UserConfig{Path: "/nonexistent/racelab/default.vcl"} }, goldenDir, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := goldenSpec(proxies.RetryOff, proxies.VariantExplicit, time.Second)
			tc.edit(&s)
			_, err := Adapter{}.Render(s, tc.dir)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func requireVarnish(t testing.TB) {
	t.Helper()
	if _, err := process.LookPath(Adapter{}); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Skipf("varnishd not installed (apt-get install varnish; Debian puts it in /usr/sbin): %v", err)
		}
		t.Fatal(err)
	}
}

// TestValidateGolden runs varnishd -C on every golden spec: the VCL
// compiles.
func TestValidateGolden(t *testing.T) {
	requireVarnish(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := process.Validate(context.Background(), Adapter{}, tc.spec, process.WithStartTimeout(60*time.Second))
			require.NoError(t, err, out)
		})
	}
	// And the validator does fail: a broken VCL is refused.
	out, err := process.Validate(context.Background(), brokenVCL{}, goldenCases[0].spec, process.WithStartTimeout(60*time.Second))
	require.Error(t, err)
	require.Contains(t, out, "racelab_no_such_sub")
}

// brokenVCL renders a VCL varnishd must refuse.
type brokenVCL struct{ Adapter }

func (brokenVCL) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	b, err := Adapter{}.Render(spec, dir)
	if err != nil {
		return nil, err
	}
	b.Files[VCLFile] += "\nsub vcl_recv { call racelab_no_such_sub; }\n"
	return b, nil
}

func TestParseVersion(t *testing.T) {
	v, err := Adapter{}.ParseVersion("varnishd (varnish-7.1.1 revision 7cee1c581bead20e88d101ab3d72afb29f14d87a)\nCopyright (c) 2006 Verdens Gang AS\n")
	require.NoError(t, err)
	require.Equal(t, "7.1.1", v)
	_, err = Adapter{}.ParseVersion("nginx version: nginx/1.22.1")
	require.ErrorContains(t, err, "no version")
}
