package lab

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/proxies"
)

// racelab guard --verify: the lab agrees with the guard on a failing and a
// passing configuration, by actually running both.
func TestGuardVerifyAgrees(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		exit     int
		contains string
	}{
		{"failing config reproduces", []string{"--backend-keepalive", "5s", "--proxy-idle", "60s", "--margin", "2s", "--verify"}, 1, "the lab agrees: the race reproduced"},
		// 90s against 60s: its timing cell keeps the 60 ms margin with a
		// 180 ms keep-alive (12 s). The narrowest pair, 65s against 60s (a
		// 780 ms keep-alive, 48 s), runs on nginx in internal/cli's
		// TestGuardVerifiesTheFileItself.
		{"passing config does not", []string{"--backend-keepalive", "90s", "--proxy-idle", "60s", "--margin", "2s", "--verify"}, 0, "the lab agrees: no race reproduced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out, errb bytes.Buffer
			code := guard.Command(ctx, tc.args, &out, &errb, guard.WithVerifier(GuardVerifier()))
			if code != tc.exit || !strings.Contains(out.String(), tc.contains) {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.exit, out.String(), errb.String())
			}
		})
	}
}

// Values read from a Caddyfile on standard input (no file to run) are
// verified on Caddy itself, rendered from the values, with POST victims:
// Caddy's transport retries a GET on a reused connection by itself. The
// file's upstream is only read, never contacted. The passing pair (65s)
// is left out: its timing cell runs 60 victims near a 780 ms keep-alive
// (48 s), on the same path as the failing one.
func TestGuardVerifyValuesOnCaddy(t *testing.T) {
	needInCI(t, Available(proxies.KindCaddy))
	conf := "api.example.com {\n\treverse_proxy app.internal.example:3000 {\n\t\ttransport http {\n\t\t\tkeepalive 60s\n\t\t}\n\t}\n}\n"
	for _, tc := range []struct {
		keepAlive string
		exit      int
		contains  string
	}{
		{"5s", 1, "the lab agrees: the race reproduced"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var out, errb bytes.Buffer
		code := guard.Command(ctx, []string{"--backend-keepalive", tc.keepAlive, "--proxy-from", "caddy:-", "--margin", "2s", "--verify"},
			&out, &errb, guard.WithVerifier(GuardVerifier()), guard.WithStdin(strings.NewReader(conf)))
		cancel()
		if code != tc.exit || !strings.Contains(out.String(), tc.contains) {
			t.Fatalf("keep-alive %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", tc.keepAlive, code, tc.exit, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), "on caddy") {
			t.Errorf("keep-alive %s: not verified on Caddy:\n%s", tc.keepAlive, out.String())
		}
	}
}
