package guard

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadVarnish(t *testing.T) {
	for _, tc := range []struct {
		spec, source string
		want         time.Duration
		def          bool
		note         string
	}{
		{"varnish:testdata/varnish/varnish.service", "testdata/varnish/varnish.service:14", 75 * time.Second, false, ""},
		{"varnish:testdata/varnish/default.vcl", "testdata/varnish/default.vcl", time.Minute, true, "VCL cannot set the backend idle timeout"},
		{"varnish:testdata/varnish/default-varnish", "testdata/varnish/default-varnish", time.Minute, true, ""},
		{"varnish:testdata/varnish/compose.yaml#cache", "testdata/varnish/compose.yaml:4", time.Hour, false, ""},
		{"varnish:testdata/varnish/compose.yaml", "testdata/varnish/compose.yaml:4", time.Hour, false, ""},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			vals, err := ReadProxy(tc.spec)
			require.NoError(t, err)
			require.Len(t, vals, 1)
			v := vals[0]
			assert.Equal(t, tc.want, v.Duration)
			assert.Equal(t, tc.source, v.Source)
			assert.Equal(t, tc.def, v.Default)
			if tc.note != "" {
				require.NotEmpty(t, v.Notes)
				assert.Contains(t, v.Notes[0], tc.note)
			}
		})
	}
	for _, tc := range []struct{ spec, err string }{
		{"varnish:testdata/varnish/twice.service", "backend_idle_timeout is set 2 times: line 2 (30) line 3 (90); ambiguous"},
		{"varnish:testdata/varnish/short.service", "short.service:2: backend_idle_timeout=0.5: below varnishd's minimum of 1 second"},
		{"varnish:testdata/squid/squid.conf", "neither a VCL file nor a varnishd command line"},
		{"varnish:testdata/varnish/compose.yaml#api", `no varnish command line named "api"`},
	} {
		_, err := ReadProxy(tc.spec)
		require.ErrorContains(t, err, tc.err, tc.spec)
	}
}

func TestReadSquid(t *testing.T) {
	vals, err := ReadProxy("squid:testdata/squid/squid.conf")
	require.NoError(t, err)
	require.Len(t, vals, 1)
	assert.Equal(t, 90*time.Second, vals[0].Duration, "the last line wins, as in Squid")
	assert.Equal(t, "testdata/squid/squid.conf:12", vals[0].Source)
	assert.Equal(t, "server_idle_pconn_timeout 90 seconds", vals[0].Explanation)
	assert.Contains(t, strings.Join(vals[0].Notes, " "), "once a second")

	vals, err = ReadProxy("squid:testdata/squid/defaults.conf")
	require.NoError(t, err)
	assert.Equal(t, time.Minute, vals[0].Duration)
	assert.True(t, vals[0].Default)
	assert.Contains(t, vals[0].Notes[0], "include /etc/squid/conf.d/*.conf not followed")

	vals, err = ReadProxy("squid:testdata/squid/off.conf")
	require.NoError(t, err)
	assert.Equal(t, StateOff, vals[0].State)
	assert.Equal(t, "testdata/squid/off.conf:3", vals[0].Source)

	_, err = ReadProxy("squid:testdata/squid/conditional.conf")
	require.ErrorContains(t, err, "conditional.conf:1: conditional configuration (if)")
	_, err = ReadProxy("squid:testdata/squid/ms.conf")
	require.ErrorContains(t, err, `unit "milliseconds": want second, minute`)

	vals, err = ReadProxy("squid:-", WithInput(strings.NewReader("server_idle_pconn_timeout 45\n")))
	require.NoError(t, err)
	assert.Equal(t, 45*time.Second, vals[0].Duration, "a bare number is seconds, as Squid reads it")
}

func TestCommandVarnishSquid(t *testing.T) {
	code, stdout, _ := runCommand(t, []string{"--backend-keepalive", "5s", "--proxy-from", "varnish:testdata/varnish/varnish.service"})
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "proxy    75000ms from testdata/varnish/varnish.service:14: varnishd -p backend_idle_timeout=75 (seconds)")
	code, stdout, _ = runCommand(t, []string{"--backend-keepalive", "100s", "--proxy-from", "squid:testdata/squid/squid.conf"})
	assert.Equal(t, 0, code, stdout)
}
