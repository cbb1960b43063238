package appserver_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/racelab/racelab/internal/appserver"
	"github.com/racelab/racelab/probe"
)

// requireRuntime skips a test whose runtime is not installed, saying what
// to install; in CI (the test script installs every runtime) it fails.
func requireRuntime(t *testing.T, name appserver.Name) {
	t.Helper()
	if err := appserver.Available(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("runtime must be installed in CI: %v", err)
		}
		t.Skip(err)
	}
}

// TestRuntimesStartAnswerLogProbeStop starts every runtime with a 1s
// keep-alive, sends requests with ids, checks each id's executions in
// the server's own log, measures its idle close from outside, and checks
// that Stop ended the process group and removed the directory.
func TestRuntimesStartAnswerLogProbeStop(t *testing.T) {
	for _, rt := range appserver.Runtimes() {
		t.Run(string(rt.Name), func(t *testing.T) {
			t.Parallel()
			requireRuntime(t, rt.Name)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			s, err := appserver.Start(ctx, appserver.Spec{Name: rt.Name, KeepAlive: time.Second})
			t.Cleanup(func() { _ = s.Stop(context.Background()) })
			if err != nil {
				t.Fatal(err)
			}
			if s.Version() == "" {
				t.Error("no version")
			}
			for _, id := range []string{"a-1", "a-2", "a-2"} {
				if err := appserver.Get(ctx, s.Addr(), id); err != nil {
					t.Fatalf("request %s: %v", id, err)
				}
			}
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			defer wcancel()
			for id, want := range map[string]int{"a-1": 1, "a-2": 2, "a-3": 0} {
				if want > 0 {
					if _, err := s.Evidence().Wait(wctx, id, "access"); err != nil {
						t.Fatalf("no log line for %s: %v", id, err)
					}
				}
				// Lines of one request id come in order: wait for the last.
				deadline := time.Now().Add(5 * time.Second)
				for s.Executions(id) < want && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if got := s.Executions(id); got != want {
					t.Errorf("executions of %s = %d, want %d", id, got, want)
				}
			}
			res, err := probe.Measure(ctx, s.URL(), probe.WithSamples(2), probe.WithMaxWait(30*time.Second), probe.WithMaxRequests(0))
			if err != nil {
				t.Fatal(err)
			}
			if !res.KeepAlive || res.NeverClosed {
				t.Fatalf("probe: %s", res.Summary())
			}
			// Every runtime closes an idle connection at its setting or
			// later (Node.js adds a second); none sooner, none after 5s.
			if res.Min < 900*time.Millisecond || res.Max > 5*time.Second {
				t.Errorf("idle close %v..%v with keep-alive 1s", res.Min, res.Max)
			}
			t.Logf("%s %s: keep-alive 1s closes after %v (%v..%v), %s", rt.Name, s.Version(), res.Median, res.Min, res.Max, res.Close)

			pid, dir := s.PID(), s.Info()["dir"]
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(-pid, 0); err != syscall.ESRCH {
				t.Errorf("process group %d after Stop: %v, want ESRCH", pid, err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) || dir == "" || !filepath.IsAbs(dir) {
				t.Errorf("directory %q after Stop: %v", dir, err)
			}
		})
	}
}
