package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func runCommand(t *testing.T, args []string, opts ...Option) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Command(context.Background(), args, &stdout, &stderr, opts...)
	return code, stdout.String(), stderr.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./guard -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), got)
}

func TestCommandGolden(t *testing.T) {
	albJSON, err := os.ReadFile("testdata/alb/attributes.json")
	require.NoError(t, err)
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{name: "explicit-pass", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--margin", "2s"}, code: 0},
		{name: "explicit-fail", args: []string{"--backend-keepalive", "5s", "--proxy-idle", "60s"}, code: 1},
		{name: "gunicorn-nginx", args: []string{"--backend-from", "gunicorn:testdata/gunicorn/gunicorn.conf.py", "--proxy-from", "nginx:testdata/nginx/includes/nginx.conf"}, code: 1},
		{name: "node-haproxy", args: []string{"--backend-from", "node:testdata/node/server.json", "--proxy-from", "haproxy:testdata/haproxy/haproxy.cfg", "--upstream", "be_api"}, code: 0},
		{name: "tomcat-envoy", args: []string{"--backend-from", "tomcat:testdata/tomcat/server.xml", "--proxy-from", "envoy:testdata/envoy/bootstrap.yaml"}, code: 1},
		{name: "env-alb", args: []string{"--backend-from", "env:testdata/env/app.env#KEEP_ALIVE_TIMEOUT_MS", "--proxy-from", "alb-json:-"}, stdin: string(albJSON), code: 0},
		{name: "apache-alb-json", args: []string{"--backend-from", "apache:testdata/apache/etc/apache2/apache2.conf", "--root", "testdata/apache", "--proxy-from", "alb-json:-", "--json"}, stdin: string(albJSON), code: 0},
		{name: "puma-nginx-json", args: []string{"--backend-from", "puma:testdata/puma/defaults.rb", "--proxy-from", "nginx:testdata/nginx/basic/nginx.conf", "--upstream", "api", "--json"}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tt.args, WithStdin(strings.NewReader(tt.stdin)))
			assert.Equal(t, tt.code, code, "stderr: %s", stderr)
			assert.Empty(t, stderr)
			ext := ".txt"
			if strings.Contains(tt.name, "json") {
				ext = ".json"
				var v map[string]any
				require.NoError(t, json.Unmarshal([]byte(stdout), &v), "output is one JSON document")
				assert.Equal(t, tt.code == 0, v["pass"])
			}
			golden(t, tt.name+ext, stdout)
		})
	}
}

