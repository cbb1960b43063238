package haproxy

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

// Request buffering on renders option http-buffer-request in the
// backend; off (HAProxy's default) renders nothing. HAProxy accepts it.
func TestRenderRequestBuffering(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{{"", false}, {"off", false}, {"on", true}}
	for _, tt := range tests {
		t.Run("buffering="+tt.value, func(t *testing.T) {
			spec := goldenSpec(proxies.VariantExplicit, proxies.RetryOff, "")
			spec.RequestBuffering = tt.value
			b, err := Adapter{}.Render(spec, goldenDir)
			require.NoError(t, err)
			assert.Equal(t, tt.want, contains(directives(b.Files[ConfigFile]), "option http-buffer-request"))
			if tt.want {
				needHAProxy(t)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				out, err := process.Validate(ctx, Adapter{}, spec)
				require.NoError(t, err, out)
				assert.Contains(t, out, "Configuration file is valid")
				assert.NotContains(t, out, "[WARNING]")
			}
		})
	}
	spec := goldenSpec(proxies.VariantExplicit, proxies.RetryOff, "")
	spec.RequestBuffering = "maybe"
	_, err := Adapter{}.Render(spec, goldenDir)
	require.ErrorContains(t, err, `request buffering "maybe": want on or off`)
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
