package images

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
)

// EnvBuildSuites lists the suites the integration test builds (comma
// separated; default bookworm). Building a suite takes about a minute;
// a suite whose image exists is reused.
const EnvBuildSuites = "RACELAB_TEST_SUITES"

// buildTimeout bounds one suite's build on a slow mirror.
const buildTimeout = 15 * time.Minute

func requireEngine(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := container.Available(ctx); err != nil {
		t.Skipf("%v (start a Docker engine to run this test)", err)
	}
}

// buildOrSkip builds suite, skipping when the image is absent and this
// process cannot build it.
func buildOrSkip(t *testing.T, suite string) Image {
	t.Helper()
	requireEngine(t)
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	if _, err := container.InspectImage(ctx, SuiteRef(suite)); err != nil {
		if os.Geteuid() != 0 {
			t.Skipf("image %s absent and building it needs root", SuiteRef(suite))
		}
		if _, err := Mirror(); err != nil {
			t.Skipf("image %s absent and no Debian mirror to build it from: %v", SuiteRef(suite), err)
		}
	}
	start := time.Now()
	im, err := Build(ctx, suite, WithLogger(testLogger(t)))
	require.NoError(t, err)
	t.Logf("%s: %s %s nginx %s haproxy %s debian %s, %.1f MB, Build returned in %s",
		suite, im.Ref, im.ID, im.Versions["nginx"], im.Versions["haproxy"], im.Debian,
		float64(im.Size)/1e6, time.Since(start).Round(time.Millisecond))
	return im
}

func TestBuildSuites(t *testing.T) {
	suites := []string{"bookworm"}
	if s := os.Getenv(EnvBuildSuites); s != "" {
		suites = strings.Split(s, ",")
	}
	for _, suite := range suites {
		t.Run(suite, func(t *testing.T) {
			im := buildOrSkip(t, suite)
			assert.Equal(t, suite, im.Suite)
			assert.Equal(t, SuiteRef(suite), im.Ref)
			assert.True(t, strings.HasPrefix(im.ID, "sha256:"), im.ID)
			for _, kind := range []proxies.Kind{proxies.KindNginx, proxies.KindHAProxy} {
				v := im.Versions[string(kind)]
				assert.Regexp(t, `^\d+\.\d+\.\d+$`, v, kind)
				assert.Contains(t, im.Tags, KindRef(kind, v))
			}
			assert.Equal(t, packagesLabel(), im.Packages, "the package set label")
			if suite == "bookworm" {
				// Debian stable keeps its upstream versions.
				assert.Equal(t, "1.22.1", im.Versions["nginx"])
				assert.True(t, strings.HasPrefix(im.Versions["haproxy"], "2.6."), im.Versions["haproxy"])
				// Bookworm has every proxy of the package set.
				assert.Equal(t, "2.6.2", im.Versions["caddy"])
				assert.True(t, strings.HasPrefix(im.Versions["apache"], "2.4."), im.Versions["apache"])
				assert.True(t, strings.HasPrefix(im.Versions["varnish"], "7.1."), im.Versions["varnish"])
				assert.True(t, strings.HasPrefix(im.Versions["squid"], "5."), im.Versions["squid"])
				// Their racelab/<kind>:<version> tags go to the suite
				// built last with that version (trixie has Caddy 2.6.2
				// too), so only the versions are checked here.
			}

			// A second build reuses the image.
			start := time.Now()
			again, err := Build(t.Context(), suite)
			require.NoError(t, err)
			assert.Equal(t, im.ID, again.ID)
			assert.Less(t, time.Since(start), 5*time.Second, "reuse took as long as a build")

			list, err := List(t.Context())
			require.NoError(t, err)
			var found bool
			for _, l := range list {
				found = found || l.ID == im.ID
			}
			assert.True(t, found, "List does not show %s", im.ID)

			ref, local, err := Resolve(t.Context(), proxies.KindNginx, im.Versions["nginx"])
			require.NoError(t, err)
			assert.True(t, local)
			assert.Equal(t, KindRef(proxies.KindNginx, im.Versions["nginx"]), ref)
		})
	}
}

func TestCommandList(t *testing.T) {
	im := buildOrSkip(t, "bookworm")
	var out, errOut bytes.Buffer
	code := Command(t.Context(), []string{"list"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "SUITE")
	assert.Contains(t, out.String(), im.Ref)
	assert.Contains(t, out.String(), im.Versions["nginx"])

	out.Reset()
	code = Command(t.Context(), []string{"build", "-suite", "bookworm"}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "bookworm")
	assert.Contains(t, out.String(), "reused")
}