func TestCommandUsage(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		code, stdout, stderr := runCommand(t, []string{arg})
		assert.Equal(t, 0, code)
		assert.Contains(t, stdout, "Usage: racelab guard")
		assert.Contains(t, stdout, "racelab guard --backend-keepalive 65s --proxy-idle 60s --margin 2s")
		assert.Contains(t, stdout, "-proxy-from KIND:PATH")
		assert.Equal(t, 1, strings.Count(stdout, "Usage: racelab guard"), "usage printed once")
		assert.Empty(t, stderr)
	}

	tests := []struct {
		name string
		args []string
		err  string
	}{
		{name: "nothing", args: nil, err: "give exactly one of --backend-keepalive and --backend-from"},
		{name: "both backend", args: []string{"--backend-keepalive", "65s", "--backend-from", "node:x.json", "--proxy-idle", "60s"}, err: "exactly one of --backend-keepalive"},
		{name: "no proxy", args: []string{"--backend-keepalive", "65s"}, err: "give exactly one of --proxy-idle, --proxy-from and --proxy-preset"},
		{name: "bare backend", args: []string{"--backend-keepalive", "65", "--proxy-idle", "60s"}, err: `--backend-keepalive "65": a bare number has no unit; write 65s or 65ms`},
		{name: "bare proxy", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60000"}, err: "write 60000s or 60000ms"},
		{name: "bare margin", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--margin", "2"}, err: "--margin \"2\": a bare number"},
		{name: "negative margin", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--margin", "-2s"}, err: "negative"},
		{name: "zero", args: []string{"--backend-keepalive", "0s", "--proxy-idle", "60s"}, err: "zero is ambiguous"},
		{name: "non-numeric", args: []string{"--backend-keepalive", "soon", "--proxy-idle", "60s"}, err: "want a number with a unit"},
		{name: "unknown flag", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--strict"}, err: "flag provided but not defined: -strict"},
		{name: "positional", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "extra"}, err: `unexpected argument "extra"`},
		{name: "two stdin", args: []string{"--backend-from", "env:-#X_MS", "--proxy-from", "alb-json:-"}, err: "only one source can read standard input"},
		{name: "upstream without source", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--upstream", "app"}, err: "applies to --proxy-from"},
		{name: "unknown preset", args: []string{"--backend-keepalive", "65s", "--proxy-preset", "azure-appgw"}, err: `--proxy-preset "azure-appgw": unknown preset; want one of aws-alb, gcp-https-lb, istio, cloudfoundry-gorouter, cloudflare-tunnel`},
		{name: "preset and idle", args: []string{"--backend-keepalive", "65s", "--proxy-preset", "aws-alb", "--proxy-idle", "60s"}, err: "exactly one of --proxy-idle, --proxy-from and --proxy-preset"},
		{name: "upstream with a preset that has no file", args: []string{"--backend-keepalive", "65s", "--proxy-preset", "aws-alb", "--upstream", "x"}, err: "--proxy-preset istio:FILE"},
		{name: "fixed preset with a file", args: []string{"--backend-keepalive", "65s", "--proxy-preset", "gcp-https-lb:x.yaml"}, err: "fixed at 600000ms; no file sets it"},
		{name: "upstream and cluster", args: []string{"--backend-keepalive", "65s", "--proxy-from", "envoy:x", "--upstream", "a", "--cluster", "b"}, err: "at most one of --upstream and --cluster"},
		{name: "bad kind", args: []string{"--backend-keepalive", "65s", "--proxy-from", "traefik:x.toml"}, err: "KIND one of nginx, haproxy, envoy, alb-json"},
		{name: "missing file", args: []string{"--backend-keepalive", "65s", "--proxy-from", "nginx:testdata/nope.conf"}, err: "no such file"},
		{name: "garbage source", args: []string{"--backend-keepalive", "65s", "--proxy-from", "alb-json:testdata/nginx/basic/nginx.conf"}, err: "read alb-json"},
		{name: "require explicit", args: []string{"--backend-from", "puma:testdata/puma/defaults.rb", "--proxy-idle", "60s", "--require-explicit"}, err: "testdata/puma/defaults.rb: not set, the default 20000ms applies (persistent_timeout not set: Puma's default 20s before 7.0); set it explicitly"},
		{name: "verify without lab", args: []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--verify"}, err: "--verify: no lab is configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tt.args, WithStdin(strings.NewReader("")))
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr, tt.err)
			assert.NotContains(t, stderr, "Usage:", "a usage error prints the error, not the whole usage")
			assert.Empty(t, stdout)
		})
	}
}

// Run and ExitCode are what the racelab CLI calls after parsing Flags
// itself: input problems exit 2, a lab that cannot run 1.
func TestRunExitCodes(t *testing.T) {
	parse := func(args ...string) *Flags {
		var f Flags
		fs := flag.NewFlagSet("guard", flag.ContinueOnError)
		f.Register(fs)
		require.NoError(t, fs.Parse(args))
		require.NoError(t, f.Check(fs.Args()))
		return &f
	}
	var out bytes.Buffer
	pass, err := Run(context.Background(), parse("--backend-keepalive", "65s", "--proxy-idle", "60s", "--margin", "2s"), &out)
	assert.True(t, pass)
	assert.NoError(t, err)
	assert.Equal(t, ExitPass, ExitCode(pass, err))
	assert.Contains(t, out.String(), "guard: PASS")

	pass, err = Run(context.Background(), parse("--backend-keepalive", "5s", "--proxy-idle", "60s"), &out)
	assert.Equal(t, ExitFail, ExitCode(pass, err))

	pass, err = Run(context.Background(), parse("--backend-keepalive", "5", "--proxy-idle", "60s"), &out)
	assert.Error(t, err)
	assert.Equal(t, ExitUnusable, ExitCode(pass, err))

	failing := func(context.Context, VerifyRequest) (VerifyResult, error) {
		return VerifyResult{}, errors.New("no nginx")
	}
	pass, err = Run(context.Background(), parse("--backend-keepalive", "65s", "--proxy-idle", "60s", "--verify"), &out, WithVerifier(failing))
	var le *LabError
	assert.ErrorAs(t, err, &le)
	assert.Equal(t, ExitFail, ExitCode(pass, err))

	var f Flags
	assert.ErrorContains(t, f.Check([]string{"x"}), `unexpected argument "x"`)
}

