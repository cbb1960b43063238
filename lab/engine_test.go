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

// An engine at another machine's address is refused without a
// connection (192.0.2.1 is a documentation address); this machine's own
// addresses and host names go on to the ping.
func TestPreflightDockerHostOtherMachine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://192.0.2.1:2376")
	err := engineAvailable(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is another machine (192.0.2.1)") || !strings.Contains(err.Error(), "out of reach") {
		t.Fatalf("err = %v", err)
	}
	for _, local := range []string{"tcp://127.0.0.1:2375", "tcp://[::1]:2375", "tcp://0.0.0.0:2375", "unix:///var/run/docker.sock", "tcp://docker:2375", "ssh://u@h"} {
		if ip := remoteIP(local); ip != nil {
			t.Errorf("%s: taken for another machine (%s)", local, ip)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				if ip := remoteIP("tcp://" + net.JoinHostPort(n.IP.String(), "2375")); ip != nil {
					t.Errorf("this machine's %s taken for another machine", n.IP)
				}
			}
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
