package envoy_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/envoy"
)

// Live tests of a team's own bootstrap (testdata/user), rewritten by
// RenderUserConfig. They skip where no envoy binary is on PATH.

func userSpec(t *testing.T, file, cluster, upstream string) proxies.Spec {
	return proxies.Spec{
		Kind:        proxies.KindEnvoy,
		Listen:      freeAddr(t),
		AdminListen: freeAddr(t),
		Upstream:    upstream,
		Config: &proxies.UserConfig{
			Path:     filepath.Join("testdata", "user", file),
			Upstream: cluster,
		},
	}
}

func TestLiveUserValidate(t *testing.T) {
	bin := envoyBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	for _, tc := range []struct{ file, cluster string }{
		{"edge.yaml", "payments"}, {"edge.yaml", "catalog"}, {"edge.yaml", "ledger"}, {"sidecar.json", ""},
	} {
		t.Run(tc.file+"-"+tc.cluster, func(t *testing.T) {
			out, err := process.Validate(ctx, envoy.Adapter{}, userSpec(t, tc.file, tc.cluster, "127.0.0.1:9"), process.WithBinary(bin))
			require.NoError(t, err, out)
			assert.Contains(t, out, "OK")
		})
	}
}

// sendRoute sends one request along a user route with a fresh client
// connection and returns the status.
func sendRoute(t *testing.T, ctx context.Context, addr string, r proxies.Route, method, id string) int {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("x")
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+r.RequestPath(id), body)
	require.NoError(t, err)
	if r.Host != "" {
		req.Host = r.Host
	}
	req.Header.Set("X-Racelab-Request-Id", id)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

// TestLiveUserStaleConnection runs the user's own retry policies against
// a backend that closes every reused connection: the sidecar's virtual
// host retries on reset (hidden retry, two attempts); the edge's ledger
// route has no retry policy (503 UC).
func TestLiveUserStaleConnection(t *testing.T) {
	bin := envoyBinary(t)
	for _, tc := range []struct {
		file, cluster string
		wantStatus    int
		wantAttempts  int
	}{
		{"sidecar.json", "", 200, 2},
		{"edge.yaml", "ledger", 503, 1},
	} {
		t.Run(tc.file+"-"+tc.cluster, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
			defer cancel()
			backend := startCloseOnReuse(t)
			spec := userSpec(t, tc.file, tc.cluster, backend.ln.Addr().String())
			b, err := envoy.Adapter{}.Render(spec, t.TempDir())
			require.NoError(t, err)
			p := startEnvoy(t, ctx, bin, spec)

			require.Equal(t, http.StatusOK, sendRoute(t, ctx, p.Addr(), b.Route, http.MethodGet, "warm"))
			assert.Equal(t, tc.wantStatus, sendRoute(t, ctx, p.Addr(), b.Route, http.MethodGet, "victim"))
			ev := accessEvidence(t, ctx, p, "victim")
			assert.Equal(t, tc.wantStatus, ev.Status)
			assert.Equal(t, tc.wantAttempts, ev.Attempts)
			if tc.wantStatus == 503 {
				assert.Equal(t, "UC", ev.Flags)
			}
		})
	}
}
