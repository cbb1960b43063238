package lab

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// A DOCKER_HOST that does not answer stops the run at preflight, naming
// it, even when a local engine would answer: the container library
// would otherwise go on to the local socket and run there.
func TestPreflightDockerHostUnreachable(t *testing.T) {
	host := "tcp://" + closedAddr(t)
	t.Setenv("DOCKER_HOST", host)
	cells := cellsOf(t, "name: n\nbase: {proxy: {kind: nginx, runtime: container}}\n")
	list := missingOf(t, Preflight(context.Background(), cells))
	if len(list) != 1 || list[0].What != "container engine" {
		t.Fatalf("missing = %+v", list)
	}
	for _, want := range []string{"DOCKER_HOST=" + host, "not reachable", "does not fall back"} {
		if !strings.Contains(list[0].Fix, want) {
			t.Errorf("fix %q does not say %q", list[0].Fix, want)
		}
	}
}

// DOCKER_HOST naming the local socket explicitly is the engine racelab
// uses.
func TestEngineDockerHostExplicitSocket(t *testing.T) {
	const sock = "/var/run/docker.sock"
	if _, err := os.Stat(sock); err != nil {
		t.Skipf("no Docker engine socket at %s (install and start docker.io): %v", sock, err)
	}
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	if err := engineAvailable(context.Background()); err != nil {
		t.Fatalf("DOCKER_HOST=unix://%s: %v", sock, err)
	}
	if err := pingHost(context.Background(), "unix://"+t.TempDir()+"/none.sock"); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("a socket that does not exist: %v", err)
	}
}
