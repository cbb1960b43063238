package guard

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresetDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		idle    time.Duration
		fixed   bool
		doc     string
		hasFile bool
	}{
		{"aws-alb", 60 * time.Second, false, "docs.aws.amazon.com", true},
		{"gcp-https-lb", 600 * time.Second, true, "cloud.google.com/load-balancing", false},
		{"istio", time.Hour, false, "istio.io", true},
		{"cloudfoundry-gorouter", 90 * time.Second, true, "docs.cloudfoundry.org", false},
		{"cloudflare-tunnel", 90 * time.Second, false, "developers.cloudflare.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := ReadPreset(tc.name)
			require.NoError(t, err)
			require.Len(t, vals, 1)
			v := vals[0]
			assert.Equal(t, StateFinite, v.State)
			assert.Equal(t, tc.idle, v.Duration)
			assert.Equal(t, "preset "+tc.name, v.Source)
			assert.Equal(t, !tc.fixed, v.Default, "a fixed value is not a default anyone could change")
			assert.Contains(t, v.Explanation, tc.doc, "each preset names its source")
			assert.Equal(t, tc.hasFile, len(v.Notes) > 0, "a note points to NAME:FILE where a file can set it")
		})
	}
	_, err := ReadPreset("azure-appgw")
	require.ErrorContains(t, err, `preset "azure-appgw": want one of aws-alb, gcp-https-lb, istio, cloudfoundry-gorouter, cloudflare-tunnel`)
	_, err = ReadPreset("gcp-https-lb:lb.yaml")
	require.ErrorContains(t, err, "fixed at 600000ms")
	_, err = ReadPreset("cloudflare-tunnel:config.yml")
	require.ErrorContains(t, err, "no file is read for it")
}

func TestPresetALBFiles(t *testing.T) {
	for _, tc := range []struct {
		path, source string
		want         time.Duration
	}{
		{"testdata/presets/alb.tf", "testdata/presets/alb.tf:7", 120 * time.Second},
		{"testdata/presets/alb-cloudformation.yaml", "testdata/presets/alb-cloudformation.yaml", 120 * time.Second},
		{"testdata/alb/attributes.json", "testdata/alb/attributes.json", 0},
	} {
		vals, err := ReadPreset("aws-alb:" + tc.path)
		require.NoError(t, err, tc.path)
		require.Len(t, vals, 1)
		assert.Equal(t, tc.source, vals[0].Source)
		if tc.want > 0 {
			assert.Equal(t, tc.want, vals[0].Duration, tc.path)
		}
		assert.False(t, vals[0].Default)
	}
	for _, tc := range []struct{ path, err string }{
		{"testdata/presets/alb-two.tf", "idle_timeout is set 2 times: ambiguous"},
		{"testdata/presets/alb-var.tf", "testdata/presets/alb-var.tf:2: idle_timeout = var.idle_timeout: want a literal number of seconds"},
		{"testdata/presets/destinationrules.yaml", "no idle_timeout.timeout_seconds attribute: the ALB default 60 s applies"},
		{"testdata/presets/nope.tf", "no such file"},
	} {
		_, err := ReadPreset("aws-alb:" + tc.path)
		require.ErrorContains(t, err, tc.err, tc.path)
	}
	// Two CloudFormation load balancers in one template are ambiguous.
	two := "Resources:\n  A:\n    Properties:\n      LoadBalancerAttributes:\n        - {Key: idle_timeout.timeout_seconds, Value: \"120\"}\n" +
		"  B:\n    Properties:\n      LoadBalancerAttributes:\n        - {Key: idle_timeout.timeout_seconds, Value: \"30\"}\n"
	_, err := ReadPreset("aws-alb:-", WithInput(strings.NewReader(two)))
	require.ErrorContains(t, err, "is set 2 times (120, 30): ambiguous")
}

func TestPresetDestinationRule(t *testing.T) {
	const file = "testdata/presets/destinationrules.yaml"
	_, err := ReadPreset("istio:" + file)
	require.ErrorContains(t, err, "2 DestinationRules, ambiguous: pick one with --upstream NAME")
	require.ErrorContains(t, err, "bookinfo/reviews (host reviews.bookinfo.svc.cluster.local), bookinfo/ratings")

	vals, err := ReadPreset("istio:"+file, WithName("reviews"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"reviews": "30000ms", "reviews port 9080": "15000ms", "reviews subset v2": "120000ms"}, durations(vals))
	for _, v := range vals {
		assert.Equal(t, file+":2", v.Source)
		assert.False(t, v.Default)
	}

	// By host or namespace/name; a rule without idleTimeout has Istio's 1 h.
	for _, name := range []string{"ratings.bookinfo.svc.cluster.local", "bookinfo/ratings", "ratings"} {
		vals, err = ReadPreset("istio:"+file, WithName(name))
		require.NoError(t, err, name)
		require.Len(t, vals, 1)
		assert.Equal(t, time.Hour, vals[0].Duration)
		assert.True(t, vals[0].Default)
		assert.Contains(t, vals[0].Explanation, "Istio's default 1h")
	}

	_, err = ReadPreset("istio:"+file, WithName("details"))
	require.ErrorContains(t, err, `no DestinationRule named "details"`)
	_, err = ReadPreset("istio:testdata/presets/destinationrule-bad.yaml")
	require.ErrorContains(t, err, `idleTimeout "30": want a duration with a unit`)
	_, err = ReadPreset("istio:testdata/presets/alb.tf")
	require.Error(t, err)
	_, err = ReadPreset("istio:-", WithInput(strings.NewReader("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")))
	require.ErrorContains(t, err, "no DestinationRule: Istio's default 1 h applies")

	vals, err = ReadPreset("istio:-", WithInput(strings.NewReader(
		"kind: DestinationRule\nmetadata: {name: x}\nspec:\n  host: x\n  trafficPolicy:\n    connectionPool:\n      http: {idleTimeout: 0s}\n")))
	require.NoError(t, err)
	assert.Equal(t, StateUnbounded, vals[0].State, "0s turns Envoy's idle timer off")
}

// TestCommandPresets runs the guard end to end with each preset.
func TestCommandPresets(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--backend-keepalive", "620s", "--proxy-preset", "gcp-https-lb"}, 0, "PASS backend_keepalive 620000ms >= proxy_idle 600000ms + margin 5000ms"},
		{[]string{"--backend-keepalive", "5s", "--proxy-preset", "aws-alb"}, 1, "proxy    60000ms from preset aws-alb"},
		{[]string{"--backend-keepalive", "95s", "--proxy-preset", "cloudfoundry-gorouter"}, 0, "PASS"},
		{[]string{"--backend-keepalive", "65s", "--proxy-preset", "cloudflare-tunnel"}, 1, "FAIL backend_keepalive 65000ms >= proxy_idle 90000ms"},
		{[]string{"--backend-keepalive", "5s", "--proxy-preset", "istio"}, 1, "3600000ms from preset istio"},
		{[]string{"--backend-keepalive", "35s", "--proxy-preset", "istio:testdata/presets/destinationrules.yaml", "--upstream", "reviews"}, 1, "reviews subset v2: connectionPool.http.idleTimeout 2m"},
		{[]string{"--backend-keepalive", "125s", "--proxy-preset", "aws-alb:testdata/presets/alb.tf"}, 0, "testdata/presets/alb.tf:7: idle_timeout 120"},
		{[]string{"--backend-keepalive", "125s", "--proxy-preset", "istio:testdata/presets/destinationrules.yaml"}, 2, "ambiguous"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tc.args)
			assert.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stdout+stderr, tc.want)
		})
	}
}
