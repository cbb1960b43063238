package guard

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/nodetest"
	"github.com/racelab/racelab/probe"
)

func startBackend(t *testing.T, cfg backends.Config) string {
	t.Helper()
	b, err := backends.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return "http://" + b.Addr() + "/r/guard"
}

func runGuardArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Command(ctx, args, &out, &errb, WithProxyProber(func(ctx context.Context, kind, path, root, upstream string, samples int, maxWait time.Duration) (*probe.Result, error) {
		// A stand-in for the lab: a proxy that closes idle upstream
		// connections after 1.5s, or never (kind "never").
		s := probe.Sample{Idle: 1500 * time.Millisecond, Close: probe.CloseFIN}
		if kind == "never" {
			s = probe.Sample{NeverClosed: true}
		}
		return probe.NewResult("", kind+" "+path, []probe.Sample{s}, maxWait), nil
	}))
	return code, out.String(), errb.String()
}

// A live backend's measured keep-alive is checked like a configured one,
// and says it was measured.
func TestGuardProbeBackend(t *testing.T) {
	url := startBackend(t, backends.Config{IdleTimeout: 200 * time.Millisecond})
	code, out, errb := runGuardArgs(t, "--backend-from", "probe:"+url, "--proxy-idle", "1s")
	if code != ExitFail || !strings.Contains(out, "fin") {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
	// The median is measured: never before the backend's 200ms, and late
	// by however late a loaded machine fires the backend's timer (228ms
	// was seen at load 9), so the bound above is loose.
	m := regexp.MustCompile(`from ` + regexp.QuoteMeta(url) + `: measured by probe: 3 samples, median (\d+)ms`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no measured median in: %s", out)
	}
	if ms, _ := strconv.Atoi(m[1]); ms < 200 || ms > 600 {
		t.Errorf("median %sms: want 200ms to 600ms (the backend closes at 200ms)", m[1])
	}
	code, out, _ = runGuardArgs(t, "--backend-from", "probe:"+url, "--proxy-idle", "100ms", "--margin", "50ms", "--json")
	if code != ExitPass || !strings.Contains(out, `"explanation": "measured by probe: 3 samples`) {
		t.Errorf("exit %d: %s", code, out)
	}
}

// A backend that never closes passes once it has outlived the proxy's
// idle timeout plus the margin: the probe waits no longer.
func TestGuardProbeBackendWaitsOnlyAsLongAsTheRuleNeeds(t *testing.T) {
	url := startBackend(t, backends.Config{})
	began := time.Now()
	code, out, errb := runGuardArgs(t, "--backend-from", "probe:"+url, "--proxy-idle", "100ms", "--margin", "100ms", "--probe-samples", "1")
	if code != ExitPass || !strings.Contains(out, "no idle close within 1.2s: it keeps idle connections at least 1200ms") || !strings.Contains(out, "waited no longer than the rule needs") {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("took %v: the wait was not capped", took)
	}
}

func TestGuardProbeProxy(t *testing.T) {
	code, out, errb := runGuardArgs(t, "--proxy-from", "probe:nginx", "--backend-keepalive", "5s", "--margin", "1s")
	if code != ExitPass || !strings.Contains(out, "proxy    1500ms from nginx : measured by probe: 1 sample, 1500ms, fin") {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
	code, out, _ = runGuardArgs(t, "--proxy-from", "probe:never", "--backend-keepalive", "5s", "--probe-max-wait", "1s")
	if code != ExitFail || !strings.Contains(out, "no idle close within 1s: counted as no idle limit") {
		t.Errorf("exit %d: %s", code, out)
	}
}

func TestGuardProbeUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend-from", "probe:http://10.0.0.1/", "--proxy-idle", "1s"}, "loopback only"},
		{[]string{"--backend-from", "probe:http://127.0.0.1:1/", "--proxy-idle", "1s", "--backend-name", "x"}, "a probe measures the server"},
		{[]string{"--backend-keepalive", "1s", "--proxy-from", "probe:"}, "want probe:KIND"},
		{[]string{"--backend-keepalive", "1s", "--proxy-from", "probe:nginx", "--upstream", "app"}, "go with a configuration file"},
		{[]string{"--backend-keepalive", "1s", "--proxy-idle", "1s", "--probe-max-wait", "10"}, "--probe-max-wait"},
		{[]string{"--backend-keepalive", "1s", "--proxy-idle", "1s", "--probe-samples", "0"}, "--probe-samples 0"},
	} {
		code, out, errb := runGuardArgs(t, c.args...)
		if code != ExitUnusable || !strings.Contains(out+errb, c.want) {
			t.Errorf("%q: exit %d, want 2 and %q: %s%s", c.args, code, c.want, out, errb)
		}
	}
}

// The deploy-time gate on a live Node.js server (racelab guard
// --backend-from probe:URL): its measured idle close is far below the
// proxy's idle timeout plus the margin, and the value says it was
// measured.
func TestGuardProbeNode(t *testing.T) {
	n := nodetest.Start(t, 300, 0)
	code, out, errb := runGuardArgs(t, "--backend-from", "probe:"+n.URL, "--proxy-idle", "1s")
	if code != ExitFail || !strings.Contains(out, "FAIL") || !strings.Contains(out, "from "+n.URL+": measured by probe: 3 samples, median") {
		t.Errorf("exit %d: %s%s", code, out, errb)
	}
	t.Logf("node %s keepAliveTimeout 300:\n%s", n.Version, out)
}
