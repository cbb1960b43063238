package lab

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/guard"
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
		{"passing config does not", []string{"--backend-keepalive", "65s", "--proxy-idle", "60s", "--margin", "2s", "--verify"}, 0, "the lab agrees: no race reproduced"},
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
