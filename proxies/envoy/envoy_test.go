package envoy

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

func TestAdapterIdentity(t *testing.T) {
	var a proxies.Adapter = Adapter{}
	assert.Equal(t, proxies.KindEnvoy, a.Kind())
	assert.Equal(t, "envoy", a.Binary())
	assert.Equal(t, syscall.SIGTERM, a.StopSignal())
	assert.Equal(t, []string{"--version"}, a.VersionArgs())
}

func TestImage(t *testing.T) {
	tests := map[string]string{
		"1.34.1":  "envoyproxy/envoy:v1.34.1",
		"v1.34.1": "envoyproxy/envoy:v1.34.1",
		"1.34":    "envoyproxy/envoy:v1.34-latest",
		"":        "",
	}
	for version, want := range tests {
		assert.Equal(t, want, Adapter{}.Image(version), "version %q", version)
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		output, want string
	}{
		{"\nenvoy  version: b579d07d3ad7ee11d32b105e91a5a39ad24718d7/1.39.1/Clean/RELEASE/BoringSSL\n\n", "1.39.1"},
		{"envoy  version: c919bdec19d79e97f4f56e4095706f8e6a383f1c/1.22.2/Clean/RELEASE/BoringSSL", "1.22.2"},
		{"./envoy  version: 483dd3007f15e47deed0a29d945ff776abb37815/1.17.0-dev/Clean/RELEASE/BoringSSL", "1.17.0-dev"},
		{"envoy  version: 98c1c9e9a40804b93b074badad1cdf284b47d58b/1.18.3/Modified/DEBUG/BoringSSL-FIPS", "1.18.3"},
		{"envoy  version: 8eeab1ee77f2c4cb31434c04d683773a6beea01d/1.28.5-dev/Modified/RELEASE/OpenSSL", "1.28.5-dev"},
	}
	for _, tt := range tests {
		got, err := Adapter{}.ParseVersion(tt.output)
		require.NoError(t, err, tt.output)
		assert.Equal(t, tt.want, got)
	}
	for _, bad := range []string{"", "envoy: command not found", "nginx version: nginx/1.22.1", "envoy  version: abc/one.two/Clean"} {
		_, err := Adapter{}.ParseVersion(bad)
		assert.Error(t, err, "%q", bad)
	}
}
