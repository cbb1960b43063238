package lab

import (
	"context"
	"fmt"
	"os"
	"time"

	engine "github.com/moby/moby/client"

	"github.com/racelab/racelab/internal/container"
)

// engineTimeout bounds the ping of the engine DOCKER_HOST names.
const engineTimeout = 5 * time.Second

// engineAvailable checks the container engine. When DOCKER_HOST names
// one, that engine must answer: the container library tries DOCKER_HOST
// and, when it does not answer, silently goes on to the local socket, so
// a run meant for a remote engine would run on the local one instead.
func engineAvailable(ctx context.Context) error {
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		if err := pingHost(ctx, host); err != nil {
			return fmt.Errorf("DOCKER_HOST=%s: %w (racelab does not fall back to another engine; unset DOCKER_HOST for the local one)", host, err)
		}
	}
	return container.Available(ctx)
}

// pingHost pings the engine at host with the client settings of the
// environment (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION).
func pingHost(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	cli, err := engine.New(engine.FromEnv, engine.WithHost(host))
	if err != nil {
		return fmt.Errorf("docker engine client: %w", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, engine.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("docker engine not reachable: %w", err)
	}
	return nil
}
