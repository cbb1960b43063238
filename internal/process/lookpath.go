package process

import (
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/racelab/racelab/proxies"
)

// LookPath finds the adapter's binary on PATH, and only there: "is nginx
// installed?" means what the user's shell would run. (Debian installs
// proxies into /usr/sbin, which some users' PATH lacks; the error says so.)
// The error wraps exec.ErrNotFound when the binary is not found.
func LookPath(a proxies.Adapter) (string, error) {
	name := a.Binary()
	if name == "" {
		return "", fmt.Errorf("look path %s: adapter names no binary", a.Kind())
	}
	p, err := exec.LookPath(name)
	if err != nil {
		hint := "Debian installs it in /usr/sbin"
		if a.Kind() == proxies.KindEnvoy {
			hint = "Debian does not package Envoy: put an envoy binary on PATH or run it in a container"
		}
		return "", fmt.Errorf("look path %s: %s not on PATH (%s): %w", a.Kind(), name, hint, exec.ErrNotFound)
	}
	return filepath.Abs(p)
}

func (o options) binaryFor(a proxies.Adapter) (string, error) {
	if o.binary != "" {
		return o.binary, nil
	}
	return LookPath(a)
}
