package caddy

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenDir is the bundle directory the golden configs are rendered for.
const goldenDir = "/run/racelab/caddy"

type renderCase struct {
	name string
	spec proxies.Spec
}

// renderCases are every retry policy in both variants, plus one with
// Caddy's default idle and response timeouts.
func renderCases() []renderCase {
	var cases []renderCase
	for _, v := range []proxies.Variant{proxies.VariantExplicit, proxies.VariantDefaults} {
		for _, r := range []proxies.Retry{proxies.RetryOff, proxies.RetryIdempotent, proxies.RetryAll} {
			cases = append(cases, renderCase{
				name: fmt.Sprintf("%s-%s", v, r),
				spec: proxies.Spec{
					Kind: proxies.KindCaddy, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090",
					IdleTimeout: 150 * time.Millisecond, ResponseTimeout: 2 * time.Second, Retry: r, Variant: v,
				},
			})
		}
	}
	return append(cases, renderCase{
		name: "explicit-off-caddy-timeouts",
		spec: proxies.Spec{Listen: "[::1]:18080", Upstream: "localhost:19090", Retry: proxies.RetryOff},
	})
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := render(tc.spec, goldenDir)
			require.NoError(t, err)
			require.Equal(t, []string{"run", "--config", goldenDir + "/caddy.json"}, b.Args)
			require.Equal(t, []string{"validate", "--config", goldenDir + "/caddy.json"}, b.ValidateArgs)
			require.Equal(t, []string{"data"}, b.Dirs)
			golden := filepath.Join("testdata", tc.name+".json.golden")
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

// TestRenderSettings pins what each policy depends on in the decoded
// config, so a golden file updated by mistake cannot drop it.
func TestRenderSettings(t *testing.T) {
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := render(tc.spec, goldenDir)
			require.NoError(t, err)
			var cfg struct {
				Admin struct {
					Disabled bool `json:"disabled"`
					Config   struct {
						Persist *bool `json:"persist"`
					} `json:"config"`
				} `json:"admin"`
				Apps struct {
					HTTP struct {
						Servers map[string]struct {
							Listen []string `json:"listen"`
							Routes []struct {
								Handle []struct {
									Handler   string `json:"handler"`
									Transport *struct {
										KeepAlive *struct {
											Enabled     bool   `json:"enabled"`
											IdleTimeout string `json:"idle_timeout"`
											MaxIdle     int    `json:"max_idle_conns_per_host"`
										} `json:"keep_alive"`
										MaxConns int `json:"max_conns_per_host"`
									} `json:"transport"`
									LB *struct {
										Retries    int `json:"retries"`
										RetryMatch []struct {
											Method []string `json:"method"`
										} `json:"retry_match"`
									} `json:"load_balancing"`
								} `json:"handle"`
							} `json:"routes"`
						} `json:"servers"`
					} `json:"http"`
				} `json:"apps"`
			}
			require.NoError(t, json.Unmarshal([]byte(b.Files[ConfigName]), &cfg))
			require.True(t, cfg.Admin.Disabled)
			require.NotNil(t, cfg.Admin.Config.Persist)
			require.False(t, *cfg.Admin.Config.Persist)
			srv := cfg.Apps.HTTP.Servers["racelab"]
			require.Equal(t, []string{tc.spec.Listen}, srv.Listen)
			require.Len(t, srv.Routes, 2)
			h := srv.Routes[1].Handle[0]
			require.Equal(t, "reverse_proxy", h.Handler)
			explicit := tc.spec.Variant != proxies.VariantDefaults
			require.NotNil(t, h.Transport)
			if !explicit {
				require.Nil(t, h.Transport.KeepAlive)
				require.Zero(t, h.Transport.MaxConns)
				require.Nil(t, h.LB)
				require.Empty(t, b.Unexpressed)
				return
			}
			require.NotNil(t, h.Transport.KeepAlive)
			require.True(t, h.Transport.KeepAlive.Enabled)
			require.Equal(t, 1, h.Transport.KeepAlive.MaxIdle)
			require.Equal(t, 1, h.Transport.MaxConns)
			if tc.spec.IdleTimeout > 0 {
				require.Equal(t, tc.spec.IdleTimeout.String(), h.Transport.KeepAlive.IdleTimeout)
			} else {
				require.Empty(t, h.Transport.KeepAlive.IdleTimeout)
			}
			switch tc.spec.Retry {
			case proxies.RetryOff:
				require.Nil(t, h.LB)
				require.Equal(t, []string{NoRetryOff}, b.Unexpressed)
			case proxies.RetryIdempotent:
				require.Equal(t, 1, h.LB.Retries)
				require.Equal(t, []string{"GET", "HEAD", "OPTIONS"}, h.LB.RetryMatch[0].Method)
				require.Empty(t, b.Unexpressed)
			case proxies.RetryAll:
				require.Equal(t, 1, h.LB.Retries)
				require.Contains(t, h.LB.RetryMatch[0].Method, "POST")
				require.Empty(t, b.Unexpressed)
			}
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
		{"kind", func(s proxies.Spec) proxies.Spec { s.Kind = proxies.KindNginx; return s }, goldenDir, `spec kind "nginx" is not caddy`},
		{"listen name", func(s proxies.Spec) proxies.Spec { s.Listen = "localhost:1"; return s }, goldenDir, "listen"},
		{"upstream port", func(s proxies.Spec) proxies.Spec { s.Upstream = "127.0.0.1:70000"; return s }, goldenDir, "upstream"},
		{"retry", func(s proxies.Spec) proxies.Spec { s.Retry = "sometimes"; return s }, goldenDir, "retry"},
		{"idle", func(s proxies.Spec) proxies.Spec { s.IdleTimeout = 48 * time.Hour; return s }, goldenDir, "idle timeout 48h0m0s: longer than"},
		{"relative dir", func(s proxies.Spec) proxies.Spec { return s }, "run/caddy", "absolute path"},
		{"user config", func(s proxies.Spec) proxies.Spec { s.Config = &proxies.UserConfig{Path: "/nonexistent/x"}; return s }, goldenDir, "/nonexistent/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Adapter{}.Render(tc.spec(good), tc.dir)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "render caddy: ")
		})
	}
}

