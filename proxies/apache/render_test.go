package apache

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
const goldenDir = "/run/racelab/apache"

type renderCase struct {
	name string
	spec proxies.Spec
	root bool
}

// renderCases are every retry policy in both variants, one as root, one
// with a sub-second idle timeout and one with Apache's defaults.
func renderCases() []renderCase {
	var cases []renderCase
	for _, v := range []proxies.Variant{proxies.VariantExplicit, proxies.VariantDefaults} {
		for _, r := range []proxies.Retry{proxies.RetryOff, proxies.RetryIdempotent, proxies.RetryAll} {
			cases = append(cases, renderCase{
				name: fmt.Sprintf("%s-%s", v, r),
				spec: proxies.Spec{
					Kind: proxies.KindApache, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090",
					IdleTimeout: 3 * time.Second, ResponseTimeout: 2 * time.Second, Retry: r, Variant: v,
				},
			})
		}
	}
	return append(cases,
		renderCase{name: "explicit-off-root", root: true, spec: proxies.Spec{
			Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090", IdleTimeout: 10 * time.Second, Retry: proxies.RetryOff,
		}},
		renderCase{name: "explicit-off-subsecond", spec: proxies.Spec{
			Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090", IdleTimeout: 500 * time.Millisecond, Retry: proxies.RetryOff,
		}},
		renderCase{name: "explicit-off-apache-timeouts", spec: proxies.Spec{
			Listen: "[::1]:18080", Upstream: "localhost:19090", Retry: proxies.RetryOff,
		}},
	)
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := render(tc.spec, goldenDir, tc.root)
			require.NoError(t, err)
			require.Equal(t, []string{"-d", goldenDir, "-f", goldenDir + "/apache2.conf", "-DFOREGROUND"}, b.Args)
			require.Equal(t, []string{"-t", "-d", goldenDir, "-f", goldenDir + "/apache2.conf"}, b.ValidateArgs)
			require.Equal(t, []string{"run", "htdocs"}, b.Dirs)
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

// proxyPass returns the ProxyPass line of a rendered config.
func proxyPass(t *testing.T, conf string) string {
	t.Helper()
	for line := range strings.Lines(conf) {
		if strings.HasPrefix(line, "ProxyPass ") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatal("no ProxyPass line")
	return ""
}

// TestRenderSettings pins the directives each policy depends on and what
// Bundle.Unexpressed says, so a golden file updated by mistake cannot
// drop one.
func TestRenderSettings(t *testing.T) {
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := render(tc.spec, goldenDir, tc.root)
			require.NoError(t, err)
			conf := b.Files[ConfigName]
			for _, d := range []string{"ServerLimit 1\n", "ThreadsPerChild 2\n", "ErrorLog /dev/stderr\n", "CustomLog /dev/stdout racelab\n", "%{X-Racelab-Request-Id}i"} {
				require.Contains(t, conf, d)
			}
			require.NotContains(t, conf, "/etc/apache2")
			require.Equal(t, tc.root, strings.Contains(conf, "User www-data\n"))
			pp := proxyPass(t, conf)
			explicit := tc.spec.Variant != proxies.VariantDefaults
			require.Equal(t, explicit, strings.Contains(pp, " min=0 smax=0 max=1"), pp)
			require.Equal(t, explicit && tc.spec.IdleTimeout > 0, strings.Contains(pp, " ttl="), pp)
			require.Equal(t, explicit && tc.spec.Retry == proxies.RetryAll, strings.Contains(pp, " ping="), pp)
			var want []string
			if explicit && tc.spec.IdleTimeout%time.Second != 0 {
				want = append(want, "idle timeout 500ms: ProxyPass ttl= takes whole seconds; rendered ttl=1")
				require.Contains(t, pp, " ttl=1")
			}
			if explicit {
				switch tc.spec.Retry {
				case proxies.RetryIdempotent:
					want = append(want, NoIdempotentRetry)
				case proxies.RetryAll:
					want = append(want, AllIsPing)
				}
			}
			require.Equal(t, want, b.Unexpressed)
		})
	}
}

func TestRenderErrors(t *testing.T) {
	good := proxies.Spec{Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", Retry: proxies.RetryOff}
	for _, tc := range []struct {
		name string
		spec func(proxies.Spec) proxies.Spec
		dir  string
		want string
	}{
		{"kind", func(s proxies.Spec) proxies.Spec { s.Kind = proxies.KindCaddy; return s }, goldenDir, `spec kind "caddy" is not apache`},
		{"listen name", func(s proxies.Spec) proxies.Spec { s.Listen = "localhost:1"; return s }, goldenDir, "listen"},
		{"upstream", func(s proxies.Spec) proxies.Spec { s.Upstream = `a"b:1`; return s }, goldenDir, "upstream"},
		{"idle", func(s proxies.Spec) proxies.Spec { s.IdleTimeout = 48 * time.Hour; return s }, goldenDir, "longer than"},
		{"relative dir", func(s proxies.Spec) proxies.Spec { return s }, "run/apache", "absolute path"},
		{"quote in dir", func(s proxies.Spec) proxies.Spec { return s }, `/tmp/a"b`, "cannot appear"},
		{"user config", func(s proxies.Spec) proxies.Spec { s.Config = &proxies.UserConfig{Path: "/nonexistent/x"}; return s }, goldenDir, "/nonexistent/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Adapter{}.Render(tc.spec(good), tc.dir)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "render apache: ")
		})
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {90 * time.Second, 90}} {
		require.Equal(t, tc.want, seconds(tc.d), tc.d)
	}
}

// requireApache skips when apache2 is not on PATH, naming what to install.
func requireApache(t *testing.T) {
	t.Helper()
	if _, err := process.LookPath(Adapter{}); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Skipf("apache2 not on PATH: apt-get install apache2, and add /usr/sbin to PATH (%v)", err)
		}
		t.Fatal(err)
	}
}

// TestValidateRendered runs apache2 -t on every rendered config.
func TestValidateRendered(t *testing.T) {
	requireApache(t)
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			spec := tc.spec
			spec.Listen, spec.Upstream = "127.0.0.1:1", "127.0.0.1:2"
			out, err := process.Validate(ctx, Adapter{}, spec, process.WithStartTimeout(30*time.Second))
			require.NoError(t, err, out)
			require.Contains(t, out, "Syntax OK")
		})
	}
}

// TestValidateRejects proves the validator check can fail.
func TestValidateRejects(t *testing.T) {
	requireApache(t)
	b, err := render(proxies.Spec{Listen: "127.0.0.1:1", Upstream: "127.0.0.1:2", Retry: proxies.RetryOff}, t.TempDir(), false)
	require.NoError(t, err)
	conf := strings.Replace(b.Files[ConfigName], " max=1", " max=one", 1)
	path := filepath.Join(b.Dir, ConfigName)
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	bin, err := process.LookPath(Adapter{})
	require.NoError(t, err)
	out, err := exec.CommandContext(t.Context(), bin, "-t", "-d", b.Dir, "-f", path).CombinedOutput()
	require.Error(t, err, "%s", out)
}
