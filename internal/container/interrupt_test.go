package container_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/nginx"
)

// Environment of the helper process TestInterrupt runs.
const (
	envHelperImage = "RACELAB_CONTAINER_HELPER_IMAGE"
	envHelperRun   = "RACELAB_CONTAINER_HELPER_RUN"
)

// TestHelperProcess is a racelab-like program: it starts a proxy
// container, waits for SIGINT, and stops the proxy on its way out, the
// way the CLI does. It only runs as TestInterrupt's child.
func TestHelperProcess(t *testing.T) {
	image := os.Getenv(envHelperImage)
	if image == "" {
		t.Skip("helper process of TestInterrupt")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	be := backend(t)
	fmt.Println("starting")
	p, err := container.Start(ctx, nginx.Adapter{}, spec(proxies.KindNginx, be.Listener.Addr().String(), t), image,
		container.WithRunID(os.Getenv(envHelperRun)))
	defer func() {
		fmt.Println("stop:", p.Stop(context.Background()))
	}()
	if err != nil {
		fmt.Println("start:", err)
		return
	}
	fmt.Println("ready", p.ID())
	<-ctx.Done()
}

// TestInterrupt sends SIGINT to a program that runs a proxy container,
// once while the container starts and once while it serves, and checks
// that the program leaves no container behind.
func TestInterrupt(t *testing.T) {
	image := requireImage(t)
	// starting: before any container exists; created: the container
	// exists and Start waits for it; ready: the proxy serves.
	for _, at := range []string{"starting", "created", "ready"} {
		t.Run(at, func(t *testing.T) {
			runID := fmt.Sprintf("test-interrupt-%s-%d", at, time.Now().UnixNano())
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(), envHelperImage+"="+image, envHelperRun+"="+runID)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() {
				// Whatever happened, leave nothing behind.
				_, _ = container.Cleanup(context.Background(), runID)
			})

			var signalled bool
			polled := make(chan error, 1)
			if at == "created" {
				// Watch the engine for the run's container and interrupt
				// as soon as it exists, while Start still runs.
				go func() {
					tick := time.NewTicker(5 * time.Millisecond)
					defer tick.Stop()
					deadline := time.After(30 * time.Second)
					for {
						left, err := container.List(ctx, runID)
						if err != nil || len(left) > 0 {
							if err == nil {
								err = cmd.Process.Signal(syscall.SIGINT)
							}
							polled <- err
							return
						}
						select {
						case <-tick.C:
						case <-deadline:
							polled <- fmt.Errorf("no container of run %s appeared", runID)
							return
						}
					}
				}()
			}

			sc := bufio.NewScanner(out)
			var lines []string
			for sc.Scan() {
				line := sc.Text()
				lines = append(lines, line)
				if at != "created" && !signalled && strings.HasPrefix(line, at) {
					require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
					signalled = true
				}
			}
			require.NoError(t, cmd.Wait(), "helper output:\n%s", strings.Join(lines, "\n"))
			if at == "created" {
				require.NoError(t, <-polled)
				signalled = true
				// The signal came before the proxy was ready.
				assert.NotContains(t, strings.Join(lines, "\n"), "ready ")
			}
			require.True(t, signalled, "helper never said %q:\n%s", at, strings.Join(lines, "\n"))
			t.Logf("helper output:\n%s", strings.Join(lines, "\n"))
			assert.Contains(t, lines, "stop: <nil>")

			left, err := container.List(context.Background(), runID)
			require.NoError(t, err)
			assert.Empty(t, left, "containers left after SIGINT")
		})
	}
}