// requireCaddy skips when caddy is not on PATH, naming what to install.
func requireCaddy(t *testing.T) {
	t.Helper()
	if _, err := process.LookPath(Adapter{}); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			t.Skipf("caddy not on PATH: apt-get install caddy (%v)", err)
		}
		t.Fatal(err)
	}
}

// TestValidateRendered runs caddy validate on every rendered config.
func TestValidateRendered(t *testing.T) {
	requireCaddy(t)
	for _, tc := range renderCases() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			spec := tc.spec
			spec.Listen, spec.Upstream = "127.0.0.1:1", "127.0.0.1:2"
			out, err := process.Validate(ctx, Adapter{}, spec, process.WithStartTimeout(30*time.Second))
			require.NoError(t, err, out)
			require.Contains(t, out, "Valid configuration")
		})
	}
}

// TestValidateRejects proves the validator check can fail: a config
// Caddy cannot load is refused.
func TestValidateRejects(t *testing.T) {
	requireCaddy(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, ConfigName)
	require.NoError(t, os.WriteFile(conf, []byte(`{"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:1"],"routes":[{"handle":[{"handler":"reverse_proxy","transport":{"protocol":"http","keep_alive":{"idle_timeout":"soon"}}}]}]}}}}}`), 0o600))
	bin, err := process.LookPath(Adapter{})
	require.NoError(t, err)
	out, err := exec.CommandContext(t.Context(), bin, "validate", "--config", conf).CombinedOutput()
	require.Error(t, err, "%s", out)
}
