package squid

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

// TestContainerRace runs Squid in racelab's local image as its own user
// (Bundle.ContainerUser): retry off answers 502 with the error page in the
// access log, a POST goes out on a new connection. RACELAB_SQUID_IMAGE
// overrides the image.
func TestContainerRace(t *testing.T) {
	ctx := context.Background()
	image := proxytest.Image(t, "RACELAB_SQUID_IMAGE", "bookworm")
	srv, rec := proxytest.Backend(t, backends.FaultCloseOnReuse)
	s := spec(srv.Addr(), 30*time.Second, proxies.RetryOff)
	s.Listen = proxytest.FreeAddr(t)
	p, err := container.Start(ctx, Adapter{}, s, image, container.WithStartTimeout(2*time.Minute))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	require.NoError(t, err)
	require.Equal(t, "5.7", p.Version())

	cl := proxytest.Dial(t, p.Addr())
	require.Equal(t, 200, cl.Do(t, http.MethodGet, "warm", backends.FaultNone))
	require.Equal(t, 502, cl.Do(t, http.MethodGet, "victim", backends.FaultCloseOnReuse))
	acc := accessLine(t, p, "victim")
	require.Regexp(t, `^ERR_(ZERO_SIZE_OBJECT|READ_ERROR)/WITH_SERVER$`, acc.Flags)

	cl = proxytest.Dial(t, p.Addr())
	require.Equal(t, 200, cl.Do(t, http.MethodGet, "warm2", backends.FaultNone))
	_, warm := proxytest.Count(rec, "warm2", backends.EventRequest)
	require.Equal(t, 200, cl.Do(t, http.MethodPost, "post", backends.FaultCloseOnReuse))
	_, conns := proxytest.Count(rec, "post", backends.EventRequest)
	for c := range warm {
		require.False(t, conns[c], "the POST went out on the pooled connection")
	}
	require.NoError(t, p.Stop(ctx))
}
