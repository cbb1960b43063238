package probe_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
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
	return "http://" + b.Addr() + "/r/probe"
}

func measure(t *testing.T, url string, opts ...probe.Option) *probe.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := probe.Measure(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestParseTarget(t *testing.T) {
	ok := map[string]string{
		"http://127.0.0.1:8080/health": "127.0.0.1:8080",
		"127.0.0.1:3000":               "127.0.0.1:3000",
		"http://localhost:3000":        "127.0.0.1:3000",
		"http://[::1]:3000/":           "[::1]:3000",
		"http://127.1.2.3/":            "127.1.2.3:80",
	}
	for in, addr := range ok {
		tg, err := probe.ParseTarget(in)
		if err != nil || tg.Addr != addr {
			t.Errorf("ParseTarget(%q) = %+v, %v; want addr %s", in, tg, err, addr)
		}
	}
	for _, in := range []string{"http://10.0.0.1/", "http://example.com/", "http://169.254.169.254/", "http://[::ffff:10.0.0.1]/", "http://0.0.0.0:80/"} {
		if _, err := probe.ParseTarget(in); !errors.Is(err, probe.ErrNotLoopback) {
			t.Errorf("ParseTarget(%q) = %v, want ErrNotLoopback", in, err)
		}
	}
	for _, in := range []string{"https://127.0.0.1/", "ftp://127.0.0.1/", "", "http://u:p@127.0.0.1/"} {
		if _, err := probe.ParseTarget(in); err == nil || errors.Is(err, probe.ErrNotLoopback) {
			t.Errorf("ParseTarget(%q) = %v, want a usage error", in, err)
		}
	}
}

// The probe's figure for racelab's backend, whose idle timer is precise
// to well under a millisecond, is the known timeout plus the loopback
// delivery of the FIN. The bound here is generous, for a loaded machine;
// BenchmarkProbeError reports the precise error.
func TestMeasureKnownTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	url := startBackend(t, backends.Config{IdleTimeout: idle, MaxRequestsPerConn: 7})
	res := measure(t, url)
	if !res.KeepAlive || res.NeverClosed || res.Close != "fin" || len(res.Samples) != probe.DefaultSamples {
		t.Fatalf("result %+v", res)
	}
	// Below the timeout only by how late the probe read the response,
	// above it by how late it saw the close: scheduling delay on a loaded
	// machine (seen: 12ms under -race). The median leaves one stall out.
	if res.Median < idle-50*time.Millisecond || res.Median > idle+200*time.Millisecond {
		t.Errorf("median %v (samples %+v), want about %v", res.Median, res.Samples, idle)
	}
	if res.MaxRequests != 7 || res.MaxRequestsClose != "Connection: close" || res.MaxRequestsText() != "7" {
		t.Errorf("max requests %d (%q), want 7 by Connection: close", res.MaxRequests, res.MaxRequestsClose)
	}
	var j map[string]any
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	if j["close"] != "fin" || j["url"] != url || len(j["samples_ms"].([]any)) != 3 || j["max_requests"].(float64) != 7 {
		t.Errorf("json %s", data)
	}
	if m := j["idle_timeout_ms"].(float64); m < 199 || m > 300 {
		t.Errorf("idle_timeout_ms %v", m)
	}
}

func TestMeasureRST(t *testing.T) {
	url := startBackend(t, backends.Config{IdleTimeout: 100 * time.Millisecond, CloseStyle: backends.CloseRST})
	res := measure(t, url, probe.WithSamples(2), probe.WithMaxRequests(20))
	if res.Close != "rst" {
		t.Fatalf("close %q, want rst", res.Close)
	}
	if res.MaxRequests != 20 || res.MaxRequestsClose != "" || res.MaxRequestsText() != "≥20" {
		t.Errorf("max requests %d (%q), want ≥20", res.MaxRequests, res.MaxRequestsClose)
	}
}

func TestMeasureNeverCloses(t *testing.T) {
	url := startBackend(t, backends.Config{})
	var progress []string
	res := measure(t, url, probe.WithMaxWait(300*time.Millisecond), probe.WithMaxRequests(0),
		probe.WithProgress(func(s string) { progress = append(progress, s) }), probe.WithProgressEvery(100*time.Millisecond))
	if !res.NeverClosed || !res.KeepAlive || res.Summary() != "no idle close within 300ms" {
		t.Fatalf("result %+v: %s", res, res.Summary())
	}
	if len(progress) == 0 || !strings.Contains(progress[0], "at most 300ms") {
		t.Errorf("progress %q", progress)
	}
	data, _ := json.Marshal(res)
	if !strings.Contains(string(data), `"idle_timeout_ms":null`) || !strings.Contains(string(data), `"max_requests":null`) {
		t.Errorf("json %s", data)
	}
}

func TestMeasureNoKeepAlive(t *testing.T) {
	url := startBackend(t, backends.Config{MaxRequestsPerConn: 1, IdleTimeout: time.Second})
	res := measure(t, url)
	if res.KeepAlive || res.NeverClosed || res.MaxRequests != 1 {
		t.Fatalf("result %+v", res)
	}
}

func TestMeasureUnusableTargets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	notHTTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer notHTTP.Close()
	go func() {
		for {
			c, err := notHTTP.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			c.Close()
		}
	}()
	for name, url := range map[string]string{"refused": "http://" + closed + "/", "not http": "http://" + notHTTP.Addr().String() + "/"} {
		_, err := probe.Measure(context.Background(), url, probe.WithResponseTimeout(2*time.Second))
		var u *probe.Unreachable
		if !errors.As(err, &u) {
			t.Errorf("%s: error %v, want Unreachable", name, err)
		}
	}
	if _, err := probe.Measure(context.Background(), "http://192.0.2.1/"); !errors.Is(err, probe.ErrNotLoopback) {
		t.Errorf("non-loopback: %v", err)
	}
}

// Node.js closes an idle connection at keepAliveTimeout, or — Node.js 20
// releases that advertise "Keep-Alive: timeout" — one second later: the
// test checks the probe finds one of the two, within a bound generous
// enough for a loaded machine, and logs which (docs/guard.md has the
// figure measured by hand: within 0.1%).
func TestMeasureNode(t *testing.T) {
	const keepAlive = 300 * time.Millisecond
	n := nodetest.Start(t, int(keepAlive/time.Millisecond), 0)
	res := measure(t, n.URL)
	near := func(want time.Duration) bool {
		return res.Median >= want-want/10 && res.Median <= want+want/10+100*time.Millisecond
	}
	if res.NeverClosed || !(near(keepAlive) || near(keepAlive+time.Second)) {
		t.Fatalf("node %s keepAliveTimeout %v: probe %s", n.Version, keepAlive, res.Summary())
	}
	t.Logf("node %s keepAliveTimeout %v: %s; max requests %s", n.Version, keepAlive, res.Summary(), res.MaxRequestsText())
}
