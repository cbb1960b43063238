package container_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/images"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/haproxy"
	"github.com/racelab/racelab/proxies/nginx"
)

// TestRaceInContainer reproduces the stale-connection race through a
// proxy container, deterministically: the backend closes the pooled
// connection when the marked request arrives on it. nginx answers 502
// without retry and hides the failure with the idempotent retry. HAProxy
// fails the request on a fresh client connection too, in one of two ways
// that differ by version: 2.6.12 answers 502 and logs SH--; Debian's
// 3.0.11 and 3.2.26 close the client connection with no response and no
// log line.
func TestRaceInContainer(t *testing.T) {
	requireImage(t)
	list, err := images.List(t.Context())
	require.NoError(t, err)
	tests := []struct {
		adapter    proxies.Adapter
		retry      proxies.Retry
		wantStatus int // 0: either 502 or no response
		check      func(t *testing.T, evs []proxies.Evidence)
	}{
		{adapter: nginx.Adapter{}, retry: proxies.RetryOff, wantStatus: http.StatusBadGateway,
			check: func(t *testing.T, evs []proxies.Evidence) {
				assert.Equal(t, "502", access(t, evs).UpstreamStatus)
			}},
		{adapter: nginx.Adapter{}, retry: proxies.RetryIdempotent, wantStatus: http.StatusOK,
			check: func(t *testing.T, evs []proxies.Evidence) {
				assert.Equal(t, "502, 200", access(t, evs).UpstreamStatus)
			}},
		{adapter: haproxy.Adapter{}, retry: proxies.RetryOff,
			check: func(t *testing.T, evs []proxies.Evidence) {
				assert.True(t, strings.HasPrefix(access(t, evs).Flags, "SH"), access(t, evs).Flags)
			}},
	}
	for _, im := range list {
		if im.Ref != images.SuiteRef(im.Suite) {
			continue
		}
		for _, tt := range tests {
			name := fmt.Sprintf("%s/%s/retry-%s", im.Suite, tt.adapter.Kind(), tt.retry)
			t.Run(name, func(t *testing.T) {
				be, err := backends.Start(t.Context(), backends.Config{
					Fault: backends.Fault{Kind: backends.FaultCloseOnReuse},
				}, backends.WithAddr("127.0.0.1:0"))
				require.NoError(t, err)
				defer be.Close()
				sp := spec(tt.adapter.Kind(), be.Addr(), t)
				sp.Retry = tt.retry
				p, err := container.Start(t.Context(), tt.adapter, sp, im.Ref)
				defer stop(t, p)
				require.NoError(t, err)

				// The first request opens the pooled upstream connection;
				// the second, marked, reuses it and the backend closes it.
				status, _ := get(t, p.Addr(), "warm-up")
				require.Equal(t, http.StatusOK, status)
				victim := "victim-" + strings.ReplaceAll(name, "/", "-")
				status, err = getFault(p.Addr(), victim)
				if tt.wantStatus == 0 && err != nil {
					// No response: then there is no log line either.
					t.Logf("HAProxy %s closed the client connection: %v", p.Version(), err)
					assert.Empty(t, p.Evidence().ForRequest(victim))
					return
				}
				require.NoError(t, err)
				t.Logf("%s %s answered %d", tt.adapter.Kind(), p.Version(), status)
				if tt.wantStatus == 0 {
					tt.wantStatus = http.StatusBadGateway
				}
				assert.Equal(t, tt.wantStatus, status)

				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				evs, err := p.Evidence().Wait(ctx, victim, "access")
				require.NoError(t, err, "no access evidence; orphans %v", p.Evidence().Orphans())
				tt.check(t, evs)
			})
		}
	}
}

// getFault sends the marked request on a fresh client connection (so the
// client never retries it).
func getFault(addr, id string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(backends.RequestIDHeader, id)
	req.Header.Set(backends.FaultHeader, string(backends.FaultCloseOnReuse))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func access(t *testing.T, evs []proxies.Evidence) proxies.Evidence {
	t.Helper()
	for _, ev := range evs {
		if ev.Source == "access" {
			return ev
		}
	}
	t.Fatalf("no access evidence in %v", evs)
	return proxies.Evidence{}
}