func TestCommandRequireExplicitPasses(t *testing.T) {
	code, _, stderr := runCommand(t, []string{"--backend-from", "puma:testdata/puma/puma.rb", "--proxy-from", "nginx:testdata/nginx/basic/nginx.conf", "--upstream", "api", "--require-explicit"})
	assert.Equal(t, 0, code, stderr)
}

func TestCommandJSONError(t *testing.T) {
	code, stdout, stderr := runCommand(t, []string{"--backend-keepalive", "65s", "--proxy-from", "envoy:testdata/envoy/cds.yaml", "--json"})
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "clusters come from CDS")
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &v))
	assert.Equal(t, "error", v["verdict"])
	assert.Equal(t, false, v["pass"])
	assert.Contains(t, v["error"], "clusters come from CDS")
}

// modelLab stands in for the lab: the race reproduces when the backend's
// keep-alive is shorter than the proxy's idle timeout, which is what the
// lab measures on loopback. It records what it was asked.
type modelLab struct {
	requests []VerifyRequest
	result   func(VerifyRequest) VerifyResult
}

func (m *modelLab) verify(_ context.Context, req VerifyRequest) (VerifyResult, error) {
	m.requests = append(m.requests, req)
	if m.result != nil {
		return m.result(req), nil
	}
	if req.BackendKeepAlive < req.ProxyIdle {
		return VerifyResult{
			Deterministic: ScenarioResult{Reproduced: true, Trials: 20, Failures: 20, Summary: "close-on-reuse: 502 on every reused connection"},
			Timing:        ScenarioResult{Reproduced: true, Trials: 200, Failures: 61, Summary: "gaps between the timeouts: 502s near the backend's deadline"},
		}, nil
	}
	return VerifyResult{
		Deterministic: ScenarioResult{Trials: 20, Summary: "the proxy retired every connection before the backend closed it"},
		Timing:        ScenarioResult{Trials: 200, Summary: "no failure at any gap"},
	}, nil
}

