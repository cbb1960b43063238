package nginx

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

// The request-buffering setting renders proxy_request_buffering (and lifts
// the 1m body limit, for slow bodies of any size); nginx accepts both.
func TestRenderRequestBuffering(t *testing.T) {
	tests := []struct{ value, want string }{
		{"", ""},
		{"on", "proxy_request_buffering on;"},
		{"off", "proxy_request_buffering off;"},
	}
	for _, tt := range tests {
		t.Run("buffering="+tt.value, func(t *testing.T) {
			spec := proxies.Spec{Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090", Retry: proxies.RetryOff,
				IdleTimeout: time.Second, RequestBuffering: tt.value}
			b, err := render(spec, goldenDir, false)
			require.NoError(t, err)
			conf := b.Files[ConfigName]
			if tt.want == "" {
				require.NotContains(t, conf, "proxy_request_buffering")
				return
			}
			require.Contains(t, conf, "\n            "+tt.want+"\n")
			require.Contains(t, conf, "client_max_body_size 0;")
			if strings.Contains(conf, "proxy_request_buffering") {
				requireNginx(t)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				out, err := process.Validate(ctx, rootAs{}, spec)
				require.NoError(t, err, out)
				require.Contains(t, out, "test is successful")
			}
		})
	}
	_, err := render(proxies.Spec{Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19090", RequestBuffering: "maybe"}, goldenDir, false)
	require.ErrorContains(t, err, `request buffering "maybe": want on or off`)
}
