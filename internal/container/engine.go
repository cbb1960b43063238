package container

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Environment variables read by the container library. Setup sets them
// for this process when they are unset; an explicit value always wins.
const (
	// EnvRyukDisabled turns off the reaper container, whose image needs a
	// registry. Containers are removed by Stop and Cleanup instead.
	EnvRyukDisabled = "TESTCONTAINERS_RYUK_DISABLED"
	// EnvHostOverride makes the library address the engine's host as
	// 127.0.0.1 when this process itself runs in a container.
	EnvHostOverride = "TESTCONTAINERS_HOST_OVERRIDE"
)

// Engine timeouts: engineTimeout bounds finding the engine, pingTimeout
// the ping of Available.
const (
	engineTimeout = 15 * time.Second
	pingTimeout   = 5 * time.Second
)

var setupOnce sync.Once

// setup prepares the process environment before the container library
// reads it for the first time (it reads it once).
func setup() {
	setupOnce.Do(func() {
		if _, ok := os.LookupEnv(EnvRyukDisabled); !ok {
			_ = os.Setenv(EnvRyukDisabled, "true")
		}
		if _, ok := os.LookupEnv(EnvHostOverride); !ok {
			if _, err := os.Stat("/.dockerenv"); err == nil {
				_ = os.Setenv(EnvHostOverride, "127.0.0.1")
			}
		}
		// The library's global logger prints to stderr; racelab logs
		// through the slog.Logger each call is given, off by default.
		tclog.SetDefault(tclog.NewNoopLogger())
	})
}

// newClient returns an engine client that has answered a ping. The API
// version is negotiated with the engine (Docker 20.10 speaks 1.41).
//
// The container library finds the engine once per process and keeps the
// result, failure included, and panics if the engine stops answering
// halfway through: the lookup therefore runs detached from ctx's
// cancellation (a Ctrl-C must not poison the process's later calls),
// bounded by engineTimeout, and a panic becomes an error.
func newClient(ctx context.Context) (cli *testcontainers.DockerClient, err error) {
	setup()
	defer func() {
		if r := recover(); r != nil {
			cli, err = nil, fmt.Errorf("docker engine not reachable: %v", r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to docker engine: %w", context.Cause(ctx))
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineTimeout)
	defer cancel()
	cli, err = testcontainers.NewDockerClientWithOpts(bctx)
	if err != nil {
		return nil, fmt.Errorf("docker engine not reachable: %w", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = cli.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to docker engine: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("docker engine not reachable: %w", err)
	}
	return cli, nil
}

// Available reports whether a Docker engine answers. The error says what
// is missing ("docker engine not reachable: ...").
func Available(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	cli, err := newClient(ctx)
	if err != nil {
		return err
	}
	return cli.Close()
}

// Engine describes the container engine, for a run manifest.
type Engine struct {
	// Version is the engine's version ("20.10.24+dfsg1").
	Version string
	// APIVersion is the newest API version the engine speaks ("1.41").
	APIVersion string
	// NegotiatedAPIVersion is the API version racelab talks to it with:
	// the engine's, or the client's newest when the engine's is newer.
	NegotiatedAPIVersion string
}

// EngineInfo describes the engine and the API version negotiated with it.
func EngineInfo(ctx context.Context) (Engine, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return Engine{}, err
	}
	defer cli.Close()
	v, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return Engine{}, fmt.Errorf("engine version: %w", err)
	}
	return Engine{Version: v.Version, APIVersion: v.APIVersion, NegotiatedAPIVersion: cli.ClientVersion()}, nil
}

// isNotFound reports an engine "no such object" error.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// tcLogger adapts a slog.Logger to the container library's logger.
type tcLogger struct{ l *slog.Logger }

func (t tcLogger) Printf(format string, v ...any) {
	t.l.Debug(fmt.Sprintf(format, v...), "component", "testcontainers")
}

// discard is the default logger: racelab libraries log nothing unless
// given a logger.
var discard = slog.New(slog.DiscardHandler)