func TestCommandVerify(t *testing.T) {
	t.Run("agrees on a passing configuration", func(t *testing.T) {
		lab := &modelLab{}
		code, stdout, stderr := runCommand(t, []string{"--backend-from", "gunicorn:testdata/gunicorn/gunicorn.conf.py",
			"--proxy-from", "nginx:testdata/nginx/basic/nginx.conf", "--upstream", "api", "--verify"}, WithVerifier(lab.verify))
		assert.Equal(t, 0, code, stderr)
		assert.Contains(t, stdout, "lab      the lab agrees: no race reproduced with these values")
		assert.Contains(t, stdout, "guard: PASS")
		require.Len(t, lab.requests, 1)
		req := lab.requests[0]
		assert.Equal(t, 75*time.Second, req.BackendKeepAlive)
		assert.Equal(t, 58*time.Second, req.ProxyIdle)
		assert.Equal(t, DefaultMargin, req.Margin)
		assert.Equal(t, "nginx", req.ProxyKind)
		assert.Equal(t, "gunicorn", req.BackendKind)
		assert.Equal(t, "upstream api", req.Proxy.Name)
		assert.True(t, req.GuardPass)
	})
	t.Run("agrees on a failing configuration", func(t *testing.T) {
		lab := &modelLab{}
		code, stdout, _ := runCommand(t, []string{"--backend-from", "gunicorn:testdata/gunicorn/Dockerfile",
			"--proxy-from", "nginx:testdata/nginx/basic/nginx.conf", "--verify", "--json"}, WithVerifier(lab.verify))
		assert.Equal(t, 1, code)
		var v struct {
			Verdict string         `json:"verdict"`
			Lab     string         `json:"lab"`
			Verify  []Verification `json:"verify"`
		}
		require.NoError(t, json.Unmarshal([]byte(stdout), &v))
		assert.Equal(t, "fail", v.Verdict)
		assert.Equal(t, "agrees", v.Lab)
		require.Len(t, v.Verify, 2, "both upstreams run")
		for _, ver := range v.Verify {
			assert.True(t, ver.Agrees)
			assert.True(t, ver.Result.Deterministic.Reproduced)
			assert.Equal(t, 20, ver.Result.Deterministic.Failures)
		}
	})
	t.Run("a margin-only failure agrees with no reproduction", func(t *testing.T) {
		lab := &modelLab{}
		code, stdout, _ := runCommand(t, []string{"--backend-keepalive", "62s", "--proxy-idle", "60s", "--verify"}, WithVerifier(lab.verify))
		assert.Equal(t, 1, code, "the verdict still fails")
		assert.Contains(t, stdout, "by less than the margin")
		assert.Contains(t, stdout, "guard: FAIL: 1 of 1 pairs fail")
	})
	t.Run("contradicted pass", func(t *testing.T) {
		lab := &modelLab{result: func(VerifyRequest) VerifyResult {
			return VerifyResult{Timing: ScenarioResult{Reproduced: true, Trials: 100, Failures: 1, Summary: "one 502 at +0.4ms"}}
		}}
		code, stdout, _ := runCommand(t, []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--verify"}, WithVerifier(lab.verify))
		assert.Equal(t, 1, code)
		assert.Contains(t, stdout, "the lab contradicts the guard: the guard passes these values but the lab reproduced the race")
		assert.Contains(t, stdout, "guard: FAIL: the lab contradicts the guard's verdict")
	})
	t.Run("contradicted fail", func(t *testing.T) {
		lab := &modelLab{result: func(VerifyRequest) VerifyResult { return VerifyResult{Deterministic: ScenarioResult{Trials: 20}} }}
		code, stdout, _ := runCommand(t, []string{"--backend-keepalive", "5s", "--proxy-idle", "60s", "--verify", "--json"}, WithVerifier(lab.verify))
		assert.Equal(t, 1, code)
		assert.Contains(t, stdout, `"lab": "contradicts"`)
		assert.Contains(t, stdout, "the backend closes first, yet the lab did not reproduce the race")
	})
	t.Run("unbounded and off pairs are skipped", func(t *testing.T) {
		lab := &modelLab{}
		code, stdout, _ := runCommand(t, []string{"--backend-from", "tomcat:testdata/tomcat/server.xml",
			"--proxy-from", "envoy:testdata/envoy/bootstrap.yaml", "--verify"}, WithVerifier(lab.verify))
		assert.Equal(t, 1, code)
		assert.Len(t, lab.requests, 4, "2 connectors x 2 finite clusters")
		assert.Contains(t, stdout, "verify: pair 5: not verified: backend 75000ms, proxy unbounded")
	})
	t.Run("nothing to verify", func(t *testing.T) {
		lab := &modelLab{}
		code, _, stderr := runCommand(t, []string{"--backend-keepalive", "off", "--proxy-idle", "60s", "--verify"}, WithVerifier(lab.verify))
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "no pair has finite timeouts")
	})
	t.Run("lab error", func(t *testing.T) {
		failing := func(context.Context, VerifyRequest) (VerifyResult, error) {
			return VerifyResult{}, errors.New("start nginx: executable not found")
		}
		code, _, stderr := runCommand(t, []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--verify"}, WithVerifier(failing))
		assert.Equal(t, 1, code, "the lab could not run: a run failure, not unusable input")
		assert.Contains(t, stderr, "verify: start nginx: executable not found")
	})
	t.Run("inconsistent lab result", func(t *testing.T) {
		lab := &modelLab{result: func(VerifyRequest) VerifyResult {
			return VerifyResult{Timing: ScenarioResult{Reproduced: true, Trials: 1, Failures: 3}}
		}}
		code, _, stderr := runCommand(t, []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--verify"}, WithVerifier(lab.verify))
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "inconsistent lab result: timing scenario: 3 failures in 1 trials")
	})
	t.Run("cancelled", func(t *testing.T) {
		lab := &modelLab{}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stdout, stderr bytes.Buffer
		code := Command(ctx, []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--verify"}, &stdout, &stderr, WithVerifier(lab.verify))
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr.String(), "context canceled")
		assert.Empty(t, lab.requests)
	})
}
