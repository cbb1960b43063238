package varnish

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/proxytest"
)

// TestContainerBuiltInRetry runs Varnish in racelab's local image with
// varnishncsa started in the container: the built-in retry shows as on
// the process runtime. RACELAB_VARNISH_IMAGE overrides the image.
func TestContainerBuiltInRetry(t *testing.T) {
	ctx := context.Background()
	image := proxytest.Image(t, "RACELAB_VARNISH_IMAGE", "bookworm")
	srv, rec := proxytest.Backend(t, backends.FaultCloseOnReuse)
	s := liveSpec(srv.Addr(), 10*time.Second, proxies.RetryOff)
	s.Listen = proxytest.FreeAddr(t)
	p, err := container.Start(ctx, Adapter{}, s, image, container.WithStartTimeout(2*time.Minute))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	require.Equal(t, "7.1.1", p.Version())

	cl := proxytest.Dial(t, p.Addr())
	require.Equal(t, 200, cl.Do(t, http.MethodGet, "warm", backends.FaultNone))
	require.Equal(t, 200, cl.Do(t, http.MethodGet, "victim", backends.FaultCloseOnReuse))
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(wctx, "victim", "error")
	require.NoError(t, err)
	er := bySource(evs, "error")
	require.Equal(t, "HTC eof (-1)", er.Message)
	require.Equal(t, 2, er.Attempts)
	n, _ := proxytest.Count(rec, "victim", backends.EventRequest)
	require.Equal(t, 2, n)
	require.NoError(t, p.Stop(ctx))
}
