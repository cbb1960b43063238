package backends

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresets(t *testing.T) {
	want := map[string]time.Duration{
		"node":              6 * time.Second, // measured: Node.js 20 closes 1s after its 5s default
		"gunicorn":          2 * time.Second,
		"uvicorn":           5 * time.Second,
		"puma":              20200 * time.Millisecond, // measured: Puma 5.6 closes 0.2s after its 20s default
		"puma7":             65 * time.Second,
		"tomcat":            60 * time.Second,
		"tomcat-server-xml": 20 * time.Second,
		"apache":            5 * time.Second,
		"nginx":             75 * time.Second,
		"go":                0,
	}
	all := Presets()
	require.Len(t, all, len(want))
	for _, p := range all {
		assert.Equal(t, strings.ToLower(p.Name), p.Name)
		d, ok := want[p.Name]
		require.True(t, ok, "unexpected preset %q", p.Name)
		assert.Equal(t, d, p.IdleTimeout, p.Name)
		assert.NotEmpty(t, p.Note, p.Name)
		assert.NoError(t, p.Config().Validate(), p.Name)
		got, ok := LookupPreset(p.Name)
		assert.True(t, ok)
		assert.Equal(t, p, got)
	}
	_, ok := LookupPreset("Node")
	assert.False(t, ok, "names are exact")
	all[0].Name = "changed"
	assert.Equal(t, "node", Presets()[0].Name, "Presets returns a copy")
}
