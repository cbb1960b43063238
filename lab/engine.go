package lab

import (
	"context"
	"fmt"
	"net"
	"net/url"
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
// An engine at an address of another machine is refused before any
// connection: racelab's containers use host networking and racelab sends
// traffic only to this machine's loopback, so a proxy there would be out
// of reach.
func engineAvailable(ctx context.Context) error {
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		if ip := remoteIP(host); ip != nil {
			return fmt.Errorf("DOCKER_HOST=%s is another machine (%s): racelab runs proxies with host networking and sends requests only to this machine's loopback, so a proxy there is out of reach; run racelab on that machine (a CI job of its own), or point DOCKER_HOST at an engine on this one", host, ip)
		}
		if err := pingHost(ctx, host); err != nil {
			return fmt.Errorf("DOCKER_HOST=%s: %w (racelab does not fall back to another engine; unset DOCKER_HOST for the local one)", host, err)
		}
	}
	return container.Available(ctx)
}

// remoteIP returns the address of a tcp:// DOCKER_HOST given as an IP
// that is not one of this machine's; nil for anything else (a socket, a
// host name, this machine).
func remoteIP(host string) net.IP {
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "tcp" {
		return nil
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		return nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return nil
		}
	}
	return ip
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
